#!/usr/bin/env node
// Signs keyhole URLs (signed URL format v1, docs/signed-urls.md). node:crypto only.
//
//   const { signUrl } = require("keyhole-sign");   // npm install ./clients/node
//   const url = signUrl(process.env.KEYHOLE_KEYS, "/photos/café.jpg", { ttl: 600 });
//   // -> "/photos/caf%C3%A9.jpg?kh_v=1&kh_kid=k1&kh_exp=…&kh_sig=…"
//
// `path` and `scope` are *decoded* paths (what the file is called); this module writes
// them percent-encoded into the URL. Anything keyhole would deny throws SignError.
//
// Command line (the key comes from KEYHOLE_KEYS, first entry signs), the package's
// `keyhole-sign` bin; exit 0, 1 when a vector differs, 2 with a message on stderr:
//   keyhole-sign.js [--exp N | --ttl N [--window N] [--now N]] [--nbf N] [--scope S]
//                   [--ip IP] [--methods M] [--query Q] [--host H] [--string-to-sign] PATH
//   keyhole-sign.js --vectors tests/vectors/signed-urls.json
//   keyhole-sign.js --cookie [--exp N | --ttl N] [--now N] [--sid ID | --no-sid]
//                   [--ip IP] [--methods GET,HEAD|GET|HEAD]
//                   [--same-site Lax|Strict] [--value | --string-to-sign] SCOPE
//   keyhole-sign.js --cookie-vectors tests/vectors/cookies.json
//   keyhole-sign.js --jwt [--ttl N] [--now N] [--scope S] [--once] [--methods M]
//                   [--ip IP] [--aud A] PATH     (needs `jose`; key from KEYHOLE_JWT_KEYS)
"use strict";

const crypto = require("node:crypto");

// Bytes written raw in a path; every other byte of the UTF-8 path becomes %XX.
const RAW_PATH_BYTE = /^[A-Za-z0-9\-._~!$&'()*+,=:@/]$/;
const KID = /^[A-Za-z0-9_-]{1,32}$/;
const SECRET = /^[A-Za-z0-9_-]+={0,2}$/;
const METHOD_LIST = /^[A-Z]{1,16}(,[A-Z]{1,16}){0,7}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAX_RAW_PATH = 2048;
const MAX_URI = 8192;
const MAX_PARAMS = 100;
const MAX_TIMESTAMP = 999999999999; // 12 digits: a millisecond timestamp does not fit
const JWT_PARAM = "token"; // keyhole's default JWT query parameter

/** The inputs describe a URL keyhole would deny; nothing was signed. */
class SignError extends Error {}

// --- Ed25519 keys (docs/signed-urls.md, "Ed25519 keys"), built-in crypto --------------

/** PKCS #8 DER prefix of an Ed25519 private key; the 32-byte seed follows. */
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** The private key of an `ed25519-seed:SEED` material; `ed25519:PUBLIC` cannot sign. */
function ed25519Key(material) {
  const colon = material.indexOf(":");
  if (material.slice(0, colon) === "ed25519") {
    throw new SignError("the key is an Ed25519 public key (`kid:ed25519:…`): it verifies but " +
      "cannot sign; sign with its `kid:ed25519-seed:…` line");
  }
  const body = material.slice(colon + 1).trim().replace(/=+$/, "");
  if (!SECRET.test(body || "!") || body.length % 4 === 1) {
    throw new SignError("the Ed25519 seed must be base64url");
  }
  const seed = Buffer.from(body, "base64url");
  if (seed.length !== 32) throw new SignError("the Ed25519 seed must be exactly 32 bytes");
  return crypto.createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: "der", type: "pkcs8",
  });
}

/**
 * The base64url signature of `text`: HMAC-SHA256 under secret bytes, or Ed25519 under a
 * private key object (chosen by the key, as keyhole does).
 */
function signature(secret, text) {
  if (secret instanceof crypto.KeyObject) {
    return crypto.sign(null, Buffer.from(text, "utf8"), secret).toString("base64url");
  }
  return crypto.createHmac("sha256", secret).update(text, "utf8").digest("base64url");
}

