//! The on-disk form of the disk queue: segment files of checksummed records, and the
//! set of acked records of one segment. Pure: no locks, no tokio.
//!
//! A record is `len: u32 BE | crc32(payload): u32 BE | payload` (an event's JSON). A
//! segment is named after the sequence number of its first record
//! (`00000000000000001234.seg`), so record `i` of it is event `first + i`.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

/// A record longer than this is corruption, not an event.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

pub const HEADER_BYTES: usize = 8;

const EXTENSION: &str = "seg";

pub fn file_name(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.{EXTENSION}"))
}

/// The first sequence number a segment's file name says it holds.
pub fn first_of(path: &Path) -> Option<u64> {
    if path.extension()? != EXTENSION {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    (stem.len() == 20).then(|| stem.parse().ok()).flatten()
}

/// Appends one record for `payload` to `buf`.
pub fn encode(payload: &[u8], buf: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).expect("checked against MAX_RECORD_BYTES");
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&crc32fast::hash(payload).to_be_bytes());
    buf.extend_from_slice(payload);
}

/// What decoding the start of a byte slice found.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<'a> {
    /// A whole record and the bytes it took (header included).
    Record(&'a [u8], usize),
    /// Not enough bytes for the record that starts here: this many are needed in all.
    Short(usize),
    /// A length over the limit or a checksum that does not match.
    Corrupt,
}

pub fn decode(bytes: &[u8]) -> Next<'_> {
    let Some(header) = bytes.get(..HEADER_BYTES) else {
        return Next::Short(HEADER_BYTES);
    };
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if len > MAX_RECORD_BYTES {
        return Next::Corrupt;
    }
    let Some(payload) = bytes.get(HEADER_BYTES..HEADER_BYTES + len) else {
        return Next::Short(HEADER_BYTES + len);
    };
    if crc32fast::hash(payload) != crc {
        return Next::Corrupt;
    }
    Next::Record(payload, HEADER_BYTES + len)
}

/// The payloads of every whole, valid record in the segment files under `dir`, oldest
/// segment first: what a disk queue holds, acked or not (for tools and tests that look
/// at a stopped agent's queue).
pub fn payloads(dir: &Path) -> io::Result<Vec<Vec<u8>>> {
    let mut segments: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| first_of(&p).map(|first| (first, p)))
        .collect();
    segments.sort();
    let mut out = Vec::new();
    for (_, path) in segments {
        let bytes = std::fs::read(&path)?;
        let mut at = 0;
        while let Next::Record(payload, used) = decode(&bytes[at..]) {
            out.push(payload.to_vec());
            at += used;
        }
    }
    Ok(out)
}

/// What a segment file holds: how many whole, valid records and the bytes they take.
/// Anything after them (a torn or corrupt tail) is not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    pub records: u64,
    pub good_bytes: u64,
    pub file_bytes: u64,
}

/// Reads a segment through once, in bounded memory, validating every record.
pub fn scan(path: &Path) -> io::Result<Scan> {
    let file = File::open(path)?;
    let file_bytes = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut scan = Scan {
        records: 0,
        good_bytes: 0,
        file_bytes,
    };
    let mut header = [0u8; HEADER_BYTES];
    let mut payload = Vec::new();
    loop {
        if read_full(&mut reader, &mut header)? < HEADER_BYTES {
            return Ok(scan);
        }
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        if len > MAX_RECORD_BYTES || (scan.good_bytes + (HEADER_BYTES + len) as u64) > file_bytes {
            return Ok(scan);
        }
        payload.resize(len, 0);
        if read_full(&mut reader, &mut payload)? < len || crc32fast::hash(&payload) != crc {
            return Ok(scan);
        }
        scan.records += 1;
        scan.good_bytes += (HEADER_BYTES + len) as u64;
    }
}

fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Which records of a segment are acked: sorted, disjoint, non-adjacent ranges of
/// record indices. Acks mostly arrive in order, so this stays a range or two.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Acked {
    ranges: Vec<(u64, u64)>,
    count: u64,
}

impl Acked {
    /// Marks `index` acked; false if it already was.
    pub fn insert(&mut self, index: u64) -> bool {
        // The first range that starts after `index`; the one before may hold it.
        let at = self.ranges.partition_point(|&(start, _)| start <= index);
        let left = at.checked_sub(1).map(|l| self.ranges[l].1);
        if left.is_some_and(|end| end > index) {
            return false;
        }
        self.count += 1;
        let joins_left = left == Some(index);
        let joins_right = self
            .ranges
            .get(at)
            .is_some_and(|&(start, _)| start == index + 1);
        match (joins_left, joins_right) {
            (true, true) => {
                self.ranges[at - 1].1 = self.ranges[at].1;
                self.ranges.remove(at);
            }
            (true, false) => self.ranges[at - 1].1 = index + 1,
            (false, true) => self.ranges[at].0 = index,
            (false, false) => self.ranges.insert(at, (index, index + 1)),
        }
        true
    }

