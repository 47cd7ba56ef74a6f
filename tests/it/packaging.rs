//! The packaging files say what the README promises: the systemd unit grants exactly
//! the capabilities the socket inputs need and keeps the system read-only; the Docker
//! files and the deb/rpm metadata point at files that exist and agree with each other.

use std::collections::BTreeSet;
use std::path::PathBuf;

mod docker;
mod metadata;
mod yaml;

/// A path in the repository.
fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn unit() -> Vec<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/lumberwatch.service");
    let text = std::fs::read_to_string(path).expect("packaging/lumberwatch.service exists");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not key=value: {l}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn value(unit: &[(String, String)], key: &str) -> String {
    unit.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("{key} not set in the unit"))
}

#[test]
fn the_systemd_unit_grants_only_the_network_capabilities_and_confines_the_rest() {
    let unit = unit();
    let caps = |key: &str| -> BTreeSet<String> {
        value(&unit, key)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let wanted: BTreeSet<String> = ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_NET_ADMIN"]
        .map(String::from)
        .into();
    assert_eq!(caps("AmbientCapabilities"), wanted);
    assert_eq!(caps("CapabilityBoundingSet"), wanted);
    assert_eq!(value(&unit, "User"), "lumberwatch", "never root");
    assert_eq!(value(&unit, "NoNewPrivileges"), "yes");
    assert_eq!(value(&unit, "ProtectSystem"), "strict");
    assert_eq!(value(&unit, "StateDirectory"), "lumberwatch");
    assert_eq!(value(&unit, "StateDirectoryMode"), "0700");
    assert_eq!(value(&unit, "UMask"), "0077", "files written 0600");
    let families = value(&unit, "RestrictAddressFamilies");
    for family in ["AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"] {
        assert!(families.contains(family), "{family} in {families}");
    }
    assert_eq!(
        value(&unit, "ExecStart"),
        "/usr/bin/lumberwatch run -c /etc/lumberwatch/lumberwatch.yml"
    );
    let keys: Vec<&str> = unit.iter().map(|(k, _)| k.as_str()).collect();
    let unique: BTreeSet<&str> = keys.iter().copied().collect();
    assert_eq!(keys.len(), unique.len(), "no key set twice: {keys:?}");
}

/// `systemd-analyze verify` (systemd's own linter) accepts the unit, with the binary it
/// starts pointed at the one this build made. Where systemd is not installed, the test
/// says so and checks nothing more.
#[test]
fn systemd_analyze_verifies_the_unit() {
    let Ok(out) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("systemd-analyze is not installed: the unit is not verified here");
        return;
    };
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("packaging/lumberwatch.service")).unwrap();
    let unit = dir.path().join("lumberwatch.service");
    std::fs::write(
        &unit,
        text.replace("/usr/bin/lumberwatch", env!("CARGO_BIN_EXE_lumberwatch")),
    )
    .unwrap();
    let verify = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}
