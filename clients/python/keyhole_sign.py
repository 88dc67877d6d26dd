#!/usr/bin/env python3
"""Signs keyhole URLs (signed URL format v1, docs/signed-urls.md). Standard library only.

    from keyhole_sign import sign_url
    url = sign_url(os.environ["KEYHOLE_KEYS"], "/photos/café.jpg", ttl=600)
    # -> "/photos/caf%C3%A9.jpg?kh_v=1&kh_kid=k1&kh_exp=…&kh_sig=…"

`path` and `scope` are *decoded* paths (what the file is called); this module writes
them percent-encoded into the URL. Anything keyhole would deny raises SignError.

The key may be an HMAC `kid:secret` or an Ed25519 `kid:ed25519-seed:SEED` (signatures
of 86 characters; needs the optional `cryptography` package, imported only then).

Command line (the key comes from KEYHOLE_KEYS, first entry signs), the same as
`keyhole-sign` (the console script of `pip install ./clients/python`),
`python3 -m keyhole_sign` and `python3 keyhole_sign.py`:
    keyhole-sign [--exp N | --ttl N [--window N] [--now N]] [--nbf N] [--scope S]
                 [--ip IP] [--methods M] [--query Q] [--host H] [--string-to-sign] PATH
    keyhole-sign --vectors tests/vectors/signed-urls.json   (or signed-urls-ed25519.json)
    keyhole-sign --cookie [--exp N | --ttl N] [--now N] [--sid ID | --no-sid]
                 [--ip IP] [--methods GET,HEAD|GET|HEAD]
                 [--same-site Lax|Strict] [--value | --string-to-sign] SCOPE
    keyhole-sign --cookie-vectors tests/vectors/cookies.json
    keyhole-sign --jwt [--ttl N] [--now N] [--scope S] [--once] [--methods M]
                 [--ip IP] [--aud A] PATH      (needs PyJWT; key from KEYHOLE_JWT_KEYS)
Exit status: 0 success, 1 a vector differs, 2 a usage error or an input keyhole would
deny (one `keyhole_sign: …` line on stderr)."""

import argparse
import base64
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import sys
import time
from collections import namedtuple

__all__ = ["SignError", "sign_url", "string_to_sign", "cacheable_expiry", "encode_path",
           "CookieGrant", "sign_cookie", "cookie_string_to_sign", "mint_jwt_url", "main"]

# Bytes written raw in a path; every other byte of the UTF-8 path becomes %XX.
_RAW_PATH_BYTES = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,=:@/"
)
_KID = re.compile(r"[A-Za-z0-9_-]{1,32}\Z")
_SECRET = re.compile(r"[A-Za-z0-9_-]+={0,2}\Z")
_METHOD_LIST = re.compile(r"[A-Z]{1,16}(,[A-Z]{1,16}){0,7}\Z")
_MAX_RAW_PATH = 2048
_MAX_URI = 8192
_MAX_PARAMS = 100
_MAX_TIMESTAMP = 10**12 - 1  # 12 digits: a millisecond timestamp does not fit
_JWT_PARAM = "token"  # keyhole's default JWT query parameter


class SignError(ValueError):
    """The inputs describe a URL keyhole would deny; nothing was signed."""


def signing_key(keys):
    """(kid, secret bytes) of the first entry of a KEYHOLE_KEYS-style value
    ("kid:secret", entries separated by commas or newlines)."""
    for entry in re.split(r"[,\n]", keys):
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        kid, sep, secret = entry.partition(":")
        kid, secret = kid.strip(), secret.strip()
        if not sep or not _KID.match(kid):
            raise SignError("key must be `kid:secret` with a kid of 1-32 of A-Z a-z 0-9 _ -")
        if secret.startswith(("ed25519:", "ed25519-seed:")):
            return kid, _ed25519_key(secret)
        body = secret.rstrip("=")
        if not _SECRET.match(secret) or len(body) % 4 == 1:
            raise SignError("key secret must be base64url")
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        if len(raw) < 32:
            raise SignError("key secret must be at least 32 bytes")
        return kid, raw
    raise SignError("no key given")