/** The key line of a vector file: `kid:secret`, or `kid:ed25519-seed:SEED`. */
function vectorKey(vectors) {
  const key = vectors.key;
  return key.seed ? `${key.kid}:ed25519-seed:${key.seed}` : `${key.kid}:${key.secret}`;
}

/** { kid, secret } of the first entry of a KEYHOLE_KEYS-style value. */
function signingKey(keys) {
  for (const raw of String(keys || "").split(/[,\n]/)) {
    const entry = raw.trim();
    if (entry === "" || entry.startsWith("#")) continue;
    const colon = entry.indexOf(":");
    const kid = entry.slice(0, colon).trim();
    const secret = entry.slice(colon + 1).trim();
    if (colon < 0 || !KID.test(kid)) {
      throw new SignError("key must be `kid:secret` with a kid of 1-32 of A-Z a-z 0-9 _ -");
    }
    if (secret.startsWith("ed25519:") || secret.startsWith("ed25519-seed:")) {
      return { kid, secret: ed25519Key(secret) };
    }
    const body = secret.replace(/=+$/, "");
    if (!SECRET.test(secret) || body.length % 4 === 1) {
      throw new SignError("key secret must be base64url");
    }
    const bytes = Buffer.from(body, "base64url");
    if (bytes.length < 32) throw new SignError("key secret must be at least 32 bytes");
    return { kid, secret: bytes };
  }
  throw new SignError("no key given");
}

