//! Scripted from CI: no prompt ever, JSON documents that match the shipped
//! JSON Schemas, JUnit read back by an independent parser, GitHub Actions
//! workflow commands and step summary, and `--stage`.

use crate::harness::*;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;

/// The binary in CI mode with stdin closed.
fn ci(repo: &Repo, args: &[&str]) -> Run {
    let mut c = repo.std_cmd(args);
    c.env("CI", "true").stdin(Stdio::null());
    let mut c = assert_cmd::Command::from_std(c);
    c.timeout(Duration::from_secs(60));
    run(c)
}

/// Validates `doc` against templates/schemas/`name`.schema.json.
pub fn assert_schema(name: &str, doc: &Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("templates/schemas")
        .join(format!("{name}.schema.json"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("{}: not a valid schema: {e}", path.display()));
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "output does not match {name}.schema.json:\n{}\n{doc:#}",
        errors.join("\n")
    );
}

const UNAPPROVED: &str = r#"{"status": "completed", "deliverables": {"bdd_testing": "complete"}}"#;

#[test]
fn ci_never_prompts_and_lists_what_waits_in_json() {
    let repo = Repo::with_phase6(UNAPPROVED);
    let r = ci(&repo, &["start", "--format", "json"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let j = r.json();
    assert_schema("run", &j);
    assert_eq!(j["outcome"], "waiting");
    assert_eq!(j["exit_code"], 3);
    assert_eq!(j["next"][0]["id"], "start.1.2");
    assert_eq!(j["next"][0]["kind"], "approval");
    assert!(
        j["next"][0]["command"]
            .as_str()
            .unwrap()
            .starts_with("deploy-session approve --phase 6"),
        "{j}"
    );
    assert!(!r.stderr.contains('\u{1b}'), "colors in CI: {}", r.stderr);
}

/// On a terminal, an approval would prompt; in CI (the variable or the
/// flag) it never does.
#[test]
fn ci_mode_does_not_prompt_even_on_a_terminal() {
    use rexpect::process::WaitStatus;
    for (flag, env) in [(None, Some("true")), (Some("--ci"), None)] {
        let repo = Repo::with_phase6(UNAPPROVED);
        let mut args = vec!["start"];
        args.extend(flag);
        let mut c = repo.std_cmd(&args);
        if let Some(v) = env {
            c.env("CI", v);
        }
        let mut p = rexpect::session::spawn_command(c, Some(20_000)).unwrap();
        let out = p.exp_eof().unwrap();
        assert!(!out.contains("Type `yes`"), "it prompted:\n{out}");
        assert!(out.contains("deploy-session approve --phase 6"), "{out}");
        match p.process_mut().wait().unwrap() {
            WaitStatus::Exited(_, code) => assert_eq!(code, 3, "{out}"),
            other => panic!("{other:?}"),
        }
    }
}

/// A whole session, every JSON document checked against its schema.
#[test]
fn every_json_document_matches_its_schema() {
    let mut ids = start_manual_ids();
    ids.retain(|id| id != "start.2.2" && id != "start.2.3");
    ids.extend(work_ids().into_iter().filter(|id| id != "work.4.1"));
    let repo = Repo::ready(&format!(
        "{}  work.4.1:\n    approval:\n      subject: Release to production\n",
        run_all(&ids, "echo ok")
    ));
    let json = |args: &[&str]| {
        let r = ci(&repo, args);
        assert!([0, 1, 3].contains(&r.code), "{args:?}: {}", r.stderr);
        r.json()
    };
    for name in ["status", "next", "history"] {
        assert_schema(name, &json(&[name, "--format", "json"]));
    }
    assert_schema("run", &json(&["start", "--format", "json"]));
    for name in ["status", "next", "context"] {
        assert_schema(name, &json(&[name, "--format", "json"]));
    }
    assert_schema(
        "settle",
        &json(&["skip", "start.2.2", "--reason", "n/a", "--format", "json"]),
    );
    assert_schema("settle", &json(&["done", "start.2.3", "--format", "json"]));
    assert_schema("todo", &json(&["todo", "--format", "json"]));
    assert_schema("todowrite", &json(&["todo", "--format", "todowrite"]));
    assert_schema("run", &json(&["start", "--format", "json"]));
    let work = json(&["work", "--format", "json"]);
    assert_schema("run", &work);
    assert_eq!(work["next"][0]["id"], "work.4.1");
    assert_schema(
        "settle",
        &json(&["approve", "work.4.1", "--by", "R M", "--format", "json"]),
    );
    assert_schema("run", &json(&["work", "--format", "json"]));
    assert_schema("gates", &json(&["gates", "--format", "json"]));
    let done = json(&end_waiving_args(&["--format", "json"]));
    assert_eq!(done["outcome"], "done", "{done}");
    assert_schema("run", &done);
    for name in ["status", "history", "context", "next"] {
        assert_schema(name, &json(&[name, "--format", "json"]));
    }
    let phase = json(&[
        "approve",
        "--phase",
        "5",
        "--by",
        "Ops Lead <ops@example.com>",
        "--format",
        "json",
    ]);
    assert_schema("approve_phase", &phase);
    assert_eq!(phase["phase"], 5);
}

/// testcase name → (status element or "passed", message)
fn junit_cases(xml: &str) -> (usize, Vec<(String, String, String)>) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut suites, mut cases) = (0, Vec::new());
    let attr = |e: &quick_xml::events::BytesStart, name: &[u8]| -> String {
        e.attributes()
            .flatten()
            .find(|a| a.key.as_ref() == name)
            .map(|a| {
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .unwrap()
                    .into_owned()
            })
            .unwrap_or_default()
    };
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                b"testsuite" => suites += 1,
                b"testcase" => cases.push((attr(&e, b"name"), "passed".into(), String::new())),
                tag @ (b"failure" | b"skipped" | b"error") => {
                    let last = cases.last_mut().expect("inside a testcase");
                    last.1 = String::from_utf8_lossy(tag).into_owned();
                    last.2 = attr(&e, b"message");
                }
                _ => {}
            },
            _ => {}
        }
    }
    (suites, cases)
}

