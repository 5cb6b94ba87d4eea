//! Joins the session state of CI jobs that ran in parallel (work.2 and
//! work.3 on two runners). Each job starts from the same trail and appends
//! its own events; `merge` finds where the other job's trail forked from
//! ours, keeps its new lines verbatim as a joined trail (`session::joins`)
//! anchored by a `trail_joined` event, and carries over the files those
//! events say it wrote. Two jobs that both wrote the same file cannot be
//! joined: that is refused, and nothing is changed.

use super::{EventKind, Store};
use crate::audit::{self, Event, JournalPos};
use crate::error::InputError;
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Files every job rewrites from the state: regenerated, never copied.
const DERIVED: [&str; 2] = [
    ".ai_context/todos.json",
    ".ai_context/deployment_context.md",
];

/// What one merge did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Merged {
    pub from: PathBuf,
    /// Events appended from the other trail.
    pub events: u64,
    /// Files copied from the other job.
    pub files: Vec<String>,
}

/// Merges the other job's `.ai_context` copy at `other` into the store.
pub fn merge(store: &mut Store, other: &Path) -> Result<Merged> {
    let shown = other.display().to_string();
    let other_trail = other.join("deploy-session").join("audit.jsonl");
    if !other_trail.is_file() {
        return Err(InputError::usage(format!(
            "{shown}: no deploy-session/audit.jsonl in it (it must be a copy of a job's .ai_context folder)"
        ))
        .into());
    }
    let paths = store.ctx().paths.clone();
    let theirs = read_trail(&other_trail)?;
    let ours = read_trail(&paths.audit())?;
    let fork = ours
        .iter()
        .zip(&theirs)
        .take_while(|(a, b)| a.hash == b.hash)
        .count();
    if fork == 0 && !ours.is_empty() {
        return Err(InputError::usage(format!(
            "{shown}: its audit trail shares no history with this repo's; it is not a copy of the same session"
        ))
        .into());
    }
    // Every line this trail has, its own or joined before: their lines up
    // to the first unknown one are here already (a merge repeated, or a
    // job that went on after an earlier merge).
    let ours_all = super::joins::expand(&paths, ours.clone())?;
    let known: BTreeSet<&str> = ours_all.iter().map(|e| e.hash.as_str()).collect();
    let here = theirs
        .iter()
        .take_while(|e| known.contains(e.hash.as_str()))
        .count();
    let new = &theirs[here..];
    if let Some(e) = new.iter().find(|e| known.contains(e.hash.as_str())) {
        return Err(InputError::usage(format!(
            "{shown}: its trail is not a continuation of what was joined here (seq {} is known, lines before it are not)",
            e.seq
        ))
        .into());
    }
    let new_refs: Vec<&Event> = new.iter().collect();
    check_same_session(store, &new_refs, &shown)?;
    let their_hashes: BTreeSet<&str> = theirs.iter().map(|e| e.hash.as_str()).collect();
    let ours_own: Vec<Event> = ours_all[fork.min(ours_all.len())..]
        .iter()
        .filter(|e| !their_hashes.contains(e.hash.as_str()))
        .cloned()
        .collect();
    let root = paths.root().to_path_buf();
    let copies = confined(
        &root,
        other,
        files_to_copy(&ours_own, &theirs[fork..], &shown)?,
        &shown,
    )?;
    // A job's artifact is its .ai_context: a file it wrote elsewhere is not
    // in the copy, and merging without it would drop it in silence.
    let outside: Vec<&str> = copies
        .iter()
        .filter(|rel| !rel.starts_with(".ai_context/") && !root.join(rel).is_file())
        .map(String::as_str)
        .collect();
    if !outside.is_empty() {
        return Err(InputError::usage(format!(
            "{shown}: the other job wrote {} outside .ai_context, which its copy does not hold; nothing was merged",
            outside.join(", ")
        ))
        .with_hint("hand those files over with the job's artifact and put them in place before merging, or have the job write them under .ai_context")
        .into());
    }
    if !new.is_empty() {
        join_verbatim(store, &other_trail, &shown, here, new)?;
    }
    let mut merged = Merged {
        from: other.to_path_buf(),
        events: new.len() as u64,
        files: Vec::new(),
    };
    for rel in copies {
        // Files outside .ai_context were put in place before (checked above).
        let Some(inside) = rel.strip_prefix(".ai_context/") else {
            continue;
        };
        if copy_file(&other.join(inside), &root.join(&rel))? {
            merged.files.push(rel);
        }
    }
    copy_missing_logs(other, &paths.store())?;
    store.sync_audit()?;
    Ok(merged)
}

/// Keeps the other trail's lines from index `from` on, byte for byte, in a
/// joined file, and records the join.
fn join_verbatim(
    store: &mut Store,
    other_trail: &Path,
    shown: &str,
    from: usize,
    new: &[Event],
) -> Result<()> {
    let paths = store.ctx().paths.clone();
    let text = std::fs::read_to_string(other_trail)
        .with_context(|| format!("cannot read {}", other_trail.display()))?;
    let lines: String = text.lines().skip(from).map(|l| format!("{l}\n")).collect();
    let head = new.last().map(|e| e.hash.clone()).unwrap_or_default();
    let file = super::joins::file_name(&head);
    let dir = super::joins::dir(&paths);
    // A committed link in the joined folder's place would send the other
    // job's lines outside the repo.
    crate::fsio::not_a_symlink(&dir)?;
    std::fs::create_dir_all(&dir)?;
    crate::fsio::write_atomic(&dir.join(&file), lines.as_bytes())?;
    let first = &new[0];
    let join = EventKind::TrailJoined {
        from: shown.to_string(),
        file,
        after_seq: first.seq - 1,
        after_hash: first.prev.clone(),
        events: new.len() as u64,
        head,
    };
    store.join(join, new)
}

