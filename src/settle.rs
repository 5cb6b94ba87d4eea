//! A person (or an assistant) settles an action — done, skip, fail,
//! approve. Shared by the commands and the operator's walkthrough, so both
//! record exactly the same events.

use crate::error::InputError;
use crate::master_state::{Approval, ApprovalStatus, MasterState, PhaseStatus};
use crate::paths::{RepoPaths, inside_repo};
use crate::protocol::ApprovalVia;
use crate::session::{ActionStatus, EventKind, Store};
use anyhow::Result;
use serde_json::Value;
use std::path::Path;

/// Completes a manual action.
pub fn done(
    store: &mut Store,
    id: &str,
    by: &str,
    note: Option<String>,
    evidence: Vec<String>,
) -> Result<()> {
    resolve(
        store,
        id,
        by,
        ActionStatus::Completed,
        note,
        evidence,
        false,
    )
}

/// Skips an action, with the reason; `overridden` when it is one of the
/// tool's own validations (`skip --override`).
pub fn skip(store: &mut Store, id: &str, by: &str, reason: &str, overridden: bool) -> Result<()> {
    let note = Some(reason.into());
    resolve(
        store,
        id,
        by,
        ActionStatus::Skipped,
        note,
        Vec::new(),
        overridden,
    )
}

/// Marks a manual action or an approval failed, with the reason.
pub fn fail(store: &mut Store, id: &str, by: &str, reason: &str) -> Result<()> {
    let note = Some(reason.into());
    resolve(store, id, by, ActionStatus::Failed, note, Vec::new(), false)
}

fn resolve(
    store: &mut Store,
    id: &str,
    by: &str,
    status: ActionStatus,
    note: Option<String>,
    evidence: Vec<String>,
    overridden: bool,
) -> Result<()> {
    store.record_as(
        by,
        Some(id),
        EventKind::ActionResolved {
            status,
            note,
            evidence,
            overridden,
        },
    )
}

/// A phase's approval to write into the master state: which phase, and
/// whether an approval it already records may be replaced (`--replace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseApproval {
    pub phase: i8,
    pub replace: bool,
}

impl PhaseApproval {
    /// Phase `n`, never replacing a recorded decision.
    pub fn of(n: i8) -> PhaseApproval {
        PhaseApproval {
            phase: n,
            replace: false,
        }
    }
}

/// Approves approval action `id` (recording a phase's approval in the master
/// state first when the gate is a phase's), and makes it durable. The one
/// way an approval is recorded, whoever grants it: a command, the
/// walkthrough, a run's prompt or `--approve`.
pub fn approve(
    store: &mut Store,
    paths: &RepoPaths,
    id: &str,
    by: &str,
    note: Option<String>,
    phase: Option<PhaseApproval>,
    via: ApprovalVia,
) -> Result<()> {
    if let Some(p) = phase {
        approve_phase(store, paths, p, by, note.clone())?;
    }
    record_approval(store, id, by, note, phase.map(|p| p.phase), via)
}

/// Records that `by` approved action `id` (an approval already in the
/// master state, or one just written there) and makes it durable.
pub fn record_approval(
    store: &mut Store,
    id: &str,
    by: &str,
    note: Option<String>,
    phase: Option<i8>,
    via: ApprovalVia,
) -> Result<()> {
    store.record_as(
        by,
        Some(id),
        EventKind::ApprovalGranted {
            via,
            note: note.clone(),
            phase,
        },
    )?;
    done(store, id, by, note, Vec::new())?;
    store.sync_audit()
}

/// Records Phase `n`'s approval in the master state, and the write in the
/// audit trail (in the session, or outside any when none is open), with
/// the approval it replaced.
pub fn approve_phase(
    store: &mut Store,
    paths: &RepoPaths,
    p: PhaseApproval,
    by: &str,
    note: Option<String>,
) -> Result<()> {
    let n = p.phase;
    let path = paths.master_state();
    let shown = paths.shown(&path);
    let master = MasterState::load(&path, &shown)?;
    let old = phase_approvable(&master, &shown, p)?;
    let approval = Approval {
        status: ApprovalStatus::Approved,
        by: Some(by.to_string()),
        at: Some(crate::clock::now_rfc3339()),
        note,
    };
    let updated = master.update_phase(n, |m| {
        m.insert("approval".into(), approval.to_json());
    })?;
    let why = match old {
        Some(old) => format!("Phase {n} approval, replacing {old}"),
        None => format!("Phase {n} approval"),
    };
    record_master_write(store, paths, &updated, &why, by)
}

