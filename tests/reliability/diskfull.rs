//! A full disk, simulated with a file-size limit (`prlimit --fsize`): every
//! write fails at every size, and nothing is ever left half-written.

use crate::harness::*;
use crate::trail::{check_json, check_trail, temp_files};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The files that matter and their bytes.
fn owned_files(repo: &Repo) -> BTreeMap<PathBuf, Vec<u8>> {
    repo.files()
        .into_iter()
        .filter(|(p, _)| p.starts_with(".ai_context"))
        .collect()
}

/// Runs the binary under a file-size limit of `limit` bytes.
fn run_limited(repo: &Repo, limit: u64, args: &[&str]) -> Run {
    let plain = repo.std_cmd(args);
    let mut c = std::process::Command::new("prlimit");
    c.arg(format!("--fsize={limit}"))
        .arg("--")
        .arg(plain.get_program())
        .args(plain.get_args())
        .current_dir(repo.path());
    for (k, v) in plain.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    run(assert_cmd::Command::from_std(c))
}

fn copy_repo(from: &Repo) -> Repo {
    let to = Repo::bare();
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.path().display()))
        .arg(to.path())
        .status()
        .unwrap()
        .success();
    assert!(ok);
    to
}

/// Limits around every owned file's size (where writes start failing) and
/// a spread below them.
fn limits(files: &BTreeMap<PathBuf, Vec<u8>>) -> Vec<u64> {
    let mut l: Vec<u64> = vec![0, 1, 64, 512, 2048];
    for bytes in files.values() {
        let n = bytes.len() as u64;
        l.extend([n.saturating_sub(1), n, n + 1, n + 100, n + 1000]);
    }
    l.sort_unstable();
    l.dedup();
    l
}

/// What a case checks after a limited run: a failure says the OS error,
/// leaves no temp file, a trail that chains with no torn line, JSON that
/// parses, and files that are either unchanged or whole; then the same
/// command without the limit reaches the same result as it would have.
fn check_case(base: &Repo, args: &[&str], expect: i32, outcome: &dyn Fn(&Repo)) -> (u32, u32) {
    let before = owned_files(base);
    let (mut tried, mut failed) = (0, 0);
    for limit in limits(&before) {
        let repo = copy_repo(base);
        let r = run_limited(&repo, limit, args);
        tried += 1;
        let failed_here = r.code != expect;
        if failed_here {
            failed += 1;
            assert_ne!(r.code, 0, "limit {limit}: {args:?}");
            assert!(
                r.stderr.contains("File too large") || r.stderr.contains("os error 27"),
                "limit {limit}: {args:?} failed without the OS error:\n{}",
                r.stderr
            );
        }
        let ctx = repo.path().join(".ai_context");
        assert!(
            temp_files(repo.path()).is_empty(),
            "limit {limit}: temp files left: {:?}",
            temp_files(repo.path())
        );
        let trail = check_trail(&ctx.join("deploy-session/audit.jsonl"));
        assert!(
            trail.torn.is_none(),
            "limit {limit}: {args:?} left a torn audit line"
        );
        for f in ["deploy-session/state.json", "todos.json"] {
            check_json(&ctx.join(f));
        }
        let status = run(repo.cmd(["status", "--format", "json"]));
        assert_eq!(
            status.code, 0,
            "limit {limit}: the state does not load: {}",
            status.stderr
        );
        if failed_here {
            // Again without the limit: it completes, or says the limited
            // run had already recorded it (the journal was written before
            // the write that failed) — never twice.
            let r = run(repo.cmd(args));
            let recorded_before = r.code == 2 && r.stderr.contains("already");
            assert!(
                r.code == expect || recorded_before,
                "limit {limit}: {args:?} without the limit: {}\n{}",
                r.stdout,
                r.stderr
            );
        }
        outcome(&repo);
    }
    (tried, failed)
}

fn waiting_repo() -> Repo {
    let repo = Repo::ready("actions:\n  start.3.1:\n    run: echo provisioning; echo done\n");
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    repo
}

fn status_of(repo: &Repo, id: &str) -> String {
    repo.action_status(id)
}

#[test]
fn a_full_disk_fails_every_write_cleanly() {
    if !external_tool("prlimit (util-linux)", "prlimit --version") {
        return;
    }
    let base = waiting_repo();
    let (mut tried, mut failed) = (0, 0);
    let mut add = |(t, f): (u32, u32)| {
        tried += t;
        failed += f;
    };
    // The journal, the snapshot, the todo list, the context file.
    add(check_case(
        &base,
        &["done", "start.2.1", "--note", "n"],
        0,
        &|r| {
            assert_eq!(status_of(r, "start.2.1"), "completed");
            let events = r
                .audit()
                .iter()
                .filter(|e| e["event"] == "action_resolved" && e["action"] == "start.2.1")
                .count();
            assert_eq!(events, 1, "recorded exactly once");
        },
    ));
    // The master state (a phase approval).
    add(check_case(
        &base,
        &["approve", "--phase", "6", "--by", "Ops Lead", "--replace"],
        0,
        &|r| {
            assert!(
                r.read(".ai_context/framework_progress.md")
                    .contains("Ops Lead")
            );
        },
    ));
    // A run: action logs, state at stage boundaries.
    let ran = copy_repo(&base);
    ran.done_all(&[
        "start.2.1",
        "start.2.2",
        "start.2.3",
        "start.2.4",
        "start.2.5",
    ]);
    add(check_case(&ran, &["start"], 3, &|r| {
        assert_eq!(status_of(r, "start.3.1"), "completed");
    }));
    // The exported pipeline and a JUnit report (files outside .ai_context).
    add(check_case(
        &base,
        &["export", "--install", INSTALL, "gitlab-ci"],
        0,
        &|r| {
            assert!(r.read(".gitlab-ci.yml").contains("start-1:"));
        },
    ));
    assert!(
        failed > 0,
        "no limit made a write fail: the test proves nothing"
    );
    eprintln!(
        "disk full: {tried} runs under a file-size limit, {failed} failed with the OS error, 0 files torn or lost"
    );
}
