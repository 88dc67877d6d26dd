//! `ngx_http_keyhole_module`: keyhole inside nginx. In the access phase of a location
//! with `keyhole on;` it decides what keyhole-core can decide with no store and no
//! network (signed URLs, cookie grants without a session id) by the same verifier
//! the service calls, and hands everything else to the sidecar's `auth_request`
//! (docs/nginx-module.md).
//!
//! - [`keyfile`]: `keyhole_keys_file`, read by keyhole-core's own key parser, with
//!   errors that name the file and the line, never the secret.
//! - [`settings`]: the directives' values, their parsing and their inheritance.
//! - [`handler`]: the pure request handler: nginx's values in, a verdict out. The
//!   fuzz target drives it.
//! - `ffi` (feature `nginx`): the module table, directives, the access-phase handler
//!   and the variables; the only module with `unsafe`.

pub mod handler;
pub mod keyfile;
pub mod settings;

#[cfg(feature = "nginx")]
#[allow(unsafe_code)]
mod ffi;
