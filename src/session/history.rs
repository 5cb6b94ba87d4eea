//! Finished sessions: `.ai_context/deploy-session/archive/index.jsonl`, one
//! line per archived session. `history` and the reliability gate read this
//! index, never the archive folders, so they stay fast with thousands of
//! sessions.

use crate::paths::RepoPaths;
use crate::session::{EventKind, Session, StateFile};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;

/// One archived session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HistoryEntry {
    pub session: String,
    pub opened_at: String,
    pub closed_at: String,
    /// `completed` (end ran to the end) or `aborted`.
    pub outcome: String,
    pub duration_ms: u64,
    /// Measured deployments in the session, and how many did not go live.
    pub deployments: u64,
    pub deployments_failed: u64,
    /// The last successful deployment's duration.
    #[serde(default)]
    pub deploy_ms: Option<u64>,
    /// The longest rollback measured in the session.
    #[serde(default)]
    pub rollback_ms: Option<u64>,
    #[serde(default)]
    pub strategy: Option<String>,
    #[serde(default)]
    pub git_commit: Option<String>,
    /// The blue-green slot live at the end of the session.
    #[serde(default)]
    pub live_slot: Option<String>,
    /// Per environment (when the config names environments), the same
    /// counts: reliability is kept per environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, Tally>,
    /// Where the audit trail seals this entry (its `session_closed` line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<Seal>,
}

/// Deployments to one environment in one session, and how many did not go
/// live.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Tally {
    pub deployments: u64,
    pub failed: u64,
}

/// A `session_closed` line of the audit trail: its seq, the byte offset
/// where it starts, and its hash. A reader seeks there, so checking the
/// index costs one read per session, not a pass over the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Seal {
    pub seq: u64,
    pub offset: u64,
    pub hash: String,
}

impl HistoryEntry {
    /// The entry for `session`, closing now with `outcome`.
    pub fn of(session: &Session, outcome: &str, closed_at: &str) -> HistoryEntry {
        let ok: Vec<_> = session
            .deployments
            .iter()
            .filter(|d| d.succeeded())
            .collect();
        let duration_ms = match (
            session.opened_at.parse::<jiff::Timestamp>(),
            closed_at.parse::<jiff::Timestamp>(),
        ) {
            (Ok(a), Ok(b)) => b.duration_since(a).as_millis().max(0) as u64,
            _ => 0,
        };
        HistoryEntry {
            session: session.id.clone(),
            opened_at: session.opened_at.clone(),
            closed_at: closed_at.to_string(),
            outcome: outcome.to_string(),
            duration_ms,
            deployments: session.deployments.len() as u64,
            deployments_failed: (session.deployments.len() - ok.len()) as u64,
            deploy_ms: ok.last().map(|d| d.deploy_ms),
            rollback_ms: session
                .deployments
                .iter()
                .filter_map(|d| d.rollback_ms)
                .max(),
            strategy: session.deployments.last().map(|d| d.strategy.clone()),
            git_commit: session.git.as_ref().and_then(|g| g.commit.clone()),
            live_slot: session
                .deployments
                .iter()
                .rev()
                .find_map(|d| d.live.clone()),
            environments: tallies(session),
            seal: None,
        }
    }
}

/// Every archived session, oldest first. A torn last line (a writer killed
/// mid-append) is ignored; any other bad line is an error naming it.
pub fn read(paths: &RepoPaths) -> Result<Vec<HistoryEntry>> {
    let path = paths.archive_root().join("index.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    complete
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                crate::error::InputError::in_file(
                    &paths.shown(&path),
                    Some(i + 1),
                    format!("bad history line: {e}"),
                )
                .into()
            })
        })
        .collect()
}

