//! Three pipelines of one repo through gitlab-ci-local: green from a
//! decisions file; the next passes the reliability gate from the history
//! the first carried over; a failed deployment job re-run keeps its
//! failure on the record.

use crate::fixture::{Fixture, gate};
use crate::harness::*;

/// gitlab-ci-local: `DEPLOY_SESSION_GITLAB_CI_LOCAL` (as `.ci/run` sets,
/// after installing it from npm), else on PATH.
fn gcl() -> String {
    std::env::var("DEPLOY_SESSION_GITLAB_CI_LOCAL").unwrap_or_else(|_| "gitlab-ci-local".into())
}

/// Runs gitlab-ci-local (the whole pipeline, or `jobs`) in the fixture;
/// returns each job's verdict, and the output.
fn pipeline(f: &Fixture, jobs: &[&str]) -> (Vec<(String, bool)>, String) {
    let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{} --force-shell-executor --shell-isolation --variable DEPLOY_SESSION_TEST_BIN=\"$0\" {}",
                gcl(),
                jobs.join(" ")
            ))
            .arg(assert_cmd::cargo::cargo_bin("deploy-session"))
            .current_dir(f.repo.path())
            .env("NO_COLOR", "1")
            .env("FORCE_COLOR", "0")
            .env_remove("CI")
            .output()
            .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts = text
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let pass = l.strip_prefix("PASS").map(|j| (j, true));
            let fail = l.strip_prefix("FAIL").map(|j| (j, false));
            pass.or(fail).map(|(j, ok)| (j.trim().to_string(), ok))
        })
        .collect();
    (verdicts, text)
}

/// The end-3 job's state in a fresh clone.
fn final_state(f: &Fixture) -> Repo {
    f.state_from(
        &f.repo
            .path()
            .join(".gitlab-ci-local/artifacts/end-3/.deploy-session-state/end-3"),
    )
}

fn all_green(verdicts: &[(String, bool)], text: &str) {
    assert_eq!(verdicts.len(), 12, "an install job and 11 stages:\n{text}");
    let failed: Vec<&str> = verdicts
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(j, _)| j.as_str())
        .collect();
    assert!(failed.is_empty(), "failed: {failed:?}\n{text}");
}

/// Prints what each job cost beyond its stage (`-- --nocapture` shows
/// it): gitlab-ci-local's own timings of each job and of its artifact
/// import, and the longest.
fn overhead(text: &str) {
    let ms = |l: &str, what: &str| -> Option<f64> {
        let rest = l.split(what).nth(1)?.trim();
        let (n, unit) = rest.split_once(' ')?;
        let n: f64 = n.parse().ok()?;
        Some(if unit.starts_with("ms") {
            n
        } else {
            n * 1000.0
        })
    };
    let jobs: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with("pipeline"))
        .filter_map(|l| ms(l, "finished in"))
        .collect();
    let imports: Vec<f64> = text
        .lines()
        .filter_map(|l| ms(l, "imported artifacts in"))
        .collect();
    let max = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    eprintln!(
        "per job: {} jobs, longest {:.0} ms, mean {:.0} ms; artifact import: longest {:.0} ms",
        jobs.len(),
        max(&jobs),
        jobs.iter().sum::<f64>() / jobs.len().max(1) as f64,
        max(&imports)
    );
}

#[test]
fn exported_gitlab_pipelines_run_whole_sessions_in_gitlab_ci_local() {
    if !external_tool("gitlab-ci-local", &format!("{} --version", gcl()))
        || !external_tool("rsync", "rsync --version")
    {
        return;
    }
    let f = Fixture::new("gitlab-ci");
    // 1. Every job green; the manual actions, the approval and the waivers
    //    come from the decisions file, under the named people.
    let (verdicts, text) = pipeline(&f, &[]);
    all_green(&verdicts, &text);
    overhead(&text);
    let first = final_state(&f);
    assert_eq!(run(first.cmd(["audit", "verify"])).code, 0);
    assert_eq!(run(first.cmd(["handoff", "verify"])).code, 0);
    assert_eq!(gate(&first, "reliability"), "waived");
    let log = run(first.cmd(["audit", "log", "--format", "json"])).stdout;
    assert!(
        log.contains("reviewed in merge request !7 (from deploy-session.decisions.yaml at "),
        "the decisions file and its commit are in the record"
    );
    // 2. The next change waives nothing more: its `end` passes the
    //    reliability gate from the history the first pipeline carried.
    f.decide(&[]);
    f.commit("the next change: no reliability waiver");
    let (verdicts, text) = pipeline(&f, &[]);
    all_green(&verdicts, &text);
    let second = final_state(&f);
    assert_eq!(gate(&second, "reliability"), "pass", "{text}");
    let history = run(second.cmd(["history", "--format", "json"])).json();
    assert_eq!(history["reliability"]["deployments"], 2, "{history}");
    assert_eq!(run(second.cmd(["audit", "verify"])).code, 0);
    // 3. A deployment job fails; re-run after the fix, it joins the failed
    //    attempt: the failure stays in the session and in history.
    f.decide(&["reliability"]);
    f.commit("a change whose first canary fails");
    std::fs::write(&f.breaker, "").unwrap();
    let (verdicts, text) = pipeline(&f, &[]);
    assert!(
        verdicts.contains(&("work-4".into(), false)),
        "the canary's job failed:\n{text}"
    );
    std::fs::remove_file(&f.breaker).unwrap();
    let (verdicts, text) = pipeline(&f, &["work-4", "work-5", "end-1", "end-2", "end-3"]);
    assert!(
        verdicts.iter().all(|(_, ok)| *ok) && verdicts.len() == 5,
        "the re-run and what follows: {verdicts:?}\n{text}"
    );
    assert!(
        text.contains(".deploy-session-attempt"),
        "the re-run joined the attempt"
    );
    crate::fixture::failure_kept(&final_state(&f));
}
