//! The end protocol through the real binary: gates, the master-state
//! transition, the handoff package, the audit trail, archive, history, git.

use crate::harness::*;

/// A repo where every start and work action runs `true`.
fn through_work() -> Repo {
    let mut ids = start_manual_ids();
    ids.extend(work_ids());
    let repo = Repo::ready(&run_all(&ids, "echo done"));
    assert_eq!(run(repo.cmd(["start"])).code, 0);
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 0, "{}", r.stdout);
    repo
}

fn end_waiving(repo: &Repo, extra: &[&str]) -> Run {
    run(repo.cmd(end_waiving_args(extra)))
}

#[test]
fn a_full_session_leaves_everything_operations_needs() {
    let repo = through_work();
    let master_before = repo.read(".ai_context/framework_progress.md");
    let id = repo.session()["id"].as_str().unwrap().to_string();
    let r = end_waiving(&repo, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // Phase 7 completed, Phase 8 ready, nothing else in the file changed.
    let after = repo.read(".ai_context/framework_progress.md");
    let status = run(repo.cmd(["status", "--format", "json"])).json();
    let phase = |n: i64| {
        status["master_state"]["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["number"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(phase(7)["status"], "completed");
    assert_eq!(phase(8)["status"], "ready");
    let outside = |text: &str| -> Vec<String> {
        let (a, b) = (
            text.find("#### **Phase 7").unwrap(),
            text.find("---\n\n## 📊").unwrap(),
        );
        format!("{}{}", &text[..a], &text[b..])
            .lines()
            .filter(|l| !l.starts_with("- **Last Update**") && !l.starts_with("- **Active Phase**"))
            .map(String::from)
            .collect()
    };
    assert_eq!(outside(&master_before), outside(&after));
    assert!(after.contains("\"completed_at\": \"2026-11-25T12:00:00Z\""));
    // The session is closed and archived, with a history row.
    assert!(status["session"].is_null());
    for f in [
        "session.json",
        "audit.jsonl",
        "todos.json",
        "status_report.md",
        "reports/gates.json",
        "reports/completion_report.md",
        "logs/start.2.1.log",
    ] {
        assert!(
            repo.exists(&format!(".ai_context/deploy-session/archive/{id}/{f}")),
            "archive lacks {f}"
        );
    }
    assert!(
        !repo.exists(&format!(".ai_context/deploy-session/logs/{id}")),
        "logs moved, not copied"
    );
    let history = run(repo.cmd(["history", "--format", "json"])).json();
    assert_eq!(history["sessions"][0]["session"], id.as_str());
    assert_eq!(history["sessions"][0]["outcome"], "completed");
    // The handoff package and the audit trail both verify.
    let r = run(repo.cmd(["handoff", "verify"]));
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout.contains("8 files match the manifest"),
        "{}",
        r.stdout
    );
    let r = run(repo.cmd(["audit", "verify"]));
    assert_eq!(r.code, 0, "{}", r.stdout);
    let handoff = format!(".ai_context/handoff/{id}");
    let readme = repo.read(&format!("{handoff}/README.md"));
    assert!(
        readme
            .trim_end()
            .ends_with("with complete Deployment Framework handoff validation"),
        "{readme}"
    );
    for doc in [
        "01-production-system.md",
        "05-performance-baseline.md",
        "07-incident-response.md",
    ] {
        assert!(readme.contains(doc), "README does not link {doc}");
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&repo.read(&format!("{handoff}/manifest.json"))).unwrap();
    assert_eq!(manifest["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(manifest["subject"].as_array().unwrap().len(), 8);
    assert_eq!(manifest["predicate"]["session"], id.as_str());
    assert_eq!(
        manifest["predicate"]["audit_head"].as_str().unwrap().len(),
        64
    );
    let incident = repo.read(&format!("{handoff}/07-incident-response.md"));
    assert!(
        incident.contains("Gate `reliability` was **waived** by Test Operator"),
        "{incident}"
    );
    assert!(
        repo.read(".ai_context/operations_context.md")
            .contains("Load operations/ai_system_prompt_v3.7.md")
    );
    assert!(
        repo.read(".ai_context/deployment_context.md")
            .contains("## Operations transition")
    );
    let r = run(repo.cmd(["status"]));
    assert!(
        r.stdout
            .contains(&format!("the last one, {id}, was completed")),
        "{}",
        r.stdout
    );
}

#[test]
fn end_refuses_failing_gates_then_succeeds_with_a_recorded_waiver() {
    let repo = through_work();
    let r = run(repo.cmd(["gates", "--format", "json"]));
    assert_eq!(r.code, 1);
    let gates = r.json()["gates"].as_array().unwrap().clone();
    let verdict = |id: &str| {
        gates.iter().find(|g| g["id"] == id).unwrap()["verdict"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(verdict("reliability"), "no-evidence");
    assert_eq!(verdict("security_scanning"), "pass");
    let r = run(repo.cmd(["end"]));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "gates not passing: reliability (no-evidence), deployment_time (no-evidence)"
        ),
        "{}",
        r.stdout
    );
    // work.4.4 ran a command here (a drill): rollback capability exercised.
    assert!(
        r.stdout.contains("✓ rollback_capability      pass"),
        "{}",
        r.stdout
    );
    assert!(repo.session()["id"].is_string(), "the session stays open");
    let r = run(repo.cmd([
        "end",
        "--waive",
        "reliability",
        "--reason",
        "too new to measure",
    ]));
    assert_eq!(r.code, 1, "other gates still block");
    let waived = repo
        .audit()
        .into_iter()
        .find(|e| e["event"] == "gate_waived")
        .unwrap();
    assert_eq!(waived["actor"], "Test Operator <operator@example.com>");
    assert_eq!(waived["detail"]["reason"], "too new to measure");
    let g = run(repo.cmd(["gates", "--format", "json"])).json();
    let rel = g["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "reliability")
        .unwrap()
        .clone();
    assert_eq!(rel["verdict"], "waived");
    assert_eq!(rel["waiver"]["by"], "Test Operator <operator@example.com>");
    assert_eq!(end_waiving(&repo, &[]).code, 0);
}

#[test]
fn waiving_an_unknown_gate_is_a_usage_error() {
    let repo = through_work();
    let r = run(repo.cmd(["end", "--waive", "vibes", "--reason", "x"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--waive vibes: no such gate"),
        "{}",
        r.stderr
    );
    assert_eq!(
        run(repo.cmd(["end", "--waive", "reliability"])).code,
        2,
        "--reason is required"
    );
}

#[test]
fn any_edit_to_the_handoff_package_is_named() {
    let repo = through_work();
    assert_eq!(end_waiving(&repo, &[]).code, 0);
    let dir = std::fs::read_dir(repo.path().join(".ai_context/handoff"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let verify = || run(repo.cmd(["handoff", "verify", dir.to_str().unwrap()]));
    std::fs::write(dir.join("03-monitoring-configuration.md"), "# rewritten\n").unwrap();
    std::fs::remove_file(dir.join("06-operations-procedures.md")).unwrap();
    std::fs::write(dir.join("notes.md"), "smuggled in").unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("x"), "x").unwrap();
    std::os::unix::fs::symlink(outside.path().join("x"), dir.join("link.md")).unwrap();
    let r = verify();
    assert_eq!(r.code, 1);
    for words in [
        "altered: 03-monitoring-configuration.md",
        "missing: 06-operations-procedures.md",
        "extra: notes.md",
        "link-outside: link.md",
    ] {
        assert!(
            r.stdout.contains(words),
            "{words} not reported:\n{}",
            r.stdout
        );
    }
    let manifest = dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap().replacen(
        "01-production-system.md",
        "../../../etc/passwd",
        1,
    );
    std::fs::write(&manifest, text).unwrap();
    let r = verify();
    assert!(
        r.stdout.contains("unsafe-name: ../../../etc/passwd"),
        "{}",
        r.stdout
    );
    let j = run(repo.cmd([
        "handoff",
        "verify",
        dir.to_str().unwrap(),
        "--format",
        "json",
    ]))
    .json();
    assert_eq!(j["ok"], false);
}

#[test]
fn any_edit_to_the_audit_trail_is_named() {
    let repo = Repo::ready("");
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    let path = repo.path().join(".ai_context/deploy-session/audit.jsonl");
    let original = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    assert!(lines.len() > 6);
    let edited = lines[3].replacen("\"ts\":\"2026", "\"ts\":\"2027", 1);
    let cases: Vec<(String, &str)> = vec![
        (
            [&lines[..3], &[edited.as_str()], &lines[4..]]
                .concat()
                .join("\n")
                + "\n",
            ":4: the line's content does not match its hash",
        ),
        (
            [&lines[..3], &lines[4..]].concat().join("\n") + "\n",
            ":4: seq 5 where 4 was expected",
        ),
        (
            [&lines[..3], &[lines[4], lines[3]], &lines[5..]]
                .concat()
                .join("\n")
                + "\n",
            ":4: seq 5 where 4 was expected",
        ),
        (
            original[..original.len() - 20].to_string(),
            "the last line is torn",
        ),
    ];
    for (text, words) in cases {
        std::fs::write(&path, &text).unwrap();
        let r = run(repo.cmd(["audit", "verify"]));
        assert_eq!(r.code, 1, "{words}");
        assert!(
            r.stdout.contains(words),
            "expected {words:?} in {}",
            r.stdout
        );
    }
    std::fs::write(&path, &original).unwrap();
    assert_eq!(run(repo.cmd(["audit", "verify"])).code, 0);
    let log = run(repo.cmd(["audit", "log", "--format", "json"])).json();
    assert_eq!(log["events"].as_array().unwrap().len(), lines.len());
    assert_eq!(log["events"][0]["event"], "session_opened");
}

#[test]
fn commit_holds_exactly_the_sessions_files_and_tags_it() {
    let repo = through_work();
    repo.git(&["add", "deploy-session.yaml", "deployment"]);
    repo.git(&["commit", "-qm", "base"]);
    repo.write("unrelated.txt", "not part of the session");
    let r = end_waiving(&repo, &["--commit", "--tag", "release-1"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("tagged release-1"), "{}", r.stdout);
    let files = repo.git(&["show", "--name-only", "--format=", "HEAD"]);
    let files: Vec<&str> = files.lines().collect();
    assert!(!files.is_empty());
    assert!(
        files.iter().all(|f| f.starts_with(".ai_context/")),
        "{files:?}"
    );
    assert!(files.iter().any(|f| f.ends_with("/manifest.json")));
    assert!(files.contains(&".ai_context/framework_progress.md"));
    assert!(
        !files
            .iter()
            .any(|f| f.ends_with(".bak") || f.ends_with("/lock") || f.ends_with("lock.holder")),
        "{files:?}"
    );
    // The protocol cache stays out too (it exists: the config is resolved).
    assert!(repo.exists(".ai_context/deploy-session/protocols.json"));
    assert!(
        !files.iter().any(|f| f.ends_with("protocols.json")),
        "{files:?}"
    );
    assert!(
        repo.git(&["status", "--porcelain"])
            .contains("?? unrelated.txt")
    );
    let message = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        message.starts_with("deploy-session: deployment phase complete (session "),
        "{message}"
    );
    assert!(
        message.contains("Waived gate reliability by Test Operator"),
        "{message}"
    );
    assert_eq!(
        repo.git(&["describe", "--tags", "--exact-match"]).trim(),
        "release-1"
    );
}

#[test]
fn commit_is_refused_before_anything_runs() {
    let repo = through_work();
    repo.write("staged.txt", "x");
    repo.git(&["add", "staged.txt"]);
    let r = end_waiving(&repo, &["--commit"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("files unrelated to the session are staged: staged.txt"),
        "{}",
        r.stderr
    );
    assert_eq!(repo.action_status("end.1.1"), "pending", "nothing ran");
    repo.git(&["rm", "-q", "--cached", "staged.txt"]);
    repo.git(&["add", "deploy-session.yaml"]);
    repo.git(&["commit", "-qm", "base"]);
    repo.git(&["checkout", "-q", "--detach"]);
    let r = end_waiving(&repo, &["--commit"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("HEAD is detached"), "{}", r.stderr);
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["config", "--unset", "user.name"]);
    let mut c = repo.cmd(["end", "--commit", "--waive", "reliability", "--reason", "x"]);
    c.env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .env("HOME", repo.path())
        .env("XDG_CONFIG_HOME", repo.path());
    let r = run(c);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("git has no identity"), "{}", r.stderr);
}

#[test]
fn a_second_session_appears_in_history() {
    let repo = through_work();
    assert_eq!(end_waiving(&repo, &[]).code, 0);
    assert_eq!(run(repo.cmd(["start", "--new-session"])).code, 0);
    let r = run(repo.cmd(["abort", "--reason", "superseded by a hotfix"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let h = run(repo.cmd(["history", "--format", "json"])).json();
    let outcomes: Vec<&str> = h["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["completed", "aborted"]);
    let table = run(repo.cmd(["history"]));
    assert!(
        table
            .stdout
            .contains("2 sessions; no deployment has been measured yet"),
        "{}",
        table.stdout
    );
    let closed = repo
        .audit()
        .into_iter()
        .rfind(|e| e["event"] == "session_closed")
        .unwrap();
    assert_eq!(closed["detail"]["reason"], "superseded by a hotfix");
}

#[test]
fn gate_sources_and_handoff_templates_can_be_customised() {
    let mut ids = start_manual_ids();
    ids.extend(work_ids());
    let mut config = run_all(&ids, "true");
    config.push_str("gates:\n  sources:\n    security_scanning: [work.3.9]\n");
    let repo = Repo::ready(&config);
    let r = run(repo.cmd(["config", "check"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("gate security_scanning names unknown action work.3.9"),
        "{}",
        r.stderr
    );
    repo.write(
        "deploy-session.yaml",
        &config.replace("work.3.9", "work.3.5"),
    );
    repo.write(
        ".ai_context/templates/handoff/README.md",
        "# Our own index for {{ session.id }}\n\n> {{ transition }}\n",
    );
    assert_eq!(run(repo.cmd(["start"])).code, 0);
    assert_eq!(run(repo.cmd(["work"])).code, 0);
    let g = run(repo.cmd(["gates", "--format", "json"])).json();
    let scan = g["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "security_scanning")
        .unwrap()
        .clone();
    assert!(
        scan["evidence"][0]
            .as_str()
            .unwrap()
            .starts_with("work.3.5"),
        "{scan}"
    );
    assert_eq!(end_waiving(&repo, &[]).code, 0);
    let dir = std::fs::read_dir(repo.path().join(".ai_context/handoff"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(
        std::fs::read_to_string(dir.join("README.md"))
            .unwrap()
            .starts_with("# Our own index for ")
    );
    assert_eq!(run(repo.cmd(["handoff", "verify"])).code, 0);
}

#[test]
fn secrets_never_reach_the_handoff_package() {
    let mut ids = start_manual_ids();
    ids.retain(|id| id != "start.2.1");
    ids.extend(work_ids());
    let config = format!("secrets: [API_KEY]\n{}", run_all(&ids, "true"));
    let repo = Repo::ready(&config);
    let secret = "sk-live-4242424242";
    let with_key = |args: &[&str]| {
        let mut c = repo.cmd(args);
        c.env("API_KEY", secret);
        run(c)
    };
    assert_eq!(with_key(&["start"]).code, 3);
    assert_eq!(
        with_key(&[
            "done",
            "start.2.1",
            "--note",
            &format!("rotated key {secret}")
        ])
        .code,
        0
    );
    assert_eq!(with_key(&["start"]).code, 0);
    assert_eq!(with_key(&["work"]).code, 0);
    assert_eq!(with_key(&end_waiving_args(&[])).code, 0);
    for (path, bytes) in repo.files() {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "{} leaks the secret",
            path.display()
        );
    }
    let dir = std::fs::read_dir(repo.path().join(".ai_context/handoff"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let docs: String = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(
        docs.contains("rotated key ***"),
        "the masked note is in the package"
    );
    assert!(
        docs.contains("`API_KEY`"),
        "the secret's name (not value) is listed"
    );
}

/// An `end` stopped after its last action but before the session was
/// closed (here: the archive cannot be written) closes it when run again,
/// instead of saying "already complete" and leaving it open forever.
/// Found by the crash loop in tests/reliability.
#[test]
fn an_end_stopped_before_closing_closes_on_the_next_run() {
    let repo = through_work();
    let id = repo.session()["id"].as_str().unwrap().to_string();
    let blocker = format!(".ai_context/deploy-session/archive/{id}/session.json/x");
    repo.write(&blocker, "a folder where the archive's session.json goes");
    let r = end_waiving(&repo, &[]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(repo.session()["id"] == id, "the session is still open");
    std::fs::remove_dir_all(repo.path().join(format!(
        ".ai_context/deploy-session/archive/{id}/session.json"
    )))
    .unwrap();
    let r = end_waiving(&repo, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let status = run(repo.cmd(["status", "--format", "json"])).json();
    assert!(status["session"].is_null(), "the session is closed");
    let history = run(repo.cmd(["history", "--format", "json"])).json();
    assert_eq!(history["sessions"][0]["session"], id.as_str());
    assert_eq!(history["sessions"][0]["outcome"], "completed");
}
