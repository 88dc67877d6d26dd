"""Mints keyhole file tokens with PyJWT exactly as docs/jwt.md shows.

Usage: mint.py PATH SECRET_B64URL KID [ED25519_PEM_FILE ED_KID]
Prints an HS256 URL target (and, with a PEM file, an EdDSA one), one a line.
"""
import base64
import secrets
import sys
import time

import jwt

path, secret_b64, kid = sys.argv[1], sys.argv[2], sys.argv[3]
SECRET = base64.urlsafe_b64decode(secret_b64 + "=" * (-len(secret_b64) % 4))


def file_url(path: str, once: bool = False, key=SECRET, alg="HS256", kid=kid) -> str:
    now = int(time.time())
    claims = {"aud": "keyhole", "iat": now, "exp": now + 60, "kh_path": path}
    if once:
        claims |= {"jti": secrets.token_urlsafe(16), "kh_once": True}
    token = jwt.encode(claims, key, algorithm=alg, headers={"typ": "keyhole+jwt", "kid": kid})
    return f"{path}?token={token}"


print(file_url(path, once=True))
if len(sys.argv) > 5:
    with open(sys.argv[4], "rb") as f:
        pem = f.read()
    print(file_url(path, key=pem, alg="EdDSA", kid=sys.argv[5]))
