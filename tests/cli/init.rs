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
        assert!(r.stdout.contains(&format!("created  {f}")), "{}", r.stdout);
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
        r.stdout
            .contains("kept     .ai_context/framework_progress.md"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("created  deployment/ai_system_prompt_v3.7.md")
    );
}
