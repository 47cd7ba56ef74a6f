//! Reading the packets out of one TPACKET_V3 block of the capture ring, as bytes: the
//! block header, then each packet's `tpacket3_hdr`, `sockaddr_ll` and data. Pure and
//! bounds-checked, so a block the kernel filled oddly yields fewer packets, never a
//! read outside the block.

/// One captured packet, borrowed from its block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub sec: u32,
    pub nsec: u32,
    /// The packet's length before capture cut it (from the network header on).
    pub len: u32,
    /// The EtherType the link layer said (host order).
    pub protocol: u16,
    /// `PACKET_HOST`, `PACKET_OUTGOING`, ...
    pub pkttype: u8,
    /// The sender's hardware address, when it is a 6-byte one (not loopback's zeros).
    pub mac: Option<[u8; 6]>,
    /// The VLAN the kernel took out of the data, if any.
    pub vlan: Option<u16>,
    pub data: &'a [u8],
}

const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
/// `TPACKET_ALIGN(sizeof(struct tpacket3_hdr))`: where the `sockaddr_ll` starts.
const SOCKADDR_AT: usize = 48;

/// The packets of a block (the whole block, header included).
pub fn frames(block: &[u8]) -> impl Iterator<Item = Frame<'_>> {
    let count = u32_at(block, 12).unwrap_or(0);
    let mut at = u32_at(block, 16).map_or(usize::MAX, |o| o as usize);
    (0..count).map_while(move |_| {
        let frame = frame(block, at)?;
        let next = u32_at(block, at)? as usize;
        at = if next == 0 {
            usize::MAX
        } else {
            at.checked_add(next)?
        };
        Some(frame)
    })
}

fn frame(block: &[u8], at: usize) -> Option<Frame<'_>> {
    let h = block.get(at..at.checked_add(SOCKADDR_AT + 20)?)?;
    let snaplen = u32_at(h, 12)? as usize;
    let status = u32_at(h, 20)?;
    let mac_offset = usize::from(u16::from_ne_bytes([h[24], h[25]]));
    let vlan =
        (status & TP_STATUS_VLAN_VALID != 0).then(|| (u32_at(h, 32).unwrap_or(0) & 0x0fff) as u16);
    let sll = &h[SOCKADDR_AT..];
    let protocol = u16::from_be_bytes([sll[2], sll[3]]);
    let (pkttype, halen) = (sll[10], sll[11]);
    let mac = (halen == 6 && sll[12..18] != [0; 6]).then(|| {
        let mut m = [0u8; 6];
        m.copy_from_slice(&sll[12..18]);
        m
    });
    let start = at.checked_add(mac_offset)?;
    let data = block.get(start..start.checked_add(snaplen)?)?;
    Some(Frame {
        sec: u32_at(h, 4)?,
        nsec: u32_at(h, 8)?,
        len: u32_at(h, 16)?,
        protocol,
        pkttype,
        mac,
        vlan,
        data,
    })
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A block as the kernel lays it out, holding `packets` (data, vlan).
    fn block(packets: &[(&[u8], Option<u16>)]) -> Vec<u8> {
        let mut b = vec![0u8; 48];
        b[12..16].copy_from_slice(&(packets.len() as u32).to_ne_bytes());
        b[16..20].copy_from_slice(&48u32.to_ne_bytes());
        for (i, (data, vlan)) in packets.iter().enumerate() {
            let at = b.len();
            let mac_offset = 48 + 20 + 12; // header, sockaddr_ll, padding
            let size = (mac_offset + data.len()).next_multiple_of(16);
            b.resize(at + size, 0);
            let h = &mut b[at..];
            let next = if i + 1 == packets.len() {
                0
            } else {
                size as u32
            };
            h[0..4].copy_from_slice(&next.to_ne_bytes());
            h[4..8].copy_from_slice(&(100 + i as u32).to_ne_bytes());
            h[12..16].copy_from_slice(&(data.len() as u32).to_ne_bytes());
            h[16..20].copy_from_slice(&1500u32.to_ne_bytes());
            if let Some(v) = vlan {
                h[20..24].copy_from_slice(&TP_STATUS_VLAN_VALID.to_ne_bytes());
                h[32..36].copy_from_slice(&u32::from(*v).to_ne_bytes());
            }
            h[24..26].copy_from_slice(&(mac_offset as u16).to_ne_bytes());
            h[50..52].copy_from_slice(&0x0800u16.to_be_bytes());
            h[58] = 4;
            h[59] = 6;
            h[60..66].copy_from_slice(&[2, 0, 0, 0, 0, i as u8]);
            h[mac_offset..mac_offset + data.len()].copy_from_slice(data);
        }
        b
    }

    #[test]
    fn every_packet_of_a_block_is_read_with_its_metadata() {
        let b = block(&[(b"first", None), (b"second packet", Some(42))]);
        let got: Vec<Frame<'_>> = frames(&b).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].data, got[0].sec, got[0].vlan),
            (&b"first"[..], 100, None)
        );
        assert_eq!(
            (got[1].data, got[1].sec, got[1].vlan),
            (&b"second packet"[..], 101, Some(42))
        );
        assert_eq!(
            (got[1].protocol, got[1].pkttype, got[1].len),
            (0x0800, 4, 1500)
        );
        assert_eq!(got[1].mac, Some([2, 0, 0, 0, 0, 1]));
    }

    proptest! {
        #[test]
        fn a_damaged_block_never_reads_outside_itself(flip in prop::collection::vec((0usize..400, any::<u8>()), 0..12), cut in 0usize..400) {
            let mut b = block(&[(&[7u8; 60], None), (&[8u8; 100], Some(1)), (&[9u8; 20], None)]);
            for (at, byte) in flip {
                if let Some(slot) = b.get_mut(at) {
                    *slot = byte;
                }
            }
            b.truncate(cut);
            for f in frames(&b) {
                prop_assert!(f.data.len() <= b.len());
            }
        }
    }
}
