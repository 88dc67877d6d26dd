// Mints keyhole file tokens with jose exactly as docs/jwt.md shows.
// Usage: node mint.mjs PATH SECRET_B64URL KID [P256_PKCS8_PEM_FILE ES_KID]
// Prints an HS256 URL target (and, with a PEM file, an ES256 one), one a line.
import { SignJWT, importPKCS8 } from "jose";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";

const [path, secretB64, kid, pemFile, esKid] = process.argv.slice(2);
const secret = Buffer.from(secretB64, "base64url");

async function fileUrl(path, { once = false, key = secret, alg = "HS256", keyId = kid } = {}) {
  const claims = { kh_path: path, ...(once ? { kh_once: true } : {}) };
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg, typ: "keyhole+jwt", kid: keyId })
    .setAudience("keyhole")
    .setIssuedAt()
    .setExpirationTime("60s");
  if (once) jwt = jwt.setJti(randomUUID());
  return `${path}?token=${await jwt.sign(key)}`;
}

console.log(await fileUrl(path, { once: true }));
if (pemFile) {
  const key = await importPKCS8(readFileSync(pemFile, "utf8"), "ES256");
  console.log(await fileUrl(path, { key, alg: "ES256", keyId: esKid }));
}
