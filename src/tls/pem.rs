//! Certificates and keys from a PEM file or from inline PEM (Filebeat accepts both in
//! every `ssl.*` certificate setting). Only reads; never writes or caches anything.

use std::fmt;
use std::path::Path;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

/// Where a certificate or key setting points: a file, or the PEM text itself.
pub(crate) enum PemSource<'a> {
    File(&'a str),
    Inline(&'a str),
}

impl<'a> PemSource<'a> {
    /// A value that starts with a PEM header is the PEM itself, anything else a path.
    pub(crate) fn from_setting(value: &'a str) -> Self {
        if value.trim_start().starts_with("-----BEGIN") {
            PemSource::Inline(value)
        } else {
            PemSource::File(value)
        }
    }

    fn bytes(&self, what: &'static str) -> Result<Vec<u8>, TlsError> {
        match self {
            PemSource::Inline(text) => Ok(text.as_bytes().to_vec()),
            PemSource::File(path) => std::fs::read(Path::new(path)).map_err(|err| TlsError::Read {
                what,
                path: (*path).to_owned(),
                reason: io_reason(&err),
            }),
        }
    }
}

impl fmt::Display for PemSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemSource::File(path) => f.write_str(path),
            PemSource::Inline(_) => f.write_str("inline PEM"),
        }
    }
}

/// All certificates in the source, in order; at least one.
pub(crate) fn load_certs(
    value: &str,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let source = PemSource::from_setting(value);
    let bytes = source.bytes(what)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| bad_pem(what, &source, &err))?;
    if certs.is_empty() {
        return Err(TlsError::NotFound {
            what: "certificate",
            origin: source.to_string(),
        });
    }
    Ok(certs)
}

/// The first private key in the source (PKCS#8, PKCS#1 or SEC1).
pub(crate) fn load_key(value: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    let source = PemSource::from_setting(value);
    let bytes = source.bytes("private key")?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|err| match err {
        pem::Error::NoItemsFound => TlsError::NotFound {
            what: "private key",
            origin: source.to_string(),
        },
        other => bad_pem("private key", &source, &other),
    })
}

fn bad_pem(what: &'static str, source: &PemSource<'_>, err: &pem::Error) -> TlsError {
    let reason = match err {
        pem::Error::MissingSectionEnd { end_marker } => {
            format!(
                "missing -----END {}-----",
                String::from_utf8_lossy(end_marker)
            )
        }
        pem::Error::IllegalSectionStart { line } => {
            format!("bad section start {:?}", String::from_utf8_lossy(line))
        }
        other => other.to_string(),
    };
    TlsError::BadPem {
        what,
        origin: source.to_string(),
        reason,
    }
}

/// `No such file or directory`, without the `(os error 2)` that `io::Error` appends.
fn io_reason(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_text_is_inline_and_anything_else_a_path() {
        assert!(matches!(
            PemSource::from_setting("-----BEGIN CERTIFICATE-----\n"),
            PemSource::Inline(_)
        ));
        assert!(matches!(
            PemSource::from_setting("\n  -----BEGIN X-----"),
            PemSource::Inline(_)
        ));
        assert!(matches!(
            PemSource::from_setting("/etc/ca.pem"),
            PemSource::File(_)
        ));
        assert!(matches!(
            PemSource::from_setting("ca.pem"),
            PemSource::File(_)
        ));
    }

    #[test]
    fn os_error_suffix_is_dropped() {
        let err = std::io::Error::from_raw_os_error(2);
        assert_eq!(io_reason(&err), "No such file or directory");
        let custom = std::io::Error::other("boom");
        assert_eq!(io_reason(&custom), "boom");
    }
}
