//! Connection-log formats: lines in, [`ConnectionRecord`]s out.
//!
//! One file per format, each a pure parser with no I/O and no clock. A parser may keep
//! state between the lines of one source (an AWS VPC header line names the fields of
//! the lines after it), so every source gets its own instance from [`ParserSpec::build`].
//! A line that does not parse is an error value the input turns into a tagged event;
//! nothing here panics on any input.

mod access_log;
mod aws_vpc;
mod azure;
mod azure_nsg;
mod azure_vnet;
mod cef;
#[cfg(test)]
mod conformance;
pub(crate) mod conntrack;
mod fields;
#[cfg(test)]
mod fixture;
mod iptables;
mod kv;
mod leef;
mod pattern;
mod record;
mod syslog;
mod traffic_analytics;
mod websense;

pub use record::{Action, ConnectionRecord, Direction, Endpoint, FlowState, Transport};

/// Why a line is not a record of its format. One line, lowercase, naming the format
/// and what was wrong where: `aws-vpc: field 4 (srcaddr) is not an ip address: "x"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{format}: {reason}")]
pub struct ParseError {
    pub format: &'static str,
    pub reason: String,
}

impl ParseError {
    pub fn new(format: &'static str, reason: impl Into<String>) -> Self {
        ParseError {
            format,
            reason: reason.into(),
        }
    }
}

/// What a line was, when it was not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Records were appended to the output (possibly none: an Azure record without
    /// flow tuples).
    Records,
    /// A valid line of the format that carries no connection (AWS `NODATA`/`SKIPDATA`):
    /// shipped as a plain event, counted as skipped, not as a failure.
    Skipped(&'static str),
    /// A line that only configures the parser (an AWS VPC header): not shipped.
    Header,
}

/// A parser for one source's lines.
pub trait LineParser: Send + Sync {
    /// Parses one line (without its line ending), appending its records to `out`.
    fn parse(&mut self, line: &str, out: &mut Vec<ConnectionRecord>)
    -> Result<Outcome, ParseError>;
}

/// A format's reading of one line into its record, or the reason it is not one.
type ReadLine = fn(&str) -> Result<ConnectionRecord, String>;

/// The parser of a format that reads each line into one record on its own, keeping no
/// state between lines (`iptables`, `cef`, `access-log`, ...).
struct PerLine {
    format: &'static str,
    read: ReadLine,
}

impl LineParser for PerLine {
    fn parse(
        &mut self,
        line: &str,
        out: &mut Vec<ConnectionRecord>,
    ) -> Result<Outcome, ParseError> {
        out.push((self.read)(line).map_err(|reason| ParseError::new(self.format, reason))?);
        Ok(Outcome::Records)
    }
}

/// A configured format (`parser:` on an input), from which each source gets a parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParserSpec {
    pub format: Format,
    /// `fields`: for `aws-vpc`, the custom field list (space-separated names as in the
    /// AWS console); for other formats not allowed.
    pub fields: Option<Vec<String>>,
    /// `pattern`: for `pattern`, the regular expression with named captures.
    pub pattern: Option<String>,
}

/// The formats, by the names used in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    AzureNsg,
    AzureVnet,
    AzureTrafficAnalytics,
    Iptables,
    Conntrack,
    Websense,
    Cef,
    AccessLog,
    Leef,
    Pattern,
    AwsVpc,
}

impl Format {
    /// Every format with its config name, for lookups and error messages.
    pub const ALL: &'static [(&'static str, Format)] = &[
        ("azure-nsg", Format::AzureNsg),
        ("azure-vnet", Format::AzureVnet),
        ("azure-traffic-analytics", Format::AzureTrafficAnalytics),
        ("iptables", Format::Iptables),
        ("conntrack", Format::Conntrack),
        ("websense", Format::Websense),
        ("cef", Format::Cef),
        ("access-log", Format::AccessLog),
        ("leef", Format::Leef),
        ("pattern", Format::Pattern),
        ("aws-vpc", Format::AwsVpc),
    ];

    pub fn by_name(name: &str) -> Option<Format> {
        Format::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, f)| f)
    }

    pub fn name(self) -> &'static str {
        Format::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map(|&(n, _)| n)
            .expect("every format is listed in Format::ALL")
    }
}

impl ParserSpec {
    /// A parser for one source. Errors are about the options (an unknown AWS field
    /// name, a pattern that does not compile), so the config check calls this once.
    pub fn build(&self) -> Result<Box<dyn LineParser>, ParseError> {
        match self.format {
            Format::AzureNsg => {
                self.only_options(&[])?;
                Ok(Box::new(azure_nsg::AzureNsg))
            }
            Format::AzureVnet => {
                self.only_options(&[])?;
                Ok(Box::new(azure_vnet::AzureVnet))
            }
            Format::AzureTrafficAnalytics => {
                self.only_options(&[])?;
                Ok(Box::new(traffic_analytics::TrafficAnalytics))
            }
            Format::Iptables => self.per_line(iptables::parse_line),
            Format::Conntrack => self.per_line(conntrack::parse_line),
            Format::Websense => self.per_line(websense::parse_line),
            Format::Cef => self.per_line(cef::parse_line),
            Format::AccessLog => self.per_line(access_log::parse_line),
            Format::Leef => self.per_line(leef::parse_line),
            Format::Pattern => {
                self.only_options(&["pattern"])?;
                let pattern = self.pattern.as_deref().ok_or_else(|| {
                    ParseError::new("pattern", "the `pattern` option is required")
                })?;
                Ok(Box::new(pattern::Pattern::new(pattern)?))
            }
            Format::AwsVpc => {
                self.only_options(&["fields"])?;
                Ok(Box::new(aws_vpc::AwsVpc::new(self.fields.as_deref())?))
            }
        }
    }

    /// A parser for a format that reads each line on its own and takes no options.
    fn per_line(&self, read: ReadLine) -> Result<Box<dyn LineParser>, ParseError> {
        self.only_options(&[])?;
        Ok(Box::new(PerLine {
            format: self.format.name(),
            read,
        }))
    }

    /// Refuses any option given that the format does not take (`takes` names those it
    /// does: `fields`, `pattern`), so a misplaced option is a config error, not ignored.
    fn only_options(&self, takes: &[&str]) -> Result<(), ParseError> {
        let given = [
            ("fields", self.fields.is_some()),
            ("pattern", self.pattern.is_some()),
        ];
        match given
            .iter()
            .find(|(name, is_given)| *is_given && !takes.contains(name))
        {
            Some((name, _)) => Err(ParseError::new(
                self.format.name(),
                format!("the `{name}` option does not apply to this format"),
            )),
            None => Ok(()),
        }
    }
}

/// An offending value for an error message: quoted, and cut to 40 characters so that
/// one bad line cannot make a huge message.
pub(crate) fn excerpt(value: &str) -> String {
    const MAX_CHARS: usize = 40;
    match value.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{:?}...", &value[..cut]),
        None => format!("{value:?}"),
    }
}
