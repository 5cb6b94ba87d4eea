//! `walk` (and `start -i`) driven through a pseudo-terminal, answering its
//! prompts as an operator would.

use crate::harness::{Repo, run};
use rexpect::process::WaitStatus;
use rexpect::session::{PtySession, spawn_command};

/// Waits up to 20 s for each prompt: a hung walk fails instead of hanging.
fn walk(repo: &Repo, args: &[&str]) -> PtySession {
    spawn_command(repo.std_cmd(args), Some(20_000)).expect("spawn in a pty")
}

/// Answers `answer` to the next prompt that contains `prompt`.
fn answer(p: &mut PtySession, prompt: &str, answer: &str) {
    p.exp_string(prompt)
        .unwrap_or_else(|e| panic!("waiting for {prompt:?}: {e}"));
    p.send_line(answer).unwrap();
}

/// Runs the five checks and the builtin of stage start.1 (Phase 6 is
/// approved in the fixture, so start.1.2 needs no prompt).
fn through_stage_1(p: &mut PtySession) {
    for _ in 0..5 {
        answer(p, "Run it now? [Y/n", "");
    }
}

/// Waits for the panel of action `id` (rexpect reads bytes as Latin-1, so
/// needles stay ASCII: the id between the rule's spaces).
fn panel(p: &mut PtySession, id: &str) {
    p.exp_string(&format!(" {id} "))
        .unwrap_or_else(|e| panic!("waiting for the panel of {id}: {e}"));
}

fn exit_code(p: &mut PtySession) -> i32 {
    p.exp_eof().unwrap();
    match p.process_mut().wait().unwrap() {
        WaitStatus::Exited(_, code) => code,
        other => panic!("walk did not exit normally: {other:?}"),
    }
}

#[test]
fn a_manual_action_is_done_with_a_note_and_evidence_then_quit_and_resume() {
    let repo = Repo::ready("");
    repo.write("docs/analysis.md", "# what the artifacts need\n");
    let mut p = walk(&repo, &["start", "-i"]);
    through_stage_1(&mut p);
    panel(&mut p, "start.2.1");
    answer(&mut p, "[d]one / [s]kip", "n");
    answer(&mut p, "Note", "reviewed the service manifests");
    answer(&mut p, "[d]one / [s]kip", "d");
    answer(&mut p, "Evidence files", "docs/missing.md");
    p.exp_string("no such file").unwrap();
    answer(&mut p, "Evidence files", "docs/analysis.md");
    p.exp_string("start.2.1 done").unwrap();
    panel(&mut p, "start.2.2");
    answer(&mut p, "[d]one / [s]kip", "q");
    p.exp_string("resumes at start.2.2").unwrap();
    assert_eq!(exit_code(&mut p), 3);

    let done = repo.action("start.2.1");
    assert_eq!(done["status"], "completed");
    assert_eq!(done["note"], "reviewed the service manifests");
    assert_eq!(done["evidence"], serde_json::json!(["docs/analysis.md"]));
    assert_eq!(done["by"], "Test Operator <operator@example.com>");
    assert_eq!(repo.action("start.2.2")["status"], "pending");

    // The next walk resumes at the same action; skipping needs a reason.
    let mut p = walk(&repo, &["walk"]);
    p.exp_string("walk through `start`").unwrap();
    panel(&mut p, "start.2.2");
    answer(&mut p, "[d]one / [s]kip", "s");
    answer(&mut p, "Why skip it?", "");
    p.exp_string("a reason is needed").unwrap();
    answer(
        &mut p,
        "Why skip it?",
        "covered by the platform team's spec",
    );
    panel(&mut p, "start.2.3");
    answer(&mut p, "[d]one / [s]kip", "quit");
    assert_eq!(exit_code(&mut p), 3);
    let skipped = repo.action("start.2.2");
    assert_eq!(skipped["status"], "skipped");
    assert_eq!(skipped["note"], "covered by the platform team's spec");
}

#[test]
fn failing_a_manual_action_stops_the_walk_with_exit_1() {
    let repo = Repo::ready("");
    let mut p = walk(&repo, &["walk", "start"]);
    through_stage_1(&mut p);
    answer(&mut p, "[d]one / [s]kip", "f");
    answer(&mut p, "What failed?", "the artifacts are missing");
    p.exp_string("`start` stops at start.2.1").unwrap();
    assert_eq!(exit_code(&mut p), 1);
    let failed = repo.action("start.2.1");
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["note"], "the artifacts are missing");
}

