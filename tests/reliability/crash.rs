//! SIGKILL at random moments, over and over, through whole sessions.

use crate::harness::*;
use crate::trail::{check_json, check_trail, temp_files};
use std::time::{Duration, Instant};

/// How many kills prove the point (DESIGN §9; the issue asks ≥ 200).
const KILLS: u32 = 200;

/// Every action runs a command with a little work in it, so kills land
/// before, during and after actions.
fn crash_repo() -> Repo {
    let mut ids = start_manual_ids();
    ids.extend(work_ids());
    Repo::ready(&run_all(&ids, "echo begin; sleep 0.002; echo end"))
}

/// The command that moves the session on from where it is.
fn next_step(repo: &Repo) -> Vec<&'static str> {
    let r = run(repo.cmd(["context", "--format", "json"]));
    assert_eq!(r.code, 0, "context after a kill: {}", r.stderr);
    let brief = r.json();
    match brief["session"]["protocol"].as_str() {
        None if brief["session"].is_null() && brief["deployment_finished"] == true => {
            vec!["start", "--new-session"]
        }
        None if brief["session"].is_null() => vec!["start"],
        Some("start") => vec!["start"],
        Some("work") => vec!["work"],
        _ => end_waiving_args(&[]),
    }
}

/// The phases the tool never writes: from the first phase heading to
/// Phase 7's (the header bullets and Phases 7 and 8 are the tool's).
fn outside_owned_blocks(text: &str) -> String {
    let from = text.find("#### **Phase").unwrap_or(0);
    let to = text.find("#### **Phase 7").unwrap_or(text.len());
    text[from..to].to_string()
}

/// Whether a path is a writer's hidden staging copy (`.NAME.ds-tmp.*`):
/// not part of what a user sees, and removed by the next writing command.
fn is_staging(path: &std::path::Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().contains(".ds-tmp."))
}

/// The staging copies a kill left in the handoff folder.
fn staging_left(repo: &Repo) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(repo.path().join(".ai_context/handoff"))
        .map(|dirs| {
            dirs.flatten()
                .map(|d| d.path())
                .filter(|p| is_staging(p))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks every file a user can see after a kill (staging copies are the
/// next writer's to remove, and checked for that separately).
fn check_after_kill(repo: &Repo, master_before: &str) -> Option<Vec<u8>> {
    let ctx = repo.path().join(".ai_context");
    check_json(&ctx.join("deploy-session/state.json"));
    check_json(&ctx.join("todos.json"));
    if let Ok(dirs) = std::fs::read_dir(ctx.join("handoff")) {
        for d in dirs.flatten().filter(|d| !is_staging(&d.path())) {
            check_json(&d.path().join("manifest.json"));
        }
    }
    let master = repo.read(".ai_context/framework_progress.md");
    if master != master_before {
        assert_eq!(
            outside_owned_blocks(&master),
            outside_owned_blocks(master_before),
            "a kill changed the master state outside the Phase 7/8 blocks"
        );
        let r = run(repo.cmd(["status", "--format", "json"]));
        assert_eq!(
            r.code, 0,
            "the master state does not parse after a kill: {}",
            r.stderr
        );
    }
    check_trail(&ctx.join("deploy-session/audit.jsonl")).torn
}

#[test]
fn sigkill_at_random_moments_never_loses_or_corrupts_anything() {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261125u64);
    let mut rng = fastrand::Rng::with_seed(seed);
    let repo = crash_repo();
    let started = Instant::now();
    let (mut kills, mut finished_first, mut sessions) = (0u32, 0u32, 0u32);
    let mut torn_seen: Vec<Vec<u8>> = Vec::new();
    // Staging copies a kill left, which the next finished writer must remove.
    let (mut staging, mut staging_removed) = (Vec::new(), 0usize);
    while kills < KILLS {
        let master_before = repo.read(".ai_context/framework_progress.md");
        let args = next_step(&repo);
        let mut child = repo.spawn(&args);
        std::thread::sleep(Duration::from_micros(rng.u64(0..60_000)));
        match child.try_wait().unwrap() {
            Some(status) => {
                finished_first += 1;
                if args[0] == "end" && status.code() == Some(0) {
                    sessions += 1;
                }
                let still: Vec<_> = staging
                    .iter()
                    .filter(|p: &&std::path::PathBuf| p.exists())
                    .collect();
                assert!(
                    still.is_empty(),
                    "`{}` finished and left a killed writer's staging copies: {still:?}",
                    args[0]
                );
                staging_removed += staging.len();
                staging.clear();
            }
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
                for p in staging_left(&repo) {
                    if !staging.contains(&p) {
                        staging.push(p);
                    }
                }
            }
        }
        if let Some(t) = check_after_kill(&repo, &master_before)
            && !torn_seen.contains(&t)
        {
            torn_seen.push(t);
        }
    }
    // Then it resumes and completes, like nothing happened.
    for _ in 0..10 {
        let args = next_step(&repo);
        let r = run(repo.cmd(&args));
        assert!(
            [0, 3].contains(&r.code),
            "{args:?} after the kills: {}\n{}",
            r.stdout,
            r.stderr
        );
        if args[0] == "end" && r.code == 0 {
            sessions += 1;
            break;
        }
    }
    // Every session that ended is in the history exactly once (an `end`
    // killed just after archiving also counts), each with its archive.
    let history = run(repo.cmd(["history", "--format", "json"])).json();
    let ids: Vec<&str> = history["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["outcome"] == "completed")
        .map(|s| s["session"].as_str().unwrap())
        .collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ids.len(),
        "a session was archived twice: {ids:?}"
    );
    assert!(
        ids.len() as u32 >= sessions,
        "an ended session is missing from the history"
    );
    for id in &ids {
        assert!(
            repo.exists(&format!(
                ".ai_context/deploy-session/archive/{id}/session.json"
            )),
            "session {id} has no archive"
        );
    }
    let sessions = ids.len() as u32;
    assert!(sessions >= 1, "the loop never finished a session");
    assert!(
        temp_files(repo.path()).is_empty(),
        "temp files left: {:?}",
        temp_files(repo.path())
    );
    let verify = run(repo.cmd(["audit", "verify"]));
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    let quarantined = std::fs::read(
        repo.path()
            .join(".ai_context/deploy-session/audit.jsonl.quarantine"),
    )
    .unwrap_or_default();
    for t in &torn_seen {
        assert!(
            quarantined.windows(t.len()).any(|w| w == t.as_slice()),
            "a torn line was dropped instead of quarantined"
        );
    }
    let events = check_trail(&repo.path().join(".ai_context/deploy-session/audit.jsonl")).events;
    eprintln!(
        "crash loop (seed {seed}): {kills} SIGKILLs survived, {finished_first} runs finished before their kill, {sessions} sessions completed, {} torn lines quarantined, {staging_removed} staging copies removed by the next writer, {events} events chained, 0 files lost or corrupted, {:.1}s",
        torn_seen.len(),
        started.elapsed().as_secs_f64()
    );
}
