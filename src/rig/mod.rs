//! The test rig from the users' story, `lumberwatch rig`: `hello`, the hello-world HTTP
//! target, and `poll`, the poller that moves 50–100 MB to it every 20 minutes with
//! random restarts and can send syslog from several source addresses, so that flows,
//! conntrack, syslog statistics and the rules have real traffic to see. The pure parts
//! (`http`, `schedule`) are sans-IO; `client` and `syslog` own the poller's sockets.
//! It never sends beyond the loopback range unless told to (`--allow-remote`).

pub(crate) mod access_log;
pub(crate) mod client;
pub mod hello;
mod http;
pub mod poll;
pub(crate) mod schedule;
pub(crate) mod syslog;

/// `lumberwatch rig ...`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum RigCommand {
    /// Serve "Hello World!" at / and N bytes at /bytes/N over HTTP/1.1.
    Hello(hello::HelloOptions),
    /// Poll a target in 20-minute cycles of 50-100 MB with random restarts (env
    /// HOST_TO_POLL, POLL_INTERVAL), optionally sending syslog from several addresses.
    Poll(poll::PollOptions),
}

pub async fn run(command: RigCommand) -> anyhow::Result<()> {
    match command {
        RigCommand::Hello(opts) => hello::run(opts).await,
        RigCommand::Poll(opts) => poll::run(opts).await,
    }
}
