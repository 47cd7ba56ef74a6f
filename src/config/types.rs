//! The validated, typed configuration. `load` (in `mod.rs`) turns YAML into these;
//! the rest of the crate only ever sees these types, never raw YAML.

use std::path::PathBuf;
use std::time::Duration;

/// The whole agent configuration (Filebeat's layout; see DESIGN §7).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `lumberwatch.inputs` (or `filebeat.inputs`).
    pub inputs: Vec<InputConfig>,
    /// Exactly one output: `output.logstash` or `output.console`.
    pub output: OutputConfig,
    /// `path.data` (default `./data`).
    pub path_data: PathBuf,
    /// `name` (default: the host name); becomes `agent.name`.
    pub name: Option<String>,
    /// Top-level `tags`, added to every event.
    pub tags: Vec<String>,
    /// Top-level `fields` (+ `fields_under_root`).
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub fields_under_root: bool,
    /// `lumberwatch.beat` (default `lumberwatch`): the value of `@metadata.beat`;
    /// `filebeat` makes the stream indistinguishable from Filebeat's for Logstash pipelines.
    pub metadata_beat: String,
    /// `queue.mem.events` (default 3200): the bounded in-memory queue between inputs and output.
    pub queue_mem_events: usize,
    /// `queue.mem.flush`: when the output takes a batch from the queue.
    pub queue_flush: QueueFlush,
    /// `queue.disk` (default none): the durable queue for events that cannot be read
    /// again (and, with `events: all`, for everything). Alerts and reports are always
    /// written to it, with its defaults when it is not configured.
    pub queue_disk: Option<DiskQueueConfig>,
    /// `lumberwatch.shutdown_timeout` / `filebeat.shutdown_timeout` (default 10s): how
    /// long a shutdown waits for outstanding acks.
    pub shutdown_timeout: Duration,
    /// `lumberwatch.stall_warning` (default 60s, 0 = off): warn when events are waiting
    /// and no ack has come for this long.
    pub stall_warning: Duration,
    /// `filebeat.registry.flush` (default 1s): how often acked file offsets are written;
    /// 0 writes after every ack (fewest duplicates after a crash, most writes).
    pub registry_flush: Duration,
    /// `lumberwatch.stats`: the per-source statistics.
    pub stats: StatsConfig,
    /// `lumberwatch.rules` (default none): flatline, rate and report rules.
    pub rules: Vec<crate::rules::RuleConfig>,
    /// `lumberwatch.rules_check_interval` (default 30s): how often the rules are evaluated.
    pub rules_check_interval: Duration,
    pub logging: LoggingConfig,
    pub http: HttpConfig,
}

/// `lumberwatch.stats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsConfig {
    /// `keys` (default `[source.ip]`): one table per field.
    pub keys: Vec<String>,
    /// `bucket` (default 1m): the resolution of window sums.
    pub bucket_secs: u32,
    /// `retention` (default 25h): the longest window kept.
    pub retention_secs: u32,
    /// `max_keys` (default 100000) per table; the longest-silent keys are evicted past it.
    pub max_keys: usize,
    /// `flush` (default 10s): how often the statistics are saved under `path.data`.
    pub flush: Duration,
}

impl Default for StatsConfig {
    fn default() -> Self {
        use crate::stats::TableSpec;
        StatsConfig {
            keys: vec!["source.ip".to_string()],
            bucket_secs: TableSpec::DEFAULT_BUCKET_SECS,
            retention_secs: TableSpec::DEFAULT_RETENTION_SECS,
            max_keys: TableSpec::DEFAULT_MAX_KEYS,
            flush: Duration::from_secs(10),
        }
    }
}

impl StatsConfig {
    /// The tables these settings ask for.
    pub fn tables(&self) -> impl Iterator<Item = crate::stats::TableSpec> + '_ {
        self.keys.iter().map(|key| crate::stats::TableSpec {
            key: key.clone(),
            bucket_secs: self.bucket_secs,
            retention_secs: self.retention_secs,
            max_keys: self.max_keys,
        })
    }
}

