//! The one place with `unsafe` and system calls for capture: an AF_PACKET socket in
//! cooked mode (`SOCK_DGRAM`: packets start at the network header on every kind of
//! interface, as Linux's "any" capture does) with a memory-mapped TPACKET_V3 ring, the
//! filter attached, bound to one interface or all of them.
//!
//! TPACKET_V3 rather than V2: the kernel packs packets of any length back to back into
//! blocks and hands over a whole block at once, so with 128-byte captures a ring of a
//! few MiB holds tens of thousands of packets and a busy capture wakes once per block
//! instead of once per packet; a block that is not full is handed over after
//! [`BLOCK_TIMEOUT_MS`], which bounds the latency at low rates.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::bpf::Insn;

/// Size of one ring block: a power of two and a multiple of the page size.
const BLOCK_SIZE: usize = 256 << 10;
/// Frame size the kernel checks the request with (V3 packs frames of any size).
const FRAME_SIZE: usize = 2048;
/// A block with packets but not full is handed to us after this long.
pub const BLOCK_TIMEOUT_MS: u32 = 50;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_KERNEL: u32 = 0;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(
        "packet capture needs CAP_NET_RAW: run as root, or grant only that capability (setcap cap_net_raw+ep /path/to/lumberwatch, or AmbientCapabilities=CAP_NET_RAW in the systemd unit)"
    )]
    NoPermission,
    #[error("no network interface named {0:?} (see ip link)")]
    NoInterface(String),
    #[error("capture socket: cannot {step}: {error}")]
    Setup {
        step: &'static str,
        error: io::Error,
    },
}

/// Packets the kernel counted for the socket since the last call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelCounts {
    /// Packets that passed the filter, dropped ones included.
    pub packets: u64,
    /// Packets that passed the filter but found the ring full.
    pub drops: u64,
}

/// An open capture: the socket and its ring.
pub struct Capture {
    fd: OwnedFd,
    ring: NonNull<u8>,
    blocks: usize,
    next: usize,
}

// SAFETY: the ring mapping belongs to this value alone; moving it to another thread
// moves the only access to it.
unsafe impl Send for Capture {}

