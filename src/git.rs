//! Git facts through libgit2 (no `git` binary needed): what a session
//! records at start, the `git` check, and the identity of whoever acts.

use crate::session::GitFacts;
use git2::{Repository, StatusOptions};
use std::path::Path;

/// The tool's own state folder; its changes do not make a tree dirty.
const OWN_DIR: &str = ".ai_context/";

/// Opens the repository whose work tree is `root`, if it is one.
pub fn open(root: &Path) -> Option<Repository> {
    Repository::open(root)
        .ok()
        .filter(|r| r.workdir().is_some())
}

/// Commit, branch and dirtiness of the work tree; `None` outside git.
pub fn facts(root: &Path) -> Option<GitFacts> {
    let repo = open(root)?;
    let head = repo.head().ok();
    Some(GitFacts {
        commit: head
            .as_ref()
            .and_then(|h| h.peel_to_commit().ok())
            .map(|c| c.id().to_string()),
        branch: branch_name(&repo),
        dirty: !changed_paths(&repo).is_empty(),
    })
}

/// The branch HEAD is on, also when it has no commits yet.
fn branch_name(repo: &Repository) -> Option<String> {
    let head = repo.find_reference("HEAD").ok()?;
    let target = head.symbolic_target().ok()??.to_string();
    target.strip_prefix("refs/heads/").map(String::from)
}

/// Paths with uncommitted changes (untracked included, ignored and the
/// tool's own `.ai_context/` excluded).
pub fn changed_paths(repo: &Repository) -> Vec<String> {
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    let Ok(statuses) = repo.statuses(Some(&mut opts)) else {
        return Vec::new();
    };
    statuses
        .iter()
        .filter_map(|e| e.path().ok().map(String::from))
        .filter(|p| !p.starts_with(OWN_DIR))
        .collect()
}

/// "Name <email>", as git would sign a commit: `GIT_AUTHOR_NAME` /
/// `GIT_AUTHOR_EMAIL`, else git config (repo, then global), if set.
pub fn identity(root: &Path) -> Option<String> {
    let config = match open(root) {
        Some(r) => r.config().ok(),
        None => git2::Config::open_default().ok(),
    };
    let lookup = |env: &str, key: &str| {
        std::env::var(env)
            .ok()
            .or_else(|| config.as_ref()?.get_string(key).ok())
            .filter(|s| !s.is_empty())
    };
    let name = lookup("GIT_AUTHOR_NAME", "user.name");
    let email = lookup("GIT_AUTHOR_EMAIL", "user.email");
    match (name, email) {
        (Some(n), Some(e)) => Some(format!("{n} <{e}>")),
        (Some(n), None) => Some(n),
        (None, Some(e)) => Some(e),
        (None, None) => None,
    }
}

/// The outcome of a `git` check: `Ok(evidence)` or `Err(reason)`.
pub fn check(root: &Path, spec: &crate::protocol::GitCheck) -> Result<String, String> {
    let repo = open(root).ok_or("the repo is not a git repository")?;
    let mut evidence = Vec::new();
    if spec.clean == Some(true) {
        let changed = changed_paths(&repo);
        if !changed.is_empty() {
            let shown: Vec<&str> = changed.iter().take(5).map(String::as_str).collect();
            let more = changed.len().saturating_sub(5);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            return Err(format!(
                "the work tree has uncommitted changes: {}{more}",
                shown.join(", ")
            ));
        }
        evidence.push("work tree clean".to_string());
    }
    let head = repo
        .head()
        .map_err(|e| format!("HEAD cannot be read: {}", e.message()))?;
    if let Some(want) = &spec.branch {
        let on = head.shorthand().ok().filter(|_| head.is_branch());
        if on != Some(want.as_str()) {
            return Err(format!(
                "HEAD is on {} , not on branch {want}",
                on.unwrap_or("a detached commit")
            )
            .replace(" ,", ","));
        }
        evidence.push(format!("on branch {want}"));
    }
    if let Some(rev) = &spec.commit {
        let target = repo
            .revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .map_err(|_| format!("{rev} is not a commit in this repository"))?;
        let head_id = head
            .peel_to_commit()
            .map_err(|e| e.message().to_string())?
            .id();
        let reachable = head_id == target.id()
            || repo
                .graph_descendant_of(head_id, target.id())
                .unwrap_or(false);
        if !reachable {
            return Err(format!(
                "{rev} ({}) is not reachable from HEAD",
                &target.id().to_string()[..12]
            ));
        }
        evidence.push(format!("HEAD contains {rev}"));
    }
    Ok(evidence.join(", "))
}