/// What a person states about a phase the tool does not run (the
/// Development Framework's -1..6): its status and deliverables.
#[derive(Debug, Clone, Default)]
pub struct PhaseStatement {
    pub phase: i8,
    pub status: Option<PhaseStatus>,
    /// Deliverables by name, with the status stated for each.
    pub deliverables: Vec<(String, PhaseStatus)>,
    /// Every deliverable the phase lists is completed.
    pub all_deliverables: bool,
    pub note: Option<String>,
}

/// Phases whose state the tool itself writes: a statement cannot set them.
pub const OWN_PHASES: [i8; 2] = [7, 8];

/// Writes a person's statement about a phase into the master state and
/// records it in the audit trail as theirs (`recorded_by`/`recorded_at` in
/// the block; the trail's `master_state_written` says it was stated, not
/// checked). Returns what was recorded, in words.
pub fn record_phase(
    store: &mut Store,
    paths: &RepoPaths,
    st: &PhaseStatement,
    by: &str,
) -> Result<String> {
    let n = st.phase;
    if OWN_PHASES.contains(&n) {
        return Err(InputError::usage(format!(
            "Phase {n} is written by deploy-session itself (start, end), not stated by a person"
        ))
        .with_hint("`phase` records what the Development Framework finished: Phases -1 to 6")
        .into());
    }
    let path = paths.master_state();
    let shown = paths.shown(&path);
    let master = MasterState::load(&path, &shown)?;
    let Some(phase) = master.phase(n) else {
        return Err(InputError::in_file(&shown, None, format!("has no Phase {n}")).into());
    };
    let stated = stated_deliverables(phase, st, &shown)?;
    let at = crate::clock::now_rfc3339();
    let updated = master.update_phase(n, |m| {
        if let Some(status) = st.status {
            m.insert("status".into(), Value::from(status.word()));
            if m.contains_key("completed") || status == PhaseStatus::Completed {
                m.insert(
                    "completed".into(),
                    Value::from(status == PhaseStatus::Completed),
                );
            }
        }
        if let Some(Value::Object(list)) = m.get_mut("deliverables") {
            for (name, status) in &stated {
                if let Some(v) = list.get_mut(name) {
                    set_deliverable(v, *status);
                }
            }
        }
        m.insert("recorded_by".into(), Value::from(by));
        m.insert("recorded_at".into(), Value::from(at.as_str()));
    })?;
    let mut said = Vec::new();
    if let Some(status) = st.status {
        said.push(format!("status {}", status.word()));
    }
    if !stated.is_empty() {
        let list: Vec<String> = stated
            .iter()
            .map(|(name, status)| format!("{name} {}", status.word()))
            .collect();
        said.push(format!("deliverables {}", list.join(", ")));
    }
    let mut why = format!(
        "Phase {n} stated by {by}: {} (a person's statement, not checked)",
        said.join("; ")
    );
    if let Some(note) = st.note.as_deref().filter(|t| !t.trim().is_empty()) {
        why.push_str(&format!(" — {note}"));
    }
    record_master_write(store, paths, &updated, &why, by)?;
    Ok(said.join("; "))
}

/// The deliverables a statement names, checked against the phase's list.
fn stated_deliverables(
    phase: &crate::master_state::Phase,
    st: &PhaseStatement,
    shown: &Path,
) -> Result<Vec<(String, PhaseStatus)>, InputError> {
    let known: Vec<&str> = phase.deliverables.iter().map(|d| d.name.as_str()).collect();
    let listed_as_map = phase
        .block
        .as_ref()
        .is_some_and(|b| matches!(b.get("deliverables"), Some(Value::Object(_))));
    if (st.all_deliverables || !st.deliverables.is_empty()) && (!listed_as_map || known.is_empty())
    {
        return Err(InputError::in_file(
            shown,
            Some(phase.line),
            format!(
                "Phase {} lists no deliverables by name (a `deliverables` object in its json block)",
                phase.number
            ),
        ));
    }
    if let Some((name, _)) = st
        .deliverables
        .iter()
        .find(|(name, _)| !known.contains(&name.as_str()))
    {
        return Err(InputError::in_file(
            shown,
            Some(phase.line),
            format!("Phase {} lists no deliverable {name:?}", phase.number),
        )
        .with_hint(format!("its deliverables: {}", known.join(", "))));
    }
    let mut stated: Vec<(String, PhaseStatus)> = if st.all_deliverables {
        known
            .iter()
            .map(|k| (k.to_string(), PhaseStatus::Completed))
            .collect()
    } else {
        Vec::new()
    };
    for (name, status) in &st.deliverables {
        match stated.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = *status,
            None => stated.push((name.clone(), *status)),
        }
    }
    Ok(stated)
}

/// Sets a deliverable's value in the form the file already uses.
fn set_deliverable(v: &mut Value, status: PhaseStatus) {
    match v {
        Value::Bool(b) => *b = status == PhaseStatus::Completed,
        Value::Object(o) => {
            o.insert("status".into(), Value::from(status.word()));
        }
        other => *other = Value::from(status.word()),
    }
}