    /// Marks `0..n` acked (records below the persisted ack floor).
    pub fn prefix(n: u64) -> Acked {
        if n == 0 {
            return Acked::default();
        }
        Acked {
            ranges: vec![(0, n)],
            count: n,
        }
    }

    pub fn contains(&self, index: u64) -> bool {
        let at = self.ranges.partition_point(|&(_, end)| end <= index);
        self.ranges
            .get(at)
            .is_some_and(|&(start, _)| start <= index)
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// How many records from index 0 on are acked without a gap.
    pub fn contiguous(&self) -> u64 {
        match self.ranges.first() {
            Some(&(0, end)) => end,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_told_apart_from_shortness() {
        let mut buf = Vec::new();
        encode(b"{\"a\":1}", &mut buf);
        encode(b"", &mut buf);
        let Next::Record(first, used) = decode(&buf) else {
            panic!("whole record")
        };
        assert_eq!((first, used), (&b"{\"a\":1}"[..], 15));
        assert_eq!(decode(&buf[used..]), Next::Record(b"", 8));
        assert_eq!(decode(&buf[..3]), Next::Short(8));
        assert_eq!(decode(&buf[..10]), Next::Short(15));
        let mut flipped = buf.clone();
        flipped[9] ^= 1;
        assert_eq!(decode(&flipped), Next::Corrupt);
        assert_eq!(decode(&[0xff; 8]), Next::Corrupt, "length over the limit");
    }

    #[test]
    fn payloads_are_read_in_segment_order_up_to_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = Vec::new();
        encode(b"b", &mut first);
        encode(b"c", &mut first);
        first.push(0xff); // torn
        std::fs::write(file_name(dir.path(), 10), &first).unwrap();
        let mut older = Vec::new();
        encode(b"a", &mut older);
        std::fs::write(file_name(dir.path(), 9), &older).unwrap();
        std::fs::write(dir.path().join("acked"), b"9\n").unwrap();
        assert_eq!(payloads(dir.path()).unwrap(), [b"a", b"b", b"c"]);
    }

    #[test]
    fn a_scan_stops_at_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_name(dir.path(), 7);
        assert_eq!(first_of(&path), Some(7));
        assert_eq!(first_of(&dir.path().join("acked")), None);
        let mut buf = Vec::new();
        encode(b"one", &mut buf);
        encode(b"two", &mut buf);
        std::fs::write(&path, &buf[..buf.len() - 1]).unwrap();
        assert_eq!(
            scan(&path).unwrap(),
            Scan {
                records: 1,
                good_bytes: 11,
                file_bytes: 21
            }
        );
    }

    #[test]
    fn acked_ranges_merge_from_either_side() {
        let mut acked = Acked::default();
        for i in [3, 1, 2, 0, 5] {
            assert!(acked.insert(i));
        }
        assert!(!acked.insert(2), "acked twice counts once");
        assert_eq!(acked.ranges, [(0, 4), (5, 6)]);
        assert_eq!((acked.count(), acked.contiguous()), (5, 4));
        assert!(acked.contains(5) && !acked.contains(4) && !acked.contains(6));
        assert!(acked.insert(4));
        assert_eq!(acked.ranges, [(0, 6)]);
        assert_eq!(Acked::prefix(3).contiguous(), 3);
    }

    proptest! {
        #[test]
        fn acked_agrees_with_a_plain_set(indices in proptest::collection::vec(0u64..64, 0..200)) {
            let mut acked = Acked::default();
            let mut set = std::collections::BTreeSet::new();
            for i in indices {
                prop_assert_eq!(acked.insert(i), set.insert(i));
            }
            prop_assert_eq!(acked.count(), set.len() as u64);
            for i in 0..64 {
                prop_assert_eq!(acked.contains(i), set.contains(&i));
            }
            let contiguous = (0..).take_while(|i| set.contains(i)).count() as u64;
            prop_assert_eq!(acked.contiguous(), contiguous);
        }

        #[test]
        fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            match decode(&bytes) {
                Next::Record(p, used) => prop_assert!(p.len() + HEADER_BYTES == used && used <= bytes.len()),
                Next::Short(n) => prop_assert!(n > bytes.len()),
                Next::Corrupt => {}
            }
        }
    }
}
