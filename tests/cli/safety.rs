//! One writer, crash safety and interruption, through the real binary.

use crate::harness::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::time::Duration;

/// A repo whose start.2.1 runs until `release` exists (or 30s pass),
/// recording its pid in `child.pid`.
fn blocking_repo() -> Repo {
    Repo::ready(
        "actions:\n  start.2.1:\n    run: echo $$ > child.pid; i=0; while [ ! -f release ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\n",
    )
}

/// Waits until start.2.1's shell has written its whole pid (the file
/// exists, empty, for a moment before the number is in it).
fn wait_running(repo: &Repo) {
    let pid_file = repo.path().join("child.pid");
    wait_for(15, "start.2.1 to be running", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|t| t.trim().parse::<i32>().is_ok())
    });
}

fn alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

#[test]
fn a_second_writer_exits_4_and_readers_never_wait() {
    let repo = blocking_repo();
    let first = repo.spawn(["start"]);
    wait_running(&repo);
    let r = run(repo.cmd(["done", "start.2.3"]));
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("another deploy-session is working in this repo: pid "),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("running `deploy-session start`"),
        "{}",
        r.stderr
    );
    // Read-only commands answer while the writer works.
    for args in [
        ["status", "--format", "json"],
        ["todo", "--format", "json"],
        ["next", "--format", "json"],
    ] {
        let r = run(repo.cmd(args));
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    repo.write("release", "");
    let out = first.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(repo.action_status("start.2.1"), "completed");
}

#[test]
fn init_force_takes_the_writers_lock() {
    let repo = blocking_repo();
    let first = repo.spawn(["start"]);
    wait_running(&repo);
    let master = repo.read(".ai_context/framework_progress.md");
    let r = run(repo.cmd(["init", "--force"]));
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("another deploy-session is working in this repo"),
        "{}",
        r.stderr
    );
    assert_eq!(repo.read(".ai_context/framework_progress.md"), master);
    repo.write("release", "");
    assert_eq!(first.wait_with_output().unwrap().status.code(), Some(3));
}

#[test]
fn lock_timeout_waits_for_the_holder() {
    let repo = blocking_repo();
    let mut first = repo.spawn(["start"]);
    wait_running(&repo);
    let releaser = {
        let path = repo.path().join("release");
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            std::fs::write(path, "").unwrap();
        })
    };
    let r = run(repo.cmd(["--lock-timeout", "20s", "done", "start.2.3"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    releaser.join().unwrap();
    assert_eq!(first.wait().unwrap().code(), Some(3));
    assert_eq!(repo.action_status("start.2.3"), "completed");
}

#[test]
fn kill_9_mid_action_resumes_and_reaps_the_orphan() {
    // Each attempt waits for its own release file: the orphan of attempt 1
    // must still be running when the next `start` reaps it, however slowly
    // that `start` gets there.
    let repo = Repo::ready(
        "actions:\n  start.2.1:\n    run: echo $$ > child.pid; i=0; while [ ! -f release.$DEPLOY_SESSION_ATTEMPT ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\n",
    );
    let mut first = repo.spawn(["start"]);
    wait_running(&repo);
    // The command's shell can write its pid before deploy-session has
    // journaled the spawn: wait for the record, which the next run reaps by.
    wait_spawn_recorded(&repo, "start.2.1");
    let child: i32 = repo.read("child.pid").trim().parse().unwrap();
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    assert!(
        alive(child),
        "the action's process outlives a killed deploy-session"
    );
    // The state still parses and shows the action running.
    assert_eq!(repo.action_status("start.2.1"), "running");
    std::fs::remove_file(repo.path().join("child.pid")).unwrap();
    repo.write("release.2", "");
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    wait_for(5, "the orphan to die", || !alive(child));
    let events = repo.audit();
    let reaped = events
        .iter()
        .find(|e| e["event"] == "process_reaped")
        .expect("a process_reaped event");
    assert_eq!(reaped["detail"]["signalled"], true);
    assert_eq!(reaped["detail"]["pid"], child);
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "action_finished" && e["detail"]["status"] == "interrupted")
    );
    assert_eq!(repo.action_status("start.2.1"), "completed");
    let attempts = repo.action("start.2.1")["attempts"].clone();
    assert_eq!(attempts, 2);
}

#[test]
fn sigint_saves_state_exits_130_and_resumes() {
    let repo = blocking_repo();
    let first = repo.spawn(["start"]);
    wait_running(&repo);
    let child: i32 = repo.read("child.pid").trim().parse().unwrap();
    kill(Pid::from_raw(first.id() as i32), Signal::SIGINT).unwrap();
    let out = first.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("interrupted; the state is saved"));
    wait_for(5, "the action's process group to be killed", || {
        !alive(child)
    });
    assert_eq!(repo.action_status("start.2.1"), "interrupted");
    repo.write("release", "");
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert_eq!(repo.action_status("start.2.1"), "completed");
}

#[test]
fn a_state_file_edited_behind_our_back_is_not_overwritten() {
    let repo = Repo::ready(
        "actions:\n  start.2.2:\n    run: |\n      sed -i 's/\"serial\": [0-9]*/\"serial\": 999/' .ai_context/deploy-session/state.json\n",
    );
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    repo.done_all(&["start.2.1"]);
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains(".ai_context/deploy-session/state.json was changed by someone else"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("serial on disk: 999"), "{}", r.stderr);
    assert!(
        repo.read(".ai_context/deploy-session/state.json")
            .contains("\"serial\": 999")
    );
}

