//! Finished sessions: `.ai_context/deploy-session/archive/index.jsonl`, one
//! line per archived session. `history` and the reliability gate read this
//! index, never the archive folders, so they stay fast with thousands of
//! sessions.

use crate::paths::RepoPaths;
use crate::session::Session;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
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

impl Reliability {
    /// Over the archived sessions and, if given, the open one.
    pub fn of(history: &[HistoryEntry], current: Option<&Session>) -> Reliability {
        let mut r = Reliability {
            deployments: 0,
            succeeded: 0,
            sessions: 0,
        };
        for h in history.iter().filter(|h| h.deployments > 0) {
            r.deployments += h.deployments;
            r.succeeded += h.deployments - h.deployments_failed;
            r.sessions += 1;
        }
        if let Some(s) = current.filter(|s| !s.deployments.is_empty()) {
            r.deployments += s.deployments.len() as u64;
            r.succeeded += s.deployments.iter().filter(|d| d.succeeded()).count() as u64;
            r.sessions += 1;
        }
        r
    }

    /// Success rate in percent (`None` without deployments).
    pub fn rate(&self) -> Option<f64> {
        (self.deployments > 0).then(|| self.succeeded as f64 * 100.0 / self.deployments as f64)
    }
}
