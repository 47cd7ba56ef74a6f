//! Opening one connection to one Logstash host: name resolution, TCP connect and the
//! TLS handshake, each under the output's timeout.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

/// A byte stream to Logstash, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// A host from `hosts`, resolved anew on every connect (DNS may change).
#[derive(Debug, Clone)]
pub struct Host {
    /// As configured, `host:port`: used in log lines and for SNI.
    pub name: String,
    hostname: String,
    port: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0} is not host:port")]
    BadHost(String),
    #[error("cannot resolve {host}: {source}")]
    Resolve { host: String, source: io::Error },
    #[error("connect to {host} ({addr}): {source}")]
    Connect {
        host: String,
        addr: SocketAddr,
        source: io::Error,
    },
    #[error("connect to {host}: no address answered within {timeout:?}")]
    Timeout { host: String, timeout: Duration },
    #[error("tls handshake with {host} ({addr}): {reason}")]
    Tls {
        host: String,
        addr: SocketAddr,
        reason: String,
    },
    #[error("tls handshake with {host} ({addr}) did not complete within {timeout:?}")]
    TlsTimeout {
        host: String,
        addr: SocketAddr,
        timeout: Duration,
    },
}

impl Host {
    pub fn parse(name: &str) -> Result<Self, ConnectError> {
        let bad = || ConnectError::BadHost(name.to_string());
        let (host, port) = name.rsplit_once(':').ok_or_else(bad)?;
        let port = port.parse().map_err(|_| bad())?;
        let hostname = host.trim_start_matches('[').trim_end_matches(']');
        if hostname.is_empty() {
            return Err(bad());
        }
        Ok(Host {
            name: name.to_string(),
            hostname: hostname.to_string(),
            port,
        })
    }

    pub fn hostname(&self) -> &str {
        &self.hostname
    }
}

/// What a successful connect produced, for the one "connected" log line.
pub struct Connected {
    pub stream: Box<dyn Stream>,
    pub addr: SocketAddr,
    /// "TLSv1.3 TLS13_AES_256_GCM_SHA384", or None for plaintext.
    pub tls: Option<String>,
}

/// Tries every address the host resolves to, in order, until one connects.
pub async fn connect(
    host: &Host,
    tls: Option<&Arc<rustls::ClientConfig>>,
    limit: Duration,
) -> Result<Connected, ConnectError> {
    let addrs: Vec<SocketAddr> = timeout(
        limit,
        tokio::net::lookup_host((host.hostname.as_str(), host.port)),
    )
    .await
    .map_err(|_| ConnectError::Timeout {
        host: host.name.clone(),
        timeout: limit,
    })?
    .map_err(|source| ConnectError::Resolve {
        host: host.name.clone(),
        source,
    })?
    .collect();
    let mut last = None;
    for addr in addrs {
        let tcp = match timeout(limit, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(source)) => {
                last = Some(ConnectError::Connect {
                    host: host.name.clone(),
                    addr,
                    source,
                });
                continue;
            }
            Err(_) => {
                last = Some(ConnectError::Timeout {
                    host: host.name.clone(),
                    timeout: limit,
                });
                continue;
            }
        };
        // Small ack frames must not wait for Nagle; batches are written in one go anyway.
        let _ = tcp.set_nodelay(true);
        let Some(config) = tls else {
            return Ok(Connected {
                stream: Box::new(tcp),
                addr,
                tls: None,
            });
        };
        // SNI and, in full verification mode, the name checked: this host's own name.
        let server_name =
            crate::tls::server_name(&host.hostname).map_err(|e| ConnectError::Tls {
                host: host.name.clone(),
                addr,
                reason: e.to_string(),
            })?;
        let connector = TlsConnector::from(config.clone());
        return match timeout(limit, connector.connect(server_name, tcp)).await {
            Ok(Ok(stream)) => {
                let tls = Some(crate::tls::describe(stream.get_ref().1));
                Ok(Connected {
                    stream: Box::new(stream),
                    addr,
                    tls,
                })
            }
            Ok(Err(e)) => Err(ConnectError::Tls {
                host: host.name.clone(),
                addr,
                reason: crate::tls::explain(&e),
            }),
            Err(_) => Err(ConnectError::TlsTimeout {
                host: host.name.clone(),
                addr,
                timeout: limit,
            }),
        };
    }
    Err(last.unwrap_or_else(|| ConnectError::Resolve {
        host: host.name.clone(),
        source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_with_ports_and_ipv6() {
        let h = Host::parse("logstash.example:5044").unwrap();
        assert_eq!((h.hostname(), h.port), ("logstash.example", 5044));
        let h = Host::parse("[::1]:5045").unwrap();
        assert_eq!((h.hostname(), h.port), ("::1", 5045));
        assert_eq!(
            Host::parse("nohost").unwrap_err().to_string(),
            "nohost is not host:port"
        );
        assert!(Host::parse("h:99999").is_err());
        assert!(Host::parse(":5044").is_err());
    }
}