/// Every archived session, each checked against the `session_closed` line
/// of the audit trail that seals it, and the count against the seals the
/// state (itself checked against the trail) knows of. Used where history
/// decides something (gates, `history`, `end`), not on the hot path.
pub fn read_verified(paths: &RepoPaths, state: &StateFile) -> Result<Vec<HistoryEntry>> {
    let entries = read(paths)?;
    let index = paths.shown(&paths.archive_root().join("index.jsonl"));
    let refuse = |line: Option<usize>, why: String| -> anyhow::Error {
        crate::error::InputError::in_file(&index, line, format!("does not match the audit trail: {why}"))
            .with_hint("the history index is a view of the audit trail and nothing was written; undo the edit, or run `deploy-session audit rebuild`")
            .into()
    };
    let sealed = state.sealed.as_ref().map_or(0, |s| s.sessions) as usize;
    if entries.len() != sealed {
        return Err(refuse(
            None,
            format!(
                "it lists {} sessions where the trail sealed {sealed}",
                entries.len()
            ),
        ));
    }
    let mut trail = match std::fs::File::open(paths.audit()) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && entries.is_empty() => None,
        Err(e) => {
            return Err(e).with_context(|| format!("cannot open {}", paths.audit().display()));
        }
    };
    for (i, entry) in entries.iter().enumerate() {
        let (Some(seal), Some(file)) = (&entry.seal, trail.as_mut()) else {
            return Err(refuse(
                Some(i + 1),
                format!("session {} has no seal in the trail", entry.session),
            ));
        };
        let why = match sealed_entry(file, seal) {
            Ok((sealed_entry, position)) => {
                let mut unsealed = entry.clone();
                unsealed.seal = None;
                let want = serde_json::to_value(&sealed_entry).unwrap_or_default();
                let got = serde_json::to_value(&unsealed).unwrap_or_default();
                if position != i as u64 {
                    Some(format!(
                        "session {} is line {} of the index, its seal says line {}",
                        entry.session,
                        i + 1,
                        position + 1
                    ))
                } else {
                    crate::session::views::first_difference(&want, &got, String::new()).map(
                        |(path, trail, file)| {
                            format!(
                                "`{path}` is {file} where the trail's seal (seq {}) gives {trail}",
                                seal.seq
                            )
                        },
                    )
                }
            }
            Err(why) => Some(why),
        };
        if let Some(why) = why {
            return Err(refuse(Some(i + 1), why));
        }
    }
    if let (Some(last), Some(s)) = (entries.last(), &state.sealed)
        && last
            .seal
            .as_ref()
            .is_none_or(|l| l.seq != s.seq || l.hash != s.hash)
    {
        return Err(refuse(
            Some(entries.len()),
            "its last line is not the trail's last seal".into(),
        ));
    }
    Ok(entries)
}

/// The history entry and index position sealed by the line at `seal`.
fn sealed_entry(file: &mut std::fs::File, seal: &Seal) -> Result<(HistoryEntry, u64), String> {
    use std::io::{BufRead, Seek};
    let at = format!("seq {} at byte {}", seal.seq, seal.offset);
    file.seek(std::io::SeekFrom::Start(seal.offset))
        .map_err(|e| format!("cannot read the trail at {at}: {e}"))?;
    let mut line = String::new();
    std::io::BufReader::new(&mut *file)
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the trail at {at}: {e}"))?;
    let event = crate::audit::check_line(line.trim_end_matches('\n'))
        .map_err(|why| format!("the trail has no intact line at {at}: {why}"))?;
    if event.seq != seal.seq || event.hash != seal.hash {
        return Err(format!(
            "the trail's line at {at} is not the seal the index names"
        ));
    }
    match EventKind::from_event(&event) {
        Some(EventKind::SessionClosed {
            history: Some(h),
            position: Some(p),
            ..
        }) => Ok((h, p)),
        _ => Err(format!("the trail's line at {at} seals no history entry")),
    }
}

/// Finishes a close a kill cut short: the trail sealed a session (its
/// `session_closed` line is durable) but the index line after it was never
/// written. Cheap when nothing is missing (the index's last line only);
/// otherwise the index is written again from the trail's seals — but only
/// when what it holds is a prefix of that, so a forged index is left for
/// the readers to refuse, never silently replaced. Returns whether it
/// wrote.
pub fn catch_up(paths: &RepoPaths, state: &StateFile) -> Result<bool> {
    let Some(sealed) = &state.sealed else {
        return Ok(false);
    };
    let path = paths.archive_root().join("index.jsonl");
    if last_line_seal(&path) == Some(sealed.seq) {
        return Ok(false);
    }
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let complete = rebuilt_text(paths)?;
    if !complete.starts_with(&text) || complete == text {
        return Ok(false);
    }
    std::fs::create_dir_all(paths.archive_root())?;
    crate::fsio::write_atomic(&path, complete.as_bytes())?;
    Ok(true)
}

/// The seal seq of the index's last line, reading only the file's end (a
/// writer checks it on every open: it must not grow with history).
fn last_line_seal(path: &std::path::Path) -> Option<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let from = len.saturating_sub(8192);
    f.seek(SeekFrom::Start(from)).ok()?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    let last = text.trim_end_matches('\n').rsplit('\n').next()?;
    serde_json::from_str::<HistoryEntry>(last)
        .ok()?
        .seal
        .map(|s| s.seq)
}

