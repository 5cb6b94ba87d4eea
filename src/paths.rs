//! Where things live in a repo, and the rule that user paths stay inside it.

use std::path::{Component, Path, PathBuf};

/// The files and folders of one repo that the tool reads and writes.
#[derive(Debug, Clone)]
pub struct RepoPaths {
    root: PathBuf,
}

/// The config file names, in the order they are looked for.
pub const CONFIG_NAMES: [&str; 2] = ["deploy-session.yaml", ".ai_context/deploy-session.yaml"];

impl RepoPaths {
    /// Layout rooted at `root` (should be absolute).
    pub fn new(root: PathBuf) -> RepoPaths {
        RepoPaths { root }
    }

    /// Finds the repo: `explicit` if given, else the git work tree holding
    /// `cwd`, else `cwd` itself.
    pub fn discover(explicit: Option<&Path>, cwd: &Path) -> RepoPaths {
        if let Some(dir) = explicit {
            let abs = if dir.is_absolute() {
                dir.to_path_buf()
            } else {
                cwd.join(dir)
            };
            return RepoPaths::new(abs.canonicalize().unwrap_or(abs));
        }
        let root = git2::Repository::discover(cwd)
            .ok()
            .and_then(|r| r.workdir().map(Path::to_path_buf))
            .unwrap_or_else(|| cwd.to_path_buf());
        RepoPaths::new(root.canonicalize().unwrap_or(root))
    }

    /// The repo root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `.ai_context/`
    pub fn ai_context(&self) -> PathBuf {
        self.root.join(".ai_context")
    }

    /// `.ai_context/framework_progress.md`, the master state.
    pub fn master_state(&self) -> PathBuf {
        self.ai_context().join("framework_progress.md")
    }

    /// `.ai_context/todos.json`
    pub fn todos(&self) -> PathBuf {
        self.ai_context().join("todos.json")
    }

    /// `.ai_context/deployment_context.md`
    pub fn deployment_context(&self) -> PathBuf {
        self.ai_context().join("deployment_context.md")
    }

    /// `.ai_context/operations_context.md`
    pub fn operations_context(&self) -> PathBuf {
        self.ai_context().join("operations_context.md")
    }

    /// `.ai_context/deploy-session/`, the tool's own store.
    pub fn store(&self) -> PathBuf {
        self.ai_context().join("deploy-session")
    }

    /// `.ai_context/deploy-session/state.json`
    pub fn state(&self) -> PathBuf {
        self.store().join("state.json")
    }

    /// The resolved protocol set a writer keeps (trusted under the seal
    /// the audit trail records: `protocol::cache`).
    pub fn protocol_cache(&self) -> PathBuf {
        self.store().join("protocols.json")
    }

    /// `.ai_context/deploy-session/lock`
    pub fn lock(&self) -> PathBuf {
        self.store().join("lock")
    }

    /// `.ai_context/deploy-session/audit.jsonl`
    pub fn audit(&self) -> PathBuf {
        self.store().join("audit.jsonl")
    }

    /// `.ai_context/deploy-session/logs/<session>/`
    pub fn logs(&self, session: &str) -> PathBuf {
        self.store().join("logs").join(session)
    }

    /// `.ai_context/deploy-session/archive/`
    pub fn archive_root(&self) -> PathBuf {
        self.store().join("archive")
    }

    /// `.ai_context/deploy-session/archive/<session>/`
    pub fn archive(&self, session: &str) -> PathBuf {
        self.archive_root().join(session)
    }

    /// `.ai_context/handoff/<session>/`
    pub fn handoff(&self, session: &str) -> PathBuf {
        self.ai_context().join("handoff").join(session)
    }

    /// The config file in use, if any (both present is reported by the loader).
    pub fn config_candidates(&self) -> Vec<PathBuf> {
        CONFIG_NAMES
            .iter()
            .map(|n| self.root.join(n))
            .filter(|p| p.exists() || p.is_symlink())
            .collect()
    }

    /// `path` relative to the root, for messages (unchanged if outside).
    pub fn shown(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.root)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

/// Normalises a user path (relative to `root`, or absolute inside it) to a
/// clean relative path, without touching the file system. `..` that climbs
/// out of the repo and absolute paths elsewhere are refused.
pub fn inside_repo(root: &Path, user: &str) -> Result<PathBuf, String> {
    if user.trim().is_empty() {
        return Err("the path is empty".into());
    }
    let p = Path::new(user);
    let rel = if p.is_absolute() {
        p.strip_prefix(root)
            .map_err(|_| format!("{user:?} is outside the repo"))?
    } else {
        p
    };
    let mut out = PathBuf::new();
    for c in rel.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return Err(format!("{user:?} climbs out of the repo with `..`"));
                }
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("{user:?} is outside the repo"));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_repo() {
        let root = Path::new("/repo");
        assert_eq!(
            inside_repo(root, "infra/./a").unwrap(),
            PathBuf::from("infra/a")
        );
        assert_eq!(inside_repo(root, "a/../b").unwrap(), PathBuf::from("b"));
        assert_eq!(inside_repo(root, "/repo/x").unwrap(), PathBuf::from("x"));
        assert_eq!(inside_repo(root, ".").unwrap(), PathBuf::new());
        assert!(
            inside_repo(root, "../x")
                .unwrap_err()
                .contains("climbs out")
        );
        assert!(inside_repo(root, "a/../../x").is_err());
        assert!(
            inside_repo(root, "/etc/passwd")
                .unwrap_err()
                .contains("outside")
        );
        assert!(inside_repo(root, "").is_err());
    }
}
