//! Real handshakes over 127.0.0.1 with the certificates in certs/: one server task per
//! test, a client built by `client_config`, bytes both ways.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::super::*;
use super::{cert, read, trusting_ca};
use crate::config::{SslConfig, TlsVersion, VerificationMode};

const LIMIT: Duration = Duration::from_secs(10);

fn server(name: &str, client_auth: ClientAuth) -> Arc<ServerConfig> {
    server_config(&ServerTls {
        cert: cert(&format!("{name}.crt")),
        key: cert(&format!("{name}.key")),
        client_ca: Some(cert("ca.crt")),
        client_auth,
    })
    .unwrap()
}

/// Serves one connection: handshake, then writes `hello` and reads until the client
/// closes. Returns the server's view of the handshake.
async fn serve_once(
    config: Arc<ServerConfig>,
) -> (u16, tokio::task::JoinHandle<io::Result<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let mut tls = TlsAcceptor::from(config).accept(tcp).await?;
        let described = describe(tls.get_ref().1);
        tls.write_all(b"hello").await?;
        tls.flush().await?;
        let mut rest = Vec::new();
        let _ = tls.read_to_end(&mut rest).await;
        Ok(described)
    });
    (port, task)
}

/// Connects, handshakes, writes a byte and reads the server's `hello`: with TLS 1.3 a
/// rejected client certificate only shows up on that first read.
async fn talk(config: Arc<ClientConfig>, host: &str, port: u16) -> io::Result<String> {
    let name = server_name(host).map_err(io::Error::other)?;
    let exchange = async {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
        let mut tls = TlsConnector::from(config).connect(name, tcp).await?;
        let described = describe(tls.get_ref().1);
        tls.write_all(b"x").await?;
        let mut hello = [0u8; 5];
        tls.read_exact(&mut hello).await?;
        assert_eq!(&hello, b"hello");
        tls.shutdown().await?;
        Ok(described)
    };
    tokio::time::timeout(LIMIT, exchange)
        .await
        .map_err(io::Error::other)?
}

async fn handshake(ssl: &SslConfig, server_cert: &str, host: &str) -> io::Result<String> {
    let (port, task) = serve_once(server(server_cert, ClientAuth::None)).await;
    let result = talk(client_config(ssl).unwrap(), host, port).await;
    task.abort();
    result
}

#[tokio::test]
async fn trusted_ca_handshake_succeeds_and_is_described() {
    let described = handshake(&trusting_ca(VerificationMode::Full), "server", "localhost")
        .await
        .unwrap();
    assert!(described.starts_with("TLSv1.3 TLS13_"), "{described}");
    handshake(
        &trusting_ca(VerificationMode::Strict),
        "server",
        "127.0.0.1",
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn server_from_another_ca_is_refused_as_unknown_issuer() {
    let err = handshake(
        &trusting_ca(VerificationMode::Full),
        "other-server",
        "localhost",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
}

#[tokio::test]
async fn expired_server_certificate_is_refused() {
    let err = handshake(
        &trusting_ca(VerificationMode::Full),
        "expired-server",
        "localhost",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("certificate expired"), "{err}");
}

#[tokio::test]
async fn wrong_host_name_is_refused_in_full_mode_only() {
    let err = handshake(
        &trusting_ca(VerificationMode::Full),
        "wronghost-server",
        "localhost",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("not valid for name"), "{err}");
    handshake(
        &trusting_ca(VerificationMode::Certificate),
        "wronghost-server",
        "localhost",
    )
    .await
    .unwrap();
    // Certificate mode still checks the chain.
    let err = handshake(
        &trusting_ca(VerificationMode::Certificate),
        "other-server",
        "localhost",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
}

#[tokio::test]
async fn none_mode_accepts_a_server_from_another_ca() {
    let ssl = SslConfig {
        verification_mode: VerificationMode::None,
        ..SslConfig::default()
    };
    handshake(&ssl, "other-server", "localhost").await.unwrap();
}

#[tokio::test]
async fn pinned_ca_fingerprint_trusts_the_chain_that_contains_it() {
    let chained = server_config(&ServerTls {
        cert: read("server.crt") + &read("ca.crt"),
        key: cert("server.key"),
        client_ca: None,
        client_auth: ClientAuth::None,
    })
    .unwrap();
    let ssl = SslConfig {
        ca_trusted_fingerprint: Some(read("ca.sha256").trim().to_uppercase()),
        ..SslConfig::default()
    };
    let (port, task) = serve_once(chained).await;
    talk(client_config(&ssl).unwrap(), "localhost", port)
        .await
        .unwrap();
    task.abort();

    // The pin does not stand in for the chain: a server that does not send the CA is
    // refused, and so is a name mismatch in full mode.
    let err = handshake(&ssl, "server", "localhost").await.unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    let chained_wrong = server_config(&ServerTls {
        cert: read("wronghost-server.crt") + &read("ca.crt"),
        key: cert("wronghost-server.key"),
        client_ca: None,
        client_auth: ClientAuth::None,
    })
    .unwrap();
    let (port, task) = serve_once(chained_wrong).await;
    let err = talk(client_config(&ssl).unwrap(), "localhost", port)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not valid for name"), "{err}");
    task.abort();
}

#[tokio::test]
async fn required_client_auth_rejects_a_client_without_certificate() {
    let (port, task) = serve_once(server("server", ClientAuth::Required)).await;
    let err = talk(
        client_config(&trusting_ca(VerificationMode::Full)).unwrap(),
        "localhost",
        port,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("CertificateRequired"), "{err}");
    assert!(task.await.unwrap().is_err());
}

#[tokio::test]
async fn required_client_auth_accepts_the_client_certificate() {
    let ssl = SslConfig {
        certificate: Some(cert("client.crt")),
        key: Some(cert("client.key")),
        ..trusting_ca(VerificationMode::Full)
    };
    let (port, task) = serve_once(server("server", ClientAuth::Required)).await;
    talk(client_config(&ssl).unwrap(), "localhost", port)
        .await
        .unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn optional_client_auth_lets_a_client_without_certificate_in() {
    let (port, task) = serve_once(server("server", ClientAuth::Optional)).await;
    talk(
        client_config(&trusting_ca(VerificationMode::Full)).unwrap(),
        "localhost",
        port,
    )
    .await
    .unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn tls12_only_client_talks_to_the_server() {
    let ssl = SslConfig {
        supported_protocols: vec![TlsVersion::V1_2],
        ..trusting_ca(VerificationMode::Full)
    };
    let (port, task) = serve_once(server("server", ClientAuth::None)).await;
    let described = talk(client_config(&ssl).unwrap(), "localhost", port)
        .await
        .unwrap();
    assert!(
        described.starts_with("TLSv1.2 TLS_ECDHE_ECDSA_WITH_"),
        "{described}"
    );
    assert_eq!(task.await.unwrap().unwrap(), described);
}
