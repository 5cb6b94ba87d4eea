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
        // Unreadable counts as dirty: nothing vouches for it being clean.
        dirty: changed_paths(&repo).map_or(true, |c| !c.is_empty()),
    })
}

/// The branch a CI runner says it checked out (GitLab `CI_COMMIT_BRANCH`,
/// GitHub `GITHUB_REF_NAME` for a branch), when its commit variable
/// (`CI_COMMIT_SHA`, `GITHUB_SHA`) is HEAD's commit.
fn ci_branch(
    var: impl Fn(&str) -> Option<String>,
    head: Option<&str>,
) -> Option<(String, &'static str)> {
    let head = head?;
    let gitlab = var("CI_COMMIT_BRANCH")
        .filter(|_| var("CI_COMMIT_SHA").as_deref() == Some(head))
        .map(|b| (b, "CI_COMMIT_BRANCH"));
    let github = var("GITHUB_REF_NAME")
        .filter(|_| var("GITHUB_REF_TYPE").as_deref() == Some("branch"))
        .filter(|_| var("GITHUB_SHA").as_deref() == Some(head))
        .map(|b| (b, "GITHUB_REF_NAME"));
    gitlab.or(github).filter(|(b, _)| !b.is_empty())
}

/// The branch HEAD is on, also when it has no commits yet.
fn branch_name(repo: &Repository) -> Option<String> {
    let head = repo.find_reference("HEAD").ok()?;
    let target = head.symbolic_target().ok()??.to_string();
    target.strip_prefix("refs/heads/").map(String::from)
}

/// Paths with uncommitted changes (untracked included, ignored and the
/// tool's own `.ai_context/` excluded).
/// A status libgit2 cannot read is an error, never a clean tree.
pub fn changed_paths(repo: &Repository) -> Result<Vec<String>, String> {
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    let statuses = repo
        .statuses(Some(&mut opts))
        .map_err(|e| format!("the work tree's status cannot be read: {}", e.message()))?;
    Ok(statuses
        .iter()
        .filter_map(|e| e.path().ok().map(String::from))
        .filter(|p| !p.starts_with(OWN_DIR))
        .collect())
}

/// Name and email as git would sign a commit: `GIT_AUTHOR_NAME` /
/// `GIT_AUTHOR_EMAIL`, else git config (repo, then global).
fn name_email(root: &Path) -> (Option<String>, Option<String>) {
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
    (
        lookup("GIT_AUTHOR_NAME", "user.name"),
        lookup("GIT_AUTHOR_EMAIL", "user.email"),
    )
}

/// The signature for a session commit; both name and email are needed.
fn signature(root: &Path) -> Option<git2::Signature<'static>> {
    match name_email(root) {
        (Some(n), Some(e)) => git2::Signature::now(&n, &e).ok(),
        _ => None,
    }
}

