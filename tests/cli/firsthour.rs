//! The first hour (issue 15): a fresh `init` reaches `start` with commands
//! only; printed commands run as printed; a person decides every gate in
//! one round; the TodoWrite list keeps its one-task rule and stays small.

use crate::harness::*;

/// A fresh `init` repo, with Phase 6 recorded and approved by commands.
fn recorded_repo() -> Repo {
    let repo = Repo::new();
    assert_eq!(run(repo.cmd(["init"])).code, 0);
    repo.record_phase6();
    repo
}

#[test]
fn a_fresh_init_reaches_start_with_commands_only() {
    let repo = Repo::new();
    let r = run(repo.cmd(["init"]));
    assert_eq!(r.code, 0);
    assert!(
        r.stdout
            .contains("created  .ai_context/framework_progress.md"),
        "the files made are the command's result, on stdout: {}",
        r.stdout
    );
    assert!(r.stderr.contains("deploy-session phase 6"), "{}", r.stderr);
    // Before Phase 6 is recorded, start.1.1 fails and says how to record it.
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("deploy-session phase 6 --status completed")
    );
    let repo = recorded_repo();
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(repo.action_status("start.1.5"), "completed");
    // The check says whose word Phase 6 rests on.
    let evidence = repo.action("start.1.1")["metrics"]["evidence"].to_string();
    assert!(
        evidence.contains(&format!("attested: stated by {DANA}")),
        "{evidence}"
    );
    let stated = repo
        .audit()
        .into_iter()
        .find(|e| {
            e["event"] == "master_state_written"
                && e["detail"]["why"]
                    .as_str()
                    .is_some_and(|w| w.starts_with("Phase 6 stated by"))
        })
        .expect("the statement is in the trail");
    assert_eq!(stated["actor"], DANA);
    assert!(
        stated["detail"]["why"]
            .as_str()
            .unwrap()
            .contains("a person's statement, not checked")
    );
    assert_eq!(run(repo.cmd(["audit", "verify"])).code, 0);
}

#[test]
fn phase_refuses_what_it_must_not_record_and_changes_nothing() {
    let repo = Repo::new();
    assert_eq!(run(repo.cmd(["init"])).code, 0);
    let before = repo.files();
    let cases: [(&[&str], &str); 6] = [
        (
            &["phase", "7", "--status", "completed", "--by", DANA],
            "Phase 7 is written by deploy-session itself",
        ),
        (
            &["phase", "8", "--status", "ready", "--by", DANA],
            "Phase 8 is written by deploy-session itself",
        ),
        (
            &["phase", "6", "--deliverable", "bdd_tests", "--by", DANA],
            ".ai_context/framework_progress.md:130: Phase 6 lists no deliverable \"bdd_tests\"",
        ),
        (
            &["phase", "6", "--status", "finished-ish", "--by", DANA],
            "--status \"finished-ish\": unknown status",
        ),
        (&["phase", "6", "--status", "completed"], "--by <NAME>"),
        (
            &[
                "phase",
                "6",
                "--status",
                "completed",
                "--by",
                "<Name <email>>",
            ],
            "is a placeholder, not a person",
        ),
    ];
    for (args, message) in cases {
        let r = run(repo.cmd(args));
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{args:?}: {}", r.stderr);
        assert_eq!(before, repo.files(), "{args:?} changed files");
    }
    // The known deliverables are listed for the typo.
    let r = run(repo.cmd(["phase", "6", "--deliverable", "bdd_tests", "--by", DANA]));
    assert!(
        r.stderr.contains("its deliverables: bdd_testing"),
        "{}",
        r.stderr
    );
}

