//! What an AI assistant calls: the context brief, the task lists in the
//! shapes its tools take, the JSON of the settling commands, and the slash
//! commands `init --assistant claude` writes.

use crate::harness::*;
use serde_json::Value;

/// A repo whose session waits at start.2.1 with stage start.1 done.
fn mid_session() -> Repo {
    let repo = Repo::ready("");
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    repo
}

/// The object's keys, in order.
fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn context_is_a_short_brief_of_where_things_stand() {
    let repo = mid_session();
    let before = repo.files();
    let r = run(repo.cmd(["context"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The same text start.1.6 wrote, kept fresh.
    assert_eq!(
        r.stdout.trim_end(),
        repo.read(".ai_context/deployment_context.md").trim_end()
    );
    insta::assert_snapshot!("context_mid_session", placeholders(&repo, &r.stdout));
    assert!(r.stdout.lines().count() < 60, "the brief must stay short");
    assert_same_files(&before, &repo.files(), "context must never write");
}

#[test]
fn context_json_has_the_same_facts() {
    let repo = mid_session();
    let j = run(repo.cmd(["context", "--format", "json"])).json();
    assert_eq!(
        keys(&j),
        [
            "schema_version",
            "project",
            "generated_at",
            "phases",
            "session",
            "next",
            "rules",
            "files",
            "transition",
            "deployment_finished",
            "gates",
            "decisions",
            "decision_command"
        ]
    );
    assert_eq!(j["schema_version"], 1);
    assert_eq!(j["session"]["protocol"], "start");
    assert_eq!(j["session"]["done"], 6);
    assert_eq!(j["session"]["waiting"], 1);
    assert_eq!(j["next"][0]["id"], "start.2.1");
    assert_eq!(
        j["next"][0]["command"],
        "deploy-session done start.2.1 --note \"<what was done>\""
    );
    assert!(
        j["rules"][0]
            .as_str()
            .unwrap()
            .starts_with("One task at a time")
    );
    assert!(j["transition"].is_null());
}

#[test]
fn context_without_a_session_says_how_to_start() {
    let repo = Repo::ready("");
    let r = run(repo.cmd(["context"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("No deployment session is open. Start one with `deploy-session start`."),
        "{}",
        r.stdout
    );
    // The one next action is opening a session, as `next --format json` says.
    assert!(
        r.stdout.contains("complete it: `deploy-session start`"),
        "{}",
        r.stdout
    );
    let next = run(repo.cmd(["next", "--format", "json"])).json();
    assert_eq!(next["next"][0]["command"], "deploy-session start");
}

#[test]
fn claude_tasks_are_task_create_shaped() {
    let repo = mid_session();
    let j = run(repo.cmd(["todo", "--format", "claude-tasks"])).json();
    assert_eq!(keys(&j), ["tasks"]);
    let tasks = j["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 54);
    for t in tasks {
        assert_eq!(
            keys(t),
            ["subject", "description", "activeForm", "metadata"]
        );
        assert_eq!(
            keys(&t["metadata"]),
            ["id", "agent", "task_type", "protocol", "status"]
        );
        assert!(!t["subject"].as_str().unwrap().is_empty());
        assert!(
            t["description"]
                .as_str()
                .unwrap()
                .contains("Complete with: `deploy-session"),
            "{t}"
        );
    }
    let first_manual = tasks
        .iter()
        .find(|t| t["metadata"]["id"] == "start.2.1")
        .unwrap();
    assert_eq!(first_manual["metadata"]["status"], "in_progress");
    assert_eq!(first_manual["metadata"]["task_type"], "ARTIFACT_ANALYSIS");
    assert!(
        first_manual["description"]
            .as_str()
            .unwrap()
            .contains("deploy-session done start.2.1"),
        "{first_manual}"
    );
    assert_eq!(
        tasks
            .iter()
            .filter(|t| t["metadata"]["status"] == "in_progress")
            .count(),
        1
    );
}

#[test]
fn settling_commands_answer_in_json() {
    let repo = mid_session();
    let cases: [(&[&str], &str, &str); 3] = [
        (
            &["done", "start.2.1", "--note", "n", "--format", "json"],
            "start.2.1",
            "completed",
        ),
        (
            &["skip", "start.2.2", "--reason", "r", "--format", "json"],
            "start.2.2",
            "skipped",
        ),
        (
            &["fail", "start.2.3", "--reason", "r", "--format", "json"],
            "start.2.3",
            "failed",
        ),
    ];
    for (args, id, status) in cases {
        let r = run(repo.cmd(args));
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        let j = r.json();
        assert_eq!(keys(&j), ["schema_version", "action", "status", "next"]);
        assert_eq!(
            (j["action"].as_str(), j["status"].as_str()),
            (Some(id), Some(status))
        );
        assert!(j["next"].is_array());
    }
    // An approval, on a repo whose Phase 6 is not approved yet.
    let repo = Repo::with_phase6(
        r#"{"status": "completed", "deliverables": {"bdd_testing": "complete"}}"#,
    );
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    let r = run(repo.cmd([
        "approve",
        "start.1.2",
        "--by",
        "Quinn <q@example.com>",
        "--format",
        "json",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(
        (j["action"].as_str(), j["status"].as_str()),
        (Some("start.1.2"), Some("completed"))
    );
}

#[test]
fn json_errors_still_exit_2_with_the_message_on_stderr() {
    let repo = mid_session();
    let r = run(repo.cmd(["done", "start.9.9", "--format", "json"]));
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        r.stderr.contains("unknown action id \"start.9.9\""),
        "{}",
        r.stderr
    );
}

const SLASH_COMMANDS: [&str; 5] = [
    "deploy-start",
    "deploy-next",
    "deploy-done",
    "deploy-status",
    "deploy-end",
];

#[test]
fn init_writes_claude_slash_commands_and_never_overwrites_them() {
    let repo = Repo::new();
    let r = run(repo.cmd(["init", "--assistant", "claude"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for name in SLASH_COMMANDS {
        let text = repo.read(&format!(".claude/commands/{name}.md"));
        assert!(text.starts_with("---\ndescription: "), "{name}: {text}");
        assert!(text.contains("deploy-session "), "{name} names no command");
    }
    assert!(
        repo.read(".claude/commands/deploy-done.md")
            .contains("$ARGUMENTS")
    );
    repo.write(".claude/commands/deploy-next.md", "my own version\n");
    let r = run(repo.cmd(["init", "--assistant", "claude", "--force"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        repo.read(".claude/commands/deploy-next.md"),
        "my own version\n"
    );
    assert!(
        r.stdout
            .contains("kept     .claude/commands/deploy-next.md"),
        "{}",
        r.stdout
    );
    assert!(!repo.exists(".claude/commands/deploy-next.md.bak"));
}

/// Every command the slash commands tell the assistant to run parses.
#[test]
fn the_slash_commands_name_real_commands() {
    let repo = Repo::new();
    assert_eq!(run(repo.cmd(["init", "--assistant", "claude"])).code, 0);
    for name in SLASH_COMMANDS {
        let text = repo.read(&format!(".claude/commands/{name}.md"));
        for quoted in text.split('`').skip(1).step_by(2) {
            let Some(rest) = quoted.strip_prefix("deploy-session ") else {
                continue;
            };
            let mut args: Vec<&str> = rest
                .split_whitespace()
                .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase()))
                .collect();
            args.push("--help");
            let r = run(repo.cmd(&args));
            assert_eq!(r.code, 0, "{name}: `deploy-session {rest}`: {}", r.stderr);
            for flag in rest.split_whitespace().filter(|w| w.starts_with("--")) {
                assert!(
                    r.stdout.contains(flag),
                    "{name}: `deploy-session {rest}`: no {flag}"
                );
            }
        }
    }
}
