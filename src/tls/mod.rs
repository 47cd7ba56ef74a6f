//! rustls configurations for both ends of a Lumberjack connection: the client (our
//! Logstash output, configured by Filebeat's `ssl.*`) and the server (the embedded
//! receiver, configured like Logstash's beats input). Also SNI names and the one-line
//! description of an established session.
//!
//! Crypto is rustls with the `ring` provider only, TLS 1.2 and 1.3 only. This module
//! builds configs; it never opens a socket and never falls back to plaintext.

mod client;
mod explain;
mod pem;
mod server;
mod verify;

#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{CommonState, ProtocolVersion, SupportedProtocolVersion};
use rustls_pki_types::ServerName;

use crate::config::TlsVersion;

pub use client::client_config;
pub use explain::explain;
pub use server::{ClientAuth, ServerTls, server_config};
pub use verify::Fingerprint;

/// Everything that can be wrong with a TLS setting. Handshake failures are not here:
/// they come back from tokio-rustls as `io::Error` wrapping a `rustls::Error`.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {reason}")]
    Read {
        what: &'static str,
        path: String,
        reason: String,
    },

    #[error("no {what} found in {origin}")]
    NotFound { what: &'static str, origin: String },

    #[error("{what} {origin} is not valid PEM: {reason}")]
    BadPem {
        what: &'static str,
        origin: String,
        reason: String,
    },

    #[error("certificate authority {origin} cannot be used: {reason}")]
    BadAuthority { origin: String, reason: String },

    #[error("cannot use certificate {certificate} with key {key}: {reason}")]
    BadKeyPair {
        certificate: String,
        key: String,
        reason: String,
    },

    #[error("ssl.certificate and ssl.key go together, but only {given} is set")]
    HalfKeyPair { given: &'static str },

    #[error("ca_trusted_fingerprint {0:?} is not a hex sha-256")]
    BadFingerprint(String),

    #[error(
        "no certificate authority to verify the server with: set ssl.certificate_authorities \
         or ssl.ca_trusted_fingerprint (system roots are not used), or verification_mode: none"
    )]
    NoTrustAnchors,

    #[error("client authentication is {mode} but no client certificate authority is set")]
    NoClientAuthority { mode: &'static str },

    #[error("ssl.supported_protocols is empty")]
    NoProtocols,

    #[error("{0:?} is not a valid tls server name")]
    BadServerName(String),

    /// The text of the rustls error is the whole message, so it is not also a `source`
    /// (a `{:#}` chain would print it twice).
    #[error("cannot build tls configuration: {0}")]
    Rustls(rustls::Error),
}

impl From<rustls::Error> for TlsError {
    fn from(err: rustls::Error) -> Self {
        TlsError::Rustls(err)
    }
}

/// The one crypto provider we use: `ring`, never aws-lc-rs (no cmake or NASM in the build).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Why rustls refused a certificate + key pair, in words for the config's author.
fn key_pair_reason(err: &rustls::Error) -> String {
    match err {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            "the key does not belong to the certificate".to_owned()
        }
        other => other.to_string(),
    }
}

/// `ssl.supported_protocols` as rustls versions, newest first, duplicates dropped.
fn protocol_versions(
    wanted: &[TlsVersion],
) -> Result<Vec<&'static SupportedProtocolVersion>, TlsError> {
    let mut versions = Vec::with_capacity(2);
    if wanted.contains(&TlsVersion::V1_3) {
        versions.push(&rustls::version::TLS13);
    }
    if wanted.contains(&TlsVersion::V1_2) {
        versions.push(&rustls::version::TLS12);
    }
    if versions.is_empty() {
        return Err(TlsError::NoProtocols);
    }
    Ok(versions)
}

/// The name to send as SNI and to check the certificate against, from the host part of
/// a `host:port` entry. IP addresses (IPv6 with or without brackets) become IP names,
/// which rustls checks against the certificate's IP SANs and does not send as SNI.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    let bare = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(bare.to_owned()).map_err(|_| TlsError::BadServerName(host.to_owned()))
}

/// Version and cipher suite of a session, e.g. `TLSv1.3 TLS13_AES_128_GCM_SHA256`, for
/// the "TLS established" log line.
pub fn describe(conn: &CommonState) -> String {
    let version = match conn.protocol_version() {
        Some(ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
        Some(ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
        Some(other) => format!("{other:?}"),
        None => return "TLS handshake not complete".to_owned(),
    };
    match conn.negotiated_cipher_suite() {
        Some(suite) => {
            let id = suite.suite();
            match id.as_str() {
                Some(name) => format!("{version} {name}"),
                None => format!("{version} {id:?}"),
            }
        }
        None => version,
    }
}
