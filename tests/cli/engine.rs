//! The engine through the real binary: runs, waits, failures, rollbacks,
//! retries, timeouts, concurrency, prerequisites.

use crate::harness::*;

const SOME_RUNS: &str =
    "actions:\n  start.2.1:\n    run: echo analysing\n  start.2.2:\n    run: echo specs\n";

#[test]
fn start_runs_what_it_can_then_waits_for_a_person() {
    let repo = Repo::ready(SOME_RUNS);
    let before = repo.read(".ai_context/framework_progress.md");
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("✓ start.2.1"), "{}", r.stdout);
    assert!(r.stdout.contains("start.2.1 │ analysing"), "{}", r.stdout);
    assert!(
        r.stdout.contains("deploy-session done start.2.3 --note"),
        "{}",
        r.stdout
    );
    // Phase 7 is in progress; outside its block only the two bullets changed.
    let after = repo.read(".ai_context/framework_progress.md");
    let strip = |text: &str| -> String {
        let start = text.find("#### **Phase 7").unwrap();
        let end = text.find("#### **Phase 8").unwrap();
        let without_block = format!("{}{}", &text[..start], &text[end..]);
        without_block
            .lines()
            .filter(|l| !l.starts_with("- **Last Update**") && !l.starts_with("- **Active Phase**"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&before), strip(&after));
    assert!(after.contains("\"status\": \"in_progress\""));
    assert!(after.contains("- **Last Update**: 2026-11-25"));
    assert_eq!(repo.read(".ai_context/framework_progress.md.bak"), before);
    // The todo list tracks it, one task in progress.
    let todos: serde_json::Value =
        serde_json::from_str(&repo.read(".ai_context/todos.json")).unwrap();
    let items = todos["todos"].as_array().unwrap();
    let by_id = |id: &str| {
        items.iter().find(|t| t["id"] == id).unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(by_id("start.1.1"), "completed");
    assert_eq!(by_id("start.2.2"), "completed");
    assert_eq!(by_id("start.2.3"), "in_progress");
    assert_eq!(
        items
            .iter()
            .filter(|t| t["status"] == "in_progress")
            .count(),
        1
    );
    assert!(
        repo.read(".ai_context/deployment_context.md")
            .contains("deploy-session done start.2.3")
    );
    assert!(repo.exists(".ai_context/deploy-session/logs"));
}

#[test]
fn done_and_rerun_continue_until_start_and_work_finish() {
    let repo = Repo::ready(SOME_RUNS);
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    let manual: Vec<String> = start_manual_ids()
        .into_iter()
        .filter(|id| id != "start.2.1" && id != "start.2.2")
        .collect();
    repo.done_all(&manual);
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("start complete"), "{}", r.stdout);
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 3);
    let (before, after): (Vec<String>, Vec<String>) = work_ids()
        .into_iter()
        .filter(|id| id != "work.4.1")
        .partition(|id| id.as_str() < "work.5");
    repo.done_all(&before);
    // Pre-deployment validation is a named person's approval by default.
    let r = run(repo.cmd(["done", "work.4.1", "--note", "looks fine"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("`approval` action"), "{}", r.stderr);
    let r = run(repo.cmd(["done", "work.5.1", "--note", "early"]));
    assert_eq!(r.code, 2, "work.5 waits for work.4: {}", r.stderr);
    assert!(r.stderr.contains("not done: work.4.1"), "{}", r.stderr);
    repo.approve_release();
    repo.done_all(&after);
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let s = repo.session();
    assert_eq!(s["status"], "OPERATIONS_PREPARATION");
    assert!(s["protocols"]["work"]["completed_at"].is_string());
    let todos: serde_json::Value =
        serde_json::from_str(&repo.read(".ai_context/todos.json")).unwrap();
    let done = todos["todos"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "completed")
        .count();
    assert_eq!(done, 16 + 25);
    // Running a complete protocol again changes nothing and says so.
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("already complete"), "{}", r.stdout);
}