/// Every event of a trail, its chain checked.
fn read_trail(path: &Path) -> Result<Vec<Event>> {
    let tail = audit::read_tail(path, &JournalPos::default())
        .with_context(|| format!("cannot read the audit trail {}", path.display()))?;
    if tail.torn.is_some() {
        return Err(InputError::in_file(
            path,
            None,
            "its last line is torn (the job was killed mid-write)",
        )
        .with_hint("`deploy-session audit verify` in that job's copy shows it")
        .into());
    }
    Ok(tail.events)
}

/// The other job must have worked on the session that is open here.
fn check_same_session(store: &Store, new: &[&Event], shown: &str) -> Result<()> {
    let open = store.session().map(|s| s.id.clone());
    if let Some(e) = new.iter().find(|e| Some(&e.session) != open.as_ref()) {
        return Err(InputError::usage(format!(
            "{shown}: it recorded events of session {} but the open session here is {}",
            e.session,
            open.as_deref().unwrap_or("(none)")
        ))
        .into());
    }
    Ok(())
}

/// Files the other job wrote after the fork, refusing any this job wrote
/// too (derived files excepted: they are regenerated).
fn files_to_copy(ours: &[Event], theirs: &[Event], shown: &str) -> Result<Vec<String>> {
    let written = |events: &[Event]| -> BTreeSet<String> {
        events
            .iter()
            .filter_map(|e| match EventKind::from_event(e) {
                Some(EventKind::FileWritten { path, .. }) if !DERIVED.contains(&path.as_str()) => {
                    Some(path)
                }
                _ => None,
            })
            .collect()
    };
    let (mine, other) = (written(ours), written(theirs));
    let both: Vec<&String> = mine.intersection(&other).collect();
    if !both.is_empty() {
        let names: Vec<&str> = both.iter().map(|s| s.as_str()).collect();
        return Err(InputError::usage(format!(
            "{shown}: both jobs wrote {} since they forked; they cannot be merged",
            names.join(", ")
        ))
        .with_hint("stages that run in parallel must not write the same files")
        .into());
    }
    Ok(other.into_iter().collect())
}

/// The files to copy, each checked before anything is merged: the other
/// trail is another job's word, so a path it names must stay inside this
/// repo (normalised, no climbing out), and a file copied from its
/// `.ai_context` must be a regular file inside that folder (no link to
/// elsewhere), landing in a folder of this repo (no linked folder).
fn confined(root: &Path, other: &Path, copies: Vec<String>, shown: &str) -> Result<Vec<String>> {
    let refuse = |why: String| -> anyhow::Error {
        InputError::usage(format!("{shown}: {why}; nothing was merged"))
            .with_hint("the other job's trail or copy was altered: merge only a job's own .ai_context artifact")
            .into()
    };
    let canonical = |p: &Path| {
        p.canonicalize()
            .map_err(|e| refuse(format!("{}: {e}", p.display())))
    };
    let (root_real, other_real) = (canonical(root)?, canonical(other)?);
    let mut out = Vec::new();
    for rel in copies {
        let clean = crate::paths::inside_repo(root, &rel)
            .map_err(|why| refuse(format!("its trail says the job wrote {why}")))?;
        let clean = clean.to_string_lossy().into_owned();
        if let Some(inside) = clean.strip_prefix(".ai_context/") {
            let from = other.join(inside);
            let real = canonical(&from)?;
            let linked = std::fs::symlink_metadata(&from).map(|m| m.file_type().is_symlink());
            if linked.unwrap_or(true) || !real.starts_with(&other_real) || !real.is_file() {
                return Err(refuse(format!(
                    "{clean} in its copy is not a regular file of that folder"
                )));
            }
            let to = root.join(&clean);
            if let Some(parent) = to.parent().filter(|p| p.exists())
                && !canonical(parent)?.starts_with(&root_real)
            {
                return Err(refuse(format!(
                    "{clean} would be written through a link leaving this repo"
                )));
            }
        }
        out.push(clean);
    }
    Ok(out)
}

/// Copies `from` over `to` unless they are equal; whether it copied.
fn copy_file(from: &Path, to: &Path) -> Result<bool> {
    let bytes = std::fs::read(from).with_context(|| {
        format!(
            "cannot read {} (its trail says the job wrote it)",
            from.display()
        )
    })?;
    if std::fs::read(to).is_ok_and(|old| old == bytes) {
        return Ok(false);
    }
    crate::fsio::keep_backup(to)?;
    crate::fsio::write_atomic(to, &bytes)?;
    Ok(true)
}

/// Action logs the other job captured that are not here yet.
fn copy_missing_logs(other: &Path, store_dir: &Path) -> Result<()> {
    let from_root = other.join("deploy-session").join("logs");
    let Ok(sessions) = std::fs::read_dir(&from_root) else {
        return Ok(());
    };
    for session in sessions.flatten() {
        let Ok(files) = std::fs::read_dir(session.path()) else {
            continue;
        };
        for f in files.flatten() {
            let to = store_dir
                .join("logs")
                .join(session.file_name())
                .join(f.file_name());
            if f.path().is_file() && !to.exists() {
                let bytes = std::fs::read(f.path())?;
                crate::fsio::write_atomic(&to, &bytes)?;
            }
        }
    }
    Ok(())
}
