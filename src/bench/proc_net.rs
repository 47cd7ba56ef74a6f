//! What the kernel says about UDP on this machine, for `bench syslog-udp`: one socket's
//! line of `/proc/net/udp` (bytes waiting in its receive queue, datagrams it dropped
//! because that queue was full) and the per-CPU input backlog drops of
//! `/proc/net/softnet_stat` (loopback datagrams pass that backlog before any socket).

use std::net::SocketAddrV4;

/// One UDP socket's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct UdpSocketCounters {
    /// Bytes queued for the socket and not yet read (`rx_queue`).
    pub queued_bytes: u64,
    /// Datagrams dropped because the socket's receive buffer was full (`drops`).
    pub drops: u64,
}

/// Reads the counters of the IPv4 UDP socket bound to `local`.
pub(super) fn udp_socket(local: SocketAddrV4) -> std::io::Result<Option<UdpSocketCounters>> {
    let table = std::fs::read_to_string("/proc/net/udp")?;
    Ok(find_udp_socket(&table, local))
}

/// The line of `table` (`/proc/net/udp`) whose local address is `local`, e.g.
/// `1: 0100007F:9C41 00000000:0000 07 00000000:00000C80 00:00000000 00000000 0 0 1234 2 0000000000000000 17`:
/// the address is the `in_addr` as a native-endian hex word, then `tx_queue:rx_queue`
/// in hex, and `drops` last.
pub(super) fn find_udp_socket(table: &str, local: SocketAddrV4) -> Option<UdpSocketCounters> {
    let address = format!(
        "{:08X}:{:04X}",
        u32::from_ne_bytes(local.ip().octets()),
        local.port()
    );
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&address.as_str()) {
            return None;
        }
        let (_, rx) = fields.get(4)?.split_once(':')?;
        Some(UdpSocketCounters {
            queued_bytes: u64::from_str_radix(rx, 16).ok()?,
            drops: fields.last()?.parse().ok()?,
        })
    })
}

/// Packets dropped by every CPU's input backlog (`net.core.netdev_max_backlog`) so far.
pub(super) fn backlog_drops() -> std::io::Result<u64> {
    let table = std::fs::read_to_string("/proc/net/softnet_stat")?;
    Ok(sum_backlog_drops(&table))
}

/// The second (hex) column of every line of `/proc/net/softnet_stat`, summed.
pub(super) fn sum_backlog_drops(table: &str) -> u64 {
    table
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter_map(|hex| u64::from_str_radix(hex, 16).ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops             
  142: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 18721 2 ffff8f0b42c5e000 0          
  391: 0100007F:9C41 00000000:0000 07 00000000:00000C80 00:00000000 00000000     0        0 884412 2 ffff8f0b4a7b3800 17         
  391: 0200007F:9C41 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 884413 2 ffff8f0b4a7b3c00 5          
";

    // The table's addresses are as a little-endian machine prints them.
    #[cfg(target_endian = "little")]
    #[test]
    fn finds_a_socket_by_its_local_address() {
        let at = |a: &str| a.parse::<SocketAddrV4>().unwrap();
        assert_eq!(
            find_udp_socket(UDP, at("127.0.0.1:40001")),
            Some(UdpSocketCounters {
                queued_bytes: 0xC80,
                drops: 17
            })
        );
        assert_eq!(
            find_udp_socket(UDP, at("127.0.0.2:40001")).unwrap().drops,
            5
        );
        assert_eq!(find_udp_socket(UDP, at("127.0.0.1:53")).unwrap().drops, 0);
        assert_eq!(find_udp_socket(UDP, at("127.0.0.1:40002")), None);
    }

    #[test]
    fn sums_the_backlog_drops_of_every_cpu() {
        let softnet = "0001a2b3 00000010 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000\n\
                       00004000 00000002 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001\n";
        assert_eq!(sum_backlog_drops(softnet), 0x12);
    }
}
