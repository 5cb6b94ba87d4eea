use crate::harness::*;

#[test]
fn help_and_version() {
    let repo = Repo::new();
    let r = run(repo.cmd(["--help"]));
    assert_eq!(r.code, 0);
    for cmd in ["init", "plan", "status", "config", "completions"] {
        assert!(r.stdout.contains(cmd), "--help lacks {cmd}");
    }
    let r = run(repo.cmd(["--version"]));
    assert_eq!(
        r.stdout,
        format!("deploy-session {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_2() {
    let repo = Repo::new();
    assert_eq!(run(repo.cmd(["frobnicate"])).code, 2);
    assert_eq!(run(repo.cmd(["plan", "--format", "yaml"])).code, 2);
    let r = run(repo.cmd(["--repo", "no/such/dir", "status"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--repo no/such/dir: no such directory"),
        "{}",
        r.stderr
    );
}

#[test]
fn repo_defaults_to_the_enclosing_git_work_tree() {
    let repo = Repo::with_master("master_state/realistic.md");
    std::fs::create_dir_all(repo.path().join("deep/er")).unwrap();
    let mut c = repo.cmd(["status", "--format", "json"]);
    c.current_dir(repo.path().join("deep/er"));
    assert_eq!(run(c).code, 0);
    let elsewhere = Repo::bare();
    let r = run(elsewhere.cmd([
        "--repo",
        repo.path().to_str().unwrap(),
        "status",
        "--format",
        "json",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn completions_are_generated() {
    let r = run(Repo::bare().cmd(["completions", "bash"]));
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("complete -F _deploy__session"),
        "{}",
        &r.stdout[..200.min(r.stdout.len())]
    );
}

/// The external-tool rule: a missing tool skips (saying so) on a
/// developer's machine and fails where tools are required; a present one
/// runs either way.
#[test]
fn a_missing_outside_tool_skips_or_fails_never_passes_silently() {
    assert_eq!(tool_verdict("t", "t --version", true, false), Ok(true));
    assert_eq!(tool_verdict("t", "t --version", true, true), Ok(true));
    assert_eq!(tool_verdict("t", "t --version", false, false), Ok(false));
    let failure = tool_verdict("nginx", "nginx -v", false, true).unwrap_err();
    assert!(
        failure.contains("nginx") && failure.contains("DEPLOY_SESSION_REQUIRE_TOOLS=1"),
        "{failure}"
    );
    // A probe that cannot succeed is reported missing.
    let required = std::env::var("DEPLOY_SESSION_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
    if !required {
        assert!(!external_tool(
            "no-such-tool",
            "no-such-tool-deploy-session-test --version"
        ));
    }
}

/// Colors: `--color always` colors both streams (even under NO_COLOR, which
/// the harness sets); `--color never` and auto on pipes color neither.
#[test]
fn color_follows_the_flag_on_each_stream() {
    let repo = Repo::ready("");
    let has_ansi = |s: &str| s.contains('\u{1b}');
    // stdout: the status table's headings; stderr: an error.
    let always = run(repo.cmd(["--color", "always", "status"]));
    assert!(has_ansi(&always.stdout), "{}", always.stdout);
    let always_err = run(repo.cmd(["--color", "always", "done", "start.9.9"]));
    assert!(has_ansi(&always_err.stderr), "{}", always_err.stderr);
    for color in ["never", "auto"] {
        let r = run(repo.cmd(["--color", color, "status"]));
        assert!(!has_ansi(&r.stdout), "--color {color}: {}", r.stdout);
        let r = run(repo.cmd(["--color", color, "done", "start.9.9"]));
        assert!(!has_ansi(&r.stderr), "--color {color}: {}", r.stderr);
    }
}

/// A reader that stops early (`| head -1`) closes the pipe: the command
/// goes on to its natural end with its own exit code — a run is never cut
/// short with an action `running` — and nothing panics.
#[test]
fn a_closed_stdout_neither_cuts_a_run_short_nor_panics() {
    use std::io::{BufRead, BufReader};
    let repo = Repo::ready(
        "actions:\n  start.2.1:\n    run: \"for i in 1 2 3 4 5 6 7 8; do echo line $i; done; sleep 0.2; echo after\"\n  start.2.2:\n    run: \"echo two\"\n",
    );
    let mut child = repo
        .std_cmd(["start"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone: the pipe is closed.
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(3),
        "the run went on to its first person"
    );
    assert_eq!(repo.action_status("start.2.1"), "completed");
    assert_eq!(repo.action_status("start.2.2"), "completed");
    // `completions bash | head -1`.
    let mut child = repo
        .std_cmd(["completions", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

/// `-q` leaves the result only: a waiting run says so in one line naming
/// what waits, `done` its one result line — no progress, no next blocks.
#[test]
fn quiet_leaves_the_result_only() {
    let repo = Repo::ready("");
    let r = run(repo.cmd(["-q", "start"]));
    assert_eq!(r.code, 3);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("waiting for a person (exit 3): start.2.1"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    let r = run(repo.cmd(["-q", "done", "start.2.1", "--note", "n"]));
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    assert!(r.stdout.starts_with("✓ start.2.1 done"), "{}", r.stdout);
}