#[test]
fn junit_has_a_suite_per_stage_and_a_case_per_action_matching_the_session() {
    let repo = Repo::ready(
        "secrets: [DS_TOKEN]\nactions:\n  start.2.1:\n    run: echo analysed\n  start.2.2:\n    run: echo \"using $DS_TOKEN\"; echo broken >&2; exit 3\n",
    );
    let mut c = repo.std_cmd(["start", "--junit", "reports/junit.xml"]);
    c.env("CI", "true").env("DS_TOKEN", "tok-123-secret");
    let r = run(assert_cmd::Command::from_std(c));
    assert_eq!(r.code, 1, "{}", r.stdout);
    let xml = repo.read("reports/junit.xml");
    assert!(!xml.contains("tok-123-secret"), "the secret leaked:\n{xml}");
    let (suites, cases) = junit_cases(&xml);
    assert_eq!(suites, 3, "{xml}");
    assert_eq!(cases.len(), 16, "{xml}");
    let status = |name: &str| {
        cases
            .iter()
            .find(|c| c.0.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no case {name}"))
            .clone()
    };
    assert_eq!(status("start.1.1").1, "passed");
    assert_eq!(status("start.2.1").1, "passed");
    let failed = status("start.2.2");
    assert_eq!(failed.1, "failure");
    assert!(failed.2.contains("exit"), "{failed:?}");
    assert!(
        xml.contains("broken"),
        "the log tail is in the failure:\n{xml}"
    );
    assert!(
        xml.contains("using ********") || xml.contains("using ***"),
        "{xml}"
    );
    assert_eq!(status("start.3.1").1, "skipped");
    // The counts match the session's own records.
    let session = repo.session();
    let count = |st: &str| {
        session["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["id"].as_str().unwrap().starts_with("start.") && a["status"] == st)
            .count()
    };
    let by = |st: &str| cases.iter().filter(|c| c.1 == st).count();
    assert_eq!(by("passed"), count("completed"));
    assert_eq!(by("failure"), count("failed"));
    assert_eq!(by("skipped"), 16 - count("completed") - count("failed"));
}

#[test]
fn a_waiting_action_is_a_skipped_case_with_the_reason() {
    let repo = Repo::ready("");
    let r = ci(&repo, &["start", "--junit", "junit.xml"]);
    assert_eq!(r.code, 3);
    let (_, cases) = junit_cases(&repo.read("junit.xml"));
    let waiting = cases
        .iter()
        .find(|c| c.0.starts_with("start.2.1 "))
        .unwrap();
    assert_eq!(waiting.1, "skipped");
    assert!(waiting.2.starts_with("waiting for a person"), "{waiting:?}");
}

/// The binary as GitHub Actions runs it, with a step summary file.
fn github(repo: &Repo, args: &[&str]) -> Run {
    let mut c = repo.std_cmd(args);
    c.env("CI", "true")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", repo.path().join("summary.md"))
        .env("DS_TOKEN", "tok-123-secret")
        .stdin(Stdio::null());
    run(assert_cmd::Command::from_std(c))
}

#[test]
fn github_actions_gets_groups_notices_and_a_step_summary() {
    let repo = Repo::ready(
        "secrets: [DS_TOKEN]\nactions:\n  start.2.1:\n    run: echo \"line one $DS_TOKEN\"; echo line two\n",
    );
    let r = github(&repo, &["start"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let out = &r.stdout;
    assert!(
        out.contains(
            "::group::✓ start.2.1 Analyze development artifacts for infrastructure requirements"
        ),
        "{out}"
    );
    let group = out.split("::group::✓ start.2.1").nth(1).unwrap();
    let group = &group[..group.find("::endgroup::").expect("the group is closed")];
    assert!(
        group.contains("line one ********") || group.contains("line one ***"),
        "{group}"
    );
    assert!(group.contains("line two"), "{group}");
    assert!(
        out.contains("::notice title=deploy-session%3A start.2.2 waits::Process technical specifications for deployment architecture"),
        "{out}"
    );
    let summary = repo.read("summary.md");
    assert!(summary.contains("### deploy-session `start`"), "{summary}");
    assert!(summary.contains("| start.2.1 | Analyze development artifacts for infrastructure requirements | completed |"), "{summary}");
    assert!(
        summary.contains("`deploy-session done start.2.2"),
        "{summary}"
    );
    for (name, text) in [("stdout", out.as_str()), ("summary", summary.as_str())] {
        assert!(!text.contains("tok-123-secret"), "{name} leaks the secret");
    }
    // With --format json, stdout stays one JSON document.
    let r = github(&repo, &["start", "--format", "json"]);
    assert_eq!(r.code, 3);
    assert_eq!(r.json()["outcome"], "waiting");
    assert!(
        r.stderr
            .contains("::notice title=deploy-session%3A start.2.2 waits::"),
        "{}",
        r.stderr
    );
}

#[test]
fn github_actions_annotates_config_errors_on_their_line() {
    let repo = Repo::ready("actions:\n  start.2.1:\n    rn: echo typo\n");
    let r = github(&repo, &["start"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("no ::error in {}", r.stdout));
    assert!(line.contains("file=deploy-session.yaml,line=3"), "{line}");
    // Outside GitHub Actions there is none.
    let plain = ci(&repo, &["start"]);
    assert!(!plain.stdout.contains("::error"), "{}", plain.stdout);
}

#[test]
fn stage_runs_one_stage_once_its_needs_are_complete() {
    let repo = Repo::ready(&run_all(&start_manual_ids(), "echo ok"));
    let r = ci(&repo, &["start", "--stage", "start.2"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("--stage start.2 needs start.1 complete first"),
        "{}",
        r.stderr
    );
    let r = ci(&repo, &["start", "--stage", "start.9"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("its stages: start.1, start.2, start.3"),
        "{}",
        r.stderr
    );
    let r = ci(&repo, &["start", "--stage", "start.1", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(repo.action_status("start.2.1"), "pending");
    let r = ci(&repo, &["start", "--stage", "start.2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(repo.action_status("start.2.5"), "completed");
    assert_eq!(repo.action_status("start.3.1"), "pending");
}

/// Every `--format json` document matches the schema shipped for it in
/// templates/schemas (generated from its type), in an open session and
/// after `end`: dry runs, plans, config checks, probes, audit and handoff
/// verdicts, audit logs, phase statements, claude-tasks, and the gates —
/// also once the session is closed, and the report `end` archives.
#[test]
fn the_other_json_documents_match_their_schemas() {
    let repo = Repo::ready("");
    let json = |args: &[&str], expect: i32| {
        let r = run(repo.cmd(args));
        assert_eq!(r.code, expect, "{args:?}: {}", r.stderr);
        r.json()
    };
    assert_schema(
        "dry_run",
        &json(&["start", "--dry-run", "--format", "json"], 0),
    );
    assert_schema("plan", &json(&["plan", "--format", "json"], 0));
    assert_schema(
        "config_check",
        &json(&["config", "check", "--format", "json"], 0),
    );
    repo.write(
        "deploy-session.yaml",
        "actions:\n  start.2.1:\n    runn: x\n",
    );
    let bad = json(&["config", "check", "--format", "json"], 2);
    assert_schema("config_check", &bad);
    assert_eq!(bad["errors"][0]["line"], 3, "{bad}");
    std::fs::remove_file(repo.path().join("deploy-session.yaml")).unwrap();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("svc"), "200 ok").unwrap();
    let server = TestServer::start(state.path(), "svc", 0, Duration::ZERO);
    let url = format!("{}/health", server.url());
    assert_schema("probe", &json(&["probe", &url, "--format", "json"], 0));
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    assert_schema(
        "claude_tasks",
        &json(&["todo", "--format", "claude-tasks"], 0),
    );
    assert_schema("audit_log", &json(&["audit", "log", "--format", "json"], 0));
    repo.work_done_by_hand();
    assert_eq!(run(repo.cmd(end_waiving_args(&[]))).code, 0);
    assert_schema(
        "audit_verify",
        &json(&["audit", "verify", "--format", "json"], 0),
    );
    assert_schema(
        "handoff_verify",
        &json(&["handoff", "verify", "--format", "json"], 0),
    );
    let closed = json(&["gates", "--format", "json"], 0);
    assert_schema("gates", &closed);
    assert_eq!(closed["passed"], true);
    let archived = std::fs::read_dir(repo.path().join(".ai_context/deploy-session/archive"))
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path()
        .join("reports/gates.json");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(archived).unwrap()).unwrap();
    assert_schema("gates", &report);
    assert_eq!(
        report, closed,
        "`gates` after `end` shows the archived report"
    );
    let other = Repo::new();
    assert_eq!(run(other.cmd(["init"])).code, 0);
    let r = run(other.cmd([
        "phase",
        "6",
        "--status",
        "completed",
        "--by",
        DANA,
        "--format",
        "json",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_schema("phase_statement", &r.json());
}

/// A runner's detached checkout passes a `git: {branch}` check when the
/// runner names that branch for HEAD's very commit, and only then.
#[test]
fn a_branch_check_holds_on_a_ci_runners_detached_checkout() {
    let repo = Repo::ready("actions:\n  start.2.1:\n    check: {git: {branch: main}}\n");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-qm", "base"]);
    let head = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    repo.git(&["checkout", "-q", "--detach"]);
    let with_env = |sha: &str| {
        let mut c = repo.std_cmd(["start"]);
        c.env("CI_COMMIT_BRANCH", "main").env("CI_COMMIT_SHA", sha);
        run(assert_cmd::Command::from_std(c))
    };
    let r = with_env("0000000000000000000000000000000000000000");
    assert_eq!(
        r.code, 1,
        "another commit's branch is not believed: {}",
        r.stdout
    );
    assert!(r.stdout.contains("not on branch main"), "{}", r.stdout);
    let r = with_env(&head);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(repo.action_status("start.2.1"), "completed");
    let evidence = repo.action("start.2.1")["metrics"]["evidence"].to_string();
    assert!(
        evidence.contains("CI_COMMIT_BRANCH names the branch"),
        "{evidence}"
    );
}

/// A failed action in GitHub Actions is an `::error` annotation naming it
/// and why (masked), so the run's summary page shows it.
#[test]
fn github_actions_annotates_failed_actions() {
    let repo = Repo::ready(
        "secrets: [DS_TOKEN]\nactions:\n  start.2.1:\n    run: echo \"bad $DS_TOKEN\" >&2; exit 7\n",
    );
    let r = github(&repo, &["start"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout.contains("::error title=deploy-session%3A start.2.1 failed::Analyze development artifacts for infrastructure requirements: "),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("tok-123-secret"), "{}", r.stdout);
}

/// `--decisions FILE`: the manual actions it names are done by the named
/// person, the note saying which file at which commit and who recorded it;
/// evidence outside the repo is refused (exit 2) naming the file; a broken
/// file stops the run before anything is written.
#[test]
fn a_decisions_file_settles_what_people_decided() {
    let repo = Repo::ready("");
    repo.write("docs/requirements.md", "reviewed\n");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "docs"]);
    let mut d = String::from("actions:\n");
    for id in start_manual_ids() {
        d.push_str(&format!(
            "  {id}: {{ by: \"{DANA}\", note: \"reviewed in !7\", evidence: [docs/requirements.md] }}\n"
        ));
    }
    repo.write("deploy-session.decisions.yaml", &d);
    let mut c = repo.cmd(["start", "--decisions", "deploy-session.decisions.yaml"]);
    c.env("GITLAB_USER_LOGIN", "gina");
    let r = run(c);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let a = repo.action("start.2.1");
    assert_eq!(a["status"], "completed");
    assert_eq!(a["by"], DANA);
    let note = a["note"].as_str().unwrap();
    assert!(
        note.starts_with("reviewed in !7 (from deploy-session.decisions.yaml at ")
            && note.ends_with(", recorded by GitLab user gina)"),
        "{note}"
    );
    assert_eq!(a["evidence"][0], "docs/requirements.md");

    // Evidence that climbs out of the repo: refused, naming the file.
    let other = Repo::ready("");
    other.write(
        "d.yaml",
        &format!(
            "actions:\n  start.2.1: {{ by: \"{DANA}\", note: x, evidence: [../../etc/passwd] }}\n"
        ),
    );
    let r = run(other.cmd(["start", "--decisions", "d.yaml"]));
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("d.yaml") && r.stderr.contains("start.2.1: evidence"),
        "{}",
        r.stderr
    );
    // A broken file: nothing runs, nothing is written.
    let third = Repo::ready("");
    third.write(
        "d.yaml",
        "actions:\n  start.9.9: { by: \"<your name and email>\", note: x }\n",
    );
    let r = run(third.cmd(["start", "--decisions", "d.yaml"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("d.yaml:2:3: unknown action start.9.9"),
        "{}",
        r.stderr
    );
    assert!(
        !third.exists(".ai_context/deploy-session"),
        "not even a lock file"
    );
}