#[test]
fn protocols_refuse_to_run_out_of_order() {
    let repo = Repo::ready("");
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no deployment session is open"),
        "{}",
        r.stderr
    );
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("`work` runs after `start` is complete; not done yet: start.2.1 (waiting), start.2.2 (pending)"), "{}", r.stderr);
    let r = run(repo.cmd(["end"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("`end` runs after `work` is complete; not done yet: work.1.1 (pending)"),
        "{}",
        r.stderr
    );
}

#[test]
fn phase_6_not_completed_blocks_start_with_the_reason() {
    let repo = Repo::with_phase6(
        r#"{"status": "in_progress", "deliverables": {"bdd_testing": "complete"}}"#,
    );
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("Phase 6 (Testing & Quality Assurance) is in_progress, not completed"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("must finish Phase 6"), "{}", r.stdout);
}

#[test]
fn phase_6_not_approved_waits_for_the_approval() {
    let repo = Repo::with_phase6(
        r#"{"status": "completed", "deliverables": {"bdd_testing": "complete"}}"#,
    );
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("needs approval: Development Framework Phase 6"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("deploy-session approve --phase 6"),
        "{}",
        r.stdout
    );
    let r = run(repo.cmd([
        "approve",
        "--phase",
        "6",
        "--by",
        "Quinn QA <q@example.com>",
        "--note",
        "signed off",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let master = repo.read(".ai_context/framework_progress.md");
    assert!(
        master.contains("\"by\": \"Quinn QA <q@example.com>\""),
        "{master}"
    );
    assert_eq!(repo.action_status("start.1.2"), "completed");
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 3);
    assert_eq!(repo.action_status("start.1.6"), "completed");
}

#[test]
fn phase_6_deliverables_missing_are_listed() {
    let repo = Repo::with_phase6(
        r#"{"status": "completed", "deliverables": {"bdd_testing": "complete", "security_testing": "pending", "load_testing": "in_progress"}, "approval": {"status": "approved", "by": "x", "at": "2026-10-01T16:20:00Z"}}"#,
    );
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("Phase 6 deliverables not completed: security_testing (pending), load_testing (in_progress)"), "{}", r.stdout);
}

#[test]
fn missing_framework_files_point_to_init() {
    let repo = Repo::ready("");
    std::fs::remove_file(repo.path().join("deployment/ai_system_prompt_v3.7.md")).unwrap();
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("missing: deployment/ai_system_prompt_v3.7.md — run `deploy-session init`"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_failure_rolls_back_the_stage_in_reverse_and_reruns_it_next_time() {
    let config = r#"actions:
  start.2.1: { run: "true" }
  start.2.2: { run: "true" }
  start.2.3: { run: "true" }
  start.2.4: { run: "true" }
  start.2.5: { run: "true" }
  start.3.1:
    run: echo did-1
    rollback: echo undo-1 >> rollback.log
  start.3.2:
    run: echo did-2
  start.3.3:
    run: echo did-3
    rollback: echo undo-3 >> rollback.log
  start.3.4:
    run: 'test -f fixed || { echo "boom: not fixed"; exit 7; }' 
    rollback: echo undo-4 >> rollback.log
"#;
    let repo = Repo::ready(config);
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(repo.read("rollback.log"), "undo-4\nundo-3\nundo-1\n");
    assert!(
        r.stdout.contains("exit 7; last output: boom: not fixed"),
        "{}",
        r.stdout
    );
    let s = repo.session();
    let a = |id: &str| action_in(&s, id);
    assert_eq!(a("start.3.4")["status"], "failed");
    assert_eq!(a("start.3.4")["exit_code"], 7);
    assert_eq!(a("start.3.1")["rollbacks"][0]["ok"], true);
    assert_eq!(s["rolled_back"], serde_json::json!(["start.3"]));
    let events: Vec<String> = repo
        .audit()
        .iter()
        .filter(|e| e["event"] == "rollback_ran")
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(events, ["start.3.4", "start.3.3", "start.3.1"]);
    // Fixed: the rolled-back stage runs again from its start.
    repo.write("fixed", "");
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert!(r.stdout.contains("✓ start.3.1"), "{}", r.stdout);
    assert!(
        !r.stdout.contains("✓ start.3.2"),
        "start.3.2 has no rollback and stays done:\n{}",
        r.stdout
    );
    assert!(r.stdout.contains("✓ start.3.4"), "{}", r.stdout);
}

#[test]
fn retries_then_success_and_produces() {
    let config = r#"actions:
  start.2.1:
    run: n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; test $n -ge 3
    retries: 3
    retry_delay: 10ms
  start.2.2:
    run: "true"
    produces: [reports/never.json]
"#;
    let repo = Repo::ready(config);
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 1, "{}", r.stdout);
    let s = repo.session();
    let a = |id: &str| action_in(&s, id);
    assert_eq!(a("start.2.1")["status"], "completed");
    assert_eq!(a("start.2.1")["attempts"], 3);
    assert_eq!(a("start.2.2")["status"], "failed");
    assert!(
        a("start.2.2")["message"]
            .as_str()
            .unwrap()
            .contains("did not produce what it promised: missing: reports/never.json")
    );
}

#[test]
fn a_timeout_kills_the_whole_process_group() {
    let marker = format!("{}.{}", 100, std::process::id());
    let config = format!(
        "actions:\n  start.2.1:\n    run: sleep {marker} & sleep {marker}\n    timeout: 300ms\n"
    );
    let repo = Repo::ready(&config);
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("timed out after 300ms (its process group was killed)"),
        "{}",
        r.stdout
    );
    // Killed processes vanish once reaped: wait for that event (the
    // watchdog is far beyond the few milliseconds it takes).
    wait_for(30, "the killed group's processes to be gone", || {
        processes_running(&format!("sleep {marker}")).is_empty()
    });
}

#[test]
fn independent_stages_run_at_the_same_time() {
    let mut ids = work_ids();
    ids.retain(|id| id != "work.2.1" && id != "work.3.1");
    let mut config = run_all(&ids, "true");
    config.push_str("  work.2.1:\n    run: sleep 1\n  work.3.1:\n    run: sleep 1\n");
    let repo = Repo::ready(&config);
    repo.write(
        "deploy-session.yaml",
        &format!(
            "{}{}",
            run_all(&start_manual_ids(), "true"),
            config.trim_start_matches("actions:\n")
        ),
    );
    assert_eq!(run(repo.cmd(["start"])).code, 0);
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // The journal shows work.3.1 starting before work.2.1 finished.
    let events = repo.audit();
    let seq = |event: &str, action: &str| {
        events
            .iter()
            .find(|e| e["event"] == event && e["action"] == action)
            .unwrap()["seq"]
            .as_u64()
            .unwrap()
    };
    assert!(seq("action_started", "work.3.1") < seq("action_finished", "work.2.1"));
    assert!(seq("action_started", "work.2.1") < seq("action_finished", "work.3.1"));
}

#[test]
fn dry_run_shows_the_order_and_changes_nothing() {
    let repo = Repo::ready(SOME_RUNS);
    let before = repo.files();
    let r = run(repo.cmd(["start", "--dry-run"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("would open a new session"));
    assert!(
        r.stdout
            .contains("start.2.1  would run: run: echo analysing"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("start.2.3  would wait for a person: manual"),
        "{}",
        r.stdout
    );
    assert_same_files(&before, &repo.files(), "bad input");
}

#[test]
fn rerun_runs_a_completed_action_again() {
    let repo = Repo::ready(SOME_RUNS);
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    let r = run(repo.cmd(["start", "--rerun", "start.2.1"]));
    assert_eq!(r.code, 3);
    assert!(r.stdout.contains("start.2.1 │ analysing"), "{}", r.stdout);
    let attempts = repo.action("start.2.1")["attempts"].clone();
    assert_eq!(attempts, 2);
    let r = run(repo.cmd(["start", "--rerun", "work.1.1"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("it belongs to `work`, not `start`"));
}

#[test]
fn a_repo_without_git_works_and_says_so() {
    let repo = Repo::bare();
    repo.write(
        ".ai_context/framework_progress.md",
        &fixture("master_state/realistic.md"),
    );
    repo.write("deployment/ai_system_prompt_v3.7.md", "x");
    repo.write("deployment/AI_ASSISTANT_STARTUP_DEPLOYMENT.md", "x");
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("not a git repository: no commit is recorded"),
        "{}",
        r.stdout
    );
    assert!(repo.session()["git"].is_null());
}

#[test]
fn json_report_of_a_run() {
    let repo = Repo::ready(SOME_RUNS);
    let r = run(repo.cmd(["start", "--format", "json"]));
    assert_eq!(r.code, 3);
    let j = r.json();
    assert_eq!(j["schema_version"], 1);
    assert_eq!(j["outcome"], "waiting");
    assert_eq!(j["exit_code"], 3);
    assert_eq!(j["actions"].as_array().unwrap().len(), 16);
    assert_eq!(j["next"][0]["id"], "start.2.3");
    assert_eq!(
        j["next"][0]["command"],
        "deploy-session done start.2.3 --note \"<what was done>\""
    );
    assert!(
        r.stderr.contains("✓ start.2.1"),
        "progress goes to stderr in json mode"
    );
}

/// Started with its standard input and output closed (a cron job, a
/// detached runner), the tool still gives each command its own output
/// pipe: the descriptors it opens land on 0 and 1, and must not be
/// mistaken for the command's.
#[test]
fn a_run_started_with_stdin_and_stdout_closed_still_logs_its_commands() {
    use std::os::unix::process::CommandExt;
    let repo = Repo::ready(
        "actions:\n  start.2.1:\n    run: \"echo from-the-step; echo to-stderr >&2\"\n",
    );
    let mut cmd = repo.std_cmd(["start"]);
    cmd.stderr(std::process::Stdio::null());
    // SAFETY: close(2) is async-signal-safe; it runs in the child before exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::libc::close(0);
            nix::libc::close(1);
            Ok(())
        });
    }
    let status = cmd.status().unwrap();
    assert_eq!(status.code(), Some(3), "waits at its first manual step");
    assert_eq!(repo.action_status("start.2.1"), "completed");
    let logs = repo.path().join(".ai_context/deploy-session/logs");
    let session = std::fs::read_dir(&logs).unwrap().next().unwrap().unwrap();
    let log = std::fs::read_to_string(session.path().join("start.2.1.log")).unwrap();
    assert!(
        log.ends_with("from-the-step\nto-stderr\n"),
        "the command's output is its log's: {log}"
    );
}
