//! RFC 5424 after the `<PRI>`: `VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]`,
//! structured data with its `\"`, `\\` and `\]` escapes, and the BOM before the message.
//! Pure; `None` when the text is not such a header, so the caller can read it otherwise.

use std::borrow::Cow;

use jiff::tz::TimeZone;

use super::header::{Message, SdElement, iso, strip_bom};

pub(super) fn parse<'a>(rest: &'a str, tz: &TimeZone) -> Option<Message<'a>> {
    let (version, rest) = word(rest)?;
    let b = version.as_bytes();
    if b.len() > 3 || b[0] == b'0' || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let (timestamp, rest) = word(rest)?;
    let timestamp = match timestamp {
        "-" => None,
        t => Some(iso(t, tz)?),
    };
    let (hostname, rest) = word(rest)?;
    let (appname, rest) = word(rest)?;
    let (procid, rest) = word(rest)?;
    let (msgid, rest) = word(rest)?;
    let (structured_data, rest) = match rest.strip_prefix('-') {
        Some(after) => (Vec::new(), after),
        None => structured_data(rest)?,
    };
    let msg = match rest {
        "" => "",
        _ => strip_bom(rest.strip_prefix(' ')?),
    };
    let nil = |w: &'a str| Some(w).filter(|w| *w != "-");
    Some(Message {
        priority: None,
        version: version.parse().ok(),
        timestamp,
        hostname: nil(hostname),
        appname: nil(appname),
        procid: nil(procid),
        msgid: nil(msgid),
        structured_data,
        msg,
    })
}

/// A non-empty word and what follows the single space after it.
fn word(s: &str) -> Option<(&str, &str)> {
    let (w, rest) = s.split_once(' ')?;
    (!w.is_empty()).then_some((w, rest))
}

/// One or more `[...]` elements, and what follows them.
fn structured_data(mut s: &str) -> Option<(Vec<SdElement<'_>>, &str)> {
    let mut elements = Vec::new();
    while s.starts_with('[') {
        let (element, rest) = element(&s[1..])?;
        elements.push(element);
        s = rest;
    }
    (!elements.is_empty()).then_some((elements, s))
}

/// `id *(SP name="value")]` (the `[` already read), and what follows the `]`.
fn element(s: &str) -> Option<(SdElement<'_>, &str)> {
    let end = s.find([' ', ']'])?;
    let id = name(&s[..end])?;
    let mut params = Vec::new();
    let mut rest = &s[end..];
    loop {
        if let Some(after) = rest.strip_prefix(']') {
            return Some((SdElement { id, params }, after));
        }
        rest = rest.strip_prefix(' ')?;
        let eq = rest.find('=')?;
        let param = name(&rest[..eq])?;
        let (value, after) = value(rest[eq + 1..].strip_prefix('"')?)?;
        params.push((param, value));
        rest = after;
    }
}

/// An SD-ID or PARAM-NAME: printable, without `=`, space, `]` or `"`.
fn name(s: &str) -> Option<&str> {
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'=' | b']' | b'"'));
    ok.then_some(s)
}

/// A PARAM-VALUE up to its closing `"` (already past the opening one), unescaped, and
/// what follows the closing quote. A backslash before any other character is kept.
fn value(s: &str) -> Option<(Cow<'_, str>, &str)> {
    let end = closing_quote(s)?;
    let raw = &s[..end];
    let rest = &s[end + 1..];
    if !raw.contains('\\') {
        return Some((Cow::Borrowed(raw), rest));
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(e @ ('"' | '\\' | ']')) => out.push(e),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Some((Cow::Owned(out), rest))
}

/// Index of the first `"` not escaped by a backslash.
fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some(i),
            _ => {}
        }
    }
    None
}
