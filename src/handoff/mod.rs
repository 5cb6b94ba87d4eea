//! The handoff package for the Operations Framework:
//! `.ai_context/handoff/<session>/` with the seed's seven deliverables, a
//! README index ending with the transition command, and `manifest.json` (an
//! in-toto Statement v1) that `handoff verify` checks file by file.

pub mod verify;

use crate::context::TRANSITION_COMMAND;
use crate::gates::GateResult;
use crate::paths::RepoPaths;
use crate::protocol::{Action, Kind, ProtocolSet, format_duration};
use crate::redact::Redactor;
use crate::session::{ActionStatus, Session};
use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::json;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// in-toto's Statement type and our predicate type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://github.com/deploy-session/deploy-session/handoff/v1";

/// The seven deliverables: file, title, what it holds.
pub const DOCUMENTS: [(&str, &str, &str); 7] = [
    (
        "01-production-system.md",
        "Production System",
        "the live system, deployments and the commands that made it",
    ),
    (
        "02-infrastructure-documentation.md",
        "Infrastructure Documentation",
        "infrastructure actions, commands, rollbacks, evidence",
    ),
    (
        "03-monitoring-configuration.md",
        "Monitoring Configuration",
        "monitoring actions and live validation",
    ),
    (
        "04-security-configuration.md",
        "Security Configuration",
        "security actions, security and compliance gates, masked secrets",
    ),
    (
        "05-performance-baseline.md",
        "Performance Baseline",
        "measured deployment and rollback times, downtime samples, durations",
    ),
    (
        "06-operations-procedures.md",
        "Operations Procedures",
        "rollback and re-run procedures",
    ),
    (
        "07-incident-response.md",
        "Incident Response",
        "who approved what, waived gates and open risks",
    ),
];

const MACROS: &str = include_str!("../../templates/handoff/_macros.md");
const TEMPLATES: [(&str, &str); 8] = [
    (
        "01-production-system.md",
        include_str!("../../templates/handoff/01-production-system.md"),
    ),
    (
        "02-infrastructure-documentation.md",
        include_str!("../../templates/handoff/02-infrastructure-documentation.md"),
    ),
    (
        "03-monitoring-configuration.md",
        include_str!("../../templates/handoff/03-monitoring-configuration.md"),
    ),
    (
        "04-security-configuration.md",
        include_str!("../../templates/handoff/04-security-configuration.md"),
    ),
    (
        "05-performance-baseline.md",
        include_str!("../../templates/handoff/05-performance-baseline.md"),
    ),
    (
        "06-operations-procedures.md",
        include_str!("../../templates/handoff/06-operations-procedures.md"),
    ),
    (
        "07-incident-response.md",
        include_str!("../../templates/handoff/07-incident-response.md"),
    ),
    (
        "README.md",
        include_str!("../../templates/handoff/README.md"),
    ),
];

/// Where a repo may override a handoff template (same file name).
pub fn override_dir(paths: &RepoPaths) -> PathBuf {
    paths.ai_context().join("templates").join("handoff")
}

/// Action groups per document (by id), and which actions are probes.
const GROUPS: [(&str, &[&str]); 7] = [
    (
        "production",
        &[
            "start.2.5",
            "work.1.5",
            "work.4.1",
            "work.4.2",
            "work.4.3",
            "work.4.4",
            "work.4.5",
        ],
    ),
    (
        "infrastructure",
        &[
            "start.2.1",
            "start.2.2",
            "start.3.2",
            "work.1.2",
            "work.2.1",
            "work.2.2",
            "work.2.3",
            "work.2.4",
            "work.2.5",
        ],
    ),
    ("monitoring", &["start.3.4", "work.4.3", "work.5.1"]),
    (
        "security",
        &[
            "start.2.3",
            "start.3.1",
            "start.3.5",
            "work.1.3",
            "work.3.4",
        ],
    ),
    (
        "performance",
        &["start.2.4", "work.1.4", "work.4.5", "work.5.3"],
    ),
    (
        "operations",
        &[
            "start.3.3",
            "work.3.1",
            "work.3.2",
            "work.3.3",
            "work.3.5",
            "work.5.2",
            "work.5.5",
        ],
    ),
    ("incident", &["work.4.4", "work.5.4"]),
];

#[derive(Serialize, schemars::JsonSchema)]
struct ActionFact {
    id: String,
    title: String,
    stage: String,
    status: String,
    how: String,
    duration: Option<String>,
    command: Option<String>,
    rollback: Option<String>,
    cwd: Option<String>,
    evidence: Vec<String>,
}

