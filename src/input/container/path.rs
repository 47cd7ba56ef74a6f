//! Container identity: from a log file's path, and from Docker's `config.v2.json`.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What a container log file's path says about its container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerLogPath {
    /// `/var/lib/docker/containers/<id>/<id>-json.log[.N]`
    Docker { id: String },
    /// `/var/log/containers/<pod>_<namespace>_<container>-<id>.log` (kubelet symlinks)
    KubeContainers {
        pod: String,
        namespace: String,
        container: String,
        id: String,
    },
    /// `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restarts>.log[...]`: no
    /// container id in the path.
    KubePods {
        namespace: String,
        pod: String,
        pod_uid: String,
        container: String,
        restart_count: u32,
    },
}

impl ContainerLogPath {
    /// The container id (`container.id`), when the path carries one.
    pub fn container_id(&self) -> Option<&str> {
        match self {
            ContainerLogPath::Docker { id } | ContainerLogPath::KubeContainers { id, .. } => {
                Some(id)
            }
            ContainerLogPath::KubePods { .. } => None,
        }
    }
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// Recognises the three layouts of container log paths; `None` for anything else.
/// Only the last components are looked at, so a relocated Docker `data-root` works.
pub fn parse_log_path(path: &Path) -> Option<ContainerLogPath> {
    let file = path.file_name()?.to_str()?;
    let parent = path.parent()?;
    let dir = parent.file_name().and_then(|d| d.to_str());

    // Docker: the directory is the id and the file is named after it.
    if let Some(dir) = dir
        && is_container_id(dir)
        && let Some(rest) = file.strip_prefix(dir)
        && (rest == "-json.log" || rest.starts_with("-json.log."))
    {
        return Some(ContainerLogPath::Docker {
            id: dir.to_string(),
        });
    }

    // /var/log/containers/<pod>_<namespace>_<container>-<id>.log
    if let Some(stem) = file.strip_suffix(".log") {
        let mut parts = stem.splitn(3, '_');
        if let (Some(pod), Some(namespace), Some(rest)) = (parts.next(), parts.next(), parts.next())
            && let Some((container, id)) = rest.rsplit_once('-')
            && is_container_id(id)
            && !pod.is_empty()
            && !namespace.is_empty()
            && !container.is_empty()
        {
            return Some(ContainerLogPath::KubeContainers {
                pod: pod.to_string(),
                namespace: namespace.to_string(),
                container: container.to_string(),
                id: id.to_string(),
            });
        }
    }

    // /var/log/pods/<namespace>_<pod>_<uid>/<container>/<N>.log, rotated files keep the
    // `<N>.log` prefix (`0.log.20260301-041209`, `0.log.20260301-041209.gz`).
    let container = dir?;
    let (restarts, rest) = file.split_once('.')?;
    if !(rest == "log" || rest.starts_with("log.")) {
        return None;
    }
    let restart_count: u32 = restarts.parse().ok()?;
    let pod_dir = parent.parent()?.file_name()?.to_str()?;
    let mut parts = pod_dir.split('_');
    let (Some(namespace), Some(pod), Some(pod_uid), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if [namespace, pod, pod_uid, container]
        .iter()
        .any(|s| s.is_empty())
    {
        return None;
    }
    Some(ContainerLogPath::KubePods {
        namespace: namespace.to_string(),
        pod: pod.to_string(),
        pod_uid: pod_uid.to_string(),
        container: container.to_string(),
        restart_count,
    })
}

/// Where Docker keeps the container's config next to a json-file log, if `log_file` is
/// one.
pub fn docker_config_path(log_file: &Path) -> Option<PathBuf> {
    match parse_log_path(log_file)? {
        ContainerLogPath::Docker { .. } => Some(log_file.parent()?.join("config.v2.json")),
        _ => None,
    }
}

/// `container.name` and `container.image.name` from Docker's `config.v2.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerMeta {
    pub name: String,
    pub image: String,
}

#[derive(Deserialize)]
struct DockerConfigV2 {
    #[serde(rename = "Name")]
    name: Option<String>,
    #[serde(rename = "Config")]
    config: Option<DockerConfigV2Config>,
}

#[derive(Deserialize)]
struct DockerConfigV2Config {
    #[serde(rename = "Image")]
    image: Option<String>,
}

/// Parses Docker's `config.v2.json`. `None` when it is not JSON or lacks the name or
/// the image. Docker stores the name with a leading `/` (`/web-1`), which is dropped.
pub fn docker_metadata(config_v2_json: &str) -> Option<ContainerMeta> {
    let raw: DockerConfigV2 = serde_json::from_str(config_v2_json).ok()?;
    let name = raw.name?;
    let name = name.strip_prefix('/').unwrap_or(&name);
    let image = raw.config?.image?;
    if name.is_empty() || image.is_empty() {
        return None;
    }
    Some(ContainerMeta {
        name: name.to_string(),
        image,
    })
}

/// Largest `config.v2.json` read; real ones are a few KiB, this only stops a hostile
/// or corrupt file from being read whole into memory.
pub const DOCKER_CONFIG_MAX_BYTES: u64 = 4 * 1024 * 1024;

/// Reads and parses a `config.v2.json`. An unreadable file is an `Err` (the caller logs
/// it once and ships without the name); an unparseable or oversized one is `Ok(None)`.
pub fn read_docker_metadata(path: &Path) -> std::io::Result<Option<ContainerMeta>> {
    let mut text = String::new();
    let file = std::fs::File::open(path)?;
    let read = file
        .take(DOCKER_CONFIG_MAX_BYTES + 1)
        .read_to_string(&mut text);
    match read {
        Ok(n) if n as u64 > DOCKER_CONFIG_MAX_BYTES => Ok(None),
        Ok(_) => Ok(docker_metadata(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Ok(None),
        Err(e) => Err(e),
    }
}
