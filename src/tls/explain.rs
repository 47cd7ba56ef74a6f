//! Handshake failures in words a Logstash user can act on.

use std::io;
use std::time::{Duration, SystemTime};

use rustls::{AlertDescription, CertificateError};
use rustls_pki_types::UnixTime;

fn when(t: UnixTime) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(t.as_secs());
    humantime::format_rfc3339_seconds(at).to_string()
}

/// One line for an I/O error from a TLS stream: rustls' own errors are said with what
/// to check; anything else is the error's own text.
pub fn explain(e: &io::Error) -> String {
    let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return e.to_string();
    };
    match tls {
        rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { time, not_after }) => format!(
            "the server's certificate expired at {} (it is now {})",
            when(*not_after),
            when(*time)
        ),
        rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext { time, not_before }) => format!(
            "the server's certificate is not valid before {} (it is now {})",
            when(*not_before),
            when(*time)
        ),
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the server's certificate is not signed by a trusted CA (UnknownIssuer: check ssl.certificate_authorities)".into()
        }
        rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { expected, .. }) => format!(
            "the server's certificate is not valid for {expected:?} (check the host name, or ssl.verification_mode)"
        ),
        rustls::Error::AlertReceived(AlertDescription::CertificateRequired) => {
            "the server requires a client certificate (set ssl.certificate and ssl.key)".into()
        }
        rustls::Error::AlertReceived(AlertDescription::UnknownCA | AlertDescription::BadCertificate) => {
            "the server refused our client certificate (not signed by a CA it trusts)".into()
        }
        other => other.to_string(),
    }
}
