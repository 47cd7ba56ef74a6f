//! What holds events between inputs and the output besides the in-memory channel: the
//! disk spool for events that cannot be read again from their source.

mod spool;

pub use spool::{Reopened, SPOOL_SOURCE, Spool, SpoolError};
