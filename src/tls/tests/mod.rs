//! Config building from good and bad settings; real handshakes are in `handshake`.

mod handshake;

use rustls_pki_types::ServerName;

use super::*;
use crate::config::{SslConfig, VerificationMode};

fn cert(name: &str) -> String {
    format!("{}/certs/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn read(name: &str) -> String {
    std::fs::read_to_string(cert(name)).unwrap()
}

fn trusting_ca(mode: VerificationMode) -> SslConfig {
    SslConfig {
        certificate_authorities: vec![cert("ca.crt")],
        verification_mode: mode,
        ..SslConfig::default()
    }
}

#[test]
fn client_config_builds_for_every_mode() {
    for mode in [
        VerificationMode::Full,
        VerificationMode::Strict,
        VerificationMode::Certificate,
        VerificationMode::None,
    ] {
        client_config(&trusting_ca(mode)).unwrap();
    }
    let none = SslConfig {
        verification_mode: VerificationMode::None,
        ..SslConfig::default()
    };
    client_config(&none).unwrap();
    let mutual = SslConfig {
        certificate: Some(cert("client.crt")),
        key: Some(cert("client.key")),
        ..trusting_ca(VerificationMode::Full)
    };
    client_config(&mutual).unwrap();
    let inline = SslConfig {
        certificate_authorities: vec![read("ca.crt")],
        ..SslConfig::default()
    };
    client_config(&inline).unwrap();
}

#[test]
fn missing_ca_file_names_the_path() {
    let ssl = SslConfig {
        certificate_authorities: vec!["/nonexistent/lumberwatch/ca.pem".into()],
        ..SslConfig::default()
    };
    let err = client_config(&ssl).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read certificate authority /nonexistent/lumberwatch/ca.pem: No such file or directory"
    );
}

#[test]
fn garbage_pem_is_refused() {
    let broken = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
    let ssl = SslConfig {
        certificate_authorities: vec![broken.into()],
        ..SslConfig::default()
    };
    let err = client_config(&ssl).unwrap_err().to_string();
    assert!(
        err.starts_with("certificate authority inline PEM is not valid PEM: "),
        "{err}"
    );

    let truncated = "-----BEGIN CERTIFICATE-----\nMIIB\n";
    let ssl = SslConfig {
        certificate_authorities: vec![truncated.into()],
        ..SslConfig::default()
    };
    let err = client_config(&ssl).unwrap_err().to_string();
    assert!(err.contains("missing -----END CERTIFICATE-----"), "{err}");

    // A file without any certificate in it (a README is not a CA).
    let ssl = SslConfig {
        certificate_authorities: vec![cert("README.md")],
        ..SslConfig::default()
    };
    let err = client_config(&ssl).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("no certificate found in {}", cert("README.md"))
    );
}

#[test]
fn key_file_without_a_key_is_refused() {
    let ssl = SslConfig {
        certificate: Some(cert("client.crt")),
        key: Some(cert("client.crt")),
        ..trusting_ca(VerificationMode::Full)
    };
    let err = client_config(&ssl).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("no private key found in {}", cert("client.crt"))
    );
}

#[test]
fn certificate_and_key_that_do_not_match_are_refused() {
    let ssl = SslConfig {
        certificate: Some(cert("client.crt")),
        key: Some(cert("server.key")),
        ..trusting_ca(VerificationMode::Full)
    };
    let err = client_config(&ssl).unwrap_err().to_string();
    assert!(err.starts_with("cannot use certificate "), "{err}");
}

#[test]
fn certificate_without_key_is_refused() {
    let ssl = SslConfig {
        certificate: Some(cert("client.crt")),
        ..trusting_ca(VerificationMode::Full)
    };
    let err = client_config(&ssl).unwrap_err().to_string();
    assert_eq!(
        err,
        "ssl.certificate and ssl.key go together, but only ssl.certificate is set"
    );
}

#[test]
fn verification_needs_a_ca_or_a_fingerprint() {
    let err = client_config(&SslConfig::default()).unwrap_err();
    assert!(matches!(err, TlsError::NoTrustAnchors), "{err}");
    let pinned = SslConfig {
        ca_trusted_fingerprint: Some(read("ca.sha256").trim().into()),
        ..SslConfig::default()
    };
    client_config(&pinned).unwrap();
}

#[test]
fn bad_fingerprint_and_empty_protocols_are_refused() {
    let ssl = SslConfig {
        ca_trusted_fingerprint: Some("zz".into()),
        ..trusting_ca(VerificationMode::Full)
    };
    let err = client_config(&ssl).unwrap_err().to_string();
    assert_eq!(err, r#"ca_trusted_fingerprint "zz" is not a hex sha-256"#);
    let ssl = SslConfig {
        supported_protocols: vec![],
        ..trusting_ca(VerificationMode::Full)
    };
    assert!(matches!(client_config(&ssl), Err(TlsError::NoProtocols)));
}

#[test]
fn server_names_from_hosts() {
    assert_eq!(
        server_name("localhost").unwrap(),
        ServerName::try_from("localhost").unwrap()
    );
    for ip in ["127.0.0.1", "::1", "[::1]"] {
        assert!(
            matches!(server_name(ip).unwrap(), ServerName::IpAddress(_)),
            "{ip}"
        );
    }
    let err = server_name("not a host").unwrap_err().to_string();
    assert_eq!(err, r#""not a host" is not a valid tls server name"#);
    assert!(server_name("").is_err());
}

#[test]
fn server_config_checks_its_settings() {
    let mut tls = ServerTls {
        cert: cert("server.crt"),
        key: cert("server.key"),
        client_ca: Some(cert("ca.crt")),
        client_auth: ClientAuth::Required,
    };
    server_config(&tls).unwrap();
    tls.client_ca = None;
    let err = server_config(&tls).unwrap_err().to_string();
    assert_eq!(
        err,
        "client authentication is required but no client certificate authority is set"
    );
    tls.client_auth = ClientAuth::None;
    tls.key = cert("missing.key");
    let err = server_config(&tls).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "cannot read private key {}: No such file or directory",
            cert("missing.key")
        )
    );
    tls.key = cert("client.key");
    let err = server_config(&tls).unwrap_err().to_string();
    assert!(
        err.ends_with(": the key does not belong to the certificate"),
        "{err}"
    );
}
