//! `cargo deb` and `cargo generate-rpm` metadata in Cargo.toml: every asset's source
//! exists, the binary, the config (a conffile that upgrades keep) and the unit land where
//! the unit expects them, the maintainer scripts exist and make the user and the 0700
//! state directory, and the packaged config loads with its state in /var/lib/lumberwatch.

use std::collections::BTreeMap;
use std::path::Path;

use toml_edit::{DocumentMut, Item};

use super::repo;

fn manifest() -> DocumentMut {
    std::fs::read_to_string(repo("Cargo.toml"))
        .expect("Cargo.toml")
        .parse()
        .expect("Cargo.toml is TOML")
}

fn text(item: &Item) -> String {
    item.as_str()
        .unwrap_or_else(|| panic!("a string: {item:?}"))
        .to_string()
}

/// An asset's source as a repository path; the binary is the build's output.
fn check_source(source: &str) {
    if source == "target/release/lumberwatch" {
        return;
    }
    assert!(repo(source).is_file(), "asset source {source} is missing");
}

#[test]
fn deb_metadata_installs_the_binary_the_conffile_and_the_unit_with_its_scripts() {
    let doc = manifest();
    let deb = &doc["package"]["metadata"]["deb"];
    let mut dest: BTreeMap<String, (String, String)> = BTreeMap::new();
    for asset in deb["assets"].as_array().expect("deb assets") {
        let fields: Vec<String> = asset
            .as_array()
            .expect("[source, dest, mode]")
            .iter()
            .map(|v| v.as_str().expect("a string").to_string())
            .collect();
        check_source(&fields[0]);
        dest.insert(fields[1].clone(), (fields[0].clone(), fields[2].clone()));
    }
    assert_eq!(
        dest["usr/bin/"],
        ("target/release/lumberwatch".into(), "755".into())
    );
    assert_eq!(
        dest["etc/lumberwatch/lumberwatch.yml"].0,
        "packaging/lumberwatch.yml"
    );
    assert_eq!(
        dest["etc/lumberwatch/lumberwatch.yml"].1, "640",
        "not world-readable"
    );
    assert_eq!(
        dest["lib/systemd/system/lumberwatch.service"].0,
        "packaging/lumberwatch.service"
    );
    let conf: Vec<String> = deb["conf-files"]
        .as_array()
        .expect("conf-files")
        .iter()
        .map(|v| v.as_str().expect("a path").to_string())
        .collect();
    assert_eq!(conf, ["/etc/lumberwatch/lumberwatch.yml"]);
    assert!(text(&deb["depends"]).contains("adduser"));
    let scripts = repo(&text(&deb["maintainer-scripts"]));
    for name in ["postinst", "prerm", "postrm"] {
        let path = scripts.join(name);
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o111,
            0o111,
            "{name} executable"
        );
    }
    let postinst = std::fs::read_to_string(scripts.join("postinst")).expect("postinst");
    assert!(postinst.contains("adduser --system --group"), "{postinst}");
    assert!(postinst.contains("-o lumberwatch -g lumberwatch -m 0700 /var/lib/lumberwatch"));
}

#[test]
fn rpm_metadata_installs_the_same_files_with_a_noreplace_config_and_its_scriptlets() {
    let doc = manifest();
    let rpm = &doc["package"]["metadata"]["generate-rpm"];
    let mut dest: BTreeMap<String, toml_edit::InlineTable> = BTreeMap::new();
    for asset in rpm["assets"].as_array().expect("rpm assets") {
        let table = asset
            .as_inline_table()
            .expect("{ source, dest, mode }")
            .clone();
        check_source(table["source"].as_str().expect("source"));
        dest.insert(table["dest"].as_str().expect("dest").to_string(), table);
    }
    let source = |d: &str| dest[d]["source"].as_str().expect("source").to_string();
    assert_eq!(source("/usr/bin/lumberwatch"), "target/release/lumberwatch");
    assert_eq!(
        source("/etc/lumberwatch/lumberwatch.yml"),
        "packaging/lumberwatch.yml"
    );
    let config = &dest["/etc/lumberwatch/lumberwatch.yml"];
    assert_eq!(
        config["config"].as_str(),
        Some("noreplace"),
        "upgrades keep local edits"
    );
    assert_eq!(config["group"].as_str(), Some("lumberwatch"));
    assert_eq!(config["mode"].as_str(), Some("640"));
    // RedHat's unit directory: /lib is a symlink there, owned by the filesystem package.
    assert_eq!(
        source("/usr/lib/systemd/system/lumberwatch.service"),
        "packaging/lumberwatch.service"
    );
    for key in [
        "pre_install_script",
        "post_install_script",
        "pre_uninstall_script",
        "post_uninstall_script",
    ] {
        let path = text(&rpm[key]);
        assert!(repo(&path).is_file(), "{key} = {path} is missing");
    }
    let pre = std::fs::read_to_string(repo(&text(&rpm["pre_install_script"]))).expect("%pre");
    assert!(pre.contains("useradd --system"), "{pre}");
    let post = std::fs::read_to_string(repo(&text(&rpm["post_install_script"]))).expect("%post");
    assert!(post.contains("-o lumberwatch -g lumberwatch -m 0700 /var/lib/lumberwatch"));
}

#[test]
fn the_packaged_config_loads_keeps_state_where_the_unit_says_and_is_the_one_the_unit_runs() {
    let path = repo("packaging/lumberwatch.yml");
    let config = lumberwatch::config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.path_data, Path::new("/var/lib/lumberwatch"));
    let unit = std::fs::read_to_string(repo("packaging/lumberwatch.service")).expect("the unit");
    assert!(
        unit.contains("ExecStart=/usr/bin/lumberwatch run -c /etc/lumberwatch/lumberwatch.yml")
    );
    assert!(unit.contains("StateDirectory=lumberwatch"));
}
