//! The embedded receiver's TLS server config, with the settings of Logstash's beats
//! input (`ssl_certificate`, `ssl_key`, `ssl_certificate_authorities`,
//! `ssl_client_authentication`).

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;

use super::client::root_store;
use super::pem::{PemSource, load_certs, load_key};
use super::{TlsError, key_pair_reason, provider};

/// Logstash's `ssl_client_authentication`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// Never ask for a client certificate.
    #[default]
    None,
    /// Ask; a client without a certificate is let in, a client with a bad one is not.
    Optional,
    /// A client certificate signed by `client_ca` is required.
    Required,
}

/// The receiver's TLS settings. Each of `cert`, `key` and `client_ca` is a PEM file path
/// or inline PEM; `cert` may hold the whole chain, leaf first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    pub cert: String,
    pub key: String,
    pub client_ca: Option<String>,
    pub client_auth: ClientAuth,
}

/// Builds the receiver's config: TLS 1.2 and 1.3, client certificates per `client_auth`.
pub fn server_config(tls: &ServerTls) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;

    let builder = match tls.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Optional | ClientAuth::Required => {
            let mode = if tls.client_auth == ClientAuth::Required {
                "required"
            } else {
                "optional"
            };
            let Some(client_ca) = &tls.client_ca else {
                return Err(TlsError::NoClientAuthority { mode });
            };
            let roots = root_store(std::slice::from_ref(client_ca))?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if tls.client_auth == ClientAuth::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier.build().map_err(|err| TlsError::BadAuthority {
                origin: PemSource::from_setting(client_ca).to_string(),
                reason: err.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };

    let chain = load_certs(&tls.cert, "certificate")?;
    let key = load_key(&tls.key)?;
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|err| TlsError::BadKeyPair {
            certificate: PemSource::from_setting(&tls.cert).to_string(),
            key: PemSource::from_setting(&tls.key).to_string(),
            reason: key_pair_reason(&err),
        })?;
    Ok(Arc::new(config))
}
