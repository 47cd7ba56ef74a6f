//! The poller's side of HTTP/1.1: one keep-alive connection to the target, `/bytes/N`
//! requests in turn, every body byte counted as it arrives (a request cut short still
//! counts what it moved). Each request runs under a timeout.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::http::bytes_request;
use crate::http::{self, HeadError};

/// A request that takes longer than this (connect included) has failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("bad response: {0}")]
    Head(#[from] HeadError),
    #[error("status {0} from the target")]
    Status(u16),
    #[error("the target announced {announced} bytes, {asked} were asked for")]
    Length { asked: u64, announced: u64 },
    #[error("the target closed the connection after {got} of {want} bytes")]
    Short { got: u64, want: u64 },
    #[error("no answer within {REQUEST_TIMEOUT:?}")]
    Timeout,
}

/// A connection to the target, opened on first use and after a stop or a failure.
#[derive(Debug)]
pub struct Target {
    addr: SocketAddr,
    /// The local address connections are made from (the kernel's choice when `None`).
    source: Option<IpAddr>,
    host: String,
    conn: Option<Conn>,
    connects: u64,
}

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
}

impl Target {
    /// `host` is what the `Host` header says (the name the user gave).
    pub fn new(addr: SocketAddr, host: &str) -> Target {
        Target {
            addr,
            source: None,
            host: host.to_string(),
            conn: None,
            connects: 0,
        }
    }

    /// Connections from `source` (a loopback client of the demo's story, 127.0.0.x).
    pub fn connecting_from(mut self, source: IpAddr) -> Target {
        self.source = Some(source);
        self
    }

    /// Connections opened so far.
    pub fn connects(&self) -> u64 {
        self.connects
    }

    /// Drops the connection: the next request opens a new one.
    pub fn disconnect(&mut self) {
        self.conn = None;
    }

    /// Fetches `/bytes/n`, adding each body byte to `moved` as it arrives.
    pub async fn fetch(&mut self, n: u64, moved: &mut u64) -> Result<(), FetchError> {
        let result = tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(n, moved))
            .await
            .unwrap_or(Err(FetchError::Timeout));
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    async fn exchange(&mut self, n: u64, moved: &mut u64) -> Result<(), FetchError> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => {
                let stream = connect(self.addr, self.source).await.map_err(|source| {
                    FetchError::Connect {
                        addr: self.addr,
                        source,
                    }
                })?;
                stream.set_nodelay(true)?;
                self.connects += 1;
                self.conn.insert(Conn {
                    stream,
                    buf: BytesMut::with_capacity(64 << 10),
                })
            }
        };
        conn.stream
            .write_all(bytes_request(&self.host, n).as_bytes())
            .await?;
        let response = loop {
            if let Some((response, len)) = http::parse_response(&conn.buf)? {
                conn.buf.advance(len);
                break response;
            }
            if conn.stream.read_buf(&mut conn.buf).await? == 0 {
                return Err(FetchError::Short { got: 0, want: n });
            }
        };
        if response.status != 200 {
            return Err(FetchError::Status(response.status));
        }
        if response.content_length != n {
            return Err(FetchError::Length {
                asked: n,
                announced: response.content_length,
            });
        }
        let mut got = 0u64;
        loop {
            let take = (conn.buf.len() as u64).min(n - got);
            conn.buf.advance(take as usize);
            got += take;
            *moved += take;
            if got == n {
                break;
            }
            conn.buf.clear();
            conn.buf.reserve(64 << 10);
            if conn.stream.read_buf(&mut conn.buf).await? == 0 {
                return Err(FetchError::Short { got, want: n });
            }
        }
        if !response.keep_alive {
            self.conn = None;
        }
        Ok(())
    }
}

async fn connect(addr: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect(addr).await;
    };
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(addr).await
}
