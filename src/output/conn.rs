//! Opening one connection to one Logstash host: name resolution, TCP connect to each of
//! its addresses in turn (both under the output's timeout), then the TLS handshake
//! (under its own).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};
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
    /// A host with several addresses, none of which connected: each one and why.
    #[error("connect to {host}: no address connected ({tried})")]
    Addresses { host: String, tried: String },
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

/// Resolves the host and tries every address it resolves to, in order, one attempt
/// each, until one connects (as Go's dialer does for Filebeat): resolution and every
/// attempt share one deadline, `limit` from now. The TLS handshake then has its own
/// `limit`; it is not retried on the next address (the server was reached).
pub async fn connect(
    host: &Host,
    tls: Option<&Arc<rustls::ClientConfig>>,
    limit: Duration,
) -> Result<Connected, ConnectError> {
    let deadline = Instant::now() + limit;
    let addrs: Vec<SocketAddr> = timeout_at(
        deadline,
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
    let (tcp, addr) = dial(host, &addrs, deadline, limit).await?;
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
    let server_name = crate::tls::server_name(&host.hostname).map_err(|e| ConnectError::Tls {
        host: host.name.clone(),
        addr,
        reason: e.to_string(),
    })?;
    let connector = TlsConnector::from(config.clone());
    match timeout(limit, connector.connect(server_name, tcp)).await {
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
    }
}

/// Below this an attempt is too short to mean anything: later addresses give up their
/// share instead (Go's `partialDeadline`).
const MIN_ATTEMPT: Duration = Duration::from_secs(2);

/// One TCP connect per address, in order, each given an equal share of what is left
/// before `deadline` (at least [`MIN_ATTEMPT`] while there is that much left).
async fn dial(
    host: &Host,
    addrs: &[SocketAddr],
    deadline: Instant,
    limit: Duration,
) -> Result<(TcpStream, SocketAddr), ConnectError> {
    let mut failed: Vec<(SocketAddr, String)> = Vec::new();
    for (i, &addr) in addrs.iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let share = (left / (addrs.len() - i) as u32).max(MIN_ATTEMPT.min(left));
        match timeout(share, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => return Ok((tcp, addr)),
            Ok(Err(source)) if addrs.len() == 1 => {
                return Err(ConnectError::Connect {
                    host: host.name.clone(),
                    addr,
                    source,
                });
            }
            Ok(Err(source)) => failed.push((addr, source.to_string())),
            Err(_) => failed.push((addr, format!("no answer within {share:?}"))),
        }
    }
    if addrs.is_empty() {
        return Err(ConnectError::Resolve {
            host: host.name.clone(),
            source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
        });
    }
    if addrs.len() == 1 {
        return Err(ConnectError::Timeout {
            host: host.name.clone(),
            timeout: limit,
        });
    }
    let mut tried: Vec<String> = failed
        .iter()
        .map(|(addr, why)| format!("{addr}: {why}"))
        .collect();
    let untried = addrs.len() - failed.len();
    if untried > 0 {
        tried.push(format!("{untried} more not tried, {limit:?} spent"));
    }
    Err(ConnectError::Addresses {
        host: host.name.clone(),
        tried: tried.join("; "),
    })
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

    fn host() -> Host {
        Host::parse("logstash.test:5044").unwrap()
    }

    /// A loopback port that refuses connections: bound, never listening, held open so
    /// that nobody else listens there.
    fn refusing() -> (socket2::Socket, SocketAddr) {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let addr = s.local_addr().unwrap().as_socket().unwrap();
        (s, addr)
    }

    /// A loopback port whose accept queue is full (backlog 0, one connection never
    /// accepted): the kernel drops further SYNs, so a connect there never answers.
    async fn black_hole() -> (tokio::net::TcpListener, TcpStream, SocketAddr) {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let listener = s.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        let filler = TcpStream::connect(addr).await.unwrap();
        (listener, filler, addr)
    }

    #[tokio::test]
    async fn a_refused_address_is_skipped_for_the_next_one() {
        let (_held, refused) = refusing();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let good = listener.local_addr().unwrap();
        let limit = Duration::from_secs(5);
        let (_, addr) = dial(&host(), &[refused, good], Instant::now() + limit, limit)
            .await
            .unwrap();
        assert_eq!(addr, good);
    }

    #[tokio::test]
    async fn an_address_that_never_answers_gets_its_share_then_the_next_connects() {
        let (_listener, _filler, silent) = black_hole().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let good = listener.local_addr().unwrap();
        let limit = Duration::from_secs(4);
        let started = Instant::now();
        let (_, addr) = dial(&host(), &[silent, good], started + limit, limit)
            .await
            .unwrap();
        assert_eq!(addr, good);
        let took = started.elapsed();
        assert!(
            took >= MIN_ATTEMPT && took < limit,
            "the silent address had half of 4s, took {took:?}"
        );
    }

    #[tokio::test]
    async fn when_every_address_fails_the_error_names_each_within_the_timeout() {
        let (_a, first) = refusing();
        let (_listener, _filler, silent) = black_hole().await;
        let (_b, last) = refusing();
        let limit = Duration::from_millis(300);
        let started = Instant::now();
        let err = dial(&host(), &[first, silent, last], started + limit, limit)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            started.elapsed() < limit + Duration::from_millis(200),
            "all attempts share one timeout"
        );
        assert!(
            err.starts_with("connect to logstash.test:5044: no address connected ("),
            "{err}"
        );
        assert!(err.contains(&format!("{first}: ")), "{err}");
        assert!(
            err.contains(&format!("{silent}: no answer within")),
            "{err}"
        );
        assert!(err.contains("1 more not tried, 300ms spent"), "{err}");
    }

    #[tokio::test]
    async fn one_address_keeps_the_short_errors() {
        let (_held, refused) = refusing();
        let limit = Duration::from_secs(1);
        let err = dial(&host(), &[refused], Instant::now() + limit, limit)
            .await
            .unwrap_err();
        assert!(matches!(err, ConnectError::Connect { addr, .. } if addr == refused));
        let (_listener, _filler, silent) = black_hole().await;
        let limit = Duration::from_millis(200);
        let err = dial(&host(), &[silent], Instant::now() + limit, limit)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "connect to logstash.test:5044: no address answered within 200ms"
        );
    }
}
