//! The Dockerfile and docker-compose.yml against the repository: every file they copy or
//! mount exists, the agent's mounted config loads and listens where the rig sends, the
//! Logstash pipeline listens on the published port with the mounted certificates and
//! routes alerts apart, and no container gets more than the capabilities its inputs need.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::{repo, yaml};

fn compose() -> Value {
    yaml::parse(&std::fs::read_to_string(repo("docker-compose.yml")).expect("docker-compose.yml"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The service's bind mounts: (repository path, container path).
fn mounts(service: &Value) -> Vec<(String, String)> {
    strings(&service["volumes"])
        .iter()
        .filter(|v| v.starts_with("./"))
        .map(|v| {
            let mut parts = v.split(':');
            let from = parts
                .next()
                .expect("a source")
                .trim_start_matches("./")
                .to_string();
            (from, parts.next().expect("a target").to_string())
        })
        .collect()
}

/// The repository file behind `container_path` in `service`, through its bind mounts.
fn mounted(service: &Value, container_path: &str) -> String {
    mounts(service)
        .iter()
        .find_map(|(from, to)| {
            let rest = container_path.strip_prefix(to.as_str())?;
            Some(format!("{from}{rest}"))
        })
        .unwrap_or_else(|| panic!("{container_path} is not mounted: {:?}", mounts(service)))
}

/// The argument after `flag` in a service's command.
fn arg(service: &Value, flag: &str) -> String {
    let command = strings(&service["command"]);
    let at = command
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("{flag} in {command:?}"));
    command[at + 1].clone()
}

#[test]
fn compose_mounts_existing_files_and_wires_the_rig_to_the_agent_and_the_agent_to_logstash() {
    let compose = compose();
    let services = compose["services"].as_object().expect("services");
    let names: BTreeSet<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from(["hello", "logstash", "lumberwatch", "poll"])
    );
    for (name, service) in services {
        for (from, _) in mounts(service) {
            assert!(
                repo(&from).exists(),
                "{name} mounts ./{from}, which is missing"
            );
        }
    }
    let agent = &services["lumberwatch"];
    let (hello, poll) = (&services["hello"], &services["poll"]);
    for rig in [hello, poll] {
        assert_eq!(
            rig["network_mode"], "service:lumberwatch",
            "the rig is on the agent's loopback"
        );
        assert_eq!(rig["image"], agent["image"], "one image");
    }
    assert_eq!(strings(&hello["command"])[..2], ["rig", "hello"]);
    assert_eq!(strings(&poll["command"])[..2], ["rig", "poll"]);
    assert_eq!(
        poll["environment"]["HOST_TO_POLL"],
        arg(hello, "--listen").as_str()
    );

    let config_path = repo(&mounted(agent, &arg(agent, "-c")));
    let config = lumberwatch::config::load(&config_path)
        .unwrap_or_else(|e| panic!("{}: {e}", config_path.display()));
    assert_eq!(config.path_data, Path::new("/var/lib/lumberwatch"));
    let udp: Vec<String> = config
        .inputs
        .iter()
        .filter_map(|i| match &i.kind {
            lumberwatch::config::InputKind::Syslog(s) => s.udp.as_ref().map(|u| u.hosts.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(
        udp,
        [arg(poll, "--syslog")],
        "the agent listens where the poller sends"
    );
    let config_text = std::fs::read_to_string(&config_path).expect("the agent's config");
    for cert in ["ca.crt", "client.crt", "client.key"] {
        let inside = format!("/etc/lumberwatch/certs/{cert}");
        assert!(
            config_text.contains(&inside),
            "{inside} in the agent's config"
        );
        assert!(repo(&mounted(agent, &inside)).exists(), "{inside} mounted");
    }
    assert!(config_text.contains("${LOGSTASH_HOST:logstash}:5044"));
    assert_eq!(agent["environment"]["LOGSTASH_HOST"], "logstash");

    let logstash = &services["logstash"];
    assert!(
        logstash["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("docker.elastic.co/logstash/logstash:"))
    );
    assert!(
        strings(&logstash["ports"])
            .iter()
            .any(|p| p.ends_with(":5044:5044"))
    );
    let pipeline_dir = repo(&mounted(logstash, "/usr/share/logstash/pipeline"));
    let pipeline =
        std::fs::read_to_string(pipeline_dir.join("lumberwatch.conf")).expect("the pipeline");
    assert!(
        pipeline.contains("beats {") && pipeline.contains("port => 5044"),
        "{pipeline}"
    );
    assert!(
        pipeline.contains(r#"if [event][kind] == "alert" {"#),
        "alerts routed apart"
    );
    for path in pipeline
        .split('"')
        .filter(|s| s.starts_with("/usr/share/logstash/certs/"))
    {
        assert!(repo(&mounted(logstash, path)).exists(), "{path} mounted");
    }
    assert_eq!(
        pipeline.matches('{').count(),
        pipeline.matches('}').count(),
        "braces balance"
    );
}

#[test]
fn containers_get_only_the_network_capabilities_their_inputs_need() {
    let compose = compose();
    for (name, service) in compose["services"].as_object().expect("services") {
        if name == "logstash" {
            continue;
        }
        assert_eq!(
            strings(&service["cap_drop"]),
            ["ALL"],
            "{name} drops every capability"
        );
        let added = strings(&service["cap_add"]);
        for cap in &added {
            assert!(
                ["NET_RAW", "NET_ADMIN", "NET_BIND_SERVICE"].contains(&cap.as_str()),
                "{name}: {cap}"
            );
        }
        if name == "lumberwatch" {
            let config =
                std::fs::read_to_string(repo("examples/docker/lumberwatch.yml")).expect("config");
            assert_eq!(
                added.contains(&"NET_RAW".to_string()),
                config.contains("type: flows"),
                "NET_RAW only for flows"
            );
            assert_eq!(
                added.contains(&"NET_ADMIN".to_string()),
                config.contains("type: conntrack")
            );
        } else {
            assert!(added.is_empty(), "{name} needs no capability");
            assert!(
                service.get("user").is_none(),
                "{name} runs as the image's non-root user"
            );
        }
    }
}

#[test]
fn the_dockerfile_builds_in_one_stage_and_runs_as_a_non_root_user_in_another() {
    let text = std::fs::read_to_string(repo("Dockerfile")).expect("Dockerfile");
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let froms: Vec<&&str> = lines.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "builder and runtime: {froms:?}");
    assert!(froms[0].contains(" AS builder"));
    let user = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    assert!(
        !user.starts_with('0') && !user.starts_with("root"),
        "USER {user}"
    );
    let ignore = std::fs::read_to_string(repo(".dockerignore")).expect(".dockerignore");
    for line in lines
        .iter()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from="))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        for source in &words[1..words.len() - 1] {
            assert!(repo(source).exists(), "{line}: {source} is missing");
            let allowed = format!("!{}", source.trim_end_matches('/'));
            assert!(
                ignore.lines().any(|l| l.trim_end_matches('/') == allowed),
                "{source} not in the build context"
            );
        }
    }
    for dir in ["/out/etc/lumberwatch", "/out/var/lib/lumberwatch"] {
        assert!(text.contains(dir), "{dir} made in the image");
    }
    assert!(text.contains(r#"CMD ["run", "-c", "/etc/lumberwatch/lumberwatch.yml"]"#));
}

/// hadolint (the Dockerfile linter; `scripts/lint-packaging.sh` installs it from PyPI)
/// finds nothing. Where it is not installed, the test says so and checks nothing more.
#[test]
fn hadolint_finds_nothing_in_the_dockerfile() {
    let Ok(out) = std::process::Command::new("hadolint")
        .arg(repo("Dockerfile"))
        .output()
    else {
        eprintln!("hadolint is not installed (scripts/lint-packaging.sh installs it): not run");
        return;
    };
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