#[test]
fn leftover_temp_files_are_removed_by_the_next_writer() {
    let repo = Repo::ready("");
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    repo.write(
        ".ai_context/deploy-session/.state.json.ds-tmp.abc123",
        "half",
    );
    repo.write(".ai_context/.todos.json.ds-tmp.zz", "half");
    // Deep in the newest archive and handoff package (an `end` killed while
    // archiving; found by the crash loop).
    repo.write(
        ".ai_context/deploy-session/archive/20261125T120000Z-aaaa/reports/.gates.json.ds-tmp.x1",
        "half",
    );
    repo.write(
        ".ai_context/handoff/20261125T120000Z-aaaa/.README.md.ds-tmp.x2",
        "half",
    );
    assert_eq!(run(repo.cmd(["done", "start.2.1"])).code, 0);
    let temps: Vec<_> = repo
        .files()
        .into_keys()
        .filter(|p| p.to_string_lossy().contains(".ds-tmp."))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
}

#[test]
fn a_torn_audit_line_is_quarantined_not_dropped() {
    let repo = Repo::ready("");
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    let audit = repo.path().join(".ai_context/deploy-session/audit.jsonl");
    let mut text = std::fs::read_to_string(&audit).unwrap();
    text.push_str("{\"seq\":999,\"ts\":\"2026");
    std::fs::write(&audit, &text).unwrap();
    // Readers ignore it.
    assert_eq!(run(repo.cmd(["status"])).code, 0);
    assert_eq!(run(repo.cmd(["done", "start.2.1"])).code, 0);
    assert_eq!(
        repo.read(".ai_context/deploy-session/audit.jsonl.quarantine"),
        "{\"seq\":999,\"ts\":\"2026\n"
    );
    let events = repo.audit();
    assert!(events.iter().any(|e| e["event"] == "audit_quarantined"));
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
}

#[test]
fn a_corrupt_state_file_is_an_input_error_and_nothing_changes() {
    let repo = Repo::ready("");
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    let state = repo.path().join(".ai_context/deploy-session/state.json");
    let text =
        std::fs::read_to_string(&state)
            .unwrap()
            .replacen("\"serial\"", "\"serial\" oops", 1);
    std::fs::write(&state, text).unwrap();
    let before = repo.files();
    for args in [vec!["status"], vec!["done", "start.2.1"], vec!["start"]] {
        let r = run(repo.cmd(&args));
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr
                .contains(".ai_context/deploy-session/state.json:3:"),
            "{args:?}: {}",
            r.stderr
        );
        assert_same_files(&before, &repo.files(), &format!("{args:?}"));
    }
}

#[test]
fn a_deleted_state_file_is_rebuilt_from_the_audit_trail() {
    let repo = Repo::ready("");
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    assert_eq!(run(repo.cmd(["done", "start.2.1"])).code, 0);
    let before = repo.session();
    std::fs::remove_file(repo.path().join(".ai_context/deploy-session/state.json")).unwrap();
    assert_eq!(repo.session(), before);
    assert_eq!(run(repo.cmd(["done", "start.2.2"])).code, 0);
    assert_eq!(repo.action_status("start.2.1"), "completed");
}

#[test]
fn a_secret_never_reaches_logs_state_or_json() {
    let secret = "tok-8f3a9c27e1d54b06";
    // `$${` is the config's escape for a literal `${` (shell expansions).
    let config = r#"secrets: [DEPLOY_TOKEN]
actions:
  start.2.1:
    run: |
      echo "token=$DEPLOY_TOKEN"
      printf '%s' "$${DEPLOY_TOKEN%????????}"; printf '%s\n' "$${DEPLOY_TOKEN#????????????}"
      echo "$DEPLOY_TOKEN" >&2
      printf '%s' "$DEPLOY_TOKEN" | base64
  start.2.2:
    run: echo "$OTHER_SECRET"; exit 1
"#;
    let repo = Repo::ready(config);
    let mut c = repo.cmd(["--secret-env", "OTHER_SECRET", "start", "--format", "json"]);
    c.env("DEPLOY_TOKEN", secret)
        .env("OTHER_SECRET", "other-secret-value");
    let r = run(c);
    assert_eq!(r.code, 1, "{}", r.stderr);
    for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        assert!(
            !text.contains(secret) && !text.contains("other-secret-value"),
            "{name} leaks:\n{text}"
        );
    }
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret);
    for (path, bytes) in repo.files() {
        let text = String::from_utf8_lossy(&bytes);
        for needle in [secret, "other-secret-value", b64.as_str()] {
            assert!(
                !text.contains(needle),
                "{} contains {needle}",
                path.display()
            );
        }
    }
    let log = repo.read(&format!(
        ".ai_context/deploy-session/logs/{}/start.2.1.log",
        repo.session()["id"].as_str().unwrap()
    ));
    assert!(log.contains("token=***"), "{log}");
    assert!(
        log.lines().filter(|l| *l == "***").count() >= 3,
        "split, stderr and base64 forms masked:\n{log}"
    );
}

#[test]
fn runtime_values_reach_commands_literally() {
    let dir = tempfile::Builder::new()
        .prefix("ds $(touch pwned) `touch pwned2`;touch pwned3 ")
        .tempdir()
        .unwrap();
    let root = dir.path();
    ready_in(
        root,
        "actions:\n  start.2.1:\n    run: printf '%s' \"$DEPLOY_SESSION_REPO\" > repo.txt\n",
    );
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("deploy-session"))
        .arg("start")
        .current_dir(root)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let seen = std::fs::read_to_string(root.join("repo.txt")).unwrap();
    assert_eq!(std::path::Path::new(&seen), root.canonicalize().unwrap());
    for f in ["pwned", "pwned2", "pwned3"] {
        assert!(
            !root.join(f).exists() && !root.parent().unwrap().join(f).exists(),
            "{f} was created"
        );
    }
}
