//! A decisions file: what people decided, committed with the change and
//! reviewed in its pull or merge request, for a pipeline to record — the
//! manual actions they did (who, note, evidence), the approvals they gave
//! and the gates they waived. A runner cannot ask a person; it can record,
//! under its own CI identity, what the reviewed file says a named person
//! decided.
//!
//! ```yaml
//! actions:
//!   start.2.1: { by: "Dana Reviewer <dana@example.com>", note: "requirements reviewed in !42", evidence: [docs/requirements.md] }
//! approvals:
//!   work.4.1: { by: "Ann Approver <ann@example.com>", note: "release 2.4 approved" }
//! waivers:
//!   reliability: { by: "Ann Approver <ann@example.com>", reason: "first deployments of this service" }
//! ```

use crate::error::{InputError, InputErrors};
use crate::gates::GateId;
use crate::protocol::yaml::{self, Seg};
use crate::protocol::{Kind, ProtocolSet};
use crate::yaml_path;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The file exported pipelines use when the repo has it.
pub const DEFAULT_FILE: &str = "deploy-session.decisions.yaml";

/// A manual action a person did.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionDecision {
    pub by: String,
    pub note: String,
    #[serde(default)]
    pub evidence: Vec<String>,
}

/// An approval a person gave.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecision {
    pub by: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// A gate a person waived.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaiverDecision {
    pub by: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    actions: BTreeMap<String, ActionDecision>,
    #[serde(default)]
    approvals: BTreeMap<String, ApprovalDecision>,
    #[serde(default)]
    waivers: BTreeMap<String, WaiverDecision>,
}

/// The decisions of one file, checked against the protocols.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decisions {
    file: File,
    /// `deploy-session.decisions.yaml at 1a2b3c4d5e6f`: where the
    /// decisions came from, written into every note recorded from them.
    pub source: String,
    /// Who records them: the CI identity (GITLAB_USER_LOGIN, GITHUB_ACTOR)
    /// or the local one.
    pub recorder: String,
}

/// The CI system's name for who started the pipeline, if any.
pub fn ci_identity() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    if let Some(login) = var("GITLAB_USER_LOGIN") {
        return Some(format!("GitLab user {login}"));
    }
    var("GITHUB_ACTOR").map(|a| format!("GitHub user {a}"))
}

