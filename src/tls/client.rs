//! The output's TLS client config from Filebeat's `ssl.*` settings.

use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::{ClientConfig, RootCertStore};

use super::pem::{PemSource, load_certs, load_key};
use super::verify::{Fingerprint, ServerVerifier, Trust};
use super::{TlsError, key_pair_reason, protocol_versions, provider};
use crate::config::{SslConfig, VerificationMode};

/// Builds the client config for one `output.logstash.ssl` block.
///
/// Trust comes from `certificate_authorities` and/or `ca_trusted_fingerprint`. Unlike
/// Filebeat we do not read the system's roots: Logstash almost always sits behind a
/// private CA, so with neither setting (and verification on) this is an error.
pub fn client_config(ssl: &SslConfig) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    let versions = protocol_versions(&ssl.supported_protocols)?;
    let pinned = ssl
        .ca_trusted_fingerprint
        .as_deref()
        .map(Fingerprint::parse)
        .transpose()?;

    let trust = match ssl.verification_mode {
        VerificationMode::None => {
            tracing::warn!(
                "ssl.verification_mode is none: the Logstash server's certificate is NOT \
                 verified, anyone on the path can read and change the events"
            );
            Trust::Anything
        }
        mode => {
            let roots = root_store(&ssl.certificate_authorities)?;
            if roots.is_empty() && pinned.is_none() {
                return Err(TlsError::NoTrustAnchors);
            }
            Trust::Chain {
                roots: Arc::new(roots),
                pinned,
                check_name: mode != VerificationMode::Certificate,
            }
        }
    };
    let verifier: Arc<dyn ServerCertVerifier> = Arc::new(ServerVerifier { trust, algorithms });

    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);

    let config = match (&ssl.certificate, &ssl.key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(_), None) => {
            return Err(TlsError::HalfKeyPair {
                given: "ssl.certificate",
            });
        }
        (None, Some(_)) => return Err(TlsError::HalfKeyPair { given: "ssl.key" }),
        (Some(certificate), Some(key)) => {
            let chain = load_certs(certificate, "certificate")?;
            let key_der = load_key(key)?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|err| TlsError::BadKeyPair {
                    certificate: PemSource::from_setting(certificate).to_string(),
                    key: PemSource::from_setting(key).to_string(),
                    reason: key_pair_reason(&err),
                })?
        }
    };
    Ok(Arc::new(config))
}

/// Every certificate in every `certificate_authorities` entry, each entry a file or
/// inline PEM.
pub(crate) fn root_store(authorities: &[String]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for entry in authorities {
        for cert in load_certs(entry, "certificate authority")? {
            roots.add(cert).map_err(|err| TlsError::BadAuthority {
                origin: PemSource::from_setting(entry).to_string(),
                reason: err.to_string(),
            })?;
        }
    }
    Ok(roots)
}
