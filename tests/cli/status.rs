use crate::harness::*;

#[test]
fn status_shows_the_phases_of_a_real_format_file() {
    let repo = Repo::with_master("master_state/realistic.md");
    let before = repo.files();
    let r = run(repo.cmd(["status"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("status_table", r.stdout);
    let j = run(repo.cmd(["status", "--format", "json"])).json();
    assert_eq!(j["schema_version"], 1);
    let p6 = j["master_state"]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["number"] == 6)
        .unwrap();
    assert_eq!(p6["status"], "completed");
    assert_eq!(p6["approval"]["by"], "Dana Reviewer <dana@example.com>");
    assert!(j["session"].is_null());
    let md = run(repo.cmd(["status", "--format", "markdown"]));
    assert!(
        md.stdout
            .contains("| 7 | AI-First Deployment Preparation | ready | no | — |"),
        "{}",
        md.stdout
    );
    assert_same_files(&before, &repo.files(), "status must never write");
}

#[test]
fn status_reads_prose_phases() {
    let repo = Repo::with_master("master_state/prose.md");
    let j = run(repo.cmd(["status", "--format", "json"])).json();
    let statuses: Vec<&str> = j["master_state"]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["completed", "in_progress", "not_started", "not_started"]
    );
}

#[test]
fn missing_master_state_points_to_init() {
    let repo = Repo::new();
    let r = run(repo.cmd(["status"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains(".ai_context/framework_progress.md: the master state file does not exist"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint: `deploy-session init`"));
}

#[test]
fn bad_master_states_are_named_by_line_and_left_alone() {
    for (fixture, line, words) in [
        (
            "master_state/bad/broken_json.md",
            7,
            "invalid JSON in phase block",
        ),
        (
            "master_state/bad/duplicate_phase.md",
            13,
            "Phase 6 is declared twice",
        ),
        (
            "master_state/bad/unknown_status.md",
            6,
            "unknown status \"mostly-done\" for Phase 6",
        ),
        ("master_state/bad/unclosed.md", 4, "never closed"),
    ] {
        let repo = Repo::with_master(fixture);
        let before = repo.files();
        let r = run(repo.cmd(["status"]));
        assert_eq!(r.code, 2, "{fixture}: {}", r.stderr);
        let loc = format!(".ai_context/framework_progress.md:{line}");
        assert!(
            r.stderr.contains(&loc) && r.stderr.contains(words),
            "{fixture}: {}",
            r.stderr
        );
        assert_same_files(&before, &repo.files(), &format!("{fixture}: files changed"));
    }
}

#[test]
fn crlf_and_bom_files_are_read() {
    let repo = Repo::new();
    let text = format!(
        "\u{FEFF}{}",
        fixture("master_state/realistic.md").replace('\n', "\r\n")
    );
    repo.write(".ai_context/framework_progress.md", &text);
    let j = run(repo.cmd(["status", "--format", "json"])).json();
    assert_eq!(j["master_state"]["phases"].as_array().unwrap().len(), 6);
}
