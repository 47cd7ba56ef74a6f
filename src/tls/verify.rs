//! How the client decides to trust a Logstash server's certificate: the verification
//! modes and the pinned CA fingerprint. Never accepts a chain it did not check unless
//! the user asked for `verification_mode: none`.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

use super::TlsError;

/// `ssl.ca_trusted_fingerprint`: the SHA-256 of a CA certificate (DER) that the server
/// sends in its chain. Written as hex, upper or lower case, colons allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub fn parse(text: &str) -> Result<Self, TlsError> {
        let invalid = || TlsError::BadFingerprint(text.to_owned());
        let digits: Vec<u8> = text.trim().bytes().filter(|b| *b != b':').collect();
        if digits.len() != 64 {
            return Err(invalid());
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            let hi = hex_value(pair[0]).ok_or_else(invalid)?;
            let lo = hex_value(pair[1]).ok_or_else(invalid)?;
            *byte = hi << 4 | lo;
        }
        Ok(Fingerprint(out))
    }

    pub fn of(cert: &CertificateDer<'_>) -> Self {
        Fingerprint(Sha256::digest(cert.as_ref()).into())
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// What the client checks of the server's certificate.
#[derive(Debug)]
pub(crate) enum Trust {
    /// Chain check against the configured CAs (plus, per connection, the pinned CA if
    /// the server sent it), then the host name unless `verification_mode: certificate`.
    Chain {
        roots: Arc<RootCertStore>,
        pinned: Option<Fingerprint>,
        check_name: bool,
    },
    /// `verification_mode: none`: any certificate from anyone. The handshake signature
    /// is still checked, so the peer at least holds the key of the certificate it sent.
    Anything,
}

#[derive(Debug)]
pub(crate) struct ServerVerifier {
    pub(crate) trust: Trust,
    pub(crate) algorithms: WebPkiSupportedAlgorithms,
}

/// The configured roots, plus the certificate in the presented chain that matches the
/// pinned fingerprint (Filebeat adds it to the roots the same way).
fn roots_with_pinned(
    roots: &RootCertStore,
    pinned: Option<Fingerprint>,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> Result<Option<RootCertStore>, rustls::Error> {
    let Some(pinned) = pinned else {
        return Ok(None);
    };
    let matching = std::iter::once(end_entity)
        .chain(intermediates)
        .find(|cert| Fingerprint::of(cert) == pinned);
    let Some(ca) = matching else { return Ok(None) };
    let mut roots = roots.clone();
    roots.add(ca.clone().into_owned())?;
    Ok(Some(roots))
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Trust::Chain {
            roots,
            pinned,
            check_name,
        } = &self.trust
        else {
            return Ok(ServerCertVerified::assertion());
        };
        let cert = ParsedCertificate::try_from(end_entity)?;
        let with_pinned = roots_with_pinned(roots, *pinned, end_entity, intermediates)?;
        let roots = with_pinned.as_ref().unwrap_or(roots);
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        if *check_name {
            verify_server_name(&cert, server_name)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA_SHA256: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/certs/ca.sha256"));

    #[test]
    fn fingerprint_accepts_colons_and_upper_case() {
        let plain = Fingerprint::parse(CA_SHA256.trim()).unwrap();
        let colons = CA_SHA256
            .trim()
            .to_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|pair| std::str::from_utf8(pair).unwrap())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(Fingerprint::parse(&colons).unwrap(), plain);
    }

    #[test]
    fn fingerprint_matches_the_ca_certificate() {
        let ca = super::super::pem::load_certs(
            concat!(env!("CARGO_MANIFEST_DIR"), "/certs/ca.crt"),
            "certificate authority",
        )
        .unwrap();
        assert_eq!(
            Fingerprint::of(&ca[0]),
            Fingerprint::parse(CA_SHA256).unwrap()
        );
    }

    #[test]
    fn fingerprint_rejects_non_hex_and_wrong_length() {
        let err = Fingerprint::parse("zz").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"ca_trusted_fingerprint "zz" is not a hex sha-256"#
        );
        assert!(Fingerprint::parse(&"ab".repeat(31)).is_err());
        assert!(Fingerprint::parse(&"ab".repeat(33)).is_err());
        assert!(Fingerprint::parse(&format!("{}zz", "ab".repeat(31))).is_err());
        assert!(Fingerprint::parse("").is_err());
    }
}
