//! The `lumberwatch` command line: parse arguments, load the config, call the library,
//! turn errors into one-line messages and exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use lumberwatch::config::{self, OutputConfig};

#[derive(Parser)]
#[command(
    name = "lumberwatch",
    version,
    about = "Ships logs to Logstash over Lumberjack v2 (the Beats protocol)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent with a config file.
    Run {
        /// The config file (Filebeat layout).
        #[arg(short = 'c', long = "config", default_value = "lumberwatch.yml")]
        config: PathBuf,
    },
    /// Check the config file or the connection to the outputs.
    Test {
        #[command(subcommand)]
        what: TestWhat,
    },
    /// Run an embedded Logstash-compatible receiver (the beats input's behaviour).
    Receive(lumberwatch::receive::ReceiveOptions),
    /// Measure shipping throughput to a receiver (`syslog-udp`: syslog UDP loss; `limits`:
    /// the machine's raw limits).
    #[command(args_conflicts_with_subcommands = true)]
    Bench {
        #[command(subcommand)]
        mode: Option<BenchMode>,
        #[command(flatten)]
        shipping: lumberwatch::bench::BenchOptions,
    },
    /// Start a receiver and an agent on embedded defaults and show events flowing.
    Demo(lumberwatch::demo::DemoOptions),
    /// Replay a recorded connection log through the config's rules on a simulated clock.
    Simulate(lumberwatch::simulate::SimulateOptions),
    /// The test rig: a hello-world HTTP target and a poller that moves volume to it.
    Rig {
        #[command(subcommand)]
        command: lumberwatch::rig::RigCommand,
    },
    /// Show the per-source statistics a run saved under path.data.
    Stats {
        #[arg(short = 'c', long = "config", default_value = "lumberwatch.yml")]
        config: PathBuf,
        /// The key field (a table kept by lumberwatch.stats.keys).
        #[arg(long, default_value = "source.ip")]
        key: String,
        /// The window the per-key counts cover, ending now.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        window: std::time::Duration,
    },
}

#[derive(Subcommand)]
enum BenchMode {
    /// Send syslog over UDP on loopback at rising rates: where the kernel starts
    /// dropping, where lumberwatch does.
    SyslogUdp(lumberwatch::bench::syslog_udp::SyslogUdpOptions),
    /// The machine's raw limits on one core (building a file's events, BatchEncoder at
    /// each zlib level) and over loopback (one TCP stream, plain and TLS).
    Limits(lumberwatch::bench::limits::LimitsOptions),
}

#[derive(Subcommand)]
enum TestWhat {
    /// Load and validate the config, print "Config OK" or every problem, one line each.
    Config {
        #[arg(short = 'c', long = "config", default_value = "lumberwatch.yml")]
        config: PathBuf,
    },
    /// Connect to every output host, handshake and talk to it.
    Output {
        #[arg(short = 'c', long = "config", default_value = "lumberwatch.yml")]
        config: PathBuf,
    },
}

