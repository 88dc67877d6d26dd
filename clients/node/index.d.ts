// Types for keyhole-sign.js (CommonJS). From TypeScript:
//   import { signUrl } from "./clients/node";            // with esModuleInterop or not
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
  /** Bind to a client address or network in canonical text (`203.0.113.7`, `10.0.0.0/8`). */
  ip?: string;
  /** Allowed methods, upper case, comma-separated; default `GET,HEAD`. */
  methods?: string;
  /** An application query to sign too (`w=640&h=480`, already percent-encoded); `""` binds an empty one. */
  query?: string;
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
