//! keyhole's own MAC, used by signed URLs and cookies: HMAC-SHA256 over a
//! credential's signed bytes, which each format writes piece by piece through
//! [`SignedBytes`]. Signing, verifying and the documented signed text all feed from
//! that one writer, so they can never disagree about a byte.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac as _;

use crate::decision::Deny;
use crate::keys::{HmacSha256, Key};

/// A credential's signed bytes, written in pieces so that they stream into the MAC
/// without a string being built first.
pub(crate) trait SignedBytes {
    /// Feeds the exact signed bytes to `sink`, in order.
    fn write(&self, sink: &mut dyn FnMut(&[u8]));
}

/// The signed bytes as text (for documentation, vectors and `--string-to-sign`).
pub(crate) fn string_to_sign(fields: &dyn SignedBytes) -> String {
    let mut out = Vec::with_capacity(256);
    fields.write(&mut |bytes| out.extend_from_slice(bytes));
    String::from_utf8_lossy(&out).into_owned()
}

/// HMAC-SHA256 of the signed bytes under `key`.
fn mac_over(fields: &dyn SignedBytes, key: &Key) -> HmacSha256 {
    let mut mac = key.mac();
    fields.write(&mut |bytes| mac.update(bytes));
    mac
}

/// The signature as written in credentials: 43 base64url characters, no padding.
pub(crate) fn sign(fields: &dyn SignedBytes, key: &Key) -> String {
    URL_SAFE_NO_PAD.encode(mac_over(fields, key).finalize().into_bytes())
}

/// `bad-signature` unless `tag` is the MAC of the signed bytes under `key`; compared in
/// constant time.
pub(crate) fn verify(fields: &dyn SignedBytes, key: &Key, tag: &[u8; 32]) -> Result<(), Deny> {
    mac_over(fields, key)
        .verify_slice(tag)
        .map_err(|_| Deny::BadSignature)
}