impl Capture {
    /// Opens a capture on `interface` (`None`: every interface) with about
    /// `buffer_size` bytes of ring, running `program` on every packet.
    pub fn open(
        interface: Option<&str>,
        program: &[Insn],
        buffer_size: usize,
    ) -> Result<Capture, CaptureError> {
        let setup = |step| move |error| CaptureError::Setup { step, error };
        // Protocol 0 until bound: nothing arrives before the filter is in place.
        // SAFETY: plain system call with constant arguments.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if fd < 0 {
            let error = io::Error::last_os_error();
            return Err(match error.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => CaptureError::NoPermission,
                _ => setup("create it")(error),
            });
        }
        // SAFETY: `fd` was just returned by socket() and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let ifindex = match interface {
            None => 0,
            Some(name) => {
                let c = CString::new(name).map_err(|_| CaptureError::NoInterface(name.into()))?;
                // SAFETY: `c` is a valid NUL-terminated string.
                match unsafe { libc::if_nametoindex(c.as_ptr()) } {
                    0 => return Err(CaptureError::NoInterface(name.into())),
                    i => i as libc::c_int,
                }
            }
        };
        let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        set_option(&fd, libc::PACKET_VERSION, &version).map_err(setup("select TPACKET_V3"))?;
        let blocks = (buffer_size / BLOCK_SIZE).max(2);
        let request = libc::tpacket_req3 {
            tp_block_size: BLOCK_SIZE as u32,
            tp_block_nr: blocks as u32,
            tp_frame_size: FRAME_SIZE as u32,
            tp_frame_nr: (BLOCK_SIZE / FRAME_SIZE * blocks) as u32,
            tp_retire_blk_tov: BLOCK_TIMEOUT_MS,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        set_option(&fd, libc::PACKET_RX_RING, &request).map_err(setup("set up the ring"))?;
        let filter: Vec<libc::sock_filter> = program
            .iter()
            .map(|i| libc::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        let fprog = libc::sock_fprog {
            len: filter.len() as libc::c_ushort,
            filter: filter.as_ptr().cast_mut(),
        };
        set_socket_option(&fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
            .map_err(setup("attach the filter"))?;
        // SAFETY: maps the ring the kernel just allocated for this socket, of exactly
        // its size; checked for failure below.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                BLOCK_SIZE * blocks,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(setup("map the ring")(io::Error::last_os_error()));
        }
        let ring = NonNull::new(ring.cast::<u8>()).expect("mmap never maps at 0 on success");
        let capture = Capture {
            fd,
            ring,
            blocks,
            next: 0,
        };
        // SAFETY: an all-zero sockaddr_ll is valid; the fields set below make it a
        // bind to every protocol on `ifindex`.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as libc::c_ushort;
        address.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        address.sll_ifindex = ifindex;
        // SAFETY: `address` is a sockaddr_ll of the size given.
        let bound = unsafe {
            libc::bind(
                capture.fd.as_raw_fd(),
                (&raw const address).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if bound < 0 {
            return Err(setup("bind it")(io::Error::last_os_error()));
        }
        Ok(capture)
    }

    /// The capture registered with the tokio runtime, to wait for filled blocks.
    pub fn into_async(self) -> io::Result<AsyncFd<Capture>> {
        // SAFETY: the descriptor is the `OwnedFd` this value owns for its whole life
        // and never replaces, so it stays open and the same while the AsyncFd lives.
        unsafe { AsyncFd::register_with_interest(self, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)
    }

    /// Hands every block the kernel has filled to `f`, in ring order, and gives each
    /// back to the kernel after `f` returns. Returns how many blocks there were.
    pub fn drain(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        let mut drained = 0;
        while drained < self.blocks {
            // SAFETY: `next < blocks`, so the block lies inside the mapping; its first
            // bytes are a tpacket_block_desc whose status word (offset 8, 4-aligned)
            // the kernel and we hand over through atomic accesses only.
            let block = unsafe { self.ring.as_ptr().add(self.next * BLOCK_SIZE) };
            let status = unsafe { AtomicU32::from_ptr(block.add(8).cast::<u32>()) };
            if status.load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                break;
            }
            // SAFETY: the status says the block is ours until we give it back, so the
            // kernel does not write it while this slice lives.
            f(unsafe { std::slice::from_raw_parts(block, BLOCK_SIZE) });
            status.store(TP_STATUS_KERNEL, Ordering::Release);
            self.next = (self.next + 1) % self.blocks;
            drained += 1;
        }
        drained
    }

    /// What the kernel counted since the last call (reading resets its counters).
    pub fn kernel_counts(&self) -> io::Result<KernelCounts> {
        let mut stats = libc::tpacket_stats_v3 {
            tp_packets: 0,
            tp_drops: 0,
            tp_freeze_q_cnt: 0,
        };
        let mut len = std::mem::size_of_val(&stats) as libc::socklen_t;
        // SAFETY: `stats` and `len` describe a buffer of the size the kernel fills.
        let got = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&raw mut stats).cast(),
                &mut len,
            )
        };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(KernelCounts {
            packets: u64::from(stats.tp_packets),
            drops: u64::from(stats.tp_drops),
        })
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `open`, which nothing borrows now.
        unsafe {
            libc::munmap(self.ring.as_ptr().cast(), BLOCK_SIZE * self.blocks);
        }
    }
}

impl AsRawFd for Capture {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for Capture {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn set_option<T>(fd: &OwnedFd, name: libc::c_int, value: &T) -> io::Result<()> {
    set_socket_option(fd, libc::SOL_PACKET, name, value)
}

fn set_socket_option<T>(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` is a live `T` of the size passed.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
