//! Requests to the kernel over `NETLINK_NETFILTER` that the test needs and the input
//! never makes: an nf_tables rule that makes conntrack track the namespace's traffic,
//! and a flush of the namespace's conntrack table. Each waits for the kernel's ack.

use std::time::Duration;

const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_CREATE: u16 = 0x400;
const NLMSG_ERROR: u16 = 2;
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFPROTO_INET: u8 = 1;

fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
    let len = 4 + value.len();
    let mut a = Vec::new();
    a.extend_from_slice(&(len as u16).to_ne_bytes());
    a.extend_from_slice(&kind.to_ne_bytes());
    a.extend_from_slice(value);
    a.resize((len + 3) & !3, 0);
    a
}

fn nested(kind: u16, parts: &[Vec<u8>]) -> Vec<u8> {
    attr(kind | 0x8000, &parts.concat())
}

fn message(kind: u16, flags: u16, seq: u32, family: u8, res_id: u16, body: &[u8]) -> Vec<u8> {
    let len = 16 + 4 + body.len();
    let mut m = Vec::new();
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.push(family);
    m.push(0);
    m.extend_from_slice(&res_id.to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// `table inet lw { chain c { ct state } }`: a rule that loads the conntrack state,
/// which is what makes the kernel track connections in this namespace.
pub fn track_connections() -> Result<(), String> {
    let nft = |msg: u16| (NFNL_SUBSYS_NFTABLES << 8) | msg;
    let flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK;
    let ct_state = nested(
        1, // NFTA_LIST_ELEM
        &[
            attr(1, b"ct\0"), // NFTA_EXPR_NAME
            nested(
                2, // NFTA_EXPR_DATA
                &[
                    attr(1, &8u32.to_be_bytes()), // NFTA_CT_DREG: NFT_REG32_00
                    attr(2, &0u32.to_be_bytes()), // NFTA_CT_KEY: NFT_CT_STATE
                ],
            ),
        ],
    );
    let batch = [
        message(
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            1,
            0,
            NFNL_SUBSYS_NFTABLES,
            &[],
        ),
        message(nft(0), flags, 2, NFPROTO_INET, 0, &attr(1, b"lw\0")), // NEWTABLE
        message(
            nft(3), // NEWCHAIN
            flags,
            3,
            NFPROTO_INET,
            0,
            &[attr(1, b"lw\0"), attr(3, b"c\0")].concat(),
        ),
        message(
            nft(6), // NEWRULE
            flags,
            4,
            NFPROTO_INET,
            0,
            &[attr(1, b"lw\0"), attr(2, b"c\0"), nested(4, &[ct_state])].concat(),
        ),
        message(
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            5,
            0,
            NFNL_SUBSYS_NFTABLES,
            &[],
        ),
    ];
    request(&batch.concat(), 3)
}

/// Deletes every IPv4 entry of the namespace's table, as `conntrack -F` does: each
/// one is reported as a DESTROY event.
pub fn flush_connections() -> Result<(), String> {
    let delete = (NFNL_SUBSYS_CTNETLINK << 8) | 2; // IPCTNL_MSG_CT_DELETE
    let m = message(
        delete,
        NLM_F_REQUEST | NLM_F_ACK,
        1,
        libc::AF_INET as u8,
        0,
        &[],
    );
    request(&m, 1)
}

/// Sends `bytes` and waits for `acks` acknowledgements; any error the kernel answers
/// fails the request.
fn request(bytes: &[u8], acks: usize) -> Result<(), String> {
    let os = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
    // SAFETY: socket(2); the descriptor is checked and owned below.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_NETFILTER,
        )
    };
    if raw < 0 {
        return Err(os("netlink socket"));
    }
    // SAFETY: `raw` is a new descriptor nothing else owns.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    let timeout = libc::timeval {
        tv_sec: Duration::from_secs(2).as_secs() as libc::time_t,
        tv_usec: 0,
    };
    // SAFETY: `timeout` is a timeval that lives across the call, with its size.
    unsafe {
        libc::setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const timeout).cast(),
            size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    // SAFETY: `bytes` is valid for reads of its length.
    if unsafe { libc::send(raw, bytes.as_ptr().cast(), bytes.len(), 0) } < 0 {
        return Err(os("netlink send"));
    }
    let mut buf = vec![0u8; 16 << 10];
    let mut acked = 0;
    while acked < acks {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::recv(raw, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(os("netlink ack"));
        }
        let mut rest = &buf[..n as usize];
        while rest.len() >= 20 {
            let len = u32::from_ne_bytes(rest[0..4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes(rest[4..6].try_into().unwrap());
            if kind == NLMSG_ERROR {
                let errno = i32::from_ne_bytes(rest[16..20].try_into().unwrap());
                if errno != 0 {
                    return Err(format!(
                        "the kernel refused: {}",
                        std::io::Error::from_raw_os_error(-errno)
                    ));
                }
                acked += 1;
            }
            rest = &rest[((len + 3) & !3).clamp(16, rest.len())..];
        }
    }
    Ok(())
}
