//! keyhole's own signatures, used by signed URLs and cookies: HMAC-SHA256 or Ed25519
//! (by the key's kind, never by the credential) over a credential's signed bytes,
//! which each format writes piece by piece through [`SignedBytes`]. Signing,
//! verifying and the documented signed text all feed from that one writer, so they
//! can never disagree about a byte.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer as _;
use hmac::Mac as _;

use crate::claims::SignatureBytes;
use crate::decision::Deny;
use crate::keys::{HmacSha256, Key, Material, VerifyOnlyKey};

/// A credential's signed bytes, written in pieces so that they stream into the MAC
/// without a string being built first.
pub(crate) trait SignedBytes {
    /// Feeds the exact signed bytes to `sink`, in order.
    fn write(&self, sink: &mut dyn FnMut(&[u8]));
}

/// The signed bytes as text (for documentation, vectors and `--string-to-sign`).
pub(crate) fn string_to_sign(fields: &dyn SignedBytes) -> String {
    String::from_utf8_lossy(&message(fields)).into_owned()
}

/// The signed bytes in one buffer (Ed25519 hashes its message twice, so it needs it
/// whole).
fn message(fields: &dyn SignedBytes) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    fields.write(&mut |bytes| out.extend_from_slice(bytes));
    out
}

/// HMAC-SHA256 of the signed bytes under a prepared HMAC.
fn mac_over(fields: &dyn SignedBytes, prototype: &HmacSha256) -> HmacSha256 {
    let mut mac = prototype.clone();
    fields.write(&mut |bytes| mac.update(bytes));
    mac
}

/// The signature as written in credentials, base64url without padding: 43 characters
/// for HMAC, 86 for Ed25519. An Ed25519 public key cannot sign.
pub(crate) fn sign(fields: &dyn SignedBytes, key: &Key) -> Result<String, VerifyOnlyKey> {
    match key.material() {
        Material::Hmac(prototype) => {
            Ok(URL_SAFE_NO_PAD.encode(mac_over(fields, prototype).finalize().into_bytes()))
        }
        Material::Ed25519Seed(seed) => {
            Ok(URL_SAFE_NO_PAD.encode(seed.sign(&message(fields)).to_bytes()))
        }
        Material::Ed25519Public(_) => Err(VerifyOnlyKey {
            kid: key.kid.to_string(),
        }),
    }
}

/// `bad-signature` unless `signature` is the signature of the signed bytes under
/// `key`: an HMAC tag compared in constant time, or an Ed25519 signature checked
/// strictly (canonical `S`, no small-order `R` or key). A signature of the other
/// algorithm's length is `bad-signature` too.
pub(crate) fn verify(
    fields: &dyn SignedBytes,
    key: &Key,
    signature: &SignatureBytes,
) -> Result<(), Deny> {
    match (key.material(), signature) {
        (Material::Hmac(prototype), SignatureBytes::Mac(tag)) => mac_over(fields, prototype)
            .verify_slice(tag)
            .map_err(|_| Deny::BadSignature),
        (Material::Ed25519Public(public), SignatureBytes::Ed25519(bytes)) => public
            .verify_strict(
                &message(fields),
                &ed25519_dalek::Signature::from_bytes(bytes),
            )
            .map_err(|_| Deny::BadSignature),
        (Material::Ed25519Seed(seed), SignatureBytes::Ed25519(bytes)) => seed
            .verifying_key()
            .verify_strict(
                &message(fields),
                &ed25519_dalek::Signature::from_bytes(bytes),
            )
            .map_err(|_| Deny::BadSignature),
        (Material::Hmac(_), SignatureBytes::Ed25519(_))
        | (Material::Ed25519Public(_) | Material::Ed25519Seed(_), SignatureBytes::Mac(_)) => {
            Err(Deny::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests;