impl Config {
    /// A config with these inputs and this output and every other setting at its
    /// default, as an empty config file would give (for `demo` and `bench`).
    pub fn new(inputs: Vec<InputConfig>, output: OutputConfig) -> Self {
        Config {
            inputs,
            output,
            path_data: PathBuf::from("./data"),
            name: None,
            tags: Vec::new(),
            fields: serde_json::Map::new(),
            fields_under_root: false,
            metadata_beat: "lumberwatch".into(),
            queue_mem_events: 3200,
            queue_flush: QueueFlush::default(),
            queue_disk: None,
            shutdown_timeout: Duration::from_secs(10),
            stall_warning: Duration::from_secs(60),
            registry_flush: Duration::from_secs(1),
            stats: StatsConfig::default(),
            rules: Vec::new(),
            rules_check_interval: Duration::from_secs(30),
            logging: LoggingConfig {
                level: "info".into(),
                json: false,
                metrics_enabled: true,
                metrics_period: Duration::from_secs(30),
            },
            http: HttpConfig::default(),
        }
    }
}

/// `queue.disk`.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskQueueConfig {
    /// `path` (default `<path.data>/spool`).
    pub path: Option<PathBuf>,
    /// `max_size` (default 10GiB): what the segment files may take in all.
    pub max_size: u64,
    /// `segment_size` (default `max_size / 10`, at most 64MiB): a segment file is deleted
    /// once all its events are acked.
    pub segment_size: u64,
    pub when_full: WhenFull,
    pub fsync: Fsync,
    pub events: SpooledEvents,
}

impl Default for DiskQueueConfig {
    fn default() -> Self {
        DiskQueueConfig {
            path: None,
            max_size: 10 << 30,
            segment_size: 64 << 20,
            when_full: WhenFull::Block,
            fsync: Fsync::Always,
            events: SpooledEvents::Unreplayable,
        }
    }
}

impl DiskQueueConfig {
    /// Where the segment files are.
    pub fn dir(&self, path_data: &std::path::Path) -> PathBuf {
        self.path.clone().unwrap_or_else(|| path_data.join("spool"))
    }
}

/// `queue.disk.when_full`: what a write does when `max_size` is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// `block` (default): inputs wait for acks to free space (UDP and capture inputs
    /// count drops meanwhile, as they do on a full memory queue).
    Block,
    /// `drop_oldest`: the oldest segment is removed, its unread events counted.
    DropOldest,
}

/// `queue.disk.fsync`: when written events are forced to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// `always` (default): every write (a batch) before its events count as accepted.
    Always,
    /// A duration such as `1s`: at most that much is lost with the machine (not with
    /// the process: the kernel has it).
    Every(Duration),
    /// `never`: left to the kernel.
    Never,
}

/// `queue.disk.events`: which inputs' events go through the disk queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpooledEvents {
    /// `unreplayable` (default): syslog, flows, conntrack, stdin, generator, alerts
    /// and reports; files are read again from their registry offsets instead.
    Unreplayable,
    /// `all`: file lines too (their offsets move on once the disk holds them).
    All,
}

/// `queue.mem.flush.min_events` / `queue.mem.flush.timeout`: a batch is handed to the
/// output once it holds `min_events` (capped by `bulk_max_size`) or its first event has
/// waited `timeout`. The default (`min_events: 1`) sends at once, for the lowest latency;
/// Filebeat 8.1's `2048` / `1s` trade latency for fuller batches at low rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFlush {
    pub min_events: usize,
    pub timeout: Duration,
}

impl Default for QueueFlush {
    fn default() -> Self {
        QueueFlush {
            min_events: 1,
            timeout: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoggingConfig {
    /// `logging.level`: error, warning, info (default), debug.
    pub level: String,
    /// `logging.json` (default false): one JSON object per line on stderr.
    pub json: bool,
    /// `logging.metrics.enabled` (default true) and `logging.metrics.period` (default 30s).
    pub metrics_enabled: bool,
    pub metrics_period: Duration,
}

/// `http`: the stats endpoint, with the Beats' names and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// `http.enabled` (default false).
    pub enabled: bool,
    /// `http.host`: an IP address or host name. `None` (the default) is `localhost`,
    /// bound on a loopback address only: the endpoint is unauthenticated, so it is
    /// reachable from elsewhere only when a host says so.
    pub host: Option<String>,
    /// `http.port` (default 5066; 0 picks a free port, which is logged).
    pub port: u16,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: false,
            host: None,
            port: 5066,
        }
    }
}