impl Decisions {
    /// Reads and checks `path` (shown as `shown`): every id an action or
    /// approval of `set` of the right kind, every gate a gate, every `by` a
    /// person, every note real text. All problems at once, located.
    pub fn load(
        path: &Path,
        shown: &Path,
        set: &ProtocolSet,
        commit: Option<&str>,
        recorder: String,
    ) -> Result<Decisions, InputErrors> {
        // A FIFO or a device would block or never end: only a file.
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            return Err(InputErrors(vec![InputError::in_file(
                shown,
                None,
                "the decisions file is not a regular file",
            )]));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            InputErrors(vec![
                InputError::in_file(shown, None, format!("cannot read the decisions file: {e}"))
                    .with_hint("--decisions names the committed file of people's decisions (see README, Running in CI)"),
            ])
        })?;
        let tree = yaml::parse(shown, &text).map_err(|e| InputErrors(vec![e]))?;
        let mut errors = Vec::new();
        let file: File =
            yaml::decode_all(shown, &tree, "decisions", &mut errors).unwrap_or_default();
        let at = |p: Vec<Seg>, m: String| yaml::at(shown, yaml::locate(&tree, &p).as_ref(), m);
        for (id, d) in &file.actions {
            match set.action(id).map(|a| &a.kind) {
                Some(Kind::Manual) => {}
                Some(other) => errors.push(at(
                    yaml_path!["actions", id.as_str()],
                    format!("{id} is {}, not a manual action: a runner does it, or `approvals:` records it", other.described()),
                )),
                None => errors.push(at(yaml_path!["actions", id.as_str()], format!("unknown action {id}"))),
            }
            person(
                &mut errors,
                at(yaml_path!["actions", id.as_str(), "by"], String::new()),
                &d.by,
            );
            if d.note.trim().is_empty() {
                errors.push(at(
                    yaml_path!["actions", id.as_str(), "note"],
                    format!("{id}: say what was done in `note`"),
                ));
            }
        }
        for (id, d) in &file.approvals {
            if !matches!(set.action(id).map(|a| &a.kind), Some(Kind::Approval(_))) {
                errors.push(at(
                    yaml_path!["approvals", id.as_str()],
                    format!("{id} is not an approval action"),
                ));
            }
            person(
                &mut errors,
                at(yaml_path!["approvals", id.as_str(), "by"], String::new()),
                &d.by,
            );
        }
        for (gate, w) in &file.waivers {
            if GateId::parse(gate).is_none() {
                let all: Vec<&str> = GateId::ALL.iter().map(|g| g.as_str()).collect();
                errors.push(
                    at(
                        yaml_path!["waivers", gate.as_str()],
                        format!("no such gate {gate:?}"),
                    )
                    .with_hint(format!("gates: {}", all.join(", "))),
                );
            }
            person(
                &mut errors,
                at(yaml_path!["waivers", gate.as_str(), "by"], String::new()),
                &w.by,
            );
            if w.reason.trim().is_empty() {
                errors.push(at(
                    yaml_path!["waivers", gate.as_str(), "reason"],
                    format!("{gate}: say why in `reason`"),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(InputErrors(errors));
        }
        let source = match commit {
            Some(c) => format!("{} at {}", shown.display(), &c[..c.len().min(12)]),
            None => shown.display().to_string(),
        };
        Ok(Decisions {
            file,
            source,
            recorder,
        })
    }

    /// What a person did for manual action `id`, if the file says.
    pub fn action(&self, id: &str) -> Option<&ActionDecision> {
        self.file.actions.get(id)
    }

    /// The approval of action `id`, if the file gives it.
    pub fn approval(&self, id: &str) -> Option<&ApprovalDecision> {
        self.file.approvals.get(id)
    }

    /// The actions the file completes or approves.
    pub fn settled(&self) -> Vec<String> {
        self.file
            .actions
            .keys()
            .chain(self.file.approvals.keys())
            .cloned()
            .collect()
    }

    /// The gates the file waives, with who and why.
    pub fn waivers(&self) -> impl Iterator<Item = (GateId, &WaiverDecision)> {
        self.file
            .waivers
            .iter()
            .filter_map(|(g, w)| GateId::parse(g).map(|g| (g, w)))
    }

    /// `note`, saying where it was decided and who recorded it.
    pub fn note(&self, note: &str) -> String {
        format!(
            "{} (from {}, recorded by {})",
            note.trim(),
            self.source,
            self.recorder
        )
    }
}

/// Adds `blank` (a located error) with the reason `by` is not a person.
fn person(errors: &mut Vec<InputError>, blank: InputError, by: &str) {
    if let Err(why) = crate::cli::person(by) {
        let mut e = blank;
        e.message = format!("`by`: {why}");
        errors.push(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Decisions, InputErrors> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.yaml");
        std::fs::write(&path, text).unwrap();
        let set = crate::protocol::builtin().unwrap();
        Decisions::load(
            &path,
            Path::new("d.yaml"),
            &set,
            Some("0123456789abcdef"),
            "GitLab user ci".into(),
        )
    }

    #[test]
    fn reads_actions_approvals_and_waivers() {
        let d = load(
            "actions:\n  start.2.1: { by: \"Dana R <dana@example.com>\", note: reviewed, evidence: [docs/a.md] }\napprovals:\n  work.4.1: { by: \"Ann A <ann@example.com>\" }\nwaivers:\n  reliability: { by: \"Ann A <ann@example.com>\", reason: first deployments }\n",
        )
        .unwrap();
        assert_eq!(d.action("start.2.1").unwrap().evidence, ["docs/a.md"]);
        assert!(d.approval("work.4.1").is_some());
        assert_eq!(d.waivers().count(), 1);
        assert_eq!(
            d.note("reviewed"),
            "reviewed (from d.yaml at 0123456789ab, recorded by GitLab user ci)"
        );
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("d.yaml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let set = crate::protocol::builtin().unwrap();
        let errs = Decisions::load(&fifo, Path::new("d.yaml"), &set, None, String::new())
            .unwrap_err()
            .to_string();
        assert!(
            errs.contains("d.yaml: the decisions file is not a regular file"),
            "{errs}"
        );
    }

    #[test]
    fn every_problem_is_named_at_its_line() {
        let errs = load(
            "actions:\n  start.1.1: { by: \"Dana R <dana@example.com>\", note: x }\n  start.9.9: { by: \"<your name and email>\", note: \" \" }\napprovals:\n  start.2.1: { by: \"Ann A <ann@example.com>\" }\nwaivers:\n  relability: { by: \"Ann A <ann@example.com>\", reason: x }\nextra: 1\n",
        )
        .unwrap_err();
        let text = errs.to_string();
        for want in [
            "d.yaml:8:1",
            "unknown key `extra`",
            "d.yaml:2:3: start.1.1 is a `check` action, not a manual action",
            "d.yaml:3:3: unknown action start.9.9",
            "d.yaml:3:16: `by`:",
            "start.9.9: say what was done in `note`",
            "d.yaml:5:3: start.2.1 is not an approval action",
            "d.yaml:7:3: no such gate \"relability\"",
        ] {
            assert!(text.contains(want), "{want:?} in:\n{text}");
        }
    }
}