fn fact(a: &Action, s: &Session) -> ActionFact {
    let rec = s.action(&a.id);
    let how = match rec.status {
        ActionStatus::Completed => crate::gates::describe(a, &rec)
            .trim_start_matches(&a.id)
            .trim()
            .to_string(),
        ActionStatus::Skipped => format!(
            "{} by {}: {}",
            if rec.overridden {
                "a validation of deploy-session's skipped by override"
            } else {
                "skipped"
            },
            rec.by.as_deref().unwrap_or("someone"),
            rec.note.as_deref().unwrap_or("no reason")
        ),
        other => format!(
            "{}{}",
            other.word(),
            rec.message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ),
    };
    ActionFact {
        id: a.id.clone(),
        title: a.title.clone(),
        stage: a.stage.clone(),
        status: rec.status_shown().into(),
        // Quoted for markdown by the templates' `md` filter.
        how,
        duration: rec
            .duration_ms
            .map(|ms| format_duration(Duration::from_millis(ms))),
        command: match &a.kind {
            Kind::Run(c) => Some(c.replace('\n', "; ")),
            _ => None,
        },
        rollback: a.common.rollback.clone(),
        cwd: a.common.cwd.clone(),
        evidence: rec.evidence.clone(),
    }
}

fn ms(v: u64) -> String {
    format_duration(Duration::from_millis(v))
}

/// Everything the templates can use.
fn facts(
    paths: &RepoPaths,
    set: &ProtocolSet,
    s: &Session,
    gates: &[GateResult],
    secrets: &[String],
    dir: &str,
) -> serde_json::Value {
    let actions: Vec<ActionFact> = set.actions().map(|a| fact(a, s)).collect();
    let mut groups = serde_json::Map::new();
    for (name, ids) in GROUPS {
        let list: Vec<ActionFact> = set
            .actions()
            .filter(|a| ids.contains(&a.id.as_str()))
            .map(|a| fact(a, s))
            .collect();
        groups.insert(name.into(), serde_json::to_value(list).unwrap_or_default());
    }
    let deployments: Vec<serde_json::Value> = s
        .deployments
        .iter()
        .map(|d| {
            json!({
                "action": d.action, "strategy": d.strategy, "environment": d.environment, "outcome": d.outcome, "at": d.at,
                "summary": d.summary(), "detection": d.detection_ms.map(ms),
                "requests": d.traffic.map(|t| t.requests), "failed": d.traffic.map(|t| t.failed),
                "p95": d.traffic.map(|t| crate::traffic::ms(t.p95_us)),
                "p99": d.traffic.map(|t| crate::traffic::ms(t.p99_us)),
                "deploy": ms(d.deploy_ms), "rollback": d.rollback_ms.map(ms),
                "samples": d.samples, "failed_samples": d.failed_samples,
                "interval": d.sample_interval_ms.map(ms),
            })
        })
        .collect();
    let live_index = s.deployments.iter().rposition(|d| d.succeeded());
    let probes: Vec<serde_json::Value> = set
        .actions()
        .filter(|a| matches!(a.kind, Kind::Probe(_)))
        .map(|a| {
            let rec = s.action(&a.id);
            let summary = rec
                .metrics
                .as_ref()
                .and_then(|m| m["evidence"].as_str().map(String::from))
                .unwrap_or_else(|| rec.status.word().to_string());
            json!({"id": a.id, "summary": summary})
        })
        .collect();
    let approvals: Vec<serde_json::Value> = set
        .actions()
        .filter_map(|a| s.action(&a.id).approval.map(|ap| json!({"action": a.id, "by": ap.by, "at": ap.at, "via": ap.via, "note": ap.note})))
        .collect();
    let waivers: Vec<serde_json::Value> = s
        .waivers
        .iter()
        .map(|(g, w)| json!({"gate": g, "by": w.by, "at": w.at, "reason": w.note}))
        .collect();
    let gates_summary = format!(
        "By evidence: {}. `pass` rests on machine evidence (exit codes, checks, probes, measurements), `attested` on people's notes only.",
        crate::gates::summary(gates)
    );
    let security_gates: Vec<&GateResult> = gates
        .iter()
        .filter(|g| g.group == "Security and Compliance")
        .collect();
    let project = paths
        .root()
        .file_name()
        .map_or_else(|| "project".into(), |n| n.to_string_lossy().into_owned());
    json!({
        "project": project,
        "dir": dir,
        "session": {
            "id": s.id, "opened_at": s.opened_at, "opened_by": s.opened_by, "host": s.host,
            "status": s.status.map(|x| x.as_str()).unwrap_or("HANDOFF_PROCESSING"), "git": s.git,
        },
        "created": crate::clock::now_rfc3339(),
        "tool_version": env!("CARGO_PKG_VERSION"),
        "actions": actions,
        "groups": groups,
        "deployments": deployments,
        "live": live_index.map(|i| deployments[i].clone()),
        "slowest_rollback": s.deployments.iter().filter_map(|d| d.rollback_ms).max().map(ms),
        "probes": probes,
        "gates": gates,
        "security_gates": security_gates,
        "gates_summary": gates_summary,
        "approvals": approvals,
        "waivers": waivers,
        "overrides": s.overrides().iter().map(|(action, by, reason)| json!({"action": action, "by": by, "reason": reason})).collect::<Vec<_>>(),
        "secrets": secrets,
        "transition": TRANSITION_COMMAND,
        "documents": DOCUMENTS.iter().map(|(f, t, about)| json!({"file": f, "title": t, "about": about})).collect::<Vec<_>>(),
    })
}

