//! keyhole's pure core: everything that decides about a credential and everything that
//! mints one, with no IO, no runtime and no environment. The service (`keyhole`), the
//! signers and the nginx module link it; a Rust application can depend on it alone to
//! sign URLs, cookies and JWTs (docs/signing.md).
//!
//! The code map (ARCHITECTURE.md has the invariants):
//!
//! - [`canonical`]: canonical paths and scopes, shared by signing and verifying.
//! - [`claims`]: address bindings, methods, the time window, timestamps and
//!   signatures, checked the same way by every credential.
//! - [`request`]: a proxy's headers into a typed [`request::AuthRequest`].
//! - [`forwarded`]: the forward-auth, `ext_authz` and ingress-nginx dialects mapped
//!   into the same request headers, and the client address behind trusted proxies.
//! - [`decision`]: [`decision::Decision`] and the stable [`decision::Deny`] codes.
//! - [`keys`]: the key ring, redacting secrets, HMAC state prepared once.
//! - [`key_limits`]: the paths and hosts one key may grant (`;paths=`, `;hosts=`).
//! - [`host`]: host names and host patterns, one comparison rule.
//! - [`stateless`]: what a front end without store or network (the nginx module)
//!   decides itself, and what it hands to the service.
//! - [`clock`]: Unix time, the clock trait and the only reader of the system time.
//! - [`verify`]: one verifier and signer per credential (signed URL, JWT, cookie) and
//!   the time rules they share.

#![deny(missing_docs)]

pub mod canonical;
pub mod claims;
pub mod clock;
pub mod decision;
pub mod forwarded;
pub mod host;
pub mod key_limits;
pub mod keys;
pub mod request;
pub mod stateless;
pub mod verify;