/// The blocking pool's size: file reads, compression and disk writes are short and
/// bound by the cores, so more threads than a few per core only add memory (tokio's
/// default of 512 let a hundred files caught up at once leave ~80 threads behind, idle
/// but alive while the harvesters' polls kept giving them work).
fn blocking_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    (4 * cores).max(16)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tune_allocator();
    if matches!(cli.command, Command::Run { .. }) {
        trim_freed_memory_in_background();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(blocking_threads())
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lumberwatch: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(dispatch(cli.command));
    // A blocking read of stdin cannot be interrupted: do not wait for it on the way out.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lumberwatch: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// Events are carved from 256 KiB chunks and freed on another thread once acked. With
/// glibc's defaults each chunk is an mmap/munmap pair (and a TLB shootdown across
/// threads); keeping chunks on the heap and not trimming it on every free cut the
/// client's CPU per event by about a third in `lumberwatch bench` (docs/PERFORMANCE.md).
/// Peak memory is unchanged: the freed chunks are reused for the next events.
///
/// glibc gives threads arenas of their own, up to 8 per core, and tokio's blocking pool
/// has many threads (a hundred files catching up read on up to a hundred): each arena
/// keeps pages that one live allocation pins among freed ones, which no trim gives
/// back. Two arenas: 100 idle files after their catch-up held 18.6 MB instead of 20–21
/// (one arena: 15.1 MB, but `lumberwatch bench` took up to a fifth more CPU); `bench`
/// did not tell two from the default within its noise (docs/PERFORMANCE.md).
fn tune_allocator() {
    // SAFETY: mallopt only changes allocator parameters; it is called before any thread
    // is started, and an unsupported parameter is reported by its return value.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 16 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// With the trim threshold above, memory freed after a burst (the catch-up of many files,
/// a backlog shipped) stays in the process for good. A thread looks every 5 s at how
/// much the heap holds free and gives it back to the system (`malloc_trim`) once that
/// grew by 1 MiB since it last did: a burst costs one trim after it, steady shipping
/// (whose freed chunks are reused at once) almost none.
fn trim_freed_memory_in_background() {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(5);
    const SLACK_BYTES: usize = 1 << 20;
    let spawned = std::thread::Builder::new()
        .name("malloc-trim".into())
        .spawn(|| {
            let mut floor = 0usize;
            loop {
                std::thread::sleep(EVERY);
                // SAFETY: mallinfo2 and malloc_trim take the arenas' own locks; both
                // may be called from any thread at any time.
                let free = unsafe { libc::mallinfo2() }.fordblks;
                if free > floor.saturating_add(SLACK_BYTES) {
                    unsafe { libc::malloc_trim(0) };
                    // Trimming returns pages but most of them still count as free.
                    floor = unsafe { libc::mallinfo2() }.fordblks;
                } else {
                    floor = floor.min(free);
                }
            }
        });
    if let Err(e) = spawned {
        eprintln!(
            "lumberwatch: cannot start the malloc-trim thread (memory freed after a burst stays held): {e}"
        );
    }
}

/// The error and its causes on one line, each cause once: many errors already quote
/// their cause in their own message.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run { config } => {
            let config = config::load(&config)?;
            lumberwatch::logging::init_from(&config.logging);
            let summary =
                lumberwatch::agent::run(&config, lumberwatch::signal::shutdown(), |_| {}).await?;
            Ok(if summary.complete {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Test {
            what: TestWhat::Config { config },
        } => {
            // Every problem, one line each (`run` stops at the first), then how many.
            let config = match config::check(&config) {
                Ok(config) => config,
                Err(problems) => {
                    for problem in &problems {
                        eprintln!("{problem}");
                    }
                    if problems.len() > 1 {
                        eprintln!(
                            "{}",
                            config::summary(&problems, &config.display().to_string())
                        );
                    }
                    return Ok(ExitCode::FAILURE);
                }
            };
            // Like Filebeat, load what the config points at: certificates and keys.
            if let OutputConfig::Logstash(ls) = &config.output
                && let Some(ssl) = &ls.ssl
            {
                lumberwatch::tls::client_config(ssl).context("output.logstash.ssl")?;
            }
            println!("Config OK");
            Ok(ExitCode::SUCCESS)
        }
        Command::Test {
            what: TestWhat::Output { config: path },
        } => {
            let config = config::load(&path)?;
            let OutputConfig::Logstash(ls) = &config.output else {
                println!("console output: nothing to connect to");
                return Ok(ExitCode::SUCCESS);
            };
            let mut out = std::io::stdout();
            let ok = lumberwatch::output::test_output(ls, &mut out)
                .await
                .context("testing output.logstash")?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Receive(opts) => {
            lumberwatch::logging::init("info");
            lumberwatch::receive::serve(opts).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { mode, shipping } => {
            lumberwatch::logging::init("warning");
            match mode {
                None => lumberwatch::bench::run(shipping).await?,
                Some(BenchMode::SyslogUdp(opts)) => {
                    lumberwatch::bench::syslog_udp::run(opts).await?;
                }
                Some(BenchMode::Limits(opts)) => {
                    tokio::task::spawn_blocking(move || lumberwatch::bench::limits::run(&opts))
                        .await
                        .context("the limits thread")??;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Stats {
            config,
            key,
            window,
        } => {
            let config = config::load(&config)?;
            let file = lumberwatch::registry::StatsFile::new(&config.path_data);
            let Some(snapshot) = file.load()? else {
                anyhow::bail!(
                    "no statistics saved in {} yet (they are kept for inputs with a parser, syslog, flows and conntrack)",
                    file.path().display()
                );
            };
            let stats: lumberwatch::stats::Stats = serde_json::from_value(snapshot)
                .with_context(|| format!("reading {}", file.path().display()))?;
            let now = lumberwatch::input::parsing::unix_now();
            let window = i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
            let Some(table) = lumberwatch::stats::report::render(&stats, &key, window, now) else {
                let kept: Vec<&str> = stats
                    .tables()
                    .iter()
                    .map(|t| t.spec().key.as_str())
                    .collect();
                anyhow::bail!("no statistics kept by {key:?} (kept: {})", kept.join(", "));
            };
            println!("{table}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Simulate(opts) => {
            let config = config::load(&opts.config)?;
            let mut out = std::io::stdout().lock();
            lumberwatch::simulate::run(&config, &opts, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rig { command } => {
            lumberwatch::rig::run(command).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(opts) => {
            lumberwatch::logging::init("warning");
            lumberwatch::demo::run(opts).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
