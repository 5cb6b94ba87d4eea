//! Many processes writing to one repo at once for a bounded time.

use crate::harness::*;
use crate::trail::check_trail;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sessions the driver completes and closes before the soak stops: the
/// soak is bounded by work done, not by wall-clock time, so a slow machine
/// runs it longer instead of proving less.
const ROUNDS: u32 = 8;

/// Stops a hung soak (a deadlock, a writer that never gets the lock). Far
/// beyond what the rounds take (a few seconds here); it judges no speed.
const WATCHDOG: Duration = Duration::from_secs(300);

#[derive(Default)]
struct Tally {
    /// `done` and `skip` that exited 0: each must be exactly one event.
    settled: AtomicU32,
    /// Exit 4 from the writer that does not wait.
    locked_out: AtomicU32,
    /// Commands run in all.
    commands: AtomicU32,
    aborted: AtomicU32,
    longest_wait_ms: AtomicU32,
    reads: AtomicU32,
    longest_read_ms: AtomicU32,
}

/// Runs `args`; panics on an exit code outside `allowed`.
fn run_checked(repo: &Repo, args: &[&str], allowed: &[i32], tally: &Tally) -> (i32, Duration) {
    let t = Instant::now();
    let r = run(repo.cmd(args));
    let took = t.elapsed();
    tally.commands.fetch_add(1, Ordering::Relaxed);
    assert!(
        allowed.contains(&r.code),
        "{args:?} exited {} (allowed {allowed:?}):\n{}{}",
        r.code,
        r.stdout,
        r.stderr
    );
    (r.code, took)
}

#[test]
fn concurrent_writers_lose_no_update_and_keep_one_chain() {
    let repo = Arc::new(Repo::ready(""));
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let running = {
        let stop = stop.clone();
        move || {
            assert!(
                started.elapsed() < WATCHDOG,
                "the soak hung: {ROUNDS} rounds not done after {WATCHDOG:?}"
            );
            !stop.load(Ordering::Relaxed)
        }
    };
    let ids = start_manual_ids();
    let mut workers = Vec::new();
    // Four settlers, each owning some of the manual actions, waiting for the lock.
    for k in 0..4 {
        let (repo, tally, running) = (repo.clone(), tally.clone(), running.clone());
        let mine: Vec<String> = ids.iter().skip(k).step_by(4).cloned().collect();
        workers.push(std::thread::spawn(move || {
            while running() {
                for (i, id) in mine.iter().enumerate() {
                    let verb = if i % 3 == 2 { "skip" } else { "done" };
                    let flag = if verb == "skip" { "--reason" } else { "--note" };
                    let args = [verb, id, flag, "soak", "--lock-timeout", "60s"];
                    // 2: already settled in this session, or no session open.
                    let (code, took) = run_checked(&repo, &args, &[0, 2], &tally);
                    if code == 0 {
                        tally.settled.fetch_add(1, Ordering::Relaxed);
                    }
                    tally
                        .longest_wait_ms
                        .fetch_max(took.as_millis() as u32, Ordering::Relaxed);
                }
            }
        }));
    }
    // One writer that does not wait: it gets the lock or exit 4, never a hang.
    {
        let (repo, tally, running) = (repo.clone(), tally.clone(), running.clone());
        workers.push(std::thread::spawn(move || {
            while running() {
                let (code, _) = run_checked(
                    &repo,
                    &["done", "start.3.5", "--note", "impatient"],
                    &[0, 2, 4],
                    &tally,
                );
                match code {
                    0 => {
                        tally.settled.fetch_add(1, Ordering::Relaxed);
                    }
                    4 => {
                        tally.locked_out.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        }));
    }
    // The driver: completes `start` when everything is settled, closes the
    // session, opens the next; after ROUNDS sessions it stops everyone.
    {
        let (repo, tally, running) = (repo.clone(), tally.clone(), running.clone());
        let stop = stop.clone();
        workers.push(std::thread::spawn(move || {
            while running() {
                let wait = ["--lock-timeout", "60s"];
                let (code, _) = run_checked(&repo, &["start", wait[0], wait[1]], &[0, 3], &tally);
                if code == 0 {
                    run_checked(
                        &repo,
                        &["abort", "--reason", "soak round", wait[0], wait[1]],
                        &[0],
                        &tally,
                    );
                    let rounds = tally.aborted.fetch_add(1, Ordering::Relaxed) + 1;
                    if rounds >= ROUNDS {
                        stop.store(true, Ordering::Relaxed);
                        break;
                    }
                    run_checked(&repo, &["start", wait[0], wait[1]], &[3], &tally);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }));
    }
    // Readers never wait for the lock and always see a whole document.
    let read_errors = Arc::new(Mutex::new(Vec::new()));
    for what in ["status", "todo", "next"] {
        let (repo, tally, errors, running) = (
            repo.clone(),
            tally.clone(),
            read_errors.clone(),
            running.clone(),
        );
        workers.push(std::thread::spawn(move || {
            while running() {
                let t = Instant::now();
                let r = run(repo.cmd([what, "--format", "json"]));
                tally
                    .longest_read_ms
                    .fetch_max(t.elapsed().as_millis() as u32, Ordering::Relaxed);
                tally.reads.fetch_add(1, Ordering::Relaxed);
                if r.code != 0 || serde_json::from_str::<serde_json::Value>(&r.stdout).is_err() {
                    errors
                        .lock()
                        .unwrap()
                        .push(format!("{what}: {} {}", r.code, r.stderr));
                }
            }
        }));
    }
    for w in workers {
        w.join().expect("a worker panicked");
    }
    let errors = read_errors.lock().unwrap();
    assert!(errors.is_empty(), "readers failed: {errors:?}");
    // No lost update: every success is exactly one event in one chain.
    let trail = repo.path().join(".ai_context/deploy-session/audit.jsonl");
    let check = check_trail(&trail);
    assert!(check.torn.is_none());
    let text = std::fs::read_to_string(&trail).unwrap();
    let count = |event: &str| {
        text.lines()
            .filter(|l| l.contains(&format!("\"event\":\"{event}\"")))
            .count() as u32
    };
    // An approval (start.1.2, from the master state) is settled through the
    // same path as `done`: one approval_granted and one action_resolved.
    let resolved = count("action_resolved") - count("approval_granted");
    let settled = tally.settled.load(Ordering::Relaxed);
    assert_eq!(
        resolved, settled,
        "settled commands and recorded events differ"
    );
    let history = run(repo.cmd(["history", "--format", "json"])).json();
    assert_eq!(
        history["sessions"].as_array().unwrap().len() as u32,
        tally.aborted.load(Ordering::Relaxed),
        "every closed session is in the history"
    );
    let longest_read = tally.longest_read_ms.load(Ordering::Relaxed);
    eprintln!(
        "concurrency soak ({ROUNDS} rounds in {:.1}s, 9 processes at a time): {} commands, {} settled = {resolved} events recorded, {} sessions closed, {} exits 4 for the writer that does not wait, longest wait for the lock {}ms (limit 60s); {} reads, longest {longest_read}ms; {} events chained, 0 updates lost",
        started.elapsed().as_secs_f64(),
        tally.commands.load(Ordering::Relaxed),
        settled,
        tally.aborted.load(Ordering::Relaxed),
        tally.locked_out.load(Ordering::Relaxed),
        tally.longest_wait_ms.load(Ordering::Relaxed),
        tally.reads.load(Ordering::Relaxed),
        check.events,
    );
}