/// Writes the master state and records the write — who, why and the
/// digest of the bytes — in the audit trail, in a session or not: every
/// master-state write the tool makes goes through here.
pub fn record_master_write(
    store: &mut Store,
    paths: &RepoPaths,
    updated: &MasterState,
    why: &str,
    by: &str,
) -> Result<()> {
    let path = paths.master_state();
    updated.save(&path)?;
    let sha256 = crate::digest::sha256_hex(&updated.to_bytes());
    let kind = EventKind::MasterStateWritten {
        why: why.to_string(),
        sha256: sha256.clone(),
    };
    if store.session().is_some() {
        store.record_as(by, None, kind)?;
        store.record_as(
            by,
            None,
            EventKind::FileWritten {
                path: paths.shown(&path).display().to_string(),
                purpose: why.to_string(),
                sha256: Some(sha256),
            },
        )
    } else {
        store.record_anywhere(kind)
    }
}

/// Whether Phase `p.phase` may be approved: it exists, is completed, and
/// records no decision already (unless replacing). Returns the approval it
/// replaces, as JSON text, to keep in the trail.
fn phase_approvable(
    master: &MasterState,
    shown: &Path,
    p: PhaseApproval,
) -> Result<Option<String>, InputError> {
    let n = p.phase;
    let Some(phase) = master.phase(n) else {
        return Err(InputError::in_file(
            shown,
            None,
            format!("has no Phase {n} to approve"),
        ));
    };
    if phase.status != crate::master_state::PhaseStatus::Completed {
        return Err(InputError::in_file(
            shown,
            Some(phase.line),
            format!(
                "Phase {n} is `{}`, not completed: an approval would vouch for unfinished work",
                phase.status.word()
            ),
        )
        .with_hint(format!("finish Phase {n} and record it completed first")));
    }
    let Some(old) = &phase.approval else {
        return Ok(None);
    };
    let decided = old.is_named() || old.status == ApprovalStatus::Rejected;
    if decided && !p.replace {
        let who = old.by.as_deref().unwrap_or("someone");
        let when = old
            .at
            .as_deref()
            .map(|t| format!(" at {t}"))
            .unwrap_or_default();
        return Err(InputError::in_file(
            shown,
            Some(phase.line),
            format!("Phase {n} is already {} by {who}{when}", old.status.word()),
        )
        .with_hint("`--replace` replaces it; the old approval is kept in the audit trail"));
    }
    Ok(Some(old.to_json().to_string()))
}

/// The rule for an evidence file, at `done` and again when `end` copies it
/// into the archive: a relative path inside the repo, reached without a
/// symbolic link, naming a regular file (a FIFO would hang the copy, a
/// folder would fail it on every run). `None` when it holds.
pub fn evidence_problem(root: &Path, rel: &Path) -> Option<String> {
    use std::path::Component;
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Some("not a path inside the repo".into());
    }
    let mut at = root.to_path_buf();
    let mut meta = None;
    for c in rel.components() {
        at.push(c);
        match std::fs::symlink_metadata(&at) {
            Err(_) => return Some("no such file".into()),
            Ok(m) if m.file_type().is_symlink() => {
                return Some(format!(
                    "{} is a symbolic link; evidence is read only from regular files inside the repo",
                    at.strip_prefix(root).unwrap_or(&at).display()
                ));
            }
            Ok(m) => meta = Some(m),
        }
    }
    let kind = meta?.file_type();
    if kind.is_dir() {
        Some("is a folder; name the files in it".into())
    } else if !kind.is_file() {
        Some("is not a regular file (a FIFO, socket or device)".into())
    } else {
        None
    }
}

/// Evidence paths (relative to `cwd`) must exist inside the repo; returns
/// them relative to the repo. Errors name the path, after `flag` when the
/// paths came from one (`--evidence`).
pub fn check_evidence(
    root: &Path,
    cwd: &Path,
    paths: &[String],
    flag: Option<&str>,
) -> Result<Vec<String>, InputError> {
    let named = |p: &str, why: &str| {
        InputError::usage(match flag {
            Some(f) => format!("{f} {p}: {why}"),
            None => format!("{p}: {why}"),
        })
    };
    let mut out = Vec::new();
    for p in paths {
        let abs = if Path::new(p).is_absolute() {
            std::path::PathBuf::from(p)
        } else {
            cwd.join(p)
        };
        let rel = inside_repo(root, &abs.to_string_lossy()).map_err(|why| named(p, &why))?;
        if let Some(why) = evidence_problem(root, &rel) {
            return Err(named(p, &why));
        }
        out.push(rel.display().to_string());
    }
    Ok(out)
}
