//! The HTTPS side of the JWKS fetcher: one rustls client configuration, trusting the
//! Web PKI roots (`webpki-roots`) plus, when `KEYHOLE_JWKS_CA_FILE` is set, the
//! certificates of a private CA; and the PEM reading of that file.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

/// Why the TLS client could not be set up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TlsSetupError {
    #[error("holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)")]
    NoCertificate,
    #[error("is not valid PEM: {0}")]
    Pem(String),
    #[error("certificate {index} is not a usable CA certificate: {reason}")]
    BadCertificate { index: usize, reason: String },
    #[error("cannot set up TLS: {0}")]
    Rustls(String),
}

/// The certificates of a PEM file's text (at least one).
pub fn parse_ca_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsSetupError::Pem(error.to_string()))?;
    if certificates.is_empty() {
        return Err(TlsSetupError::NoCertificate);
    }
    // Each must be a trust anchor rustls accepts; said at start, not at the first fetch.
    let mut roots = RootCertStore::empty();
    for (index, certificate) in certificates.iter().enumerate() {
        roots
            .add(certificate.clone())
            .map_err(|error| TlsSetupError::BadCertificate {
                index: index + 1,
                reason: error.to_string(),
            })?;
    }
    Ok(certificates)
}

/// A client configuration trusting the Web PKI roots and `extra_roots`, with rustls'
/// safe defaults (TLS 1.2 and 1.3, no client certificate) and the `ring` provider.
pub fn client_config(
    extra_roots: &[CertificateDer<'static>],
) -> Result<Arc<rustls::ClientConfig>, TlsSetupError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for (index, certificate) in extra_roots.iter().enumerate() {
        roots
            .add(certificate.clone())
            .map_err(|error| TlsSetupError::BadCertificate {
                index: index + 1,
                reason: error.to_string(),
            })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsSetupError::Rustls(error.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_without_certificates_is_refused() {
        assert_eq!(parse_ca_pem(b""), Err(TlsSetupError::NoCertificate));
        assert_eq!(
            parse_ca_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            Err(TlsSetupError::NoCertificate)
        );
        assert!(matches!(
            parse_ca_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            Err(TlsSetupError::BadCertificate { index: 1, .. })
        ));
    }

    #[test]
    fn the_web_pki_roots_alone_make_a_config() {
        assert!(client_config(&[]).is_ok());
    }
}
