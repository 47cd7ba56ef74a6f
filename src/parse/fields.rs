//! Reading one field's value, for every format: the value parsed, or an error that
//! names the field, says what it should have been and quotes what it was
//! (`dpt is not a number in range: "70000"`, `field 4 (srcaddr) is not an ip address:
//! "x"`). The error is a reason; the format wraps it in its [`super::ParseError`].

use std::fmt::Display;
use std::net::IpAddr;
use std::str::FromStr;

use super::excerpt;

/// `<field> is not <expected>: "<value>"`.
pub(crate) fn not_a(field: impl Display, expected: &str, value: &str) -> String {
    format!("{field} is not {expected}: {}", excerpt(value))
}

/// `value` as a `T`, or the error naming `field` and what was `expected`.
pub(crate) fn parse<T: FromStr>(
    field: impl Display,
    value: &str,
    expected: &str,
) -> Result<T, String> {
    value.parse().map_err(|_| not_a(field, expected, value))
}

pub(crate) fn ip(field: impl Display, value: &str) -> Result<IpAddr, String> {
    parse(field, value, "an ip address")
}

pub(crate) fn port(field: impl Display, value: &str) -> Result<u16, String> {
    parse(field, value, "a port")
}

/// A number that must fit `T` (a count, a code, a severity).
pub(crate) fn number<T: FromStr>(field: impl Display, value: &str) -> Result<T, String> {
    parse(field, value, "a number in range")
}

/// A field of a positional format, by number (from 0) and name; shown as
/// `field 4 (srcaddr)`, counting from 1 as a reader counts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Position {
    pub n: usize,
    pub name: &'static str,
}

impl Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "field {} ({})", self.n + 1, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field_and_quote_the_value() {
        assert_eq!(
            number::<u16>("dpt", "70000"),
            Err(r#"dpt is not a number in range: "70000""#.into())
        );
        let srcaddr = Position {
            n: 3,
            name: "srcaddr",
        };
        assert_eq!(
            ip(srcaddr, "x"),
            Err(r#"field 4 (srcaddr) is not an ip address: "x""#.into())
        );
        assert_eq!(port("sport", "443"), Ok(443));
    }
}
