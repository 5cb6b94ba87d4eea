//! The bad-input catalogue: malformed master states, configs, state files,
//! audit trails, handoff packages and arguments. Each is refused with its
//! exit code and a message naming where the problem is, and leaves every
//! file byte-identical.

use crate::harness::*;

/// Where a case starts from.
#[derive(Clone, Copy)]
enum Base {
    /// Ready for `start`, no session.
    Ready,
    /// A session waiting at start.2.1.
    Waiting,
}

struct Case {
    name: &'static str,
    base: Base,
    /// Files to write (path, content) before running.
    files: &'static [(&'static str, &'static str)],
    /// Edits applied to an existing file: (path, from, to).
    edits: &'static [(&'static str, &'static str, &'static str)],
    args: &'static [&'static str],
    code: i32,
    /// Substrings the error output must contain: where, and what.
    says: &'static [&'static str],
}

const MASTER: &str = ".ai_context/framework_progress.md";
const CONFIG: &str = "deploy-session.yaml";
const STATE: &str = ".ai_context/deploy-session/state.json";
const AUDIT: &str = ".ai_context/deploy-session/audit.jsonl";

const CASES: &[Case] = &[
    // The master state.
    Case {
        name: "master state missing",
        base: Base::Ready,
        files: &[],
        edits: &[(MASTER, "", "")],
        args: &["start"],
        code: 2,
        says: &[MASTER, "does not exist"],
    },
    Case {
        name: "context without a master state",
        base: Base::Ready,
        files: &[],
        edits: &[(MASTER, "", "")],
        args: &["context"],
        code: 2,
        says: &[MASTER, "does not exist", "deploy-session init"],
    },
    Case {
        name: "master JSON block with a trailing comma",
        base: Base::Ready,
        files: &[],
        edits: &[(
            MASTER,
            "\"estimated_completion\": \"6 hours\"",
            "\"estimated_completion\": \"6 hours\",",
        )],
        args: &["status"],
        code: 2,
        says: &[".ai_context/framework_progress.md:82:1:", "trailing comma"],
    },
    Case {
        name: "master JSON block never closed",
        base: Base::Ready,
        files: &[(
            MASTER,
            "# State\n\n#### **Phase 6: Testing**\n```json\n{\"status\": \"completed\"}\n",
        )],
        edits: &[],
        args: &["status"],
        code: 2,
        says: &[".ai_context/framework_progress.md:4:", "never closed"],
    },
    Case {
        name: "master Phase 6 block twice",
        base: Base::Ready,
        files: &[(
            MASTER,
            "#### **Phase 6: Testing**\n```json\n{\"status\": \"completed\"}\n```\n#### **Phase 6: Testing**\n```json\n{\"status\": \"completed\"}\n```\n",
        )],
        edits: &[],
        args: &["status"],
        code: 2,
        says: &[".ai_context/framework_progress.md:5:", "declared twice"],
    },
    Case {
        name: "master phase block is an array",
        base: Base::Ready,
        files: &[(MASTER, "#### **Phase 6: Testing**\n```json\n[1, 2]\n```\n")],
        edits: &[],
        args: &["status"],
        code: 2,
        says: &[".ai_context/framework_progress.md:3:", "must be an object"],
    },
    Case {
        name: "master status is a number",
        base: Base::Ready,
        files: &[(
            MASTER,
            "#### **Phase 6: Testing**\n```json\n{\"status\": 5}\n```\n",
        )],
        edits: &[],
        args: &["status"],
        code: 2,
        says: &[
            ".ai_context/framework_progress.md:3:",
            "`status` of Phase 6",
            "found 5",
        ],
    },
    Case {
        name: "master status word unknown",
        base: Base::Ready,
        files: &[(
            MASTER,
            "#### **Phase 6: Testing**\n```json\n{\"status\": \"finished-ish\"}\n```\n",
        )],
        edits: &[],
        args: &["start"],
        code: 2,
        says: &[".ai_context/framework_progress.md:3:", "\"finished-ish\""],
    },
    Case {
        name: "master Phase 7 block (the tool's own) malformed",
        base: Base::Ready,
        files: &[],
        edits: &[(
            MASTER,
            "#### **Phase 7",
            "#### **Phase 7 broken\n```json\n{\"status\": \n```\n\n#### **Phase 7",
        )],
        args: &["start"],
        code: 2,
        says: &[".ai_context/framework_progress.md:88:1:", "invalid JSON"],
    },
    Case {
        name: "master JSON block with a comment",
        base: Base::Ready,
        files: &[(
            MASTER,
            "#### **Phase 6: Testing**\n```json\n{\"status\": \"completed\" // done\n}\n```\n",
        )],
        edits: &[],
        args: &["work"],
        code: 2,
        says: &[".ai_context/framework_progress.md:3:24:", "invalid JSON"],
    },
    // The config.
    Case {
        name: "config: unknown key in an action",
        base: Base::Ready,
        files: &[(CONFIG, "actions:\n  start.2.1:\n    rn: echo\n")],
        edits: &[],
        args: &["start"],
        code: 2,
        says: &["deploy-session.yaml:3:5:", "`rn`"],
    },
    Case {
        name: "config: YAML syntax error",
        base: Base::Ready,
        files: &[(CONFIG, "actions:\n  start.2.1:\n    run: [unclosed\n")],
        edits: &[],
        args: &["start"],
        code: 2,
        says: &["deploy-session.yaml:4:1:", "invalid YAML"],
    },
    Case {
        name: "config: unknown action id",
        base: Base::Ready,
        files: &[(CONFIG, "actions:\n  work.9.9:\n    run: echo\n")],
        edits: &[],
        args: &["plan"],
        code: 2,
        says: &["deploy-session.yaml:2:3:", "work.9.9"],
    },
    Case {
        name: "config: bad duration",
        base: Base::Ready,
        files: &[(
            CONFIG,
            "actions:\n  start.2.1:\n    run: echo\n    timeout: 5 parsecs\n",
        )],
        edits: &[],
        args: &["start"],
        code: 2,
        says: &["deploy-session.yaml:4:14:", "\"5 parsecs\""],
    },
    Case {
        name: "config: blue-green without slots",
        base: Base::Ready,
        files: &[(
            CONFIG,
            "actions:\n  work.4.2:\n    strategy:\n      blue-green:\n        deploy: echo\n        switch: echo\n        live_url: http://127.0.0.1:9\n",
        )],
        edits: &[],
        args: &["config", "check"],
        code: 2,
        says: &["deploy-session.yaml:4:17:", "`slots`"],
    },
    Case {
        name: "config: probe URL not http",
        base: Base::Ready,
        files: &[(
            CONFIG,
            "actions:\n  work.4.3:\n    probe: { url: \"ftp://example.com\" }\n",
        )],
        edits: &[],
        args: &["config", "check"],
        code: 2,
        says: &["deploy-session.yaml:3:14:", "\"ftp://example.com\""],
    },
    Case {
        name: "config: undeclared variable",
        base: Base::Ready,
        files: &[(CONFIG, "actions:\n  start.2.1:\n    run: echo ${nope}\n")],
        edits: &[],
        args: &["start"],
        code: 2,
        says: &["deploy-session.yaml:3:5:", "`${nope}`"],
    },
    Case {
        name: "config: duplicate key",
        base: Base::Ready,
        files: &[(
            CONFIG,
            "actions:\n  start.2.1:\n    run: echo\n  start.2.1:\n    run: echo\n",
        )],
        edits: &[],
        args: &["start"],
        code: 2,
        says: &["deploy-session.yaml:4:3:", "duplicate key `start.2.1`"],
    },
    Case {
        name: "config: a list at the top",
        base: Base::Ready,
        files: &[(CONFIG, "- a\n- b\n")],
        edits: &[],
        args: &["start"],
        code: 2,
        says: &["deploy-session.yaml:1:1:", "mapping"],
    },
    Case {
        name: "config: cwd outside the repo",
        base: Base::Ready,
        files: &[(
            CONFIG,
            "actions:\n  start.2.1:\n    run: echo\n    cwd: ../../etc\n",
        )],
        edits: &[],
        args: &["start"],
        code: 2,
        says: &["deploy-session.yaml:4:5:", "\"../../etc\""],
    },
    Case {
        name: "config: secrets not a list",
        base: Base::Ready,
        files: &[(CONFIG, "secrets: TOKEN\n")],
        edits: &[],
        args: &["start"],
        code: 2,
        says: &["deploy-session.yaml:1:10:", "secrets", "\"TOKEN\""],
    },
    Case {
        name: "config: a NUL byte hides the keys after it",
        base: Base::Ready,
        files: &[(
            CONFIG,
            "actions:\n  start.2.1:\n    run: echo\n\0secrets: [TOKEN]\n",
        )],
        edits: &[],
        args: &["config", "check"],
        code: 2,
        says: &["deploy-session.yaml:4:1:", "NUL byte"],
    },
    Case {
        name: "config: a second YAML document",
        base: Base::Ready,
        files: &[(CONFIG, "actions: {}\n---\nsecrets: [TOKEN]\n")],
        edits: &[],
        args: &["config", "check"],
        code: 2,
        says: &["deploy-session.yaml:2:1:", "second YAML document"],
    },
    Case {
        name: "config: a folder where the file should be",
        base: Base::Ready,
        files: &[("deploy-session.yaml/notes.txt", "x")],
        edits: &[],
        args: &["start"],
        code: 2,
        says: &["deploy-session.yaml:", "is a folder"],
    },
    Case {
        name: "config: a zero timeout",
        base: Base::Ready,
        files: &[(
            CONFIG,
            "actions:\n  start.2.1:\n    run: echo\n    timeout: 0s\n",
        )],
        edits: &[],
        args: &["config", "check"],
        code: 2,
        says: &["deploy-session.yaml:4:14:", "\"0s\" is zero"],
    },
    Case {
        name: "config: gate threshold of the wrong type",
        base: Base::Ready,
        files: &[(CONFIG, "gates:\n  deployment_time_max: soon\n")],
        edits: &[],
        args: &["gates"],
        code: 2,
        says: &["deploy-session.yaml:2:24:", "\"soon\""],
    },
    // The session state and the audit trail.
    Case {
        name: "state.json not JSON",
        base: Base::Waiting,
        files: &[(STATE, "{ not json")],
        edits: &[],
        args: &["start"],
        code: 2,
        says: &[
            ".ai_context/deploy-session/state.json:1:3:",
            "invalid session state",
        ],
    },
    Case {
        name: "state.json from a future version",
        base: Base::Waiting,
        files: &[],
        edits: &[(STATE, "\"format_version\": 1", "\"format_version\": 99")],
        args: &["start"],
        code: 2,
        says: &[".ai_context/deploy-session/state.json:2:3:", "version 99"],
    },
    Case {
        name: "state.json session id that climbs out of the repo",
        base: Base::Waiting,
        files: &[],
        edits: &[(
            STATE,
            "\"id\": \"20261125T120000Z-",
            "\"id\": \"../../../../tmp/x-",
        )],
        args: &["start"],
        code: 2,
        says: &[
            ".ai_context/deploy-session/state.json:10:11:",
            "\"../../../../tmp/x-",
            "is not a session id",
        ],
    },
    Case {
        name: "audit line edited",
        base: Base::Waiting,
        files: &[],
        edits: &[(
            AUDIT,
            "\"event\":\"protocol_started\"",
            "\"event\":\"protocol_startex\"",
        )],
        args: &["audit", "verify"],
        code: 1,
        says: &[
            ".ai_context/deploy-session/audit.jsonl:2:",
            "does not match its hash",
        ],
    },
    Case {
        name: "audit line not JSON",
        base: Base::Waiting,
        files: &[],
        edits: &[(AUDIT, "{\"seq\":2,", "{\"seq\":2,,")],
        args: &["audit", "verify"],
        code: 1,
        says: &[
            ".ai_context/deploy-session/audit.jsonl:2:",
            "not a valid event",
        ],
    },
    // Arguments.
    Case {
        name: "done: unknown id",
        base: Base::Waiting,
        files: &[],
        edits: &[],
        args: &["done", "start.9.9"],
        code: 2,
        says: &["unknown action id \"start.9.9\""],
    },
    Case {
        name: "done: not a manual action",
        base: Base::Waiting,
        files: &[],
        edits: &[],
        args: &["done", "start.1.1"],
        code: 2,
        says: &["cannot mark start.1.1 done", "`check` action"],
    },
    Case {
        name: "skip: the tool's own step",
        base: Base::Waiting,
        files: &[],
        edits: &[],
        args: &["skip", "start.1.6", "--reason", "x"],
        code: 2,
        says: &["cannot skip start.1.6", "`builtin` action"],
    },
    Case {
        name: "done: evidence outside the repo",
        base: Base::Waiting,
        files: &[],
        edits: &[],
        args: &["done", "start.2.1", "--evidence", "../../etc/passwd"],
        code: 2,
        says: &["--evidence ../../etc/passwd:", "climbs out of the repo"],
    },
    Case {
        name: "done: evidence missing",
        base: Base::Waiting,
        files: &[],
        edits: &[],
        args: &["done", "start.2.1", "--evidence", "missing.md"],
        code: 2,
        says: &["--evidence missing.md:", "no such file"],
    },
    Case {
        name: "end: unknown gate waived",
        base: Base::Waiting,
        files: &[],
        edits: &[],
        args: &["end", "--waive", "nosuch", "--reason", "x"],
        code: 2,
        says: &["--waive nosuch:", "no such gate"],
    },
    Case {
        name: "lock timeout not a duration",
        base: Base::Waiting,
        files: &[],
        edits: &[],
        args: &["--lock-timeout", "5 parsecs", "start"],
        code: 2,
        says: &["'--lock-timeout <DURATION>'", "'5 parsecs'"],
    },
    Case {
        name: "repo that does not exist",
        base: Base::Ready,
        files: &[],
        edits: &[],
        args: &["--repo", "no/such/dir", "status"],
        code: 2,
        says: &["--repo no/such/dir:", "no such directory"],
    },
    Case {
        name: "stage that does not exist",
        base: Base::Waiting,
        files: &[],
        edits: &[],
        args: &["work", "--stage", "work.9"],
        code: 2,
        says: &["--stage work.9:", "no such stage"],
    },
    Case {
        name: "rerun of an unknown id",
        base: Base::Waiting,
        files: &[],
        edits: &[],
        args: &["start", "--rerun", "start.9.9"],
        code: 2,
        says: &["--rerun start.9.9:", "unknown action id"],
    },
    Case {
        name: "work before start is complete",
        base: Base::Waiting,
        files: &[],
        edits: &[],
        args: &["work"],
        code: 2,
        says: &[
            "`work` runs after `start` is complete",
            "start.2.1 (waiting)",
        ],
    },
    Case {
        name: "audit log of a session that is not in the trail",
        base: Base::Waiting,
        files: &[],
        edits: &[],
        args: &["audit", "log", "--session", "nope"],
        code: 2,
        says: &["--session nope:", "no event of that session"],
    },
    Case {
        name: "probe that can never pass: zero good answers in a row",
        base: Base::Ready,
        files: &[],
        edits: &[],
        args: &["probe", "http://127.0.0.1:9/", "--consecutive", "0"],
        code: 2,
        says: &["--consecutive 0:", "at least 1"],
    },
    Case {
        name: "probe expecting a status HTTP does not have",
        base: Base::Ready,
        files: &[],
        edits: &[],
        args: &["probe", "http://127.0.0.1:9/", "--status", "999"],
        code: 2,
        says: &["--status 999:", "not an HTTP status"],
    },
    Case {
        name: "approve a phase that does not exist",
        base: Base::Waiting,
        files: &[],
        edits: &[],
        args: &["approve", "--phase", "42"],
        code: 2,
        says: &["'--phase <PHASE>'", "'42'"],
    },
    // Handoff packages and merges.
    Case {
        name: "handoff: manifest not JSON",
        base: Base::Ready,
        files: &[("pkg/manifest.json", "{oops"), ("pkg/a.md", "a")],
        edits: &[],
        args: &["handoff", "verify", "pkg"],
        code: 1,
        says: &["bad-manifest: manifest.json", "line 1 column 2", "pkg:"],
    },
    Case {
        name: "handoff: a file altered",
        base: Base::Ready,
        files: &[
            (
                "pkg/manifest.json",
                "{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{\"name\":\"a.md\",\"digest\":{\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\"}}],\"predicateType\":\"x\",\"predicate\":{}}",
            ),
            ("pkg/a.md", "a"),
        ],
        edits: &[],
        args: &["handoff", "verify", "pkg"],
        code: 1,
        says: &["altered: a.md", "the manifest says 0000"],
    },
    Case {
        name: "merge: not a job's state",
        base: Base::Waiting,
        files: &[("other/readme.txt", "x")],
        edits: &[],
        args: &["merge", "other"],
        code: 2,
        says: &["/other: no deploy-session/audit.jsonl"],
    },
];

