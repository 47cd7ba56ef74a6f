//! `key=value` lists as CEF extensions, LEEF attributes and Websense records write them.
//! Splitting only: the pieces are slices of the line, unescaping is the format's business.

use super::excerpt as quote;

/// One `key=value`, both slices of the input; `value` without its quotes if quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pair<'a> {
    pub key: &'a str,
    pub value: &'a str,
}

/// Splits a space-separated list where a pair starts at a word beginning with `key=`
/// and a value runs up to the space before the next such word, so values may hold
/// spaces (`cs2Label=Rule Name act=Accept`). With `quotes`, a value starting with `"`
/// ends at the next unescaped `"`. Text before the first key is an error, as is a word
/// starting with `=` (a value without its key).
pub(crate) fn split_spaced(text: &str, quotes: bool) -> Result<Vec<Pair<'_>>, String> {
    let mut pairs: Vec<Pair<'_>> = Vec::new();
    let mut value_start = None;
    let mut pos = 0;
    let bytes = text.as_bytes();
    while pos < bytes.len() {
        if bytes[pos] == b' ' {
            pos += 1;
            continue;
        }
        // `pos` is at the start of a word (after a space: an ASCII byte, a char boundary).
        let word = &text[pos..];
        if word.starts_with('=') {
            return Err(format!("a value without a key: {}", quote(word)));
        }
        match key_of(word) {
            Some(key) => {
                if let Some(start) = value_start.take() {
                    close_last(&mut pairs, text, start, pos);
                }
                let start = pos + key.len() + 1;
                pairs.push(Pair { key, value: "" });
                if quotes && bytes.get(start) == Some(&b'"') {
                    let end = closing_quote(text, start + 1).ok_or_else(|| {
                        format!("the value of {key} has no closing quote: {}", quote(word))
                    })?;
                    if let Some(last) = pairs.last_mut() {
                        last.value = &text[start + 1..end];
                    }
                    pos = end + 1;
                    if pos < bytes.len() && bytes[pos] != b' ' {
                        return Err(format!("text after the quoted value of {key}"));
                    }
                } else {
                    value_start = Some(start);
                    pos = start;
                }
            }
            None if pairs.is_empty() => {
                return Err(format!("expected key=value, found {}", quote(word)));
            }
            None => {}
        }
        while pos < bytes.len() && bytes[pos] != b' ' {
            pos += 1;
        }
    }
    if let Some(start) = value_start {
        close_last(&mut pairs, text, start, text.len());
    }
    Ok(pairs)
}

/// Where the first word that starts a pair (`key=`) begins.
pub(crate) fn first_pair(text: &str) -> Option<usize> {
    let mut at = 0;
    for word in text.split(' ') {
        if key_of(word).is_some() {
            return Some(at);
        }
        at += word.len() + 1;
    }
    None
}

/// Splits `key=value` items separated by `delimiter` (LEEF); empty items are skipped.
pub(crate) fn split_delimited(text: &str, delimiter: char) -> Result<Vec<Pair<'_>>, String> {
    text.split(delimiter)
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => Ok(Pair {
                key: key.trim(),
                value,
            }),
            _ => Err(format!("expected key=value, found {}", quote(item))),
        })
        .collect()
}

/// The value of the last pair runs from `start` to the space before `next`.
fn close_last<'a>(pairs: &mut [Pair<'a>], text: &'a str, start: usize, next: usize) {
    if let Some(last) = pairs.last_mut() {
        last.value = text.get(start..next).unwrap_or("").trim_end_matches(' ');
    }
}

/// The key of a word that starts a pair: letters, digits, `_`, `.`, `-`, `[`, `]`, then
/// an `=`.
fn key_of(word: &str) -> Option<&str> {
    let end = word.find('=')?;
    let key = &word[..end];
    let ok = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'[' | b']'));
    ok.then_some(key)
}

/// The index of the `"` closing a quoted value that starts at `from`.
fn closing_quote(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: Vec<Pair<'_>>) -> Vec<(&str, &str)> {
        v.into_iter().map(|p| (p.key, p.value)).collect()
    }

    #[test]
    fn spaced_values_run_to_the_next_key() {
        let got = split_spaced("cs2Label=Rule Name  act=Accept shost= src=1.1.1.1", false);
        assert_eq!(
            pairs(got.unwrap()),
            [
                ("cs2Label", "Rule Name"),
                ("act", "Accept"),
                ("shost", ""),
                ("src", "1.1.1.1")
            ]
        );
    }

    #[test]
    fn quoted_values_may_hold_spaces_and_equals() {
        let got = split_spaced(r#"ua="Mozilla/5.0 (X; a=b) \"q\"" url=/x?a=b"#, true);
        assert_eq!(
            pairs(got.unwrap()),
            [("ua", r#"Mozilla/5.0 (X; a=b) \"q\""#), ("url", "/x?a=b")]
        );
    }

    #[test]
    fn a_value_without_a_key_or_text_before_the_first_key_is_an_error() {
        assert_eq!(
            split_spaced("act=Accept =0.0.0.0", false),
            Err(r#"a value without a key: "=0.0.0.0""#.to_string())
        );
        assert!(split_spaced("hello act=Accept", false).is_err());
        assert!(split_spaced(r#"a="open"#, true).is_err());
    }

    #[test]
    fn the_first_pair_is_found_after_a_header() {
        assert_eq!(
            first_pair("Dec 19 10:48:57 host vendor=Websense a=b"),
            Some(21)
        );
        assert_eq!(first_pair("no pairs here, =x"), None);
    }

    #[test]
    fn delimited_items_split_on_their_first_equals() {
        let got = split_delimited("src=10.0.0.1^url=/a?b=c^^x=", '^');
        assert_eq!(
            pairs(got.unwrap()),
            [("src", "10.0.0.1"), ("url", "/a?b=c"), ("x", "")]
        );
        assert!(split_delimited("src=1\tnokey", '\t').is_err());
    }
}