/// The signed manifest (a DSSE envelope around manifest.json), beside it
/// in a package `end --sign-with` wrote.
pub const ENVELOPE: &str = "manifest.dsse.json";

/// The `file_written` purpose that records a package and its manifest's
/// digest: the trail's anchor for `handoff verify`.
pub const HANDOFF_PURPOSE: &str = "handoff package";

/// Writes the package for `s` and returns its folder. Files are rendered,
/// masked, written to a temp folder and moved into place together.
pub fn write(
    paths: &RepoPaths,
    set: &ProtocolSet,
    s: &Session,
    gates: &[GateResult],
    secrets: &[String],
    redactor: &Redactor,
    audit: &crate::audit::JournalPos,
) -> Result<(PathBuf, String)> {
    let dir = paths.handoff(&s.id);
    let shown = paths.shown(&dir).display().to_string();
    let ctx = facts(paths, set, s, gates, secrets, &shown);
    let mut env = crate::templating::environment();
    let overrides = override_dir(paths);
    let mut sources: Vec<(String, String)> = vec![("_macros.md".into(), MACROS.into())];
    for (name, text) in TEMPLATES {
        let custom = overrides.join(name);
        let text = match std::fs::symlink_metadata(&custom) {
            Err(_) => text.to_string(),
            Ok(_) => {
                // A template is read only from a regular file inside the
                // repo: a committed link to a file elsewhere (a key, a
                // password file) would be rendered into the package.
                let rel = custom.strip_prefix(paths.root()).unwrap_or(&custom);
                if let Some(why) = crate::settle::evidence_problem(paths.root(), rel) {
                    return Err(crate::error::InputError::in_file(
                        &paths.shown(&custom),
                        None,
                        format!("handoff template override refused: {why}"),
                    )
                    .into());
                }
                std::fs::read_to_string(&custom)
                    .with_context(|| format!("cannot read {}", paths.shown(&custom).display()))?
            }
        };
        sources.push((name.to_string(), text));
    }
    for (name, text) in &sources {
        env.add_template_owned(name.clone(), text.clone())
            .with_context(|| format!("handoff template {name} does not parse"))?;
    }
    let parent = dir.parent().context("handoff folder has no parent")?;
    std::fs::create_dir_all(parent)?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{}{}", s.id, crate::fsio::TEMP_MARKER))
        .tempdir_in(parent)?;
    let mut subjects = Vec::new();
    for (name, _) in TEMPLATES {
        let text = env
            .get_template(name)
            .and_then(|t| t.render(minijinja::value::Serde(&ctx)))
            .with_context(|| format!("cannot render handoff document {name}"))?;
        let text = redactor.mask(&text);
        std::fs::write(staging.path().join(name), &text)?;
        subjects.push(
            json!({"name": name, "digest": {"sha256": crate::digest::sha256_hex(text.as_bytes())}}),
        );
    }
    let manifest = json!({
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "session": s.id,
            "git_commit": s.git.as_ref().and_then(|g| g.commit.clone()),
            "tool_version": env!("CARGO_PKG_VERSION"),
            "created": crate::clock::now_rfc3339(),
            "audit_head": audit.hash,
            "audit_seq": audit.seq,
        },
    });
    let mut bytes = serde_json::to_vec_pretty(&manifest)?;
    bytes.push(b'\n');
    let manifest_sha256 = crate::digest::sha256_hex(&bytes);
    std::fs::write(staging.path().join("manifest.json"), bytes)?;
    for f in std::fs::read_dir(staging.path())?.flatten() {
        std::fs::File::open(f.path())?.sync_all()?;
    }
    replace_dir(staging.keep(), &dir)?;
    Ok((dir, manifest_sha256))
}

/// Puts `new` where `target` is, keeping the old one until the new is in place.
fn replace_dir(new: PathBuf, target: &Path) -> Result<()> {
    let parent = target.parent().context("no parent")?;
    if target.exists() {
        let old = parent.join(format!(
            ".{}{}old",
            target.file_name().unwrap_or_default().to_string_lossy(),
            crate::fsio::TEMP_MARKER
        ));
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(target, &old)?;
        std::fs::rename(&new, target)?;
        std::fs::remove_dir_all(&old)?;
    } else {
        std::fs::rename(&new, target)?;
    }
    crate::fsio::sync_dir(parent)
}