const UNAPPROVED: &str = r#"{"status": "completed", "deliverables": {"bdd_testing": "complete"}}"#;

#[test]
fn an_approval_is_given_by_typing_yes() {
    let repo = Repo::with_phase6(UNAPPROVED);
    let mut p = walk(&repo, &["walk"]);
    answer(&mut p, "Run it now? [Y/n", "y");
    p.exp_string("You are approving: Development Framework Phase 6")
        .unwrap();
    p.exp_string(
        "recorded as approved by Test Operator <operator@example.com>, in Phase 6's block",
    )
    .unwrap();
    answer(&mut p, "Type `yes` to approve", "yes");
    p.exp_string("start.1.2 approved").unwrap();
    answer(&mut p, "Run it now? [Y/n", "q");
    assert_eq!(exit_code(&mut p), 3);

    let a = repo.action("start.1.2");
    assert_eq!(a["status"], "completed");
    assert_eq!(a["approval"]["via"], "walk");
    assert_eq!(a["approval"]["by"], "Test Operator <operator@example.com>");
    let status = run(repo.cmd(["status", "--format", "json"])).json();
    let phase6 = status["master_state"]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["number"] == 6)
        .cloned()
        .unwrap();
    assert_eq!(
        phase6["approval"]["by"], "Test Operator <operator@example.com>",
        "{phase6}"
    );
}

#[test]
fn anything_but_yes_declines_and_records_nothing() {
    let repo = Repo::with_phase6(UNAPPROVED);
    let mut p = walk(&repo, &["walk"]);
    answer(&mut p, "Run it now? [Y/n", "");
    let master_before = repo.read(".ai_context/framework_progress.md");
    answer(&mut p, "Type `yes` to approve", "y");
    p.exp_string("not approved; nothing was recorded").unwrap();
    assert_eq!(exit_code(&mut p), 3);
    assert_eq!(
        repo.read(".ai_context/framework_progress.md"),
        master_before
    );
    assert_eq!(repo.action("start.1.2")["status"], "pending");
    assert!(
        !repo.audit().iter().any(|e| e["kind"] == "approval_granted"),
        "an approval was recorded"
    );
}

#[test]
fn without_a_terminal_walk_is_refused_with_the_way_forward() {
    let repo = Repo::ready("");
    for args in [vec!["walk"], vec!["start", "-i"]] {
        let r = run(repo.cmd(&args));
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("needs a terminal"), "{}", r.stderr);
        assert!(r.stderr.contains("`deploy-session next`"), "{}", r.stderr);
    }
    assert!(!repo.exists(".ai_context/deploy-session/state.json"));
}

#[test]
fn end_i_refuses_the_non_interactive_extras() {
    let repo = Repo::ready("");
    let r = run(repo.cmd(["end", "-i", "--commit"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("cannot be combined with --waive or --commit"),
        "{}",
        r.stderr
    );
}

/// Ctrl-C at a prompt ends the walk as `q` does, saying it saved (exit
/// 130); what was settled before is kept and the next walk resumes there.
#[test]
fn ctrl_c_at_a_prompt_says_saved_and_keeps_everything() {
    let repo = Repo::ready("");
    let mut p = walk(&repo, &["walk", "start"]);
    through_stage_1(&mut p);
    panel(&mut p, "start.2.1");
    answer(&mut p, "[d]one / [s]kip", "d");
    answer(&mut p, "Evidence files", "");
    p.exp_string("start.2.1 done").unwrap();
    panel(&mut p, "start.2.2");
    p.exp_string("[d]one / [s]kip").unwrap();
    p.send_control('c').unwrap();
    p.exp_string("saved").unwrap();
    p.exp_string("resumes at start.2.2").unwrap();
    assert_eq!(exit_code(&mut p), 130);
    assert_eq!(repo.action("start.2.1")["status"], "completed");
    let r = run(repo.cmd(["next"]));
    assert!(r.stdout.contains("start.2.2"), "{}", r.stdout);
}
