//! `type: conntrack`: the kernel's connection tracking events over netlink, as
//! connection records.
//!
//! `msg` decodes the kernel's messages (pure).

pub mod msg;