/// Settings every input has (Filebeat names).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InputCommon {
    pub id: Option<String>,
    pub enabled: bool,
    pub tags: Vec<String>,
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub fields_under_root: bool,
    /// `parser`: the connection-log format of the input's lines, if any.
    pub parser: Option<crate::parse::ParserSpec>,
}

#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "built once per input at load; boxing would only add noise at every use"
)]
pub enum InputKind {
    /// `type: stdin`: one event per line of standard input.
    Stdin,
    /// `type: generator`: `count` events (0 = unbounded) of `message` (default
    /// "generated event {n}"), at most `rate_per_sec` (0 = as fast as possible).
    Generator {
        count: u64,
        message: Option<String>,
        rate_per_sec: u64,
    },
    /// `type: filestream` (or `log`): tail files matching globs.
    Filestream(FilestreamConfig),
    /// `type: syslog`: listen for syslog messages over UDP and TCP.
    Syslog(SyslogConfig),
    /// `type: conntrack`: the kernel's connection tracking events over netlink.
    Conntrack(super::ConntrackConfig),
    /// `type: flows`: Packetbeat-style flow events from raw packet capture.
    Flows(FlowsConfig),
}

/// `type: syslog` with Filebeat's names and defaults, plus several listeners per input
/// and a per-peer rate limit.
#[derive(Debug, Clone, PartialEq)]
pub struct SyslogConfig {
    /// `format: rfc3164|rfc5424|auto` (default rfc3164).
    pub format: crate::input::syslog::Format,
    /// `timezone` (default Local): the zone of timestamps that do not give theirs.
    pub timezone: jiff::tz::TimeZone,
    /// `protocol.udp`.
    pub udp: Option<SyslogUdpConfig>,
    /// `protocol.tcp`.
    pub tcp: Option<SyslogTcpConfig>,
    /// `rate_limit` (default none): messages per second from each peer IP.
    pub rate_limit: Option<RateLimitConfig>,
}

/// `protocol.udp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogUdpConfig {
    /// `host`: one `host:port` or a list (port 0: any free port).
    pub hosts: Vec<String>,
    /// `max_message_size` (default 10 KiB): longer datagrams are cut.
    pub max_message_size: usize,
    /// `read_buffer` (default: the system's): `SO_RCVBUF` in bytes.
    pub read_buffer: Option<usize>,
}

/// `protocol.tcp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogTcpConfig {
    /// `host`: one `host:port` or a list (port 0: any free port).
    pub hosts: Vec<String>,
    /// `max_message_size` (default 20 MiB).
    pub max_message_size: usize,
    /// `max_connections` (default none): connections served at once, per address.
    pub max_connections: Option<usize>,
    /// `timeout` (default 300s): a connection idle this long is closed.
    pub timeout: Duration,
    /// `framing: delimiter|rfc6587` (default delimiter).
    pub framing: crate::input::syslog::Framing,
    /// `line_delimiter` (default `\n`; a `\r` before it is dropped).
    pub line_delimiter: String,
    /// `ssl.*`: TLS with this server certificate (and client certificates).
    pub ssl: Option<crate::tls::ServerTls>,
}

/// `rate_limit`: a token bucket per peer IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// `events_per_sec` (at least 1).
    pub events_per_sec: u32,
    /// `burst` (default `events_per_sec`): messages allowed at once after a quiet time.
    pub burst: u32,
}