# --- Ed25519 keys (docs/signed-urls.md, "Ed25519 keys") ------------------------------

class _Ed25519Seed:
    """An Ed25519 private key from a `kid:ed25519-seed:SEED` line (needs the optional
    `cryptography` package: `pip install 'keyhole-sign[ed25519]'`)."""

    def __init__(self, seed):
        try:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        except ImportError as error:
            raise SignError("Ed25519 keys need the `cryptography` package "
                            "(pip install 'keyhole-sign[ed25519]')") from error
        self._key = Ed25519PrivateKey.from_private_bytes(seed)

    def sign(self, data):
        return self._key.sign(data)


def _ed25519_key(material):
    """The signer of an `ed25519-seed:SEED` material; an `ed25519:PUBLIC` one cannot sign."""
    kind, _, text = material.partition(":")
    if kind == "ed25519":
        raise SignError("the key is an Ed25519 public key (`kid:ed25519:…`): it verifies but "
                        "cannot sign; sign with its `kid:ed25519-seed:…` line")
    body = text.strip().rstrip("=")
    if not _SECRET.match(body or "!") or len(body) % 4 == 1:
        raise SignError("the Ed25519 seed must be base64url")
    seed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    if len(seed) != 32:
        raise SignError("the Ed25519 seed must be exactly 32 bytes")
    return _Ed25519Seed(seed)


def _signature(secret, text):
    """The base64url signature of `text`: HMAC-SHA256 under secret bytes, or Ed25519
    under a seed key (chosen by the key, as keyhole does)."""
    data = text.encode("utf-8")
    if isinstance(secret, _Ed25519Seed):
        return _b64url(secret.sign(data))
    return _b64url(hmac.new(secret, data, hashlib.sha256).digest())


def encode_path(decoded):
    """Percent-encodes a decoded path the way keyhole's signers write it."""
    return "".join(
        chr(b) if b in _RAW_PATH_BYTES else "%%%02X" % b for b in decoded.encode("utf-8")
    )


def _check_path(decoded, what, scope):
    """Refuses what keyhole's canonical-path rules would deny."""
    if not isinstance(decoded, str) or not decoded.startswith("/"):
        raise SignError(f"{what} must start with `/`: {decoded!r}")
    if len(encode_path(decoded)) > _MAX_RAW_PATH:
        raise SignError(f"{what} is longer than {_MAX_RAW_PATH} bytes once encoded")
    for ch in decoded:
        if ch in "%\\;?#" or ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F:
            raise SignError(f"{what} contains {ch!r}, which keyhole refuses: {decoded!r}")
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise SignError(f"{what} is not valid Unicode text: {decoded!r}")
    segments = decoded.split("/")[1:]
    if scope:
        if not decoded.endswith("/"):
            raise SignError(f"{what} must end with `/`: {decoded!r}")
        segments = segments[:-1]
    elif decoded.endswith("/"):
        raise SignError(f"{what} must name a file, not end with `/`: {decoded!r}")
    for segment in segments:
        if segment == "":
            raise SignError(f"{what} has an empty segment (`//`): {decoded!r}")
        if segment.endswith("."):
            raise SignError(f"{what} has a `.`, `..` or dot-ending segment: {decoded!r}")


def _check_ip(text):
    """An address, or a network (a full-length prefix such as /32 included), in the one
    canonical text keyhole accepts; the text is signed exactly as written."""
    if "%" in text:
        raise SignError(f"ip {text!r} has a zone; keyhole compares bare addresses")
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError:
        raise SignError(f"ip {text!r} is not an address or a network without host bits") from None
    mapped = net.version == 6 and net.network_address.ipv4_mapped is not None
    if mapped:
        raise SignError(f"ip {text!r} is IPv4-mapped; bind the IPv4 address instead")
    if net.version == 6:
        # RFC 5952 hex only: Python 3.13 prints some addresses with a dotted IPv4 part.
        address = net.network_address.exploded.split(":")
        canonical = _ipv6_text([int(group, 16) for group in address])
    else:
        canonical = str(net.network_address)
    if "/" in text:
        canonical += f"/{net.prefixlen}"
    if canonical != text:
        raise SignError(f"ip {text!r} is not canonical; write {canonical!r}")


