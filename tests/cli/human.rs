//! Snapshots of what people read: the human output of `plan`, `status`,
//! `next`, `context`, a waiting `start`, a failed `end`, and one error of
//! each class. Paths, session ids, times and durations are filtered, so a
//! snapshot changes only when the words do.

use crate::harness::*;

/// Runs `args` in `repo` and renders what a person sees: the exit code,
/// then stdout and stderr, with the run-specific parts filtered.
fn seen(repo: &Repo, args: &[&str]) -> String {
    let r = run(repo.cmd(args));
    format!(
        "$ deploy-session {}\nexit {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        r.code,
        r.stdout,
        r.stderr
    )
}

/// Snapshots `text` with the repo's path and name, the session id and
/// durations replaced by placeholders (and table padding collapsed).
fn snapshot(name: &str, repo: &Repo, text: &str) {
    let text = placeholders(repo, text);
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\(\d+(\.\d+)?(ms|s)\)", "(<dur>)");
    // A table's column width follows its longest cell, and a measured
    // duration's width varies from run to run: durations in cells become
    // a placeholder, and runs of padding and rules collapse to one.
    settings.add_filter(r"┆ *\d+(\.\d+)?(ms|s) *┆", "┆ <dur> ┆");
    settings.add_filter(r" {2,}", " ");
    settings.add_filter(r"[─═]+", "─");
    settings.add_filter(r"pid \d+", "pid <pid>");
    settings.add_filter(r"\b[0-9a-f]{40}\b", "<commit>");
    settings.add_filter(r"ds-\d{8}-\d{6}-[0-9a-f]+", "<session>");
    settings.bind(|| insta::assert_snapshot!(name, text));
}

fn waiting() -> Repo {
    let repo = Repo::ready("");
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    repo
}

#[test]
fn plan_of_the_start_protocol() {
    let repo = Repo::ready("");
    snapshot("plan_start", &repo, &seen(&repo, &["plan", "start"]));
}

#[test]
fn a_waiting_start_says_what_to_do() {
    let repo = Repo::ready("");
    let text = seen(&repo, &["start"]);
    snapshot("start_waiting", &repo, &text);
}

#[test]
fn status_mid_session() {
    let repo = waiting();
    snapshot("status_mid_session", &repo, &seen(&repo, &["status"]));
}

#[test]
fn next_mid_session() {
    let repo = waiting();
    snapshot("next_mid_session", &repo, &seen(&repo, &["next"]));
}

#[test]
fn context_mid_session_as_a_person_reads_it() {
    let repo = waiting();
    snapshot("context_human", &repo, &seen(&repo, &["context"]));
}

#[test]
fn a_failed_end_names_the_gates() {
    let mut ids = start_manual_ids();
    ids.extend(work_ids());
    let repo = Repo::ready(&run_all(&ids, "true"));
    assert_eq!(run(repo.cmd(["start"])).code, 0);
    assert_eq!(run(repo.cmd(["work"])).code, 0);
    snapshot("end_failed", &repo, &seen(&repo, &["end"]));
}

/// One error of each class the exit codes tell apart: a bad file (with its
/// location), a bad argument, a missing master state, a refused step, and
/// an unknown flag (clap's own).
#[test]
fn each_error_class_reads_the_same_way() {
    let repo = waiting();
    repo.write(
        "deploy-session.yaml",
        "actions:\n  start.2.1:\n    run: echo\n    timeout: 5 parsecs\n",
    );
    let mut text = seen(&repo, &["config", "check"]);
    repo.write("deploy-session.yaml", "");
    for args in [
        &["done", "start.9.9"][..],
        &["done", "start.1.1"],
        &["skip", "start.2.1"],
        &["status", "--no-such-flag"],
    ] {
        text.push('\n');
        text.push_str(&seen(&repo, args));
    }
    let empty = Repo::new();
    text.push('\n');
    text.push_str(&seen(&empty, &["start"]));
    snapshot("error_classes", &repo, &text);
}
