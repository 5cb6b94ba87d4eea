//! People in the loop: done, skip, fail, approve, next, todo — and every
//! way of getting them wrong.

use crate::harness::*;

fn started() -> Repo {
    let repo = Repo::ready("");
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    repo
}

#[test]
fn done_records_who_note_and_evidence() {
    let repo = started();
    repo.write("notes/analysis.md", "# analysis\n");
    let r = run(repo.cmd([
        "done",
        "start.2.1",
        "--note",
        "artifacts reviewed",
        "--evidence",
        "notes/analysis.md",
        "--by",
        "Ana <ana@example.com>",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("✓ start.2.1 done"));
    assert!(
        r.stdout.contains("deploy-session done start.2.2"),
        "next is shown: {}",
        r.stdout
    );
    let s = repo.session();
    let a = action_in(&s, "start.2.1");
    assert_eq!(a["status"], "completed");
    assert_eq!(a["by"], "Ana <ana@example.com>");
    assert_eq!(a["note"], "artifacts reviewed");
    assert_eq!(a["evidence"], serde_json::json!(["notes/analysis.md"]));
    let trail = repo.audit();
    let last = trail
        .iter()
        .rev()
        .find(|e| e["event"] != "snapshot_taken")
        .unwrap()
        .clone();
    assert_eq!(trail.last().unwrap()["event"], "snapshot_taken");
    assert_eq!(last["event"], "action_resolved");
    assert_eq!(last["actor"], "Ana <ana@example.com>");
}

#[test]
fn skip_and_fail_need_reasons_and_fail_stops_the_stage() {
    let repo = started();
    assert_eq!(
        run(repo.cmd(["skip", "start.2.1"])).code,
        2,
        "--reason is required"
    );
    let r = run(repo.cmd(["skip", "start.2.1", "--reason", "covered by start.2.2"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("start.2.1 skipped") && r.stdout.contains("— covered by start.2.2"),
        "the reason is echoed: {}",
        r.stdout
    );
    assert_eq!(repo.action_status("start.2.1"), "skipped");
    let r = run(repo.cmd(["fail", "start.2.2", "--reason", "specs are missing"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("failed by Test Operator"), "{}", r.stdout);
    assert!(r.stdout.contains("specs are missing"), "{}", r.stdout);
    // A person's failure stays until they change their mind.
    assert_eq!(run(repo.cmd(["start"])).code, 1);
    let r = run(repo.cmd(["start", "--rerun", "start.2.2"]));
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert_eq!(repo.action_status("start.2.2"), "waiting");
}

#[test]
fn nonsense_is_refused_with_a_useful_message() {
    let repo = Repo::ready("actions:\n  start.2.1:\n    run: \"true\"\n");
    let r = run(repo.cmd(["done", "start.2.3"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no deployment session is open"),
        "{}",
        r.stderr
    );
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    let before = repo.files();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["done", "start.2.9"], "unknown action id \"start.2.9\""),
        (
            vec!["done", "start.2.1"],
            "cannot mark start.2.1 done: it is a `run` action",
        ),
        (
            vec!["done", "start.1.6"],
            "cannot mark start.1.6 done: it is a `builtin` action",
        ),
        (
            vec!["done", "start.1.1"],
            "cannot mark start.1.1 done: it is a `check` action",
        ),
        (
            vec!["approve", "start.2.3"],
            "cannot approve start.2.3: it is a `manual` action",
        ),
        (
            vec!["skip", "start.1.2", "--reason", "x"],
            "cannot skip start.1.2: it is an `approval` action",
        ),
        (
            vec!["fail", "start.2.1", "--reason", "x"],
            "cannot fail start.2.1: it is a `run` action",
        ),
        (
            vec!["done", "work.1.1"],
            "work.1.1 belongs to `work`, which starts once `start` is complete",
        ),
        (
            vec!["done", "start.2.3", "--evidence", "no/such/file.md"],
            "--evidence no/such/file.md: no such file",
        ),
        (
            vec!["done", "start.2.3", "--evidence", "/etc/hostname"],
            "--evidence /etc/hostname",
        ),
        (
            vec!["done", "start.2.3", "--evidence", "../outside.md"],
            "climbs out of the repo",
        ),
        (
            vec!["start", "--approve", "start.2.3"],
            "start.2.3 is a manual action, not an approval",
        ),
        (vec!["approve", "--phase", "12"], "12"),
    ];
    for (args, words) in cases {
        let r = run(repo.cmd(&args));
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(words),
            "{args:?}: expected {words:?} in\n{}",
            r.stderr
        );
        assert_same_files(&before, &repo.files(), &format!("{args:?} changed files"));
    }
    let r = run(repo.cmd(["done", "start.2.9"]));
    assert!(r.stderr.contains("did you mean start.2.1"), "{}", r.stderr);
    assert_eq!(run(repo.cmd(["done", "start.2.3"])).code, 0);
    let r = run(repo.cmd(["done", "start.2.3"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("cannot mark start.2.3 done: it is already completed by Test Operator"),
        "{}",
        r.stderr
    );
}

const GATED: &str =
    "actions:\n  work.4.1:\n    approval:\n      subject: Release orders-api 2.0 to production\n";

fn at_the_gate(extra_env: Option<(&str, &str)>) -> (Repo, Run) {
    let repo = Repo::ready(&format!(
        "{}{}",
        run_all(&start_manual_ids(), "true"),
        GATED.trim_start_matches("actions:\n")
    ));
    assert_eq!(run(repo.cmd(["start"])).code, 0);
    let before_gate: Vec<String> = work_ids()
        .into_iter()
        .filter(|id| id.as_str() < "work.4.1")
        .collect();
    repo.done_all(&before_gate);
    let mut c = repo.cmd(["work"]);
    if let Some((k, v)) = extra_env {
        c.env(k, v);
    }
    let r = run(c);
    (repo, r)
}

#[test]
fn an_approval_waits_and_names_the_command() {
    let (repo, r) = at_the_gate(None);
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("needs approval: Release orders-api 2.0 to production"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("deploy-session approve work.4.1"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("deploy-session work --approve work.4.1 (in CI)"),
        "{}",
        r.stdout
    );
    let r = run(repo.cmd([
        "approve",
        "work.4.1",
        "--by",
        "Rel Manager <rm@example.com>",
        "--note",
        "go",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let a = repo.action("work.4.1");
    assert_eq!(a["approval"]["by"], "Rel Manager <rm@example.com>");
    assert_eq!(a["approval"]["via"], "command");
    assert_eq!(a["approval"]["note"], "go");
}

#[test]
fn ci_approves_with_a_flag_or_the_environment() {
    let (repo, _) = at_the_gate(None);
    let r = run(repo.cmd(["work", "--approve", "work.4.1", "--by", "ci-bot"]));
    assert_eq!(r.code, 3, "stops at the next manual action: {}", r.stdout);
    assert!(r.stdout.contains("✓ work.4.1"), "{}", r.stdout);
    let a = repo.action("work.4.1");
    assert_eq!(a["approval"]["via"], "flag");
    assert_eq!(a["approval"]["by"], "ci-bot");
    let (repo, r) = at_the_gate(Some(("DEPLOY_SESSION_APPROVE", "start.1.2, work.4.1")));
    assert_eq!(r.code, 3);
    let a = repo.action("work.4.1");
    assert_eq!(a["approval"]["via"], "env");
    assert_eq!(a["approval"]["by"], "Test Operator <operator@example.com>");
}

#[test]
fn next_says_what_to_do() {
    let repo = Repo::ready("");
    let r = run(repo.cmd(["next"]));
    assert!(r.stdout.contains("No deployment session is open"));
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    let j = run(repo.cmd(["next", "--format", "json"])).json();
    assert_eq!(j["protocol"], "start");
    assert_eq!(j["next"][0]["id"], "start.2.1");
    assert_eq!(j["next"][0]["status"], "waiting");
    assert_eq!(
        j["next"][0]["alternative"],
        "deploy-session skip start.2.1 --reason \"<why>\""
    );
}

#[test]
fn todo_formats() {
    let repo = Repo::ready("");
    let j = run(repo.cmd(["todo", "--format", "json"])).json();
    assert_eq!(j["todos"].as_array().unwrap().len(), 54);
    assert!(
        j["todos"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "pending")
    );
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    let tw = run(repo.cmd(["todo", "--format", "todowrite"])).json();
    let items = tw["todos"].as_array().unwrap();
    for t in items {
        let keys: Vec<&String> = t.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["content", "status", "activeForm"]);
        assert!(["pending", "in_progress", "completed"].contains(&t["status"].as_str().unwrap()));
    }
    assert_eq!(
        items
            .iter()
            .filter(|t| t["status"] == "in_progress")
            .count(),
        1
    );
    let table = run(repo.cmd(["todo"]));
    assert!(
        table.stdout.contains("[>]") && table.stdout.contains("Analyzing development artifacts"),
        "{}",
        table.stdout
    );
    let md = run(repo.cmd(["todo", "--format", "markdown"]));
    assert!(md.stdout.contains("| [x] | start.1.1 |"), "{}", md.stdout);
}

#[test]
fn status_shows_the_session() {
    let repo = Repo::ready("actions:\n  start.2.1:\n    run: echo hi\n");
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    let r = run(repo.cmd(["status"]));
    assert!(r.stdout.contains("Session: "), "{}", r.stdout);
    assert!(
        r.stdout.contains("status HANDOFF_PROCESSING"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("start.2.2"), "{}", r.stdout);
    let s = repo.session();
    assert_eq!(s["git"]["branch"], "main");
    assert_eq!(s["actions"].as_array().unwrap().len(), 54);
    let a = action_in(&s, "start.2.1");
    assert_eq!(a["status"], "completed");
    assert!(a["duration_ms"].is_u64());
    assert!(a["log"].as_str().unwrap().ends_with("/start.2.1.log"));
    assert_eq!(
        repo.read(a["log"].as_str().unwrap()).lines().nth(1),
        Some("hi")
    );
}

/// `approve ID --from-github-environment NAME` against a local server that
/// answers as GitHub's REST API documents: a protected Environment with a
/// reviewer's approval of this run records that reviewer; an unprotected
/// one, or no approval of this run, is refused with nothing recorded.
#[test]
fn github_environment_approvals_fail_closed_and_name_the_reviewer() {
    use std::sync::{Arc, Mutex};
    let answers: Arc<Mutex<(String, String)>> =
        Arc::new(Mutex::new((String::new(), String::new())));
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let port = server.server_addr().to_ip().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let (server, answers, seen) = (server.clone(), answers.clone(), seen.clone());
        std::thread::spawn(move || {
            for req in server.incoming_requests() {
                let auth = req
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("authorization"))
                    .map(|h| h.value.to_string())
                    .unwrap_or_default();
                seen.lock().unwrap().push(format!("{} {auth}", req.url()));
                let (env, approvals) = answers.lock().unwrap().clone();
                let body = match req.url() {
                    "/repos/acme/shop/environments/production" => env,
                    "/repos/acme/shop/actions/runs/4242/approvals" => approvals,
                    _ => String::new(),
                };
                let code = if body.is_empty() { 404 } else { 200 };
                let _ = req.respond(tiny_http::Response::from_string(body).with_status_code(code));
            }
        });
    }
    let protected = r#"{"name":"production","protection_rules":[{"id":1,"type":"required_reviewers","reviewers":[{"type":"User","reviewer":{"login":"ann"}}]}]}"#;
    let approved = r#"[{"state":"approved","comment":"release 2.4 looks good","environments":[{"name":"production"}],"user":{"login":"ann-approver"}}]"#;
    let mut ids = start_manual_ids();
    ids.extend(work_ids().into_iter().filter(|id| id.as_str() < "work.4"));
    let repo = Repo::ready(&run_all(&ids, "true"));
    assert_eq!(run(repo.cmd(["start"])).code, 0, "start completes");
    assert_eq!(run(repo.cmd(["work"])).code, 3, "work waits at work.4.1");
    let approve = |env: &str, approvals: &str| {
        *answers.lock().unwrap() = (env.to_string(), approvals.to_string());
        let mut c = repo.cmd([
            "approve",
            "work.4.1",
            "--from-github-environment",
            "production",
        ]);
        c.env("GITHUB_API_URL", format!("http://127.0.0.1:{port}"))
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env("GITHUB_RUN_ID", "4242")
            .env("GITHUB_TOKEN", "t0ken");
        run(c)
    };
    // An Environment without required reviewers: refused, nothing recorded.
    let r = approve(r#"{"name":"production","protection_rules":[]}"#, approved);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("has no required reviewers"),
        "{}",
        r.stderr
    );
    assert!(repo.action("work.4.1")["approval"].is_null());
    // Protected, but nobody approved this run for it: refused.
    let r = approve(
        protected,
        r#"[{"state":"rejected","environments":[{"name":"production"}],"user":{"login":"bob"}}]"#,
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("no reviewer approved run 4242"),
        "{}",
        r.stderr
    );
    // A login an approver's name could not be (an escape sequence): not
    // an approval.
    let r = approve(
        protected,
        "[{\"state\":\"approved\",\"environments\":[{\"name\":\"production\"}],\"user\":{\"login\":\"ann\\u001b[2J\"}}]",
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(repo.action("work.4.1")["approval"].is_null());
    // A name that is not an environment's never reaches the API.
    let r = run(repo.cmd([
        "approve",
        "work.4.1",
        "--from-github-environment",
        "prod;id",
    ]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("environment name"), "{}", r.stderr);
    // Protected and approved: the reviewer is recorded, not the run's starter.
    let r = approve(protected, approved);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let rec = &repo.action("work.4.1")["approval"];
    assert_eq!(rec["by"], "ann-approver (GitHub)", "{rec}");
    assert!(
        rec["note"]
            .as_str()
            .unwrap()
            .contains("release 2.4 looks good"),
        "{rec}"
    );
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|l| l.ends_with("Bearer t0ken")),
        "the token is sent: {:?}",
        seen.lock().unwrap()
    );
    server.unblock();
}
