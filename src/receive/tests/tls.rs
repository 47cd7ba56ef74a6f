//! TLS, mutual TLS and the handshake timeout, with the repo's test certificates.

use super::*;

fn tls_config(client_auth: ClientAuth) -> ReceiverConfig {
    let server = ServerTls {
        cert: cert_path("server.crt"),
        key: cert_path("server.key"),
        client_ca: (client_auth != ClientAuth::None).then(|| cert_path("ca.crt")),
        client_auth,
    };
    ReceiverConfig {
        tls: Some(crate::tls::server_config(&server).unwrap()),
        handshake_timeout: Duration::from_millis(200),
        ..config()
    }
}

fn tls_client(with_cert: bool) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cert_path("ca.crt")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = if with_cert {
        let chain = CertificateDer::pem_file_iter(cert_path("client.crt"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(cert_path("client.key")).unwrap();
        builder.with_client_auth_cert(chain, key).unwrap()
    } else {
        builder.with_no_client_auth()
    };
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn tls_connect(
    handle: &ReceiverHandle,
    with_cert: bool,
) -> io::Result<impl AsyncRead + AsyncWrite + Unpin> {
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    tls_client(with_cert)
        .connect(name, connect(handle).await)
        .await
}

#[tokio::test]
async fn tls_batches_are_acked() {
    let (handle, mut rx) = start(tls_config(ClientAuth::None), 8).await;
    let mut tls = tls_connect(&handle, false).await.unwrap();
    tls.write_all(&batch(1, &["{\"tls\":true}"])).await.unwrap();
    tls.flush().await.unwrap();
    assert_eq!(read_ack(&mut tls).await, (b'2', 1));
    assert_eq!(texts(&recv(&mut rx).await), ["{\"tls\":true}"]);
}

#[tokio::test]
async fn mtls_required_rejects_a_client_without_certificate() {
    let (handle, mut rx) = start(tls_config(ClientAuth::Required), 8).await;
    // With TLS 1.3 the client's handshake completes; the refusal comes on its first read.
    let mut tls = tls_connect(&handle, false).await.unwrap();
    let _ = tls.write_all(&batch(0, &["{}"])).await;
    let _ = tls.flush().await;
    let (end, got) = read_to_end(&mut tls).await;
    assert!(
        got.is_empty(),
        "no ack for a client without certificate: {got:?}"
    );
    let err = end.expect_err("the refusal is an error, not a clean close");
    assert!(err.to_string().contains("CertificateRequired"), "{err}");
    let mut tls = tls_connect(&handle, true).await.unwrap();
    tls.write_all(&batch(0, &["{}"])).await.unwrap();
    tls.flush().await.unwrap();
    assert_eq!(read_ack(&mut tls).await, (b'2', 1));
    assert_eq!(recv(&mut rx).await.events.len(), 1);
}

#[tokio::test]
async fn tls_handshake_timeout_closes_a_silent_client() {
    let (handle, _rx) = start(tls_config(ClientAuth::None), 8).await;
    let mut tcp = connect(&handle).await;
    let started = std::time::Instant::now();
    let (_, got) = read_to_end(&mut tcp).await;
    assert!(got.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(150));
}
