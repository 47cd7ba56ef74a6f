//! `rig poll --syslog`: after each request, one numbered syslog line over UDP from each
//! source address (a socket bound to it), in the Websense key=value shape the proxies of
//! the users' story send. The request's bytes are split over the sources' lines, so a
//! `parser: websense` input counts exactly the volume moved; the poller's stops are
//! silences for every source: flatline rules fire, rate rules see each cycle's volume.

use std::net::{IpAddr, SocketAddr};

use anyhow::Context;
use tokio::net::UdpSocket;

/// One UDP socket per source address, each numbering its lines from 1.
#[derive(Debug)]
pub struct SyslogSenders {
    target: SocketAddr,
    dst_host: String,
    senders: Vec<Sender>,
    sent: u64,
}

#[derive(Debug)]
struct Sender {
    source: IpAddr,
    socket: UdpSocket,
    seq: u64,
}

impl SyslogSenders {
    /// Binds a socket on each of `sources` (when there are none, on the address the
    /// kernel would send to `target` from). `dst_host` names the polled target in the lines.
    pub async fn bind(
        target: SocketAddr,
        sources: &[IpAddr],
        dst_host: &str,
    ) -> anyhow::Result<SyslogSenders> {
        let addrs = if sources.is_empty() {
            vec![route_source(target)?]
        } else {
            sources.to_vec()
        };
        let mut senders = Vec::with_capacity(addrs.len());
        for source in addrs {
            let socket = UdpSocket::bind((source, 0))
                .await
                .with_context(|| format!("cannot bind a syslog sender on {source}"))?;
            senders.push(Sender {
                source,
                socket,
                seq: 0,
            });
        }
        Ok(SyslogSenders {
            target,
            dst_host: dst_host.to_string(),
            senders,
            sent: 0,
        })
    }

    /// One line from every source for a request of `bytes` in cycle `cycle`.
    pub async fn report(&mut self, cycle: u64, bytes: u64) -> std::io::Result<()> {
        let n = self.senders.len() as u64;
        let now = jiff::Timestamp::now();
        for (i, sender) in self.senders.iter_mut().enumerate() {
            let share = bytes / n + u64::from((i as u64) < bytes % n);
            sender.seq += 1;
            let text = line(now, sender.source, &self.dst_host, sender.seq, cycle, share);
            sender.socket.send_to(text.as_bytes(), self.target).await?;
            self.sent += 1;
        }
        Ok(())
    }

    pub fn sent(&self) -> u64 {
        self.sent
    }

    pub fn describe(&self) -> String {
        let sources: Vec<String> = self.senders.iter().map(|s| s.source.to_string()).collect();
        format!("syslog to udp {} from {}", self.target, sources.join(","))
    }
}

/// The local address a datagram to `target` leaves from (a connected probe socket:
/// nothing is sent).
fn route_source(target: SocketAddr) -> anyhow::Result<IpAddr> {
    let any: SocketAddr = match target {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let probe = std::net::UdpSocket::bind(any)?;
    probe
        .connect(target)
        .with_context(|| format!("no route to the syslog address {target}"))?;
    Ok(probe.local_addr()?.ip())
}

/// An RFC 5424 line whose message is a Websense record of one request.
fn line(
    now: jiff::Timestamp,
    source: IpAddr,
    dst_host: &str,
    seq: u64,
    cycle: u64,
    bytes: u64,
) -> String {
    format!(
        "<134>1 {now:.3} lumberwatch-rig websense - - - vendor=Websense product=Security \
         action=permitted src_host={source} dst_host={dst_host} http_method=GET \
         http_response=200 bytes_out=0 bytes_in={bytes} seq={seq} cycle={cycle}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{Format, ParserSpec};

    #[test]
    fn a_line_is_a_websense_record_of_the_source_and_the_bytes() {
        let now: jiff::Timestamp = "2026-03-01T10:00:00Z".parse().expect("a timestamp");
        let source: IpAddr = "127.0.0.2".parse().expect("an address");
        let text = line(now, source, "127.0.0.1", 7, 2, 12345);
        assert!(
            text.starts_with("<134>1 2026-03-01T10:00:00.000Z lumberwatch-rig websense"),
            "{text}"
        );
        assert!(text.ends_with(" seq=7 cycle=2"), "{text}");
        let spec = ParserSpec {
            format: Format::Websense,
            fields: None,
            pattern: None,
        };
        let mut parser = spec.build().expect("websense takes no options");
        let mut records = Vec::new();
        parser.parse(&text, &mut records).expect("the line parses");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].source.ip, Some(source));
        assert_eq!(records[0].destination.bytes, Some(12345));
        assert_eq!(records[0].total_bytes(), Some(12345));
    }
}