def _ipv6_text(groups):
    """RFC 5952 text of eight 16-bit groups: lower-case hex without leading zeros, the
    longest run of two or more zero groups (the first on a tie) written `::`."""
    best_at, best_len, run_at, run_len = -1, 1, 0, 0
    for index, group in enumerate(groups):
        if group:
            run_len = 0
            continue
        if run_len == 0:
            run_at = index
        run_len += 1
        if run_len > best_len:
            best_at, best_len = run_at, run_len
    hexes = ["%x" % group for group in groups]
    if best_at < 0:
        return ":".join(hexes)
    return ":".join(hexes[:best_at]) + "::" + ":".join(hexes[best_at + best_len:])


def _timestamp(value, what):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_TIMESTAMP:
        raise SignError(f"{what} must be Unix seconds (0 to 12 digits), not {value!r}")
    return value


def cacheable_expiry(now, ttl, window):
    """now + ttl rounded up to the next multiple of `window` seconds: every URL for
    the same file signed within one window is identical, so caches can keep it."""
    if window <= 0:
        raise SignError("window must be positive")
    return -(-(now + ttl) // window) * window


def string_to_sign(kid, path, exp, nbf=None, scope=None, ip=None, methods=None, query=None,
                   host=None):
    """The exact text HMAC-SHA256 covers (nine labelled lines, a tenth with a host)."""
    target = f"scope:{scope}" if scope is not None else f"path:{path}"
    return _host_line("\n".join([
        "keyhole-url-v1",
        f"kid:{kid}",
        target,
        f"exp:{exp}",
        f"nbf:{'' if nbf is None else nbf}",
        f"ip:{ip or ''}",
        f"methods:{methods or 'GET,HEAD'}",
        f"bind-query:{0 if query is None else 1}",
        f"query:{query or ''}",
    ]), host)


# --- Host binding (kh_host; docs/signed-urls.md, "Hosts") ----------------------------

_HOST = re.compile(r"[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*\Z")


def _check_host(host):
    """A host in the one form keyhole compares: lower case, no trailing dot, no port,
    an internationalised name in its IDNA A-label form (xn--...)."""
    if not _HOST.match(host) or len(host) > 253:
        raise SignError(f"host {host!r} must be a lower-case name (a-z 0-9 - _ and dots, "
                        "labels of 1 to 63, at most 253 bytes; IDNA names as xn--...), "
                        "without a port or a trailing dot; keyhole would deny it as malformed")


def _host_line(text, host):
    """The signed text with the tenth line, `host:`, when a host is bound."""
    return text if host is None else f"{text}\nhost:{host}"


def sign_url(keys, path, *, exp=None, ttl=None, window=None, now=None, nbf=None,
             scope=None, ip=None, methods=None, query=None, host=None):
    """Returns `/encoded/path?…&kh_sig=…` for the decoded `path`.

    keys:    "kid:secret" (or a KEYHOLE_KEYS list; the first key signs)
    exp:     expiry in Unix seconds, or ttl: seconds from `now` (default: the clock),
             rounded up to a multiple of `window` seconds when given (cacheable URLs)
    nbf:     not-before, Unix seconds
    scope:   a decoded prefix ending in `/`; the signature then covers every file below
    ip:      "203.0.113.7", "10.0.0.0/8" or "203.0.113.7/32", canonical text (signed as
             written)
    methods: "GET,HEAD" (default) or another upper-case comma list
    query:   an application query to bind ("w=640&h=480", already percent-encoded);
             "" binds an empty query; None leaves the query unsigned
    host:    the one virtual host the URL opens on ("img.example.com"), or None
    """
    return _sign(keys, path, exp, ttl, window, now, nbf, scope, ip, methods, query, host)[0]


def _sign(keys, path, exp, ttl, window, now, nbf, scope, ip, methods, query, host=None):
    """(url, string to sign): sign_url's work, with the signed text for checks."""
    kid, secret = signing_key(keys)
    if (exp is None) == (ttl is None):
        raise SignError("give exactly one of exp or ttl")
    now = int(time.time()) if now is None else _timestamp(now, "now")
    if exp is None:
        exp = now + ttl if window is None else cacheable_expiry(now, ttl, window)
    exp = _timestamp(exp, "exp")
    if exp <= now:
        raise SignError(f"exp {exp} is not after now ({now}); keyhole would deny it as expired")
    if nbf is not None:
        nbf = _timestamp(nbf, "nbf")
        if nbf > exp:
            raise SignError(f"nbf {nbf} is after exp {exp}; the URL would never be valid")
    _check_path(path, "path", scope=False)
    if scope is not None:
        _check_path(scope, "scope", scope=True)
        if not path.startswith(scope):
            raise SignError(f"path {path!r} is not inside scope {scope!r}")
    if ip is not None:
        _check_ip(ip)
    if methods is not None:
        names = methods.split(",")
        if not _METHOD_LIST.match(methods) or len(set(names)) != len(names):
            raise SignError(f"methods {methods!r} must be distinct upper-case names like GET,HEAD")

    params = [("kh_v", "1"), ("kh_kid", kid), ("kh_exp", str(exp))]
    if nbf is not None:
        params.append(("kh_nbf", str(nbf)))
    if scope is not None:
        scope_value = encode_path(scope).replace("&", "%26").replace("=", "%3D").replace("+", "%2B")
        params.append(("kh_scope", scope_value))
    if ip is not None:
        params.append(("kh_ip", ip))
    if methods is not None:
        params.append(("kh_m", methods))
    if query is not None:
        params.append(("kh_q", "1"))
    if host is not None:
        _check_host(host)
        params.append(("kh_host", host))
    items = query.split("&") if query else []
    if query:
        if any(b < 0x21 or b > 0x7E or b == 0x23 for b in query.encode("utf-8")):
            raise SignError("query must be percent-encoded visible ASCII without `#`")
        if any(item == "" or item.startswith("kh_") for item in items):
            raise SignError("query must not have empty items or keyhole's own kh_ names")
        if any(item.split("=", 1)[0] == _JWT_PARAM for item in items):
            raise SignError(f"query must not have an item named {_JWT_PARAM!r}, keyhole's JWT "
                            "parameter: with JWTs enabled the URL is ambiguous-credential")
    if len(items) + len(params) + 1 > _MAX_PARAMS:
        raise SignError(f"the URL would have {len(items) + len(params) + 1} query items counting "
                        f"keyhole's own; keyhole reads at most {_MAX_PARAMS} (too-many-params)")

    text = string_to_sign(kid, path, exp, nbf, scope, ip, methods, query, host)
    params.append(("kh_sig", _signature(secret, text)))
    url = encode_path(path) + "?" + "&".join(items + [f"{k}={v}" for k, v in params])
    if len(url) > _MAX_URI:
        raise SignError(f"the URL would be {len(url)} bytes; keyhole reads at most {_MAX_URI} "
                        "of path and query (uri-too-long)")
    return url, text


# --- Cookie grants, format v2 (docs/cookies.md) -------------------------------------

COOKIE_NAME = "__Host-keyhole"
_COOKIE_METHODS = ("GET,HEAD", "GET", "HEAD")
_SID = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_MAX_COOKIE_VALUE = 1024

CookieGrant = namedtuple("CookieGrant", "value set_cookie sid exp max_age")
CookieGrant.__doc__ = """A signed cookie grant: `value` for the cookie, `set_cookie` for the
Set-Cookie header, the session id (`""` for none: name it in `keyhole revoke --sid`),
the expiry and the Max-Age written."""


def _b64url(data):
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def cookie_string_to_sign(kid, scope, exp, sid="", ip="", methods="GET,HEAD"):
    """The exact text HMAC-SHA256 covers for a cookie grant (seven lines)."""
    return "\n".join(["keyhole-cookie-v2", f"kid:{kid}", f"scope:{scope}", f"exp:{exp}",
                      f"sid:{sid}", f"ip:{ip}", f"methods:{methods}"])


def sign_cookie(keys, scope, *, exp=None, ttl=None, now=None, sid=None, ip="",
                methods="GET,HEAD", same_site="Lax", name=COOKIE_NAME):
    """Signs a cookie grant for every file below the decoded `scope` (ending in `/`).

    keys:      "kid:secret" (or a KEYHOLE_KEYS list; the first key signs)
    exp / ttl: expiry in Unix seconds, or seconds from `now` (default: the clock);
               Max-Age is exp - now (keyhole refuses grants longer than
               KEYHOLE_COOKIE_MAX_LIFETIME, 24 h by default)
    sid:       session id (1-64 of A-Z a-z 0-9 _ -), "" for none, None for a fresh
               random one (128 bits)
    ip:        client address or network in canonical form ("203.0.113.7",
               "10.0.0.0/8"), "" (default) for any client
    methods:   "GET,HEAD" (default), "GET" or "HEAD": a cookie never opens files for
               other methods
    same_site: "Lax" (default) or "Strict"
    """
    return _sign_cookie(keys, scope, exp, ttl, now, sid, ip, methods, same_site, name)[0]


def _sign_cookie(keys, scope, exp, ttl, now, sid, ip, methods, same_site, name):
    kid, secret = signing_key(keys)
    if (exp is None) == (ttl is None):
        raise SignError("give exactly one of exp or ttl")
    now = int(time.time()) if now is None else _timestamp(now, "now")
    exp = _timestamp(now + ttl if exp is None else exp, "exp")
    if exp <= now:
        raise SignError(f"exp {exp} is not in the future")
    _check_path(scope, "scope", scope=True)
    if sid is None:
        sid = _b64url(secrets.token_bytes(16))
    if sid != "" and not _SID.match(sid):
        raise SignError(f"sid {sid!r} must be 1-64 of A-Z a-z 0-9 _ -")
    if ip:
        _check_ip(ip)
    if methods not in _COOKIE_METHODS:
        raise SignError(f"methods must be GET,HEAD, GET or HEAD, not {methods!r}")
    if same_site not in ("Lax", "Strict"):
        raise SignError(f"same_site must be Lax or Strict, not {same_site!r}")
    text = cookie_string_to_sign(kid, scope, exp, sid, ip, methods)
    signature = _signature(secret, text)
    fields = [_b64url(scope.encode("utf-8")), str(exp), sid, _b64url(ip.encode("ascii")),
              _b64url(methods.encode("ascii"))]
    value = ".".join(["2", kid, *fields, signature])
    if len(value) > _MAX_COOKIE_VALUE:
        raise SignError(f"the cookie value would be longer than {_MAX_COOKIE_VALUE} bytes")
    max_age = exp - now
    header = f"{name}={value}; HttpOnly; SameSite={same_site}; Secure; Path=/; Max-Age={max_age}"
    return CookieGrant(value, header, sid, exp, max_age), text


# --- File-scoped JWTs (docs/jwt.md), with PyJWT --------------------------------------

def jwt_signing_key(jwt_keys):
    """(kid, alg, secret bytes) of the first entry of a KEYHOLE_JWT_KEYS-style value
    ("kid:HS256:secret")."""
    for entry in re.split(r"[,\n]", jwt_keys):
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        parts = entry.split(":")
        if len(parts) != 3 or parts[1] not in ("HS256", "HS384", "HS512") or not parts[0]:
            raise SignError("JWT key must be `kid:HS256:secret` (HS384, HS512 also)")
        kid, alg, secret = parts
        body = secret.rstrip("=")
        if not _SECRET.match(secret) or len(body) % 4 == 1:
            raise SignError("JWT key secret must be base64url")
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        if len(raw) < 32:
            raise SignError("JWT key secret must be at least 32 bytes")
        return kid, alg, raw
    raise SignError("no JWT key given")


def mint_jwt_url(jwt_keys, path, *, ttl=300, now=None, scope=None, once=False,
                 methods=None, ip=None, aud="keyhole"):
    """Returns `/encoded/path?token=<JWT>` for the decoded `path`, minted with PyJWT
    (`pip install pyjwt`; imported only here, so the rest works without it).

    jwt_keys: "kid:HS256:secret" (or a KEYHOLE_JWT_KEYS list; the first key signs)
    ttl:      seconds (keyhole refuses more than KEYHOLE_JWT_MAX_LIFETIME, 5 min default)
    scope:    a decoded prefix ending in `/` (kh_scope) instead of the one path (kh_path)
    once:     single use (kh_once with a random jti)
    methods:  kh_m, e.g. "GET"; ip: kh_ip, e.g. "203.0.113.7" or "10.0.0.0/8"
    """
    try:
        import jwt  # PyJWT
    except ImportError:
        raise SignError("minting JWTs needs PyJWT: pip install pyjwt") from None
    kid, alg, secret = jwt_signing_key(jwt_keys)
    _check_path(path, "path", scope=False)
    now = int(time.time()) if now is None else _timestamp(now, "now")
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
        raise SignError(f"ttl must be a positive number of seconds, not {ttl!r}")
    claims = {"aud": aud, "iat": now, "exp": _timestamp(now + ttl, "exp")}
    if scope is not None:
        _check_path(scope, "scope", scope=True)
        if not path.startswith(scope):
            raise SignError(f"path {path!r} is not inside scope {scope!r}")
        claims["kh_scope"] = encode_path(scope)
    else:
        claims["kh_path"] = encode_path(path)
    if methods is not None:
        names = methods.split(",")
        if not _METHOD_LIST.match(methods) or len(set(names)) != len(names):
            raise SignError(f"methods {methods!r} must be distinct upper-case names like GET,HEAD")
        claims["kh_m"] = methods
    if ip is not None:
        _check_ip(ip)
        claims["kh_ip"] = ip
    if once:
        claims["jti"] = _b64url(secrets.token_bytes(16))
        claims["kh_once"] = True
    token = jwt.encode(claims, secret, algorithm=alg, headers={"typ": "keyhole+jwt", "kid": kid})
    if isinstance(token, bytes):  # PyJWT 1.x
        token = token.decode("ascii")
    return f"{encode_path(path)}?token={token}"


def _vector_key(vectors):
    """The key line of a vector file: `kid:secret`, or `kid:ed25519-seed:SEED`."""
    key = vectors["key"]
    if "seed" in key:
        return f"{key['kid']}:ed25519-seed:{key['seed']}"
    return f"{key['kid']}:{key['secret']}"


def _check_vectors(file_name):
    """Signs every `signing` vector and compares; returns the number of mismatches."""
    with open(file_name, encoding="utf-8") as file:
        vectors = json.load(file)
    keys = _vector_key(vectors)
    failures = 0
    for case in vectors["signing"]:
        given = {name: None for name in _URL_OPTIONS}
        given.update(case["input"], now=vectors["now"])
        url, text = _sign(keys, **given)
        ok = url == case["url"] and text == case["string_to_sign"]
        failures += not ok
        print(("ok   " if ok else "FAIL ") + case["name"])
        if not ok:
            print(f"  want {case['url']}\n  got  {url}")
    return failures


def _check_cookie_vectors(file_name):
    """Signs every cookie vector and compares; returns the number of mismatches."""
    with open(file_name, encoding="utf-8") as file:
        vectors = json.load(file)
    keys = _vector_key(vectors)
    failures = 0
    # The Ed25519 file keeps its cookie vectors under `cookies`.
    for case in vectors["cookies"] if "cookies" in vectors else vectors["signing"]:
        given = case["input"]
        grant, text = _sign_cookie(keys, given["scope"], given["exp"], None, vectors["now"],
                                   given["sid"], given["ip"], given["methods"],
                                   given["same_site"], vectors["name"])
        ok = (grant.value == case["value"] and grant.set_cookie == case["set_cookie"]
              and text == case["string_to_sign"] and grant.max_age == given["max_age"])
        failures += not ok
        print(("ok   " if ok else "FAIL ") + case["name"])
        if not ok:
            print(f"  want {case['set_cookie']}\n  got  {grant.set_cookie}")
    return failures


# --- Command line (argparse) ----------------------------------------------------------

# The URL options, named as sign_url's arguments; the first five are whole seconds.
_URL_OPTIONS = ("exp", "ttl", "window", "now", "nbf", "scope", "ip", "methods", "query",
                "host")
_URL_SECONDS = _URL_OPTIONS[:5]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are SignErrors, so that they end like every
    other refusal: one `keyhole_sign: …` line on stderr and exit status 2."""

    def error(self, message):
        unknown = "unrecognized arguments: "
        if message.startswith(unknown):
            message = "unknown option or missing value: " + message[len(unknown):]
        raise SignError(message)


def _text(value):
    """A command-line value as text: arguments arrive as the OS's bytes; paths are UTF-8."""
    return os.fsencode(value).decode("utf-8")


def _seconds(value):
    """A command-line value as a whole number of seconds."""
    return int(_text(value))


# argparse names the type in its messages ("invalid seconds value: '1e3'").
_text.__name__, _seconds.__name__ = "text", "seconds"


def _parser(usage, values, flags):
    """A parser for one mode: `values` maps each option that takes a value to its type
    (`_text` or `_seconds`), `flags` lists the options that take none."""
    parser = _Parser(prog="keyhole-sign", usage=usage, allow_abbrev=False,
                     description=__doc__.split("\n\n", 1)[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for option, kind in values.items():
        parser.add_argument(option, type=kind, metavar="N" if kind is _seconds else "TEXT")
    for flag in flags:
        parser.add_argument(flag, action="store_true")
    parser.add_argument("positional", nargs="*", type=_text, metavar="PATH")
    return parser


def _parse(parser, values, argv):
    """Parses `argv` as the hand-written parser before argparse did: an option that takes
    a value takes the next argument whatever it looks like (`--sid -x`, `--query --a`),
    and `--` is an unknown option, not the end of the options."""
    joined = []
    args = iter(argv)
    for arg in args:
        if arg in values:
            value = next(args, None)
            if value is None:
                raise SignError(f"unknown option or missing value: {arg}")
            joined.append(f"{arg}={value}")
        elif arg == "--":
            raise SignError(f"unknown option or missing value: {arg}")
        else:
            joined.append(arg)
    return parser.parse_intermixed_args(joined)


_URL_USAGE = """keyhole-sign [--exp N | --ttl N [--window N] [--now N]] [--nbf N] [--scope S]
                    [--ip IP] [--methods M] [--query Q] [--host H] [--string-to-sign] PATH
       keyhole-sign --vectors tests/vectors/signed-urls.json   (or signed-urls-ed25519.json)
       keyhole-sign --cookie [--exp N | --ttl N] [--now N] [--sid ID | --no-sid]
                    [--ip IP] [--methods GET,HEAD|GET|HEAD]
                    [--same-site Lax|Strict] [--value | --string-to-sign] SCOPE
       keyhole-sign --cookie-vectors tests/vectors/cookies.json
       keyhole-sign --jwt [--ttl N] [--now N] [--scope S] [--once] [--methods M]
                    [--ip IP] [--aud A] PATH"""


def _url_main(argv):
    values = {f"--{name}": _seconds if name in _URL_SECONDS else _text for name in _URL_OPTIONS}
    parsed = _parse(_parser(_URL_USAGE, values, ["--string-to-sign"]), values, argv)
    if len(parsed.positional) != 1:
        raise SignError("give exactly one PATH (decoded, e.g. '/photos/café au lait.jpg')")
    options = {name: getattr(parsed, name) for name in _URL_OPTIONS}
    url, signed = _sign(os.environ.get("KEYHOLE_KEYS", ""), parsed.positional[0], **options)
    print(signed if parsed.string_to_sign else url)
    return 0


def _cookie_main(argv):
    values = {"--exp": _seconds, "--ttl": _seconds, "--now": _seconds, "--sid": _text,
              "--ip": _text, "--methods": _text, "--same-site": _text}
    parser = _parser("keyhole-sign --cookie [--exp N | --ttl N] [--now N] [--sid ID | --no-sid]\n"
                     "                    [--ip IP] [--methods GET,HEAD|GET|HEAD]\n"
                     "                    [--same-site Lax|Strict] [--value | --string-to-sign]"
                     " SCOPE", values, ["--no-sid", "--value", "--string-to-sign"])
    parsed = _parse(parser, values, argv)
    if len(parsed.positional) != 1:
        raise SignError("give exactly one SCOPE (decoded, ending in `/`)")
    sid = parsed.sid
    if parsed.no_sid:
        if sid is not None:
            raise SignError("give --sid or --no-sid, not both")
        sid = ""
    grant, signed = _sign_cookie(os.environ.get("KEYHOLE_KEYS", ""), parsed.positional[0],
                                 parsed.exp, parsed.ttl, parsed.now, sid, parsed.ip or "",
                                 "GET,HEAD" if parsed.methods is None else parsed.methods,
                                 parsed.same_site or "Lax", COOKIE_NAME)
    if parsed.string_to_sign:
        print(signed)
    elif parsed.value:
        print(grant.value)
    else:
        print(grant.set_cookie)
    return 0


def _jwt_main(argv):
    values = {"--ttl": _seconds, "--now": _seconds, "--scope": _text, "--methods": _text,
              "--ip": _text, "--aud": _text}
    parser = _parser("keyhole-sign --jwt [--ttl N] [--now N] [--scope S] [--once] [--methods M]\n"
                     "                    [--ip IP] [--aud A] PATH", values, ["--once"])
    parsed = _parse(parser, values, argv)
    if len(parsed.positional) != 1:
        raise SignError("give exactly one PATH (decoded)")
    given = {name: getattr(parsed, name) for name in ("ttl", "now", "scope", "methods", "ip",
                                                      "aud")}
    given = {name: value for name, value in given.items() if value is not None}
    print(mint_jwt_url(os.environ.get("KEYHOLE_JWT_KEYS", ""), parsed.positional[0],
                       once=parsed.once, **given))
    return 0


def _main(argv):
    if len(argv) == 2 and argv[0] == "--vectors":
        return 1 if _check_vectors(argv[1]) else 0
    if len(argv) == 2 and argv[0] == "--cookie-vectors":
        return 1 if _check_cookie_vectors(argv[1]) else 0
    if argv[:1] == ["--cookie"]:
        return _cookie_main(argv[1:])
    if argv[:1] == ["--jwt"]:
        return _jwt_main(argv[1:])
    return _url_main(argv)


def main(argv=None):
    """The `keyhole-sign` command (console script, `python3 -m keyhole_sign`, or
    `python3 keyhole_sign.py`): returns its exit status, 0 success, 1 a vector differs,
    2 a usage error or a URL, cookie or token keyhole would deny (one message on stderr)."""
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    except (SignError, ValueError) as error:
        print(f"keyhole_sign: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
