use crate::harness::*;

const FILES: [&str; 4] = [
    ".ai_context/framework_progress.md",
    "deploy-session.yaml",
    "deployment/ai_system_prompt_v3.7.md",
    "deployment/AI_ASSISTANT_STARTUP_DEPLOYMENT.md",
];

#[test]
fn init_creates_every_file_in_a_usable_state() {
    let repo = Repo::new();
    let r = run(repo.cmd(["init"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for f in FILES {
        assert!(repo.exists(f), "{f} missing");
        assert!(r.stderr.contains(&format!("created  {f}")), "{}", r.stderr);
    }
    // The master state it wrote parses, with every phase -1..8.
    let status = run(repo.cmd(["status", "--format", "json"])).json();
    let numbers: Vec<i64> = status["master_state"]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, (-1..=8).collect::<Vec<i64>>());
    let p6 = &status["master_state"]["phases"][7];
    assert_eq!(p6["deliverables"].as_array().unwrap().len(), 4);
    // The commented config it wrote is valid.
    let r = run(repo.cmd(["config", "check"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The framework files are rendered for this repo.
    let prompt = repo.read("deployment/ai_system_prompt_v3.7.md");
    assert!(!prompt.contains("{{"), "unrendered template:\n{prompt}");
    assert!(
        repo.read(".ai_context/framework_progress.md")
            .contains("**Last Update**: 2026-11-25")
    );
}

#[test]
fn init_never_overwrites_without_force() {
    let repo = Repo::new();
    repo.write(".ai_context/framework_progress.md", "# mine\n");
    repo.write("deploy-session.yaml", "vars: {a: b}\n");
    let r = run(repo.cmd(["init"]));
    assert_eq!(r.code, 0);
    assert_eq!(repo.read(".ai_context/framework_progress.md"), "# mine\n");
    assert_eq!(repo.read("deploy-session.yaml"), "vars: {a: b}\n");
    assert!(
        r.stderr
            .contains("kept     .ai_context/framework_progress.md"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("created  deployment/ai_system_prompt_v3.7.md")
    );
}

#[test]
fn init_force_keeps_a_backup_first() {
    let repo = Repo::new();
    repo.write(".ai_context/framework_progress.md", "# mine\n");
    let r = run(repo.cmd(["init", "--force"]));
    assert_eq!(r.code, 0);
    assert_eq!(
        repo.read(".ai_context/framework_progress.md.bak"),
        "# mine\n"
    );
    assert!(
        repo.read(".ai_context/framework_progress.md")
            .contains("Phase 8")
    );
    assert!(
        r.stderr
            .contains("previous kept as .ai_context/framework_progress.md.bak")
    );
    // The replacement is in the audit trail, outside any session, with who.
    let write = repo
        .audit()
        .into_iter()
        .find(|e| e["event"] == "master_state_written")
        .expect("init --force is recorded");
    assert_eq!(write["session"], "");
    assert_eq!(write["actor"], "Test Operator <operator@example.com>");
    assert!(
        write["detail"]["why"]
            .as_str()
            .unwrap()
            .contains("init --force replaced .ai_context/framework_progress.md; the previous one is kept as .ai_context/framework_progress.md.bak"),
        "{write}"
    );
    assert_eq!(run(repo.cmd(["audit", "verify"])).code, 0);
}

/// A second `--force` keeps the first backup and numbers the next one.
#[test]
fn init_force_never_overwrites_a_backup() {
    let repo = Repo::new();
    repo.write(".ai_context/framework_progress.md", "# mine\n");
    assert_eq!(run(repo.cmd(["init", "--force"])).code, 0);
    repo.write(".ai_context/framework_progress.md", "# second\n");
    let r = run(repo.cmd(["init", "--force"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        repo.read(".ai_context/framework_progress.md.bak"),
        "# mine\n"
    );
    assert_eq!(
        repo.read(".ai_context/framework_progress.md.bak.1"),
        "# second\n"
    );
    assert!(
        r.stderr
            .contains("previous kept as .ai_context/framework_progress.md.bak.1"),
        "{}",
        r.stderr
    );
}

/// `--force` is refused while a session is open: nothing is replaced.
#[test]
fn init_force_is_refused_while_a_session_is_open() {
    let repo = Repo::ready("");
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    let before = repo.files();
    let r = run(repo.cmd(["init", "--force"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--force: session ") && r.stderr.contains("is open"),
        "{}",
        r.stderr
    );
    assert_eq!(before, repo.files(), "a refused init --force changed files");
}
