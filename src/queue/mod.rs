//! The durable queue (`queue.disk`) between the inputs and the output's in-memory
//! queue, for events that cannot be read again from their source.

mod disk;
pub mod mem;
mod reading;
mod segment;
mod stage;

pub use disk::{DISK_SOURCE, DiskCounters, DiskError, DiskQueue, DiskWriter, Reopened};
pub use segment::payloads;
pub use stage::{run_housekeeping, run_reader, run_writer};

#[cfg(test)]
mod tests;