/// "Name <email>" of whoever acts here, if git knows.
pub fn identity(root: &Path) -> Option<String> {
    match name_email(root) {
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
        let changed = changed_paths(&repo)?;
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
        // CI runners check out a detached commit; the runner names the
        // branch, believed only for the very commit HEAD is at.
        let head_commit = head.peel_to_commit().ok().map(|c| c.id().to_string());
        let from_ci = if on.is_none() {
            ci_branch(|k| std::env::var(k).ok(), head_commit.as_deref())
        } else {
            None
        };
        match (on, &from_ci) {
            (Some(b), _) if b == want => evidence.push(format!("on branch {want}")),
            (None, Some((b, var))) if b == want => evidence.push(format!(
                "on branch {want} (a detached checkout of its commit; {var} names the branch)"
            )),
            _ => {
                let shown = on
                    .map(String::from)
                    .or(from_ci.map(|(b, var)| format!("{b} ({var}, detached)")))
                    .unwrap_or_else(|| "a detached commit".into());
                return Err(format!("HEAD is on {shown}, not on branch {want}"));
            }
        }
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

/// Files under `.ai_context/` that never go into a session commit: the lock,
/// its holder note and backup copies.
fn excluded_from_commit(path: &str) -> bool {
    path.ends_with(".bak")
        || path == ".ai_context/deploy-session/lock"
        || path == ".ai_context/deploy-session/lock.holder"
        // A cache for this build only; the committed trail and state
        // record its seal, and another build resolves its own.
        || path == ".ai_context/deploy-session/protocols.json"
        || path.contains(crate::fsio::TEMP_MARKER)
}

/// Why a session commit cannot be made here, checked before `end` runs so
/// nothing is half done: no repository, a detached HEAD, no identity,
/// unrelated staged changes, or an existing tag.
pub fn commit_preflight(root: &Path, tag: Option<&str>) -> Result<(), crate::error::InputError> {
    use crate::error::InputError;
    let repo = open(root)
        .ok_or_else(|| InputError::usage("--commit: the repo is not a git repository"))?;
    if repo.head_detached().unwrap_or(false) {
        return Err(InputError::usage(
            "--commit: HEAD is detached; check out a branch first",
        ));
    }
    signature(root).ok_or_else(|| {
        InputError::usage("--commit: git has no identity to commit with (user.name and user.email)")
            .with_hint(
                "git config user.name \"Your Name\" && git config user.email you@example.com",
            )
    })?;
    let staged = unrelated_staged(&repo);
    if !staged.is_empty() {
        return Err(InputError::usage(format!(
            "--commit: files unrelated to the session are staged: {}",
            staged.join(", ")
        ))
        .with_hint("commit or unstage them first (`git restore --staged <file>`); the session commit holds only .ai_context/"));
    }
    if let Some(t) = tag
        && repo.find_reference(&format!("refs/tags/{t}")).is_ok()
    {
        return Err(InputError::usage(format!(
            "--tag {t}: the tag already exists"
        )));
    }
    Ok(())
}

/// Staged paths outside `.ai_context/`.
fn unrelated_staged(repo: &Repository) -> Vec<String> {
    let head_tree = repo.head().ok().and_then(|h| h.peel_to_tree().ok());
    let Ok(diff) = repo.diff_tree_to_index(head_tree.as_ref(), None, None) else {
        return Vec::new();
    };
    diff.deltas()
        .filter_map(|d| {
            d.new_file()
                .path()
                .or(d.old_file().path())
                .map(|p| p.to_string_lossy().into_owned())
        })
        .filter(|p| !p.starts_with(OWN_DIR))
        .collect()
}

/// Commits every change under `.ai_context/` (but the lock and backups)
/// with `message`, and tags it when asked. Returns the commit id and the
/// files it changed.
pub fn commit_session(
    root: &Path,
    message: &str,
    tag: Option<&str>,
) -> anyhow::Result<(String, Vec<String>)> {
    use anyhow::Context;
    commit_preflight(root, tag)?;
    let repo = open(root).context("not a git repository")?;
    let mut index = repo.index()?;
    let mut skip =
        |path: &Path, _: &[u8]| -> i32 { i32::from(excluded_from_commit(&path.to_string_lossy())) };
    index.add_all(
        [".ai_context"],
        git2::IndexAddOption::DEFAULT,
        Some(&mut skip),
    )?;
    index.update_all([".ai_context"], Some(&mut skip))?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parent_tree = parent.as_ref().and_then(|p| p.tree().ok());
    let diff = repo.diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), None)?;
    let files: Vec<String> = diff
        .deltas()
        .filter_map(|d| {
            d.new_file()
                .path()
                .or(d.old_file().path())
                .map(|p| p.to_string_lossy().into_owned())
        })
        .collect();
    let sig = signature(root).context("git has no identity to commit with")?;
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    let oid = repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)?;
    if let Some(t) = tag {
        let obj = repo.find_object(oid, None)?;
        repo.tag(
            t,
            &obj,
            &sig,
            message.lines().next().unwrap_or(message),
            false,
        )?;
    }
    Ok((oid.to_string(), files))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_ci_runner_names_the_branch_only_for_heads_commit() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let gitlab = env(&[("CI_COMMIT_BRANCH", "main"), ("CI_COMMIT_SHA", "abc")]);
        assert_eq!(
            super::ci_branch(gitlab, Some("abc")),
            Some(("main".into(), "CI_COMMIT_BRANCH"))
        );
        assert_eq!(
            super::ci_branch(gitlab, Some("def")),
            None,
            "another commit"
        );
        let github = env(&[
            ("GITHUB_REF_NAME", "main"),
            ("GITHUB_REF_TYPE", "branch"),
            ("GITHUB_SHA", "abc"),
        ]);
        assert_eq!(
            super::ci_branch(github, Some("abc")),
            Some(("main".into(), "GITHUB_REF_NAME"))
        );
        let tag = env(&[
            ("GITHUB_REF_NAME", "v1"),
            ("GITHUB_REF_TYPE", "tag"),
            ("GITHUB_SHA", "abc"),
        ]);
        assert_eq!(
            super::ci_branch(tag, Some("abc")),
            None,
            "a tag is no branch"
        );
        assert_eq!(super::ci_branch(env(&[]), Some("abc")), None);
    }

    use super::*;

    /// A status libgit2 cannot read fails the `clean` check and counts as
    /// dirty; it never reads as a clean tree.
    #[test]
    fn an_unreadable_status_is_never_clean() {
        let dir = tempfile::tempdir().unwrap();
        Repository::init(dir.path()).unwrap();
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        std::fs::write(dir.path().join(".git/index"), b"DIRC garbage, not an index").unwrap();
        let spec = crate::protocol::GitCheck {
            clean: Some(true),
            branch: None,
            commit: None,
        };
        let err = check(dir.path(), &spec).unwrap_err();
        assert!(err.contains("status cannot be read"), "{err}");
        assert!(facts(dir.path()).unwrap().dirty);
    }
}