/// Writes the index again from the trail's seals (`audit rebuild`),
/// keeping a differing old one as a numbered backup; returns how many
/// sessions it lists and that backup.
pub fn rebuild(paths: &RepoPaths) -> Result<(usize, Option<std::path::PathBuf>)> {
    let text = rebuilt_text(paths)?;
    let sessions = text.lines().count();
    let path = paths.archive_root().join("index.jsonl");
    let old = std::fs::read(&path).ok();
    let backup = match &old {
        Some(bytes) if bytes != text.as_bytes() => Some(crate::fsio::keep_numbered_backup(&path)?),
        _ => None,
    };
    if old.as_deref() != Some(text.as_bytes()) && (sessions > 0 || old.is_some()) {
        std::fs::create_dir_all(paths.archive_root())?;
        crate::fsio::write_atomic(&path, text.as_bytes())?;
    }
    Ok((sessions, backup))
}

/// The index as the trail's seals give it.
fn rebuilt_text(paths: &RepoPaths) -> Result<String> {
    let trail = match std::fs::read(paths.audit()) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read {}", paths.audit().display()));
        }
    };
    let mut text = String::new();
    let mut offset = 0u64;
    for raw in trail.split_inclusive(|&b| b == b'\n') {
        let at = offset;
        offset += raw.len() as u64;
        let Some(event) = raw
            .strip_suffix(b"\n")
            .and_then(|l| std::str::from_utf8(l).ok())
            .and_then(|l| crate::audit::check_line(l).ok())
        else {
            continue;
        };
        if let Some(EventKind::SessionClosed {
            history: Some(mut entry),
            ..
        }) = EventKind::from_event(&event)
        {
            entry.seal = Some(Seal {
                seq: event.seq,
                offset: at,
                hash: event.hash,
            });
            text.push_str(&serde_json::to_string(&entry)?);
            text.push('\n');
        }
    }
    Ok(text)
}

/// Appends an entry (fsynced).
pub fn append(paths: &RepoPaths, entry: &HistoryEntry) -> Result<()> {
    let dir = paths.archive_root();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("index.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut line = serde_json::to_string(entry)?;
    line.push('\n');
    f.write_all(line.as_bytes())?;
    f.sync_data()?;
    Ok(())
}

/// The deployment success rate behind the reliability gate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Reliability {
    pub deployments: u64,
    pub succeeded: u64,
    pub sessions: u64,
}

/// A session's deployments counted per environment (those without one
/// are not counted here).
fn tallies(session: &Session) -> BTreeMap<String, Tally> {
    let mut out: BTreeMap<String, Tally> = BTreeMap::new();
    for d in &session.deployments {
        if let Some(env) = &d.environment {
            let t = out.entry(env.clone()).or_default();
            t.deployments += 1;
            t.failed += u64::from(!d.succeeded());
        }
    }
    out
}

impl Reliability {
    /// Over the archived sessions and, if given, the open one.
    pub fn of(history: &[HistoryEntry], current: Option<&Session>) -> Reliability {
        Reliability::count(
            history
                .iter()
                .map(|h| Tally {
                    deployments: h.deployments,
                    failed: h.deployments_failed,
                })
                .chain(current.map(|s| Tally {
                    deployments: s.deployments.len() as u64,
                    failed: s.deployments.iter().filter(|d| !d.succeeded()).count() as u64,
                })),
        )
    }

    /// Per environment, over the archived sessions and the open one; empty
    /// when no deployment named an environment.
    pub fn per_environment(
        history: &[HistoryEntry],
        current: Option<&Session>,
    ) -> BTreeMap<String, Reliability> {
        let open = current.map(tallies).unwrap_or_default();
        let mut names: Vec<&String> = history
            .iter()
            .flat_map(|h| h.environments.keys())
            .chain(open.keys())
            .collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|env| {
                let of = |m: &BTreeMap<String, Tally>| m.get(env).copied();
                let all = history
                    .iter()
                    .filter_map(|h| of(&h.environments))
                    .chain(of(&open));
                (env.clone(), Reliability::count(all))
            })
            .collect()
    }

    /// Sums tallies, one per session (sessions without deployments are not
    /// counted).
    fn count(sessions: impl Iterator<Item = Tally>) -> Reliability {
        let mut r = Reliability {
            deployments: 0,
            succeeded: 0,
            sessions: 0,
        };
        for t in sessions.filter(|t| t.deployments > 0) {
            r.deployments += t.deployments;
            r.succeeded += t.deployments - t.failed.min(t.deployments);
            r.sessions += 1;
        }
        r
    }

    /// Success rate in percent (`None` without deployments).
    pub fn rate(&self) -> Option<f64> {
        (self.deployments > 0).then(|| self.succeeded as f64 * 100.0 / self.deployments as f64)
    }
}
