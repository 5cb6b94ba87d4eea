//! The `check` kind: files (paths or globs, inside the repo), master-state
//! phase facts, and git facts. Each returns the evidence it found, or the
//! precise reason it failed.

use crate::engine::{Engine, Step};
use crate::master_state::{MasterState, PhaseStatus};
use crate::paths::{RepoPaths, inside_repo};
use crate::protocol::Action;
use crate::protocol::{CheckSpec, PhaseCheck};
use crate::session::ActionStatus;
use std::path::Path;
use std::time::Instant;

/// Evaluates every part of `spec`; `Ok(evidence)` or `Err(reason)`.
pub fn evaluate(paths: &RepoPaths, spec: &CheckSpec) -> Result<String, String> {
    let mut evidence = Vec::new();
    if !spec.files.is_empty() {
        evidence.push(files_exist(paths.root(), &spec.files)?);
    }
    if !spec.any_of.is_empty() {
        evidence.push(any_file_exists(paths.root(), &spec.any_of)?);
    }
    if let Some(p) = &spec.phase {
        evidence.push(phase(paths, p)?);
    }
    if let Some(g) = &spec.git {
        evidence.push(crate::git::check(paths.root(), g)?);
    }
    Ok(evidence.join("; "))
}

/// Every path or glob matches something inside the repo.
pub fn files_exist(root: &Path, patterns: &[String]) -> Result<String, String> {
    let canonical_root = root
        .canonicalize()
        .map_err(|e| format!("cannot resolve the repo root: {e}"))?;
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for pattern in patterns {
        let rel = inside_repo(root, pattern)?;
        let full = root.join(&rel);
        let matches: Vec<_> = if is_glob(pattern) {
            glob::glob(&full.to_string_lossy())
                .map_err(|e| format!("bad glob {pattern:?}: {e}"))?
                .flatten()
                .collect()
        } else if full.exists() {
            vec![full]
        } else {
            Vec::new()
        };
        if matches.is_empty() {
            missing.push(pattern.clone());
            continue;
        }
        for m in &matches {
            let real = m
                .canonicalize()
                .map_err(|e| format!("{}: {e}", m.display()))?;
            if !real.starts_with(&canonical_root) {
                return Err(format!(
                    "{} resolves outside the repo (to {})",
                    m.display(),
                    real.display()
                ));
            }
        }
        found.push(if matches.len() == 1 {
            pattern.clone()
        } else {
            format!("{pattern} ({} files)", matches.len())
        });
    }
    if missing.is_empty() {
        Ok(format!("found {}", found.join(", ")))
    } else {
        Err(format!("missing: {}", missing.join(", ")))
    }
}

/// At least one of `patterns` matches something inside the repo.
pub fn any_file_exists(root: &Path, patterns: &[String]) -> Result<String, String> {
    let mut problems = Vec::new();
    for pattern in patterns {
        match files_exist(root, std::slice::from_ref(pattern)) {
            Ok(found) => return Ok(found),
            Err(missing) if missing.starts_with("missing") => {}
            Err(problem) => problems.push(problem),
        }
    }
    let mut why = format!("none of these exists: {}", patterns.join(", "));
    if !problems.is_empty() {
        why.push_str(&format!(" ({})", problems.join("; ")));
    }
    Err(why)
}

