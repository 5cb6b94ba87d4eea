//! The protocol is enforced: each bypass a sceptical reviewer tried is
//! refused with exit 2 and every file byte-identical; the master state is
//! read strictly (located errors) and faithfully (the framework's own forms,
//! unknown keys kept byte for byte); Phase 7's lifecycle is kept.

use crate::harness::*;

const MASTER: &str = ".ai_context/framework_progress.md";

fn started() -> Repo {
    let repo = Repo::ready("");
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    repo
}

/// A bypass: the command, and words the refusal must say.
struct Bypass {
    what: &'static str,
    repo: fn() -> Repo,
    args: &'static [&'static str],
    says: &'static [&'static str],
}

fn phase6_ready() -> Repo {
    Repo::with_phase6(r#"{"status": "ready", "completed": false}"#)
}

fn phase7(block: &str) -> Repo {
    Repo::with_phase_block(7, "AI-First Deployment Preparation", block)
}

fn bypasses() -> Vec<Bypass> {
    vec![
        Bypass {
            what: "skip the Development handoff validation (a check)",
            repo: || {
                let repo = phase6_ready();
                assert_eq!(run(repo.cmd(["start"])).code, 1, "start.1.1 fails");
                repo
            },
            args: &["skip", "start.1.1", "--reason", "trust me"],
            says: &[
                "cannot skip start.1.1: it is a `check` action",
                "--override --by",
            ],
        },
        Bypass {
            what: "skip the deliverables validation (a check)",
            repo: started,
            args: &["skip", "start.1.5", "--reason", "later"],
            says: &["cannot skip start.1.5"],
        },
        Bypass {
            what: "an override without a name",
            repo: started,
            args: &["skip", "start.1.5", "--override", "--reason", "later"],
            says: &["--by"],
        },
        Bypass {
            what: "a blank reason",
            repo: started,
            args: &["skip", "start.2.1", "--reason", "   "],
            says: &["a reason must say why"],
        },
        Bypass {
            what: "an empty reason",
            repo: started,
            args: &["fail", "start.2.1", "--reason", ""],
            says: &["a reason must say why"],
        },
        Bypass {
            what: "done on an action whose prerequisite stage is open",
            repo: started,
            args: &["done", "start.3.5", "--note", "ok"],
            says: &["cannot mark start.3.5 done", "not done: start.2.1"],
        },
        Bypass {
            what: "approve a Phase 6 that is only ready",
            repo: phase6_ready,
            args: &["approve", "--phase", "6", "--by", "Ana <ana@example.com>"],
            says: &[
                ".ai_context/framework_progress.md:",
                "Phase 6 is `ready`, not completed",
            ],
        },
        Bypass {
            what: "replace a recorded approval silently",
            repo: || Repo::ready(""),
            args: &["approve", "--phase", "6", "--by", "Mallory <m@example.com>"],
            says: &["Phase 6 is already approved by Dana Reviewer", "--replace"],
        },
        Bypass {
            what: "start over a completed Phase 7",
            repo: || {
                phase7(
                    r#"{"status": "completed", "completed": true, "session": "20261101T000000Z-0abc", "completed_at": "2026-11-01T10:00:00Z"}"#,
                )
            },
            args: &["start"],
            says: &[
                "Phase 7 is completed",
                "20261101T000000Z-0abc",
                "2026-11-01T10:00:00Z",
                "--new-session",
            ],
        },
        Bypass {
            what: "start over a blocked Phase 7",
            repo: || {
                phase7(
                    r#"{"status": "blocked", "completed": false, "blocked_reason": "waiting for the security review"}"#,
                )
            },
            args: &["start"],
            says: &["Phase 7 is blocked", "waiting for the security review"],
        },
        Bypass {
            what: "done on a broken master state",
            repo: || {
                let repo = started();
                let text = repo.read(MASTER).replacen(
                    "\"status\": \"ready\"",
                    "\"status\": \"ready\",,",
                    1,
                );
                repo.write(MASTER, &text);
                repo
            },
            args: &["done", "start.2.1", "--note", "x"],
            says: &[".ai_context/framework_progress.md:", "invalid JSON"],
        },
    ]
}

#[test]
fn every_bypass_is_refused_and_changes_nothing() {
    for b in bypasses() {
        let repo = (b.repo)();
        let before = repo.files();
        let r = run(repo.cmd(b.args));
        let out = format!("{}{}", r.stdout, r.stderr);
        assert_eq!(r.code, 2, "{}: {out}", b.what);
        for words in b.says {
            assert!(out.contains(words), "{}: {words:?} in\n{out}", b.what);
        }
        assert_same_files(&before, &repo.files(), b.what);
    }
}

#[test]
fn an_override_names_who_and_shows_everywhere() {
    let repo = phase6_ready();
    assert_eq!(run(repo.cmd(["start"])).code, 1);
    let r = run(repo.cmd([
        "skip",
        "start.1.1",
        "--override",
        "--by",
        "Ana <ana@example.com>",
        "--reason",
        "Phase 6 signed off on paper",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("skipped by override"), "{}", r.stdout);
    let a = repo.action("start.1.1");
    assert_eq!(a["status"], "skipped");
    assert_eq!(a["overridden"], true);
    assert_eq!(a["by"], "Ana <ana@example.com>");
    let status = run(repo.cmd(["status"])).stdout;
    assert!(status.contains("skipped (override)"), "{status}");
    let gates = run(repo.cmd(["gates"])).stdout;
    assert!(
        gates.contains("override: start.1.1") && gates.contains("Ana <ana@example.com>"),
        "{gates}"
    );
    // --override on an action that is no validation is refused.
    let r = run(repo.cmd([
        "skip",
        "start.2.1",
        "--override",
        "--by",
        "Ana",
        "--reason",
        "x",
    ]));
    assert_eq!(r.code, 2);
}

#[test]
fn approvals_need_a_name_and_replacing_one_is_recorded() {
    // A bare "approved" names no one: start.1.2 waits for a named one.
    let repo = Repo::with_phase6(
        r#"{"status": "completed", "completed": true, "deliverables": {"a": "complete"}, "approval": {"status": "approved"}}"#,
    );
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert_eq!(repo.action_status("start.1.2"), "waiting");
    assert!(r.stdout.contains("names no one"), "{}", r.stdout);
    // Named and replaced outside the session too: the trail has the write.
    let repo = Repo::ready("");
    let r = run(repo.cmd([
        "approve",
        "--phase",
        "6",
        "--by",
        "Ana <ana@example.com>",
        "--replace",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let write = repo
        .audit()
        .into_iter()
        .find(|e| e["event"] == "master_state_written")
        .expect("the master-state write is in the trail");
    assert_eq!(write["session"], "");
    assert_eq!(write["actor"], "Ana <ana@example.com>");
    let why = write["detail"]["why"].as_str().unwrap();
    assert!(
        why.contains("replacing") && why.contains("Dana Reviewer"),
        "{why}"
    );
    assert!(
        repo.read(MASTER)
            .contains("\"by\": \"Ana <ana@example.com>\"")
    );
}

#[test]
fn after_end_the_deployment_is_finished_and_a_new_session_is_explicit() {
    let mut ids = start_manual_ids();
    ids.extend(work_ids());
    let repo = Repo::ready(&run_all(&ids, "echo done"));
    assert_eq!(run(repo.cmd(["start"])).code, 0);
    assert_eq!(run(repo.cmd(["work"])).code, 0);
    assert_eq!(run(repo.cmd(end_waiving_args(&[]))).code, 0);
    let next = run(repo.cmd(["next"]));
    assert!(
        next.stdout.contains("The deployment is finished"),
        "{}",
        next.stdout
    );
    assert!(
        !next.stdout.contains("deploy-session start\n"),
        "{}",
        next.stdout
    );
    let j = run(repo.cmd(["next", "--format", "json"])).json();
    assert_eq!(j["deployment_finished"], true);
    assert_eq!(j["next"].as_array().unwrap().len(), 0);
    let context = run(repo.cmd(["context"])).stdout;
    assert!(context.contains("The deployment is finished"), "{context}");
    let r = run(repo.cmd(["start", "--new-session"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let master = repo.read(MASTER);
    assert!(master.contains("\"previous_session\""), "{master}");
    assert!(master.contains("\"previous_completed_at\""), "{master}");
}

#[test]
fn the_session_status_advances_when_people_settle_actions() {
    let repo = started();
    assert_eq!(repo.session()["status"], "HANDOFF_PROCESSING");
    repo.done_all(&start_manual_ids());
    assert_eq!(run(repo.cmd(["work"])).code, 3);
    let first_two: Vec<String> = work_ids()
        .into_iter()
        .filter(|id| id.as_str() < "work.3")
        .collect();
    repo.done_all(&first_two);
    // work.3's stage is PIPELINE_CONFIGURATION: reached by `done` alone,
    // passing INFRASTRUCTURE_PROVISIONING (work.2's) on the way.
    assert_eq!(repo.session()["status"], "PIPELINE_CONFIGURATION");
    let changes: Vec<String> = repo
        .audit()
        .iter()
        .filter(|e| e["event"] == "status_changed")
        .map(|e| e["detail"]["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        changes,
        [
            "HANDOFF_PROCESSING",
            "INFRASTRUCTURE_PROVISIONING",
            "PIPELINE_CONFIGURATION"
        ],
        "each status once, in the seed's order"
    );
}

/// Each master-state case gets its located error.
#[test]
fn the_master_state_is_read_strictly_with_locations() {
    let cases: [(&str, &str, &[&str]); 4] = [
        (
            "a duplicate key",
            r#"{"status": "completed", "completed": true, "status": "ready"}"#,
            &[":", "\"status\" appears twice"],
        ),
        (
            "a status that contradicts completed",
            r#"{"status": "failed", "completed": true}"#,
            &["Phase 6 says `\"completed\": true` but its status is \"failed\""],
        ),
        ("an empty file", "", &[":1:", "the master state is empty"]),
        (
            "an unclosed fence",
            "UNCLOSED",
            &["this ```json block is never closed"],
        ),
    ];
    for (what, block, says) in cases {
        let repo = Repo::ready("");
        match block {
            "" => {
                repo.write(MASTER, "");
            }
            "UNCLOSED" => {
                let text = repo.read(MASTER);
                let at = text.find("#### **Phase 8").unwrap();
                let cut = format!(
                    "{}#### **Phase 8: Production**\n```json\n{{\"status\": \"ready\"\n",
                    &text[..at]
                );
                repo.write(MASTER, &cut);
            }
            _ => {
                let text = repo.read(MASTER);
                let start = text.find("#### **Phase 6").unwrap();
                let end = text.find("#### **Phase 7").unwrap();
                repo.write(
                    MASTER,
                    &format!(
                        "{}#### **Phase 6: Testing**\n```json\n{block}\n```\n\n{}",
                        &text[..start],
                        &text[end..]
                    ),
                );
            }
        }
        let before = repo.files();
        let r = run(repo.cmd(["start"]));
        assert_eq!(r.code, 2, "{what}: {}", r.stderr);
        assert!(
            r.stderr.contains(".ai_context/framework_progress.md:"),
            "{what}: {}",
            r.stderr
        );
        for words in says {
            assert!(
                r.stderr.contains(words),
                "{what}: {words:?} in {}",
                r.stderr
            );
        }
        assert_same_files(&before, &repo.files(), what);
    }
}

/// The framework's own forms: string approvals, a `Phase 7.5` section, and
/// keys the tool does not own, kept byte for byte through a session start.
#[test]
fn the_frameworks_forms_are_read_and_round_trip() {
    let repo = Repo::with_master("master_state/validation_phase.md");
    repo.write("deployment/ai_system_prompt_v3.7.md", "# prompt\n");
    repo.write(
        "deployment/AI_ASSISTANT_STARTUP_DEPLOYMENT.md",
        "# startup\n",
    );
    let original = repo.read(MASTER);
    let status = run(repo.cmd(["status"]));
    assert_eq!(status.code, 0, "{}", status.stderr);
    // "approved" as a bare word: read, but it names no one.
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert_eq!(repo.action_status("start.1.2"), "waiting");
    let r = run(repo.cmd(["approve", "--phase", "6", "--by", "Ana <ana@example.com>"]));
    assert_eq!(
        r.code, 0,
        "an unnamed approval is replaced without --replace: {}",
        r.stderr
    );
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    assert_eq!(repo.action_status("start.1.6"), "completed");
    let after = repo.read(MASTER);
    for kept in [
        "  \"budget_usd\": 2.50,\n",
        "  \"requests_per_day\": 1e3,\n",
        "  \"owner\": \"Andr\\u00e9 Okafor\",\n",
        "  \"runbook\": \"docs\\/deploy.md\",\n",
        "  \"limits\": {\"cpu\": 2,  \"memory\": \"4Gi\"}",
        "#### **Phase 7.5: Validation Framework** ✅\n```json\n{\n  \"status\": \"ready\",",
    ] {
        assert!(after.contains(kept), "{kept:?} kept in\n{after}");
    }
    // Only owned lines changed: status, approval, bullets.
    let kept: std::collections::HashSet<&str> = after.lines().collect();
    // (a member followed by a new one gains its comma, nothing else)
    for old in original
        .lines()
        .filter(|l| !kept.contains(l) && !kept.contains(format!("{l},").as_str()))
    {
        assert!(
            ["\"status\"", "\"approval\"", "Last Update", "Active Phase"]
                .iter()
                .any(|k| old.contains(k)),
            "an unowned line changed: {old:?}"
        );
    }
    let phases = run(repo.cmd(["status", "--format", "json"])).json();
    let numbers: Vec<i64> = phases["master_state"]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["number"].as_i64().unwrap())
        .collect();
    assert_eq!(
        numbers.iter().filter(|n| **n == 7).count(),
        1,
        "7.5 is not Phase 7: {numbers:?}"
    );
}

/// A default session completed with notes only: the measured gates have no
/// evidence, the others rest on people's word (`attested`), the trail's own
/// gate on its verification (`pass`); `end` and its report say so.
#[test]
fn notes_alone_are_attested_never_pass() {
    let repo = started();
    repo.work_done_by_hand();
    let gates = run(repo.cmd(["gates", "--format", "json"])).json();
    let verdict = |id: &str| {
        gates["gates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] == id)
            .unwrap()["verdict"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for measured in [
        "deployment_time",
        "rollback_time",
        "reliability",
        "real_time_validation",
        "zero_data_loss",
        "rollback_capability",
    ] {
        assert_eq!(verdict(measured), "no-evidence", "{measured}");
    }
    for attested in [
        "infrastructure_validation",
        "security_compliance",
        "performance_verification",
        "monitoring_operational",
        "security_scanning",
        "compliance_validation",
        "access_control",
        "data_protection",
    ] {
        assert_eq!(verdict(attested), "attested", "{attested}");
    }
    assert_eq!(
        verdict("audit_trail"),
        "pass",
        "the trail is verified by the tool"
    );
    let evidence = gates["gates"][0]["evidence"].to_string();
    assert!(
        evidence.contains("done by"),
        "attested evidence names who: {evidence}"
    );
    let r = run(repo.cmd(end_waiving_args(&[])));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("8 attested") && r.stdout.contains("rest on people's word only"),
        "{}",
        r.stdout
    );
    let id = repo.audit()[0]["session"].as_str().unwrap().to_string();
    let report = repo.read(&format!(
        ".ai_context/deploy-session/archive/{id}/reports/completion_report.md"
    ));
    assert!(report.contains("8 attested"), "{report}");
    assert!(!report.contains("8 pass"), "{report}");
}