fn prepare(case: &Case) -> Repo {
    let repo = Repo::ready("");
    if matches!(case.base, Base::Waiting) {
        assert_eq!(run(repo.cmd(["start"])).code, 3, "{}: setup", case.name);
    }
    for (path, content) in case.files {
        repo.write(path, content);
    }
    for (path, from, to) in case.edits {
        if from.is_empty() && to.is_empty() {
            std::fs::remove_file(repo.path().join(path)).unwrap();
            continue;
        }
        let text = repo.read(path);
        assert!(text.contains(from), "{}: {path} has no {from:?}", case.name);
        repo.write(path, &text.replacen(from, to, 1));
    }
    repo
}

#[test]
fn every_bad_input_is_refused_with_its_location_and_changes_nothing() {
    assert!(CASES.len() >= 30, "the catalogue keeps at least 30 cases");
    let mut failures = Vec::new();
    for case in CASES {
        let repo = prepare(case);
        let before = repo.files();
        let r = run(repo.cmd(case.args));
        let said = format!("{}{}", r.stderr, r.stdout);
        if r.code != case.code {
            failures.push(format!(
                "{}: exit {} (want {}):\n{said}",
                case.name, r.code, case.code
            ));
        } else if let Some(missing) = case.says.iter().find(|s| !said.contains(*s)) {
            failures.push(format!(
                "{}: the message lacks {missing:?}:\n{said}",
                case.name
            ));
        }
        let after = repo.files();
        if before != after {
            let changed: Vec<_> = after
                .keys()
                .chain(before.keys())
                .filter(|k| before.get(*k) != after.get(*k))
                .collect();
            failures.push(format!("{}: files changed: {changed:?}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
    eprintln!(
        "bad-input catalogue: {} malformed inputs refused with their location, every file byte-identical",
        CASES.len()
    );
}
