// Types for keyhole-sign.js (CommonJS), the package's "types". From TypeScript:
//   import { signUrl } from "keyhole-sign";              // with esModuleInterop or not
//   const url = signUrl(process.env.KEYHOLE_KEYS!, "/photos/cat.jpg", { ttl: 600 });

/** The inputs describe a URL keyhole would deny; nothing was signed. */
export class SignError extends Error {}

export interface SignOptions {
  /** Expiry, Unix seconds (not milliseconds). Give this or `ttl`. */
  exp?: number;
  /** Lifetime in seconds from `now`. Give this or `exp`. */
  ttl?: number;
  /** Round `now + ttl` up to a multiple of this many seconds (cacheable URLs). */
  window?: number;
  /** The time to count `ttl` from, Unix seconds; default the system clock. */
  now?: number;
  /** Not valid before this Unix time. */
  nbf?: number;
  /** A decoded path prefix ending in `/`; the URL then opens every file below it. */
  scope?: string;
  /** Bind to a client address or network in canonical text, signed as written (`203.0.113.7`, `203.0.113.7/32`, `10.0.0.0/8`). */
  ip?: string;
  /** Allowed methods, upper case, comma-separated; default `GET,HEAD`. */
  methods?: string;
  /** An application query to sign too (`w=640&h=480`, already percent-encoded); `""` binds an empty one. */
  query?: string;
  /** The one virtual host the URL opens on (`img.example.com`: lower case, no port, IDNA as `xn--…`). */
  host?: string;
}

/**
 * Signs the decoded `path` with the first key of `keys` (`kid:secret`, or a
 * KEYHOLE_KEYS list) and returns `/encoded/path?…&kh_sig=…`.
 * @throws SignError when keyhole would deny the URL.
 */
export function signUrl(keys: string, path: string, options: SignOptions): string;

/** The exact text HMAC-SHA256 covers. */
export function stringToSign(
  kid: string,
  path: string,
  fields: Omit<SignOptions, "ttl" | "window" | "now"> & { exp: number },
): string;

/** `now + ttl` rounded up to the next multiple of `window`. */
export function cacheableExpiry(now: number, ttl: number, window: number): number;

/** Percent-encodes a decoded path the way keyhole's signers write it. */
export function encodePath(decoded: string): string;

/** The key id and secret bytes of the first entry of a KEYHOLE_KEYS-style value. */
export function signingKey(keys: string): { kid: string; secret: Uint8Array };

/** The default cookie name, `__Host-keyhole`. */
export const COOKIE_NAME: string;

export interface CookieOptions {
  /** Expiry, Unix seconds. Give this or `ttl`. */
  exp?: number;
  /** Lifetime in seconds from `now`. Give this or `exp`. */
  ttl?: number;
  /** The current time, Unix seconds; default the system clock. Max-Age is `exp - now`. */
  now?: number;
  /** Session id, 1-64 of `A-Z a-z 0-9 _ -`; `""` for none; default a fresh random id. */
  sid?: string;
  /** Client address or network in canonical form (`203.0.113.7`, `10.0.0.0/8`); `""` (default): any client. */
  ip?: string;
  /** The methods the cookie opens files for: `GET,HEAD` (default), `GET` or `HEAD`. */
  methods?: "GET,HEAD" | "GET" | "HEAD";
  /** `SameSite`: `Lax` (default) or `Strict`. */
  sameSite?: "Lax" | "Strict";
  /** The cookie name (`KEYHOLE_COOKIE_NAME`); default `__Host-keyhole`. */
  name?: string;
}

export interface CookieGrant {
  /** The cookie value, `2.<kid>.<scope>.<exp>.<sid>.<ip>.<methods>.<sig>` (format v2). */
  value: string;
  /** The whole `Set-Cookie` header value. */
  setCookie: string;
  /** The session id (`""` when none), for `keyhole revoke --sid`. */
  sid: string;
  exp: number;
  maxAge: number;
}

/**
 * Signs a cookie grant for every file below the decoded `scope` (ending in `/`) with the
 * first key of `keys`.
 * @throws SignError when keyhole would deny the cookie.
 */
export function signCookie(keys: string, scope: string, options: CookieOptions): CookieGrant;

/** The exact text HMAC-SHA256 covers for a cookie grant. */
export function cookieStringToSign(
  kid: string,
  scope: string,
  exp: number,
  sid?: string,
  ip?: string,
  methods?: string,
): string;

export interface JwtOptions {
  /** Lifetime in seconds; default 300 (keyhole's default KEYHOLE_JWT_MAX_LIFETIME). */
  ttl?: number;
  /** `iat`, Unix seconds; default the system clock. */
  now?: number;
  /** A decoded prefix ending in `/`: `kh_scope` instead of `kh_path`. */
  scope?: string;
  /** Single use: `kh_once` and a random `jti`. */
  once?: boolean;
  /** `kh_m`, e.g. `GET`. */
  methods?: string;
  /** `kh_ip`, canonical address or network. */
  ip?: string;
  /** `aud`; default `keyhole`. */
  aud?: string;
}

/**
 * Mints a file-scoped JWT with `jose` (loaded on first use) and resolves to
 * `/encoded/path?token=<JWT>`. `jwtKeys` is a KEYHOLE_JWT_KEYS-style value
 * (`kid:HS256:secret`; the first entry signs).
 * @throws SignError when keyhole would deny the token or `jose` is not installed.
 */
export function mintJwtUrl(jwtKeys: string, path: string, options?: JwtOptions): Promise<string>;

/** The key id, algorithm and secret of the first entry of a KEYHOLE_JWT_KEYS-style value. */
export function jwtSigningKey(jwtKeys: string): { kid: string; alg: string; secret: Uint8Array };
