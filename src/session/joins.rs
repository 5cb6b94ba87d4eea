//! Joined trails: the lines another CI job appended (parallel stages,
//! or a re-run joined to its failed attempt), kept verbatim in
//! `.ai_context/deploy-session/joined/<head>.jsonl` and anchored in this
//! trail by a `trail_joined` event naming the line they follow, how many
//! there are and the other trail's head. Re-chaining them into this trail
//! would make a join indistinguishable from a forgery; kept verbatim, every
//! joined line still verifies against the other job's own chain (and its
//! signature, when it was sealed).

use super::EventKind;
use crate::audit::{self, Event};
use crate::error::InputError;
use crate::paths::RepoPaths;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;

/// The folder of joined trails.
pub fn dir(paths: &RepoPaths) -> PathBuf {
    paths.store().join("joined")
}

/// The file for a join ending at `head`.
pub fn file_name(head: &str) -> String {
    format!("{}.jsonl", &head[..head.len().min(16)])
}

/// What a `trail_joined` event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    pub file: String,
    pub after_seq: u64,
    pub after_hash: String,
    pub events: u64,
    pub head: String,
}

impl Join {
    /// The join an event records, if it is one.
    pub fn of(e: &Event) -> Option<Join> {
        if e.event != "trail_joined" {
            return None;
        }
        match EventKind::from_event(e)? {
            EventKind::TrailJoined {
                file,
                after_seq,
                after_hash,
                events,
                head,
                ..
            } => Some(Join {
                file,
                after_seq,
                after_hash,
                events,
                head,
            }),
            _ => None,
        }
    }

    /// The joined lines, each checked, chained from the line they follow to
    /// the recorded head, and as many as recorded.
    pub fn read(&self, paths: &RepoPaths) -> Result<Vec<Event>> {
        if self.file.contains('/') || self.file.starts_with('.') {
            bail!("joined trail {:?} is not a file name", self.file);
        }
        let path = dir(paths).join(&self.file);
        let shown = paths.shown(&path).display().to_string();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the joined trail {shown}"))?;
        let located = |line: Option<usize>, why: String| -> anyhow::Error {
            InputError::in_file(std::path::Path::new(&shown), line, why)
                .with_hint(
                    "a joined trail is another job's lines kept verbatim; it must not be edited",
                )
                .into()
        };
        let (mut seq, mut prev) = (self.after_seq, self.after_hash.clone());
        let mut events = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let e = audit::check_line(line).map_err(|why| located(Some(i + 1), why))?;
            if e.seq != seq + 1 || e.prev != prev {
                return Err(located(
                    Some(i + 1),
                    format!("the chain breaks: it does not follow seq {seq}"),
                ));
            }
            (seq, prev) = (e.seq, e.hash.clone());
            events.push(e);
        }
        if events.len() as u64 != self.events || prev != self.head {
            return Err(located(
                None,
                format!(
                    "{} lines ending at {}…, the join recorded {} ending at {}…",
                    events.len(),
                    &prev[..prev.len().min(16)],
                    self.events,
                    &self.head[..self.head.len().min(16)]
                ),
            ));
        }
        Ok(events)
    }
}

/// `events` with each join followed by the lines it joined, in the order
/// they apply (what a replay of the trail sees).
pub fn expand(paths: &RepoPaths, events: Vec<Event>) -> Result<Vec<Event>> {
    if !events.iter().any(|e| e.event == "trail_joined") {
        return Ok(events);
    }
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let join = Join::of(&e);
        out.push(e);
        if let Some(join) = join {
            out.extend(expand(paths, join.read(paths)?)?);
        }
    }
    Ok(out)
}
