//! `websense`: Websense / Forcepoint Web Security records sent to a SIEM in the
//! syslog key-value format (`vendor=Websense product=Security ... action=permitted
//! src_host=10.1.1.1 src_port=51000 dst_host=www.x.com dst_ip=1.2.3.4 dst_port=443
//! bytes_out=512 bytes_in=20480 http_response=200 http_method=GET url=...`), behind a
//! syslog header. Custom format strings that use `src_ip` and a numeric `action` with
//! `action_summary` are read too.
//!
//! The client is the source: `bytes_out` is what it sent, `bytes_in` what it got back.
//! `-` means "no value" for every key.

use std::net::IpAddr;

use super::fields::{ip, number};
use super::kv::{first_pair, split_spaced};
use super::syslog;
use super::{Action, ConnectionRecord};

/// One line's record, or why it is not one.
pub(super) fn parse_line(line: &str) -> Result<ConnectionRecord, String> {
    let start = first_pair(line).ok_or("no key=value pairs")?;
    let mut r = ConnectionRecord::default();
    read_header(&line[..start], &mut r);
    let mut summary = None;
    for pair in split_spaced(&line[start..], true)? {
        let (key, value) = (pair.key, pair.value);
        if value.is_empty() || value == "-" {
            continue;
        }
        match key {
            "src_host" => match value.parse::<IpAddr>() {
                Ok(ip) => r.source.ip = Some(ip),
                Err(_) => r.set("source.domain", value),
            },
            "src_ip" => r.source.ip = Some(ip(key, value)?),
            "dst_host" => match value.parse::<IpAddr>() {
                Ok(ip) => r.destination.ip = r.destination.ip.or(Some(ip)),
                Err(_) => r.set("destination.domain", value),
            },
            "dst_ip" => r.destination.ip = Some(ip(key, value)?),
            "src_port" => r.source.port = Some(number(key, value)?),
            "dst_port" => r.destination.port = Some(number(key, value)?),
            "bytes_out" => r.source.bytes = Some(number(key, value)?),
            "bytes_in" => r.destination.bytes = Some(number(key, value)?),
            "http_response" => r.set("http.response.status_code", number::<u16>(key, value)?),
            "http_method" => r.set("http.request.method", value),
            "http_content_type" => r.set("http.response.mime_type", value),
            "http_user_agent" => r.set("user_agent.original", value),
            "url" => r.set("url.original", value),
            "user" => r.set("user.name", value),
            "vendor" => r.set("observer.vendor", value),
            "product" => r.set("observer.product", value),
            "product_version" => r.set("observer.version", value),
            "severity" => r.set("event.severity", number::<u8>(key, value)?),
            "action" => {
                r.action = action_of(value);
                r.set("websense.action", value);
            }
            "action_summary" => summary = action_of(value),
            _ => r.set(format!("websense.{key}"), value),
        }
    }
    if r.source.ip.is_none() && r.field("source.domain").is_none() {
        return Err("no src_host or src_ip".into());
    }
    r.action = r.action.or(summary);
    Ok(r)
}

/// `<159>Dec 19 10:48:57 EST 192.168.1.1 `: the device writes its zone's abbreviation
/// between the time and the host.
fn read_header(header: &str, r: &mut ConnectionRecord) {
    let h = syslog::split(header.trim_end());
    r.time = h.time;
    if let Some(written) = h.time_without_year {
        r.set("syslog.timestamp", written);
    }
    let host = match (h.host, h.rest.split_whitespace().next()) {
        (Some(zone), Some(host))
            if zone.len() <= 5 && zone.bytes().all(|b| b.is_ascii_uppercase()) =>
        {
            r.set("syslog.timezone", zone);
            Some(host)
        }
        (host, _) => host,
    };
    if let Some(host) = host {
        r.set("observer.hostname", host);
    }
}

fn action_of(value: &str) -> Option<Action> {
    match value.to_ascii_lowercase().as_str() {
        "permitted" | "allowed" | "permit" | "allow" => Some(Action::Allow),
        "blocked" | "denied" | "block" | "deny" => Some(Action::Deny),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::fixture;

    fixture::parser_tests!("websense");

    #[test]
    fn permitted_and_blocked_are_allow_and_deny() {
        for (action, want) in [
            ("permitted", Some(Action::Allow)),
            ("blocked", Some(Action::Deny)),
            ("1034 action_summary=Blocked", Some(Action::Deny)),
            ("1024 action_summary=Permitted", Some(Action::Allow)),
            ("-", None),
        ] {
            let r = parse_line(&format!("action={action} src_host=10.0.0.1")).unwrap();
            assert_eq!(r.action, want, "{action}");
        }
    }

    #[test]
    fn a_client_given_by_name_is_a_source_domain() {
        let r = parse_line("src_host=pc-17.corp.example dst_host=93.184.216.34").unwrap();
        assert_eq!(
            r.field("source.domain").as_deref(),
            Some("pc-17.corp.example")
        );
        assert_eq!(r.destination.ip, Some("93.184.216.34".parse().unwrap()));
    }
}
