//! The built-in protocols, embedded from `templates/protocols/*.yaml`.

use super::model::{ActionSpec, ProtocolName, SessionStatus};
use super::yaml;
use crate::error::InputErrors;
use serde::Deserialize;
use std::path::Path;

/// A protocol as written in a template file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolTemplate {
    pub protocol: ProtocolName,
    pub title: String,
    /// The protocol that must be complete first.
    #[serde(default)]
    pub requires: Option<ProtocolName>,
    /// Session status once this protocol completes.
    #[serde(default)]
    pub completes_with: Option<SessionStatus>,
    pub stages: Vec<StageTemplate>,
}

/// A stage as written in a template file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageTemplate {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub status: Option<SessionStatus>,
    /// Stages of the same protocol that must finish first.
    #[serde(default)]
    pub needs: Vec<String>,
    pub actions: Vec<ActionSpec>,
}

/// The embedded template files, by the path they have in the repo.
pub const SOURCES: [(&str, &str); 3] = [
    (
        "templates/protocols/start.yaml",
        include_str!("../../templates/protocols/start.yaml"),
    ),
    (
        "templates/protocols/work.yaml",
        include_str!("../../templates/protocols/work.yaml"),
    ),
    (
        "templates/protocols/end.yaml",
        include_str!("../../templates/protocols/end.yaml"),
    ),
];

/// Parses the embedded templates. An error here is a bug in the templates
/// and names the template file.
pub fn builtin() -> Result<Vec<ProtocolTemplate>, InputErrors> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (name, text) in SOURCES {
        let path = Path::new(name);
        match yaml::parse(path, text) {
            Ok(node) => {
                if let Some(t) = yaml::decode_all(path, &node, "protocol template", &mut errors) {
                    out.push(t);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(InputErrors(errors))
    }
}
