//! What CI systems read after a run: JUnit XML (one testsuite per stage,
//! one testcase per action) and GitHub Actions' workflow commands and step
//! summary. Both are built from the session's records, never from what was
//! printed, and masked like everything else.

pub mod github;
pub mod junit;

use crate::paths::RepoPaths;
use crate::protocol::{Protocol, Stage};
use crate::session::ActionRecord;

/// The stages of `p` a run covered: all, or the ones named by `--stage`.
pub fn stages_in_scope<'a>(p: &'a Protocol, only: &[String]) -> Vec<&'a Stage> {
    p.stages
        .iter()
        .filter(|s| only.is_empty() || only.contains(&s.id))
        .collect()
}

/// The last `lines` lines of an action's captured output, if it has one.
pub fn log_tail(paths: &RepoPaths, rec: &ActionRecord, lines: usize) -> Option<String> {
    let text = std::fs::read_to_string(paths.root().join(rec.log.as_ref()?)).ok()?;
    let all: Vec<&str> = text.lines().collect();
    let tail = &all[all.len().saturating_sub(lines)..];
    (!tail.is_empty()).then(|| tail.join("\n"))
}
