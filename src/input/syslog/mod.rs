//! `type: syslog`: RFC 3164 and RFC 5424 messages over UDP, TCP and TCP with TLS, on
//! every configured address, as events shaped like Filebeat's syslog input's.
//!
//! The pure parts are `framing` (TCP stream to messages) and `header` / `rfc5424`
//! (message to fields); `intake` turns a message into an event and counts it per peer
//! (`stats`); `udp` and `tcp` own the sockets. A peer's messages are limited, dropped and
//! counted on their own, never holding up other peers; a full queue makes TCP readers
//! wait and UDP drop (counted), because a UDP socket must keep being drained.

// Public for the fuzz targets (`fuzz/`), which drive the pure parts directly.
pub mod framing;
pub mod header;
mod intake;
mod rfc5424;
mod stats;
mod tcp;
mod udp;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::config::SyslogConfig;
use crate::event::EventTemplate;
use crate::input::Outlet;
use crate::parse::ParserSpec;
use crate::tls::TlsError;

pub use framing::Framing;
pub use header::Format;
pub use intake::Transport;
pub use stats::{DropReason, PeerCounters, SyslogSnapshot, SyslogStats};

use header::ParseOptions;
use intake::{Intake, Shared};
use tcp::TcpOptions;

/// How often the rate limiter forgets peers that have been quiet.
const FORGET_IDLE_PEERS: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum SyslogError {
    #[error("cannot resolve syslog {transport} host {host:?}: {reason}")]
    Resolve {
        transport: Transport,
        host: String,
        reason: String,
    },
    // The io and tls errors are the whole message, so they are not also a `source`
    // (a `{:#}` chain would print them twice).
    #[error("cannot listen for syslog on {transport} {address}: {error}")]
    Bind {
        transport: Transport,
        address: SocketAddr,
        error: std::io::Error,
    },
    #[error("syslog tls for {hosts}: {error}")]
    Tls { hosts: String, error: TlsError },
    #[error(transparent)]
    Parser(#[from] crate::parse::ParseError),
}

/// An input's sockets, bound and not yet serving.
pub struct Listeners {
    shared: Arc<Shared>,
    udp: Vec<(UdpSocket, SocketAddr, usize)>,
    tcp: Vec<(TcpListener, SocketAddr, Arc<TcpOptions>)>,
}

impl Listeners {
    /// Binds every configured address (any failure fails them all) and loads the TLS
    /// certificates. Messages will be counted in `stats`.
    pub async fn bind(cfg: &SyslogConfig, stats: Arc<SyslogStats>) -> Result<Self, SyslogError> {
        let options = ParseOptions {
            format: cfg.format,
            timezone: cfg.timezone.clone(),
        };
        let shared = Arc::new(Shared::new(options, cfg.rate_limit, stats));
        let mut udp = Vec::new();
        if let Some(u) = &cfg.udp {
            for host in &u.hosts {
                let addr = resolve(Transport::Udp, host).await?;
                let socket = udp::bind(addr, u.read_buffer)
                    .map_err(|source| bind_error(Transport::Udp, addr, source))?;
                let local = socket
                    .local_addr()
                    .map_err(|source| bind_error(Transport::Udp, addr, source))?;
                udp.push((socket, local, u.max_message_size));
            }
        }
        let mut tcp = Vec::new();
        if let Some(t) = &cfg.tcp {
            let tls = match &t.ssl {
                None => None,
                Some(ssl) => {
                    let config =
                        crate::tls::server_config(ssl).map_err(|error| SyslogError::Tls {
                            hosts: t.hosts.join(", "),
                            error,
                        })?;
                    Some(TlsAcceptor::from(config))
                }
            };
            let options = Arc::new(TcpOptions {
                framing: t.framing,
                delimiter: Bytes::from(t.line_delimiter.clone().into_bytes()),
                max_message_size: t.max_message_size,
                idle_timeout: t.timeout,
                max_connections: t.max_connections,
                tls,
            });
            for host in &t.hosts {
                let addr = resolve(Transport::Tcp, host).await?;
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|source| bind_error(Transport::Tcp, addr, source))?;
                let local = listener
                    .local_addr()
                    .map_err(|source| bind_error(Transport::Tcp, addr, source))?;
                tcp.push((listener, local, options.clone()));
            }
        }
        Ok(Listeners { shared, udp, tcp })
    }

    /// Where each listener is (the real port when the config said port 0).
    pub fn addresses(&self) -> Vec<(Transport, SocketAddr)> {
        let udp = self.udp.iter().map(|(_, a, _)| (Transport::Udp, *a));
        let tcp = self.tcp.iter().map(|(_, a, _)| (Transport::Tcp, *a));
        udp.chain(tcp).collect()
    }

    /// Each UDP listener's receive buffer in bytes, as the kernel reports `SO_RCVBUF`:
    /// `read_buffer` doubled and capped by `net.core.rmem_max`, or the system's default.
    pub fn udp_receive_buffers(&self) -> std::io::Result<Vec<(SocketAddr, usize)>> {
        self.udp
            .iter()
            .map(|(socket, addr, _)| {
                Ok((*addr, socket2::SockRef::from(socket).recv_buffer_size()?))
            })
            .collect()
    }

    /// Serves until the queue closes (or this future is dropped, which closes every
    /// socket and connection). Returns how many messages were queued.
    pub async fn serve(
        self,
        parser: Option<&ParserSpec>,
        template: EventTemplate,
        outlet: Outlet,
    ) -> Result<u64, SyslogError> {
        // Checked once here, so that every listener and connection can build its own.
        outlet.parsing(parser, &template)?;
        let intake = {
            let (shared, outlet, parser) = (self.shared.clone(), outlet.clone(), parser.cloned());
            move |transport: Transport| {
                let parsing = outlet.parsing(parser.as_ref(), &template).ok().flatten();
                let feed = outlet.context().stats.clone();
                Intake::new(shared.clone(), template.clone(), transport).with(parsing, feed)
            }
        };
        let mut tasks = JoinSet::new();
        for (socket, addr, max) in self.udp {
            tracing::info!(transport = "udp", address = %addr, "syslog listening");
            tasks.spawn(udp::serve(
                socket,
                intake(Transport::Udp),
                outlet.clone(),
                max,
            ));
        }
        for (listener, addr, options) in self.tcp {
            let tls = options.tls.is_some();
            tracing::info!(transport = "tcp", address = %addr, tls, "syslog listening");
            let intake = intake.clone();
            let tcp_intake = move || intake(Transport::Tcp);
            tasks.spawn(tcp::serve(listener, options, tcp_intake, outlet.clone()));
        }
        let mut forget = tokio::time::interval(FORGET_IDLE_PEERS);
        loop {
            tokio::select! {
                () = outlet.closed() => break,
                _ = forget.tick() => self.shared.forget_idle_peers(),
                Some(ended) = tasks.join_next() => {
                    if let Err(error) = ended {
                        tracing::warn!(%error, "syslog listener failed");
                    }
                }
            }
        }
        tasks.shutdown().await;
        Ok(self.shared.stats.snapshot().total.events)
    }
}

/// Runs a syslog input until the queue closes: binds, then serves. Returns how many
/// messages it queued.
pub async fn run(
    cfg: &SyslogConfig,
    parser: Option<&ParserSpec>,
    template: EventTemplate,
    outlet: Outlet,
) -> Result<u64, SyslogError> {
    let listeners = Listeners::bind(cfg, outlet.context().syslog.clone()).await?;
    listeners.serve(parser, template, outlet).await
}

async fn resolve(transport: Transport, host: &str) -> Result<SocketAddr, SyslogError> {
    let fail = |reason: String| SyslogError::Resolve {
        transport,
        host: host.to_string(),
        reason,
    };
    tokio::net::lookup_host(host)
        .await
        .map_err(|e| fail(e.to_string()))?
        .next()
        .ok_or_else(|| fail("no address".into()))
}

fn bind_error(transport: Transport, address: SocketAddr, error: std::io::Error) -> SyslogError {
    SyslogError::Bind {
        transport,
        address,
        error,
    }
}