fn is_glob(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

/// Says whose word a phase's state rests on when a person recorded it with
/// `deploy-session phase`: attested, not checked.
fn attested(p: &crate::master_state::Phase) -> String {
    match (p.facts.get("recorded_by"), p.facts.get("recorded_at")) {
        (Some(by), Some(at)) => format!(" (attested: stated by {by} at {at}, not checked)"),
        (Some(by), None) => format!(" (attested: stated by {by}, not checked)"),
        _ => String::new(),
    }
}

/// Facts about a phase in the master state.
fn phase(paths: &RepoPaths, check: &PhaseCheck) -> Result<String, String> {
    let path = paths.master_state();
    let shown = paths.shown(&path);
    let state = MasterState::load(&path, &shown).map_err(|e| format!("{e:#}"))?;
    let n = check.number;
    let Some(p) = state.phase(n) else {
        return Err(format!("{} has no Phase {n} section", shown.display()));
    };
    let mut evidence = Vec::new();
    if let Some(want) = &check.status {
        let want = PhaseStatus::parse(want).ok_or_else(|| format!("unknown status {want:?}"))?;
        if p.status != want {
            return Err(format!(
                "Phase {n} ({}) is {}, not {want} ({}:{})",
                p.name,
                p.status,
                shown.display(),
                p.line
            ));
        }
        evidence.push(format!("Phase {n} is {want}{}", attested(p)));
    }
    if check.deliverables.is_some() {
        let open: Vec<String> = p
            .deliverables
            .iter()
            .filter(|d| !d.done)
            .map(|d| format!("{} ({})", d.name, d.value))
            .collect();
        if p.deliverables.is_empty() {
            return Err(format!(
                "Phase {n} lists no deliverables ({}:{})",
                shown.display(),
                p.line
            ));
        }
        if !open.is_empty() {
            return Err(format!(
                "Phase {n} deliverables not completed: {}",
                open.join(", ")
            ));
        }
        evidence.push(format!(
            "all {} Phase {n} deliverables completed{}",
            p.deliverables.len(),
            attested(p)
        ));
    }
    if check.approved == Some(true) {
        match &p.approval {
            Some(a) if p.approved() => evidence.push(format!(
                "Phase {n} approved by {}",
                a.by.as_deref().unwrap_or("an unnamed approver")
            )),
            Some(_) if p.approved_unnamed() => {
                return Err(format!(
                    "Phase {n}'s approval names no one or no time: an approval needs who and when"
                ));
            }
            _ => return Err(format!("Phase {n} has no recorded approval")),
        }
    }
    Ok(evidence.join(", "))
}

impl Engine {
    /// The `check` kind: evaluates the check and records its evidence.
    /// Git status, file globs and the master state block: they run off the
    /// executor (a sibling stage may be streaming output), and a signal
    /// ends the check even while a read is stuck.
    pub(crate) async fn check(&self, a: &Action, spec: &CheckSpec) -> anyhow::Result<Step> {
        self.start_attempt(a, crate::protocol::KindName::Check)?;
        let started = Instant::now();
        let (paths, owned) = (self.paths().clone(), spec.clone());
        let Some(verdict) = self.off_thread(move || evaluate(&paths, &owned)).await? else {
            return self.finish(
                a,
                ActionStatus::Interrupted,
                None,
                Some(started.elapsed()),
                Some("interrupted while checking".into()),
                None,
            );
        };
        match verdict {
            Ok(evidence) => {
                let metrics = serde_json::json!({ "evidence": evidence });
                self.finish(
                    a,
                    ActionStatus::Completed,
                    None,
                    Some(started.elapsed()),
                    None,
                    Some(metrics),
                )
            }
            Err(why) => {
                let hint = spec
                    .hint
                    .as_deref()
                    .map(|h| format!(" — {h}"))
                    .unwrap_or_default();
                self.finish(
                    a,
                    ActionStatus::Failed,
                    None,
                    Some(started.elapsed()),
                    Some(format!("{why}{hint}")),
                    None,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_globs_inside_the_repo() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("reports")).unwrap();
        std::fs::write(dir.path().join("reports/a.json"), "{}").unwrap();
        std::fs::write(dir.path().join("reports/b.json"), "{}").unwrap();
        let ok = files_exist(
            dir.path(),
            &["reports/*.json".into(), "reports/a.json".into()],
        )
        .unwrap();
        assert_eq!(ok, "found reports/*.json (2 files), reports/a.json");
        let err =
            files_exist(dir.path(), &["nope.txt".into(), "reports/*.xml".into()]).unwrap_err();
        assert_eq!(err, "missing: nope.txt, reports/*.xml");
        assert!(
            files_exist(dir.path(), &["../x".into()])
                .unwrap_err()
                .contains("climbs out")
        );
    }

    #[test]
    fn symlinks_leaving_the_repo_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(elsewhere.path().join("secret.txt"), "x").unwrap();
        std::os::unix::fs::symlink(elsewhere.path().join("secret.txt"), dir.path().join("link"))
            .unwrap();
        let err = files_exist(dir.path(), &["link".into()]).unwrap_err();
        assert!(err.contains("resolves outside the repo"), "{err}");
    }
}
