//! Process trees: what an action starts dies with it — on timeout, on
//! Ctrl-C, and after deploy-session itself was SIGKILLed (the next run
//! reaps the group it recorded). Checked in /proc by pid.

use crate::harness::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A command whose shell starts a child that starts a grandchild, each
/// recording its pid, then everything sleeps.
const TREE: &str = "sh -c 'sleep 300 & echo $! > grandchild.pid; wait' & echo $! > child.pid; echo $$ > shell.pid; wait";

/// Alive and not a zombie, by /proc.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

fn tree_pids(repo: &Repo) -> Vec<i32> {
    wait_for(15, "the whole tree to start", || {
        ["shell.pid", "child.pid", "grandchild.pid"]
            .iter()
            .all(|f| repo.exists(f) && !repo.read(f).trim().is_empty())
    });
    ["shell.pid", "child.pid", "grandchild.pid"]
        .iter()
        .map(|f| repo.read(f).trim().parse().unwrap())
        .collect()
}

/// Whether a thread of process `pid` waits for a FIFO's other end.
fn blocked_on_a_fifo(pid: u32) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/task")).is_ok_and(|tasks| {
        tasks.flatten().any(|t| {
            std::fs::read_to_string(t.path().join("wchan"))
                .is_ok_and(|w| w.contains("partner") || w.contains("fifo") || w.contains("pipe"))
        })
    })
}

fn assert_all_gone(pids: &[i32], when: &str) {
    wait_for(5, when, || pids.iter().all(|p| !alive(*p)));
}

#[test]
fn a_timeout_kills_grandchildren() {
    let repo = Repo::ready(&format!(
        "actions:\n  start.2.1:\n    run: {TREE:?}\n    timeout: 2s\n"
    ));
    let child = repo.spawn(["start"]);
    let pids = tree_pids(&repo);
    assert!(pids.iter().all(|p| alive(*p)));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_all_gone(&pids, "the timed-out tree to die");
}

#[test]
fn ctrl_c_kills_grandchildren() {
    let repo = Repo::ready(&format!("actions:\n  start.2.1:\n    run: {TREE:?}\n"));
    let child = repo.spawn(["start"]);
    let pids = tree_pids(&repo);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_all_gone(&pids, "the interrupted tree to die");
    assert_eq!(repo.action_status("start.2.1"), "interrupted");
}

#[test]
fn after_a_sigkill_the_next_run_reaps_the_recorded_group_before_rerunning() {
    let repo = Repo::ready(&format!(
        "actions:\n  start.2.1:\n    run: \"if [ -f second ]; then exit 0; fi; touch second; {}\"\n",
        TREE.replace('"', "\\\"")
    ));
    let mut child = repo.spawn(["start"]);
    let pids = tree_pids(&repo);
    wait_spawn_recorded(&repo, "start.2.1");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        pids.iter().all(|p| alive(*p)),
        "the tree outlives the killed binary (its own group)"
    );
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert_all_gone(&pids, "the orphaned tree to be reaped");
    let reaped = repo
        .audit()
        .into_iter()
        .find(|e| e["event"] == "process_reaped")
        .expect("recorded");
    assert_eq!(reaped["detail"]["pid"], pids[0]);
    assert_eq!(repo.action_status("start.2.1"), "completed");
}

/// A command blocked reading a FIFO (a master state replaced by one) ends
/// at the first SIGTERM with exit 130, holding nothing.
#[test]
fn sigterm_ends_a_command_blocked_in_io() {
    let repo = Repo::ready("");
    let master = repo.path().join(".ai_context/framework_progress.md");
    std::fs::remove_file(&master).unwrap();
    nix::unistd::mkfifo(&master, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let mut child = repo.spawn(["status"]);
    // Wait until it blocks on the FIFO (opening it waits for a writer).
    wait_for(30, "the command blocked on the FIFO", || {
        blocked_on_a_fifo(child.id())
    });
    assert!(child.try_wait().unwrap().is_none(), "blocked on the FIFO");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let status = wait_exit(&mut child, 30, "SIGTERM to end it");
    assert_eq!(status.code(), Some(130));
}

/// A run whose check is stuck opening a FIFO (the master state, replaced
/// by one) stops in order at the first SIGTERM: exit 130, the check
/// recorded `interrupted`, the lock free for the next writer.
#[test]
fn sigterm_ends_a_run_blocked_in_io_and_records_interrupted() {
    let repo = Repo::ready(
        "actions:\n  start.2.1:\n    run: \"rm .ai_context/framework_progress.md && mkfifo .ai_context/framework_progress.md\"\n  start.2.2:\n    check: {phase: {number: 6, status: completed}}\n",
    );
    let mut child = repo.spawn(["start"]);
    wait_for(30, "a thread of the run blocked on the FIFO", || {
        blocked_on_a_fifo(child.id())
    });
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let status = wait_exit(&mut child, 30, "SIGTERM to end the run");
    assert_eq!(status.code(), Some(130));
    // The FIFO would block the readers below too: put the file back.
    let master = repo.path().join(".ai_context/framework_progress.md");
    std::fs::remove_file(&master).unwrap();
    std::fs::write(&master, fixture("master_state/realistic.md")).unwrap();
    assert_eq!(repo.action_status("start.2.2"), "interrupted");
    let r = run(repo.cmd(["done", "start.2.3", "--lock-timeout", "0s"]));
    assert_eq!(r.code, 0, "the lock was released: {}", r.stderr);
}