/** Percent-encodes a decoded path the way keyhole's signers write it. */
function encodePath(decoded) {
  let out = "";
  for (const byte of Buffer.from(decoded, "utf8")) {
    const ch = String.fromCharCode(byte);
    out += RAW_PATH_BYTE.test(ch) ? ch : "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** Refuses what keyhole's canonical-path rules would deny. */
function checkPath(decoded, what, isScope) {
  if (typeof decoded !== "string" || !decoded.startsWith("/")) {
    throw new SignError(`${what} must start with \`/\`: ${JSON.stringify(decoded)}`);
  }
  if (Buffer.from(decoded, "utf8").toString("utf8") !== decoded) {
    throw new SignError(`${what} is not valid Unicode text: ${JSON.stringify(decoded)}`);
  }
  if (encodePath(decoded).length > MAX_RAW_PATH) {
    throw new SignError(`${what} is longer than ${MAX_RAW_PATH} bytes once encoded`);
  }
  for (const ch of decoded) {
    const code = ch.codePointAt(0);
    if ("%\\;?#".includes(ch) || code < 0x20 || (code >= 0x7f && code <= 0x9f)) {
      throw new SignError(`${what} contains ${JSON.stringify(ch)}, which keyhole refuses`);
    }
  }
  let segments = decoded.split("/").slice(1);
  if (isScope) {
    if (!decoded.endsWith("/")) throw new SignError(`${what} must end with \`/\`: ${decoded}`);
    segments = segments.slice(0, -1);
  } else if (decoded.endsWith("/")) {
    throw new SignError(`${what} must name a file, not end with \`/\`: ${decoded}`);
  }
  for (const segment of segments) {
    if (segment === "") throw new SignError(`${what} has an empty segment (\`//\`): ${decoded}`);
    if (segment.endsWith(".")) {
      throw new SignError(`${what} has a \`.\`, \`..\` or dot-ending segment: ${decoded}`);
    }
  }
}

/** The 16-bit pieces of an IPv6 address already in WHATWG (RFC 5952-like) form. */
function ipv6Pieces(text) {
  const [head, tail] = text.includes("::") ? text.split("::") : [text, null];
  const part = (s) => (s ? s.split(":").map((p) => parseInt(p, 16)) : []);
  const left = part(head);
  const right = part(tail);
  const zeros = tail === null ? [] : new Array(8 - left.length - right.length).fill(0);
  return [...left, ...zeros, ...right];
}

/**
 * An address, or a network (a full-length prefix such as /32 included), in the one
 * canonical text keyhole accepts; the text is signed exactly as written.
 */
function checkIp(text) {
  const fail = (why) => new SignError(`ip ${JSON.stringify(text)} ${why}`);
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? null : text.slice(slash + 1);
  let bits; // the address as 8- or 16-bit numbers, most significant first
  let width;
  if (IPV4.test(addr)) {
    bits = addr.split(".").map(Number);
    width = 8;
  } else {
    let canonical = null;
    try {
      canonical = new URL(`http://[${addr}]/`).hostname.slice(1, -1);
    } catch {
      throw fail("is not an IPv4 or IPv6 address");
    }
    if (canonical !== addr) throw fail(`is not canonical; write ${canonical}`);
    bits = ipv6Pieces(addr);
    width = 16;
    if (bits.slice(0, 5).every((p) => p === 0) && bits[5] === 0xffff) {
      throw fail("is IPv4-mapped; bind the IPv4 address instead");
    }
  }
  if (prefixText === null) return;
  const max = bits.length * width;
  const prefix = Number(prefixText);
  if (!/^(0|[1-9]\d*)$/.test(prefixText) || prefix > max) throw fail("has a bad prefix length");
  bits.forEach((value, index) => {
    const keep = Math.min(Math.max(prefix - index * width, 0), width);
    if (value & ((1 << (width - keep)) - 1)) throw fail("has host bits set");
  });
}

function timestamp(value, what) {
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_TIMESTAMP) {
    throw new SignError(`${what} must be Unix seconds (0 to 12 digits), not ${value}`);
  }
  return value;
}

/**
 * now + ttl rounded up to the next multiple of `window` seconds: every URL for the
 * same file signed within one window is identical, so caches can keep it.
 */
function cacheableExpiry(now, ttl, window) {
  if (!(window > 0)) throw new SignError("window must be positive");
  return Math.ceil((now + ttl) / window) * window;
}

/** The exact text HMAC-SHA256 covers (nine labelled lines, a tenth with a host). */
function stringToSign(kid, path, { exp, nbf, scope, ip, methods, query, host } = {}) {
  return hostLine([
    "keyhole-url-v1",
    `kid:${kid}`,
    scope != null ? `scope:${scope}` : `path:${path}`,
    `exp:${exp}`,
    `nbf:${nbf ?? ""}`,
    `ip:${ip ?? ""}`,
    `methods:${methods ?? "GET,HEAD"}`,
    `bind-query:${query != null ? 1 : 0}`,
    `query:${query ?? ""}`,
  ].join("\n"), host);
}

// --- Host binding (kh_host; docs/signed-urls.md, "Hosts") --------------------------

const HOST = /^[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*$/;

/** A host in the one form keyhole compares: lower case, no trailing dot, no port. */
function checkHost(host) {
  if (!HOST.test(host) || host.length > 253) {
    throw new SignError(
      `host ${host} must be a lower-case name (a-z 0-9 - _ and dots, labels of 1 to 63, ` +
        "at most 253 bytes; IDNA names as xn--...), without a port or a trailing dot; " +
        "keyhole would deny it as malformed",
    );
  }
}

/** The signed text with the tenth line, `host:`, when a host is bound. */
function hostLine(text, host) {
  return host == null ? text : `${text}\nhost:${host}`;
}

/** signUrl's work; also returns the signed text for checks. */
function sign(keys, path, options = {}) {
  const { kid, secret } = signingKey(keys);
  const { ttl, window, nbf, scope, ip, methods, query, host } = options;
  let { exp, now } = options;
  if ((exp == null) === (ttl == null)) throw new SignError("give exactly one of exp or ttl");
  if (exp == null) {
    now = now ?? Math.floor(Date.now() / 1000);
    exp = window == null ? now + ttl : cacheableExpiry(now, ttl, window);
  }
  timestamp(exp, "exp");
  now = now ?? Math.floor(Date.now() / 1000);
  if (exp <= now) {
    throw new SignError(`exp ${exp} is not after now (${now}); keyhole would deny it as expired`);
  }
  if (nbf != null) {
    timestamp(nbf, "nbf");
    if (nbf > exp) throw new SignError(`nbf ${nbf} is after exp ${exp}; the URL would never be valid`);
  }
  checkPath(path, "path", false);
  if (scope != null) {
    checkPath(scope, "scope", true);
    if (!path.startsWith(scope)) throw new SignError(`path ${path} is not inside scope ${scope}`);
  }
  if (ip != null) checkIp(ip);
  if (methods != null) {
    const names = methods.split(",");
    if (!METHOD_LIST.test(methods) || new Set(names).size !== names.length) {
      throw new SignError(`methods ${methods} must be distinct upper-case names like GET,HEAD`);
    }
  }

  const params = [["kh_v", "1"], ["kh_kid", kid], ["kh_exp", String(exp)]];
  if (nbf != null) params.push(["kh_nbf", String(nbf)]);
  if (scope != null) {
    const value = encodePath(scope).replace(/&/g, "%26").replace(/=/g, "%3D").replace(/\+/g, "%2B");
    params.push(["kh_scope", value]);
  }
  if (ip != null) params.push(["kh_ip", ip]);
  if (methods != null) params.push(["kh_m", methods]);
  if (query != null) params.push(["kh_q", "1"]);
  if (host != null) {
    checkHost(host);
    params.push(["kh_host", host]);
  }
  const items = query ? query.split("&") : [];
  if (query) {
    if (!/^[\x21-\x22\x24-\x7e]+$/.test(query)) {
      throw new SignError("query must be percent-encoded visible ASCII without `#`");
    }
    if (items.some((item) => item === "" || item.startsWith("kh_"))) {
      throw new SignError("query must not have empty items or keyhole's own kh_ names");
    }
    if (items.some((item) => item.split("=")[0] === JWT_PARAM)) {
      throw new SignError(
        `query must not have an item named ${JWT_PARAM}, keyhole's JWT parameter: ` +
          "with JWTs enabled the URL is ambiguous-credential",
      );
    }
  }
  const count = items.length + params.length + 1;
  if (count > MAX_PARAMS) {
    throw new SignError(
      `the URL would have ${count} query items counting keyhole's own; ` +
        `keyhole reads at most ${MAX_PARAMS} (too-many-params)`,
    );
  }

  const text = stringToSign(kid, path, { exp, nbf, scope, ip, methods, query, host });
  const sig = signature(secret, text);
  params.push(["kh_sig", sig]);
  const url = encodePath(path) + "?" + [...items, ...params.map(([k, v]) => `${k}=${v}`)].join("&");
  if (url.length > MAX_URI) {
    throw new SignError(
      `the URL would be ${url.length} bytes; keyhole reads at most ${MAX_URI} of path and query (uri-too-long)`,
    );
  }
  return { url, text };
}

/**
 * Returns `/encoded/path?…&kh_sig=…` for the decoded `path`.
 *
 * keys: "kid:secret" (or a KEYHOLE_KEYS list; the first key signs).
 * options: exp (Unix seconds) or ttl (seconds from `now`, default the clock; rounded
 * up to a multiple of `window` when given), nbf, scope (decoded prefix ending in `/`),
 * ip ("203.0.113.7", "10.0.0.0/8"), methods ("GET,HEAD"), query (an already encoded
 * application query to bind; "" binds an empty one), host (the one virtual host the URL
 * opens on, "img.example.com").
 */
function signUrl(keys, path, options) {
  return sign(keys, path, options).url;
}

function checkVectors(fileName) {
  const vectors = JSON.parse(require("node:fs").readFileSync(fileName, "utf8"));
  const keys = vectorKey(vectors);
  let failures = 0;
  for (const c of vectors.signing) {
    const { path, ...options } = c.input;
    const { url, text } = sign(keys, path, { ...options, now: vectors.now });
    const ok = url === c.url && text === c.string_to_sign;
    if (!ok) failures += 1;
    console.log((ok ? "ok   " : "FAIL ") + c.name);
    if (!ok) console.log(`  want ${c.url}\n  got  ${url}`);
  }
  return failures;
}

// --- Cookie grants, format v2 (docs/cookies.md) ------------------------------------

const COOKIE_NAME = "__Host-keyhole";
const COOKIE_METHODS = ["GET,HEAD", "GET", "HEAD"];
const SID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_COOKIE_VALUE = 1024;

/** The exact text HMAC-SHA256 covers for a cookie grant (seven lines). */
function cookieStringToSign(kid, scope, exp, sid = "", ip = "", methods = "GET,HEAD") {
  return ["keyhole-cookie-v2", `kid:${kid}`, `scope:${scope}`, `exp:${exp}`, `sid:${sid}`,
    `ip:${ip}`, `methods:${methods}`].join("\n");
}

function cookie(keys, scope, options = {}) {
  const { kid, secret } = signingKey(keys);
  const { ttl, ip = "", methods = "GET,HEAD", sameSite = "Lax", name = COOKIE_NAME } = options;
  let { exp, now, sid } = options;
  if ((exp == null) === (ttl == null)) throw new SignError("give exactly one of exp or ttl");
  now = timestamp(now ?? Math.floor(Date.now() / 1000), "now");
  exp = timestamp(exp ?? now + ttl, "exp");
  if (exp <= now) throw new SignError(`exp ${exp} is not in the future`);
  checkPath(scope, "scope", true);
  if (sid == null) sid = crypto.randomBytes(16).toString("base64url");
  if (sid !== "" && !SID.test(sid)) {
    throw new SignError(`sid ${JSON.stringify(sid)} must be 1-64 of A-Z a-z 0-9 _ -`);
  }
  if (ip !== "") checkIp(ip);
  if (!COOKIE_METHODS.includes(methods)) {
    throw new SignError(`methods must be GET,HEAD, GET or HEAD, not ${JSON.stringify(methods)}`);
  }
  if (sameSite !== "Lax" && sameSite !== "Strict") {
    throw new SignError(`sameSite must be Lax or Strict, not ${sameSite}`);
  }
  const text = cookieStringToSign(kid, scope, exp, sid, ip, methods);
  const sig = signature(secret, text);
  const b64 = (s) => Buffer.from(s, "utf8").toString("base64url");
  const value = ["2", kid, b64(scope), exp, sid, b64(ip), b64(methods), sig].join(".");
  if (value.length > MAX_COOKIE_VALUE) {
    throw new SignError(`the cookie value would be longer than ${MAX_COOKIE_VALUE} bytes`);
  }
  const maxAge = exp - now;
  const setCookie = `${name}=${value}; HttpOnly; SameSite=${sameSite}; Secure; Path=/; Max-Age=${maxAge}`;
  return { grant: { value, setCookie, sid, exp, maxAge }, text };
}

/**
 * Signs a cookie grant for every file below the decoded `scope` (ending in `/`).
 * Returns { value, setCookie, sid, exp, maxAge }.
 *
 * keys: "kid:secret" (or a KEYHOLE_KEYS list; the first key signs).
 * options: exp (Unix seconds) or ttl (seconds from `now`, default the clock; Max-Age is
 * exp - now), sid (1-64 of A-Z a-z 0-9 _ -; "" for none; default a fresh random 128-bit
 * id), ip (client address or network in canonical form; "" default: any client),
 * methods ("GET,HEAD" default, "GET" or "HEAD"), sameSite ("Lax" default, or "Strict").
 */
function signCookie(keys, scope, options) {
  return cookie(keys, scope, options).grant;
}

function checkCookieVectors(fileName) {
  const vectors = JSON.parse(require("node:fs").readFileSync(fileName, "utf8"));
  const keys = vectorKey(vectors);
  let failures = 0;
  // The Ed25519 file keeps its cookie vectors under `cookies`.
  for (const c of vectors.cookies || vectors.signing) {
    const { scope, exp, sid, ip, methods, same_site: sameSite, max_age: maxAge } = c.input;
    const { grant, text } = cookie(keys, scope,
      { exp, sid, ip, methods, sameSite, now: vectors.now, name: vectors.name });
    const ok = grant.value === c.value && grant.setCookie === c.set_cookie &&
      text === c.string_to_sign && grant.maxAge === maxAge;
    if (!ok) failures += 1;
    console.log((ok ? "ok   " : "FAIL ") + c.name);
    if (!ok) console.log(`  want ${c.set_cookie}\n  got  ${grant.setCookie}`);
  }
  return failures;
}

// --- File-scoped JWTs (docs/jwt.md), with jose ---------------------------------------

/** { kid, alg, secret } of the first entry of a KEYHOLE_JWT_KEYS-style value. */
function jwtSigningKey(jwtKeys) {
  for (const raw of String(jwtKeys || "").split(/[,\n]/)) {
    const entry = raw.trim();
    if (entry === "" || entry.startsWith("#")) continue;
    const parts = entry.split(":");
    if (parts.length !== 3 || !["HS256", "HS384", "HS512"].includes(parts[1]) || parts[0] === "") {
      throw new SignError("JWT key must be `kid:HS256:secret` (HS384, HS512 also)");
    }
    const [kid, alg, secret] = parts;
    const body = secret.replace(/=+$/, "");
    if (!SECRET.test(secret) || body.length % 4 === 1) {
      throw new SignError("JWT key secret must be base64url");
    }
    const bytes = Buffer.from(body, "base64url");
    if (bytes.length < 32) throw new SignError("JWT key secret must be at least 32 bytes");
    return { kid, alg, secret: bytes };
  }
  throw new SignError("no JWT key given");
}

/**
 * Resolves to `/encoded/path?token=<JWT>` for the decoded `path`, minted with `jose`
 * (`npm install jose`; imported only here, so the rest works without it).
 *
 * jwtKeys: "kid:HS256:secret" (or a KEYHOLE_JWT_KEYS list; the first key signs).
 * options: ttl (seconds, default 300; keyhole refuses more than
 * KEYHOLE_JWT_MAX_LIFETIME), now, scope (decoded prefix ending in `/`: kh_scope instead
 * of kh_path), once (single use: kh_once and a random jti), methods (kh_m), ip (kh_ip),
 * aud (default "keyhole").
 */
async function mintJwtUrl(jwtKeys, path, options = {}) {
  const { ttl = 300, scope, once = false, methods, ip, aud = "keyhole" } = options;
  let jose;
  try {
    jose = await import("jose");
  } catch (error) {
    throw new SignError(`minting JWTs needs jose: npm install jose (${error.message})`);
  }
  const { kid, alg, secret } = jwtSigningKey(jwtKeys);
  checkPath(path, "path", false);
  const now = timestamp(options.now ?? Math.floor(Date.now() / 1000), "now");
  if (!Number.isSafeInteger(ttl) || ttl <= 0) {
    throw new SignError(`ttl must be a positive number of seconds, not ${ttl}`);
  }
  const claims = {};
  if (scope != null) {
    checkPath(scope, "scope", true);
    if (!path.startsWith(scope)) throw new SignError(`path ${path} is not inside scope ${scope}`);
    claims.kh_scope = encodePath(scope);
  } else {
    claims.kh_path = encodePath(path);
  }
  if (methods != null) {
    const names = methods.split(",");
    if (!METHOD_LIST.test(methods) || new Set(names).size !== names.length) {
      throw new SignError(`methods ${methods} must be distinct upper-case names like GET,HEAD`);
    }
    claims.kh_m = methods;
  }
  if (ip != null) {
    checkIp(ip);
    claims.kh_ip = ip;
  }
  if (once) claims.kh_once = true;
  let jwt = new jose.SignJWT(claims)
    .setProtectedHeader({ alg, typ: "keyhole+jwt", kid })
    .setAudience(aud)
    .setIssuedAt(now)
    .setExpirationTime(timestamp(now + ttl, "exp"));
  if (once) jwt = jwt.setJti(crypto.randomBytes(16).toString("base64url"));
  return `${encodePath(path)}?token=${await jwt.sign(secret)}`;
}

/** Splits argv into option values, the flags given, and positionals. */
function parseArguments(argv, names, flags, numbers) {
  const options = {};
  const given = new Set();
  const positional = [];
  for (let i = 0; i < argv.length; i += 1) {
    const name = argv[i].startsWith("--") ? argv[i].slice(2) : null;
    if (flags.includes(name)) {
      given.add(name);
    } else if (names.includes(name) && i + 1 < argv.length) {
      const value = argv[++i];
      options[name] = numbers.includes(name) ? Number(value) : value;
    } else if (name !== null) {
      throw new SignError(`unknown option or missing value: ${argv[i]}`);
    } else {
      positional.push(argv[i]);
    }
  }
  return { options, given, positional };
}

function cookieMain(argv) {
  const { options, given, positional } = parseArguments(
    argv, ["exp", "ttl", "now", "sid", "ip", "methods", "same-site"],
    ["no-sid", "value", "string-to-sign"],
    ["exp", "ttl", "now"]);
  if (positional.length !== 1) throw new SignError("give exactly one SCOPE (decoded, ending in `/`)");
  if (given.has("no-sid")) {
    if (options.sid != null) throw new SignError("give --sid or --no-sid, not both");
    options.sid = "";
  }
  const { grant, text } = cookie(process.env.KEYHOLE_KEYS, positional[0], {
    exp: options.exp, ttl: options.ttl, now: options.now, sid: options.sid,
    ip: options.ip ?? "", methods: options.methods ?? "GET,HEAD",
    sameSite: options["same-site"] ?? "Lax",
  });
  console.log(given.has("string-to-sign") ? text : given.has("value") ? grant.value : grant.setCookie);
  return 0;
}

async function jwtMain(argv) {
  const { options, given, positional } = parseArguments(
    argv, ["ttl", "now", "scope", "methods", "ip", "aud"], ["once"], ["ttl", "now"]);
  if (positional.length !== 1) throw new SignError("give exactly one PATH (decoded)");
  console.log(await mintJwtUrl(process.env.KEYHOLE_JWT_KEYS, positional[0],
    { ...options, once: given.has("once") }));
  return 0;
}

function main(argv) {
  if (argv.length === 2 && argv[0] === "--cookie-vectors") return checkCookieVectors(argv[1]) ? 1 : 0;
  if (argv[0] === "--cookie") return cookieMain(argv.slice(1));
  if (argv[0] === "--jwt") return jwtMain(argv.slice(1));
  return urlMain(argv);
}

function urlMain(argv) {
  if (argv.length === 2 && argv[0] === "--vectors") return checkVectors(argv[1]) ? 1 : 0;
  const names = ["exp", "ttl", "window", "now", "nbf", "scope", "ip", "methods", "query", "host"];
  const numbers = ["exp", "ttl", "window", "now", "nbf"];
  const options = {};
  const positional = [];
  let showText = false;
  for (let i = 0; i < argv.length; i += 1) {
    const name = argv[i].startsWith("--") ? argv[i].slice(2) : null;
    if (name === "string-to-sign") {
      showText = true;
    } else if (names.includes(name) && i + 1 < argv.length) {
      const value = argv[++i];
      options[name] = numbers.includes(name) ? Number(value) : value;
    } else if (name !== null) {
      throw new SignError(`unknown option or missing value: ${argv[i]}`);
    } else {
      positional.push(argv[i]);
    }
  }
  if (positional.length !== 1) {
    throw new SignError("give exactly one PATH (decoded, e.g. '/photos/café au lait.jpg')");
  }
  const { url, text } = sign(process.env.KEYHOLE_KEYS, positional[0], options);
  console.log(showText ? text : url);
  return 0;
}

module.exports = {
  SignError, signUrl, stringToSign, cacheableExpiry, encodePath, signingKey,
  signCookie, cookieStringToSign, mintJwtUrl, jwtSigningKey, COOKIE_NAME,
};

if (require.main === module) {
  (async () => {
    try {
      process.exitCode = await main(process.argv.slice(2));
    } catch (error) {
      if (!(error instanceof SignError)) throw error;
      console.error(`keyhole-sign: ${error.message}`);
      process.exitCode = 2;
    }
  })();
}