/// `type: filestream` with Filebeat's names and defaults. Regexes are kept as text
/// (validated when loaded) so the config stays comparable.
#[derive(Debug, Clone, PartialEq)]
pub struct FilestreamConfig {
    /// `input.type` of the events: `filestream`, or `log` for the alias.
    pub input_type: String,
    /// Glob patterns.
    pub paths: Vec<String>,
    /// `prospector.scanner.check_interval` (default 10s): how often globs are expanded.
    pub check_interval: Duration,
    /// `exclude_files`: regexes on the path.
    pub exclude_files: Vec<String>,
    /// `include_lines` / `exclude_lines`: regexes on the line (include first).
    pub include_lines: Vec<String>,
    pub exclude_lines: Vec<String>,
    /// `close.on_state_change.inactive` (default 5m): close a file unchanged this long.
    pub close_inactive: Duration,
    /// `ignore_older` (default none): skip files not modified within this.
    pub ignore_older: Option<Duration>,
    /// `harvester_limit` (default 0 = unlimited): files read at the same time.
    pub harvester_limit: usize,
    /// `message_max_bytes` (default 10 MiB): longer lines are cut and flagged.
    pub message_max_bytes: usize,
    /// `parsers: [{multiline: ...}]` (default none): lines joined into one event.
    pub multiline: Option<MultilineConfig>,
    /// `file_identity.fingerprint` with `prospector.scanner.fingerprint` (default: none,
    /// files are identified by device + inode).
    pub fingerprint: Option<FingerprintConfig>,
    /// `type: container`: lines are container runtime logs (default none: plain lines).
    pub container: Option<ContainerOptions>,
    /// `clean_removed` (default true): drop the registry entry of a file removed while
    /// no harvester holds it, so a new file that reuses its identity starts at 0.
    pub clean_removed: bool,
}

/// `type: container` on top of the filestream settings, with Filebeat's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContainerOptions {
    /// `stream: all|stdout|stderr` (default all).
    pub stream: crate::input::container::StreamFilter,
    /// `format: auto|docker|cri` (default auto: decided per line).
    pub format: crate::input::container::Format,
}

/// Where Docker's json-file logs are: the container input's default `paths`.
pub const CONTAINER_DEFAULT_PATHS: &str = "/var/lib/docker/containers/*/*-json.log";

/// Which bytes of a file identify it: SHA-256 of `length` bytes from `offset`. A file
/// shorter than `offset + length` is not read until it grows to that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FingerprintConfig {
    pub offset: u64,
    pub length: u64,
}

/// Filestream's `multiline` parser, `type: pattern`.
#[derive(Debug, Clone, PartialEq)]
pub struct MultilineConfig {
    /// A regex, checked when loaded.
    pub pattern: String,
    pub negate: bool,
    /// `match`.
    pub match_: MultilineMatch,
    /// `max_lines` (default 500): lines past it are left out of the message.
    pub max_lines: usize,
    /// `timeout` (default 5s): a pending event is sent when no line follows within it.
    pub timeout: Duration,
}

/// `match: after|before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultilineMatch {
    After,
    Before,
}