/// A placeholder a printed command left is refused wherever a person is
/// named, so it is never stored as the approver.
#[test]
fn placeholders_are_never_stored_as_a_person() {
    let repo = Repo::ready("");
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    let r = run(repo.cmd(["next"]));
    assert!(
        !r.stdout.contains("<Name <email>>"),
        "the old placeholder: {}",
        r.stdout
    );
    let before = repo.files();
    for args in [
        vec![
            "approve",
            "--phase",
            "6",
            "--replace",
            "--by",
            "<your name and email>",
        ],
        vec!["done", "start.2.1", "--by", "NAME <EMAIL>"],
        vec![
            "skip",
            "start.2.1",
            "--reason",
            "x",
            "--by",
            "<Name <email>>",
        ],
        vec!["done", "start.2.1", "--note", "<what was done>"],
        vec!["skip", "start.2.1", "--reason", "<why>"],
    ] {
        let r = run(repo.cmd(&args));
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("is a placeholder, not a person")
                || r.stderr.contains("is the blank of a printed command"),
            "{}",
            r.stderr
        );
        assert_eq!(before, repo.files(), "{args:?} changed files");
    }
}

/// `end` lists every gate a person must decide on, with one command; that
/// command, given a real name, finishes the session in one round.
#[test]
fn end_asks_for_every_decision_in_one_round() {
    let repo = Repo::ready("");
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    repo.work_done_by_hand();
    // `context` shows the decisions, as a person's, once `end` remains.
    let context = run(repo.cmd(["context"])).stdout;
    assert!(context.contains("## Decisions for a person"), "{context}");
    let r = run(repo.cmd(["end"]));
    assert_eq!(r.code, 1);
    let all = r.stdout.clone() + &r.stderr;
    for gate in UNMEASURED {
        assert!(all.contains(&format!("--waive {gate}")), "{gate}: {all}");
        assert!(
            context.contains(&format!("`{gate}`")) || gate == "reliability",
            "{gate}: {context}"
        );
    }
    // The printed command, with the person's own name and reason in place
    // of what it leaves for them.
    let start = all.find("`deploy-session end --waive").unwrap() + 1;
    let printed = &all[start..start + all[start..].find('`').unwrap()];
    let command = printed.replace("<your name and email>", ANN).replace(
        "<why each is acceptable>",
        "first release, nothing deployed yet",
    );
    let args = shell_words::split(&command).unwrap();
    assert_eq!(args[0], "deploy-session");
    let r = run(repo.cmd(&args[1..]));
    assert_eq!(r.code, 0, "{command}\n{}\n{}", r.stdout, r.stderr);
}

