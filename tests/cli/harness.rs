//! A temp repo and the binary pointed at it, with the environment pinned
//! (no color, fixed clock, no CI variables) so output is deterministic.

#![allow(dead_code)]

use assert_cmd::Command;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const NOW: &str = "2026-11-25T12:00:00Z";

/// Fixtures from tests/fixtures.
pub fn fixture(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

pub struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    /// An empty git repo.
    pub fn new() -> Repo {
        let repo = Repo::bare();
        let ok = std::process::Command::new("git")
            .args(["init", "-q", "-b", "main"])
            .current_dir(repo.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "git init failed");
        repo
    }

    /// A folder that is not a git repo.
    pub fn bare() -> Repo {
        Repo {
            dir: tempfile::Builder::new()
                .prefix("ds-test-")
                .tempdir()
                .unwrap(),
        }
    }

    /// A git repo holding `fixture` as its master state.
    pub fn with_master(fixture_name: &str) -> Repo {
        let repo = Repo::new();
        repo.write(".ai_context/framework_progress.md", &fixture(fixture_name));
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, content: &str) -> &Repo {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
        self
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.path().join(rel).exists()
    }

    /// The binary with `args`, run in the repo.
    pub fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut c = Command::cargo_bin("deploy-session").unwrap();
        c.args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env("DEPLOY_SESSION_NOW", NOW)
            .env("GIT_AUTHOR_NAME", "Test Operator")
            .env("GIT_AUTHOR_EMAIL", "operator@example.com")
            .env("GIT_COMMITTER_NAME", "Test Operator")
            .env("GIT_COMMITTER_EMAIL", "operator@example.com")
            .env_remove("CI")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("RUST_LOG")
            .env_remove("DEPLOY_SESSION_APPROVE");
        c
    }

    /// Every file under the repo (except .git) with its bytes.
    pub fn files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        collect(self.path(), self.path(), &mut out);
        out
    }
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        if p.is_dir() {
            collect(root, &p, out);
        } else {
            out.insert(
                p.strip_prefix(root).unwrap().to_path_buf(),
                std::fs::read(&p).unwrap(),
            );
        }
    }
}

/// Output of a finished command, as text.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(mut c: Command) -> Run {
    let out = c.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}