impl FilestreamConfig {
    /// Filebeat's defaults for these `paths`.
    pub fn new(paths: Vec<String>) -> Self {
        FilestreamConfig {
            input_type: "filestream".into(),
            paths,
            check_interval: Duration::from_secs(10),
            exclude_files: Vec::new(),
            include_lines: Vec::new(),
            exclude_lines: Vec::new(),
            close_inactive: Duration::from_secs(300),
            ignore_older: None,
            harvester_limit: 0,
            message_max_bytes: 10 << 20,
            multiline: None,
            fingerprint: None,
            container: None,
            clean_removed: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct InputConfig {
    pub kind: InputKind,
    pub common: InputCommon,
}

impl InputConfig {
    /// Whether the input feeds the per-source statistics: it parses connection records,
    /// reads them from the kernel (conntrack, flows), or it listens for senders (every
    /// syslog message counts for its sender).
    pub fn feeds_stats(&self) -> bool {
        self.common.parser.is_some()
            || matches!(
                self.kind,
                InputKind::Syslog(_) | InputKind::Conntrack(_) | InputKind::Flows(_)
            )
    }
}

// One per process: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum OutputConfig {
    Logstash(LogstashConfig),
    /// `output.console` (`pretty`, default false): events as JSON lines on stdout.
    Console {
        pretty: bool,
    },
}

/// `output.logstash`, with Filebeat's names and defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct LogstashConfig {
    /// `host:port` strings; port defaults to 5044 when omitted.
    pub hosts: Vec<String>,
    pub loadbalance: bool,
    /// Connections per host (default 1).
    pub worker: usize,
    pub bulk_max_size: usize,
    pub slow_start: bool,
    /// 0..=9, default 3. 0 sends plain `J` frames.
    pub compression_level: u32,
    pub timeout: Duration,
    /// Close and reopen connections after this long (None = never; Filebeat's 0).
    /// Filebeat ignores ttl when pipelining > 0; we honour it anyway between batches.
    pub ttl: Option<Duration>,
    /// Batches in flight per connection (default 2; 0 = wait for each ack).
    pub pipelining: usize,
    pub backoff: BackoffConfig,
    pub escape_html: bool,
    pub ssl: Option<SslConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffConfig {
    pub init: Duration,
    pub max: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationMode {
    /// Chain and host name (default).
    Full,
    /// Same as full (Filebeat: also fails on an empty SAN; rustls already does).
    Strict,
    /// Chain only, any host name.
    Certificate,
    /// Nothing verified (logged loudly).
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    V1_2,
    V1_3,
}

/// `ssl.*` as in Filebeat. Present (and `enabled` not false) means TLS is on.
#[derive(Debug, Clone, PartialEq)]
pub struct SslConfig {
    /// PEM files or inline PEM strings (Filebeat accepts both).
    pub certificate_authorities: Vec<String>,
    pub certificate: Option<String>,
    pub key: Option<String>,
    pub verification_mode: VerificationMode,
    pub supported_protocols: Vec<TlsVersion>,
    /// Hex SHA-256 of a CA certificate in the server's chain to trust (colons allowed).
    pub ca_trusted_fingerprint: Option<String>,
}

impl Default for LogstashConfig {
    fn default() -> Self {
        LogstashConfig {
            hosts: Vec::new(),
            loadbalance: false,
            worker: 1,
            bulk_max_size: 2048,
            slow_start: false,
            compression_level: 3,
            timeout: Duration::from_secs(30),
            ttl: None,
            pipelining: 2,
            backoff: BackoffConfig {
                init: Duration::from_secs(1),
                max: Duration::from_secs(60),
            },
            escape_html: false,
            ssl: None,
        }
    }
}

impl Default for SslConfig {
    fn default() -> Self {
        SslConfig {
            certificate_authorities: Vec::new(),
            certificate: None,
            key: None,
            verification_mode: VerificationMode::Full,
            supported_protocols: vec![TlsVersion::V1_2, TlsVersion::V1_3],
            ca_trusted_fingerprint: None,
        }
    }
}

/// `type: flows`: packets captured on an interface (AF_PACKET), counted per flow and
/// reported as Packetbeat's flow events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowsConfig {
    /// `interface` (default `any`): a name, or `None` for every interface.
    pub interface: Option<String>,
    /// `period` (default 10s): every live flow is reported this often; 0 reports a
    /// flow only when it ends.
    pub period: Duration,
    /// `timeout` (default 30s): a flow idle this long ends (`flow.final: true`).
    pub timeout: Duration,
    /// `max_flows` (default 100000): the longest idle flows are ended (and counted)
    /// to make room past it.
    pub max_flows: usize,
    /// `buffer_size` (default 8 MiB): the kernel ring packets wait in.
    pub buffer_size: usize,
    /// `filter`: what the kernel lets through.
    pub filter: FlowsFilter,
}

/// `filter` of a flows input: packets must match all three (an empty list matches all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowsFilter {
    /// `transports` (default tcp, udp, icmp); icmp includes ICMPv6.
    pub tcp: bool,
    pub udp: bool,
    pub icmp: bool,
    /// `ports`: TCP or UDP source or destination port.
    pub ports: Vec<u16>,
    /// `hosts`: source or destination address in one of these networks (address,
    /// prefix length; the address has no bits past the prefix).
    pub hosts: Vec<(std::net::IpAddr, u8)>,
}

impl Default for FlowsFilter {
    fn default() -> Self {
        FlowsFilter {
            tcp: true,
            udp: true,
            icmp: true,
            ports: Vec::new(),
            hosts: Vec::new(),
        }
    }
}
