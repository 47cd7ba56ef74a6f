//! What a harvester of `type: container` adds to the filestream machinery: the
//! per-line [`Decoder`] and the per-file part of its events (`container.*` from the
//! path and, once per file, Docker's `config.v2.json`). It never drops a line: one that
//! does not parse is shipped raw, tagged [`crate::event::PARSE_FAILURE_TAG`].

use std::path::Path;

use crate::config::ContainerOptions;
use crate::event::EventTemplate;
use crate::input::container::{Decoder, docker_config_path, parse_log_path, read_docker_metadata};

/// Room for a raw line's framing (JSON keys, escapes, CRI prefix) over the message's
/// `message_max_bytes`: the runtimes split lines at 16 KiB, so a whole raw line fits
/// and is parsed instead of being cut into something that is not JSON.
const RAW_LINE_OVERHEAD_BYTES: usize = 128 << 10;

pub(super) struct ContainerPart {
    pub decoder: Decoder,
    /// `,"container":{...}` (empty when the path says nothing about the container).
    pub fields_json: String,
    /// The input's template with [`crate::event::PARSE_FAILURE_TAG`] added to the tags.
    pub failure_template: EventTemplate,
    /// Longest raw line read whole.
    pub raw_line_max_bytes: usize,
}

impl ContainerPart {
    /// Blocking: reads `config.v2.json` beside a Docker log.
    pub fn new(
        options: ContainerOptions,
        path: &Path,
        template: &EventTemplate,
        max_bytes: usize,
    ) -> Self {
        ContainerPart {
            decoder: Decoder::new(options.format, options.stream, max_bytes, 0),
            fields_json: container_fields(path),
            failure_template: template.with_tag(crate::event::PARSE_FAILURE_TAG),
            raw_line_max_bytes: max_bytes.saturating_add(RAW_LINE_OVERHEAD_BYTES),
        }
    }
}

/// `,"container":{"id":..,"name":..,"image":{"name":..}}` for a log file.
fn container_fields(path: &Path) -> String {
    let Some(id) = parse_log_path(path).and_then(|p| p.container_id().map(str::to_string)) else {
        return String::new();
    };
    let mut container = serde_json::json!({ "id": id });
    if let Some(config) = docker_config_path(path) {
        match read_docker_metadata(&config) {
            Ok(Some(meta)) => {
                container["name"] = meta.name.into();
                container["image"] = serde_json::json!({ "name": meta.image });
            }
            Ok(None) => {
                tracing::debug!(path = %config.display(), "docker config has no name or image");
            }
            Err(e) => {
                tracing::info!(path = %config.display(), error = %e, "cannot read the docker config: events have container.id only");
            }
        }
    }
    format!(",\"container\":{container}")
}
