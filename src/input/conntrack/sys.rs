//! The kernel side of `type: conntrack`, and the only `unsafe` of it: a
//! `NETLINK_NETFILTER` socket subscribed to conntrack event groups, read without
//! blocking through tokio, and the accounting sysctl.
//!
//! The socket belongs to the network namespace of the thread that opens it; so do the
//! sysctls, which are therefore read with plain blocking calls on the calling thread
//! (a few bytes of procfs), never on another thread that may be elsewhere.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// `NF_NETLINK_CONNTRACK_*`: the bits of the conntrack groups in `nl_groups`.
pub const GROUP_NEW: u32 = 1;
pub const GROUP_UPDATE: u32 = 2;
pub const GROUP_DESTROY: u32 = 4;

/// `net.netfilter.nf_conntrack_acct`: 1 makes the kernel count bytes and packets of
/// each connection (from then on), which DESTROY events then carry.
pub const ACCOUNTING_SYSCTL: &str = "/proc/sys/net/netfilter/nf_conntrack_acct";

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "cannot subscribe to conntrack events: permission denied; the agent needs CAP_NET_ADMIN \
         (run it as root, or grant it: `setcap cap_net_admin+ep <binary>`, systemd \
         `AmbientCapabilities=CAP_NET_ADMIN`, docker `--cap-add NET_ADMIN`)"
    )]
    Permission,
    #[error("cannot open a netfilter netlink socket for conntrack events: {0}")]
    Socket(io::Error),
    #[error("cannot subscribe to conntrack events: {0}")]
    Bind(io::Error),
}

/// What one read gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// A datagram of this many bytes (more than the buffer: it was cut).
    Datagram(usize),
    /// `ENOBUFS`: the receive buffer overflowed and the kernel dropped events.
    Overrun,
}

/// A netlink socket subscribed to conntrack events.
pub struct EventSocket {
    fd: AsyncFd<OwnedFd>,
}

impl EventSocket {
    /// Opens the socket in the calling thread's network namespace, with a receive
    /// buffer of `buffer` bytes (beyond `net.core.rmem_max` when allowed), and joins
    /// `groups` (`GROUP_*` bits). Needs a tokio runtime.
    pub fn open(groups: u32, buffer: usize) -> Result<Self, OpenError> {
        // SAFETY: plain socket(2); the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                libc::NETLINK_NETFILTER,
            )
        };
        if raw < 0 {
            return Err(OpenError::Socket(io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let size = libc::c_int::try_from(buffer).unwrap_or(libc::c_int::MAX);
        // SO_RCVBUFFORCE passes rmem_max but needs CAP_NET_ADMIN, which the bind below
        // needs too; SO_RCVBUF is the fallback that the kernel caps.
        if set_int(&fd, libc::SO_RCVBUFFORCE, size).is_err() {
            set_int(&fd, libc::SO_RCVBUF, size).map_err(OpenError::Socket)?;
        }
        // SAFETY: all-zero is a valid sockaddr_nl; the fields are then set.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = groups;
        // SAFETY: `addr` is a sockaddr_nl that lives across the call, with its size.
        let bound = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const addr).cast::<libc::sockaddr>(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if bound < 0 {
            let error = io::Error::last_os_error();
            return Err(match error.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => OpenError::Permission,
                _ => OpenError::Bind(error),
            });
        }
        // SAFETY: the AsyncFd owns `fd`, which stays open and the same until it drops.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| OpenError::Socket(e.into()))?;
        Ok(EventSocket { fd })
    }

    /// The receive buffer the kernel granted, in bytes.
    pub fn receive_buffer(&self) -> io::Result<usize> {
        let mut value: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `value` and `len` are valid for writes of their sizes.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&raw mut value).cast(),
                &mut len,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(usize::try_from(value).unwrap_or(0))
    }

    /// Waits for the next datagram and reads it into `buf`.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        loop {
            let mut ready = self.fd.readable().await?;
            let read = ready.try_io(|fd| {
                // SAFETY: `buf` is valid for writes of its length; MSG_TRUNC makes the
                // result the datagram's whole length, so a cut one is noticed.
                let n = unsafe {
                    libc::recv(
                        fd.as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        libc::MSG_TRUNC,
                    )
                };
                if n < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(usize::try_from(n).unwrap_or(0))
            });
            match read {
                Ok(Ok(n)) => return Ok(Received::Datagram(n)),
                Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    return Ok(Received::Overrun);
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
    }
}

fn set_int(fd: &OwnedFd, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` is a c_int that lives across the call, with its size.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether the kernel counts bytes and packets per connection in the calling
/// thread's network namespace.
pub fn accounting() -> io::Result<bool> {
    let text = std::fs::read_to_string(ACCOUNTING_SYSCTL)?;
    Ok(text.trim() != "0")
}

/// Turns accounting on (connections tracked from now on are counted).
pub fn enable_accounting() -> io::Result<()> {
    std::fs::write(ACCOUNTING_SYSCTL, "1\n")
}
