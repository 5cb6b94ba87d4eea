//! A person (or an assistant) settles an action — done, skip, fail,
//! approve. Shared by the commands and the operator's walkthrough, so both
//! record exactly the same events.

use crate::error::InputError;
use crate::master_state::{Approval, ApprovalStatus, MasterState};
use crate::paths::{RepoPaths, inside_repo};
use crate::protocol::ApprovalVia;
use crate::session::{ActionStatus, EventKind, Store};
use anyhow::Result;
use std::path::Path;

/// Completes a manual action.
pub fn done(
    store: &mut Store,
    id: &str,
    by: &str,
    note: Option<String>,
    evidence: Vec<String>,
) -> Result<()> {
    resolve(store, id, by, ActionStatus::Completed, note, evidence)
}

/// Skips an action, with the reason.
pub fn skip(store: &mut Store, id: &str, by: &str, reason: &str) -> Result<()> {
    resolve(
        store,
        id,
        by,
        ActionStatus::Skipped,
        Some(reason.into()),
        Vec::new(),
    )
}

/// Marks a manual action or an approval failed, with the reason.
pub fn fail(store: &mut Store, id: &str, by: &str, reason: &str) -> Result<()> {
    resolve(
        store,
        id,
        by,
        ActionStatus::Failed,
        Some(reason.into()),
        Vec::new(),
    )
}

fn resolve(
    store: &mut Store,
    id: &str,
    by: &str,
    status: ActionStatus,
    note: Option<String>,
    evidence: Vec<String>,
) -> Result<()> {
    store.record_as(
        by,
        Some(id),
        EventKind::ActionResolved {
            status,
            note,
            evidence,
        },
    )
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
    phase: Option<i8>,
    via: ApprovalVia,
) -> Result<()> {
    if let Some(n) = phase {
        approve_phase(store, paths, n, by, note.clone())?;
    }
    record_approval(store, id, by, note, phase, via)
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
    resolve(store, id, by, ActionStatus::Completed, note, Vec::new())?;
    store.sync_audit()
}

/// Records Phase `n`'s approval in the master state, and that the file was
/// written in the session's trail when one is open.
pub fn approve_phase(
    store: &mut Store,
    paths: &RepoPaths,
    n: i8,
    by: &str,
    note: Option<String>,
) -> Result<()> {
    write_phase_approval(paths, n, by, note)?;
    if store.session().is_none() {
        return Ok(());
    }
    let shown = paths.shown(&paths.master_state()).display().to_string();
    store.record_as(
        by,
        None,
        EventKind::FileWritten {
            path: shown,
            purpose: format!("Phase {n} approval"),
            sha256: None,
        },
    )
}

/// Records `by`'s approval in phase `n`'s block (preservation rule).
fn write_phase_approval(paths: &RepoPaths, n: i8, by: &str, note: Option<String>) -> Result<()> {
    let path = paths.master_state();
    let master = MasterState::load(&path, &paths.shown(&path))?;
    let approval = Approval {
        status: ApprovalStatus::Approved,
        by: Some(by.to_string()),
        at: Some(crate::clock::now_rfc3339()),
        note,
    };
    let updated = master.update_phase(n, |m| {
        m.insert("approval".into(), approval.to_json());
    })?;
    updated.save(&path)
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