/// After every `done` and `skip`, exactly one item is `in_progress`;
/// skipped items say so; the compact list stays within 2 KB all session.
#[test]
fn todowrite_keeps_one_task_in_progress_and_stays_small() {
    let repo = Repo::ready("");
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    let check = |after: &str| {
        for extra in [&[][..], &["--compact"][..]] {
            let mut args = vec!["todo", "--format", "todowrite"];
            args.extend_from_slice(extra);
            let r = run(repo.cmd(&args));
            assert_eq!(r.code, 0, "{}", r.stderr);
            let v = r.json();
            let in_progress = v["todos"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["status"] == "in_progress")
                .count();
            assert_eq!(in_progress, 1, "after {after} {extra:?}: {v}");
            if !extra.is_empty() {
                assert!(
                    r.stdout.len() <= 2048,
                    "after {after}: {} bytes",
                    r.stdout.len()
                );
            }
        }
    };
    check("start");
    let r = run(repo.cmd(["skip", "start.2.1", "--reason", "nothing to analyse"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    check("skip");
    let full = run(repo.cmd(["todo", "--format", "todowrite"])).json();
    assert!(
        full["todos"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["content"].as_str().unwrap().ends_with("(skipped)")),
        "{full}"
    );
    for id in start_manual_ids().iter().skip(1) {
        repo.done_all(&[id]);
        check(id);
    }
    let r = run(repo.cmd(["todo", "--compact"]));
    assert_eq!(r.code, 2, "--compact needs the todowrite format");
}

/// A checkout of the framework as it is today names its startup guide
/// `AI_ASSISTANT_STARTUP.md`: `init` adds no second guide and start.1.4
/// accepts it.
#[test]
fn the_renamed_startup_guide_is_accepted() {
    let repo = Repo::new();
    repo.write(
        "deployment/AI_ASSISTANT_STARTUP.md",
        "# the framework's own\n",
    );
    let r = run(repo.cmd(["init"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!repo.exists("deployment/AI_ASSISTANT_STARTUP_DEPLOYMENT.md"));
    assert!(
        r.stdout
            .contains("kept     deployment/AI_ASSISTANT_STARTUP.md")
    );
    assert_eq!(
        repo.read("deployment/AI_ASSISTANT_STARTUP.md"),
        "# the framework's own\n"
    );
    repo.record_phase6();
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(repo.action_status("start.1.4"), "completed");
    let context = run(repo.cmd(["context"])).stdout;
    assert!(
        context.contains("`deployment/AI_ASSISTANT_STARTUP.md`"),
        "{context}"
    );
}

/// A files-only built-in check may be given the repo's own file list; the
/// tool's validation of Phase 6 may not be replaced.
#[test]
fn a_files_check_takes_the_repos_own_list_but_a_phase_check_stays() {
    let repo = Repo::ready(
        "actions:\n  start.1.4:\n    check: {files: [docs/STARTUP.md], hint: the team's guide}\n",
    );
    repo.write("docs/STARTUP.md", "# ours\n");
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(repo.action_status("start.1.4"), "completed");
    let other = Repo::ready("actions:\n  start.1.1:\n    check: {files: [README.md]}\n");
    let r = run(other.cmd(["config", "check"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains(
            "deploy-session.yaml:3:5: start.1.1 is a `check` action; only manual actions"
        ),
        "{}",
        r.stderr
    );
}

/// The README's own-repo block, as written, in a fresh repo with the binary
/// on PATH: it reaches a finished session.
#[test]
fn readme_own_repo_flow_runs_as_written() {
    if !external_tool("jq", "jq --version") {
        return;
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let at = readme
        .find("<!-- own-repo-flow -->\n```sh\n")
        .expect("README marks its own-repo block");
    let body = &readme[at..];
    let body = &body[body.find("```sh\n").unwrap() + 6..];
    let block = &body[..body.find("\n```").unwrap()];
    let repo = Repo::new();
    let mut bash = repo.std_cmd(Vec::<&str>::new());
    let bin = std::path::PathBuf::from(bash.get_program());
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = std::process::Command::new("bash");
    c.arg("-c")
        .arg(block)
        .current_dir(repo.path())
        .env("PATH", path);
    for (k, v) in bash.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    bash = c;
    let out = bash.output().unwrap();
    let shown = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "the last command failed:\n{shown}"
    );
    assert!(!shown.contains("error:"), "{shown}");
    let history = run(repo.cmd(["history", "--format", "json"])).json();
    assert_eq!(history["sessions"][0]["outcome"], "completed", "{history}");
    assert_eq!(run(repo.cmd(["audit", "verify"])).code, 0);
}

/// `--dry-run` says what the real run then does: a recorded approval is
/// taken, checks pass or fail as they will, manual actions wait.
#[test]
fn dry_run_agrees_with_the_run() {
    let repo = Repo::ready("");
    let dry = run(repo.cmd(["start", "--dry-run"]));
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        !repo.exists(".ai_context/deploy-session"),
        "a dry run writes nothing"
    );
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    for line in dry.stdout.lines().filter(|l| l.starts_with("  start.")) {
        let id = line.split_whitespace().next().unwrap();
        let status = repo.action_status(id);
        let expected: &[&str] = if line.contains("would pass")
            || line.contains("would take the approval")
            || line.contains("would run")
        {
            &["completed"]
        } else if line.contains("would wait for a person") {
            &["waiting", "pending"]
        } else {
            &["failed"]
        };
        assert!(expected.contains(&status.as_str()), "{line} → {status}");
    }
    assert!(
        dry.stdout
            .contains("start.1.2  would take the approval recorded in the master state"),
        "{}",
        dry.stdout
    );
}
