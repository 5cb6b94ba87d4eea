//! The repo both pipeline tests run: every work action a command but the
//! canary (whose weight changes fail while a file exists), the manual
//! analysis of start, the pre-deployment approval and the waivers from a
//! decisions file, the install a copy of the test's own binary.

use crate::harness::*;
use std::path::PathBuf;
use std::time::Duration;

const ANN_Q: &str = "\"Ann Approver <ann@example.com>\"";

/// The fixture repo: every work action a command but the canary (whose
/// weight changes fail while `break` exists), the manual analysis of start
/// from the decisions file, the install a copy of the test's binary.
pub struct Fixture {
    pub repo: Repo,
    /// While this file exists, the canary's weight changes above 0 fail.
    pub breaker: PathBuf,
    _live: TestServer,
    _state: tempfile::TempDir,
}

impl Fixture {
    /// The repo with the pipeline of `target` (`gitlab-ci`, `github-actions`) exported and committed.
    pub fn new(target: &str) -> Fixture {
        let state = tempfile::tempdir().unwrap();
        std::fs::write(state.path().join("live"), "200 ok").unwrap();
        let live = TestServer::start(state.path(), "live", 0, Duration::ZERO);
        let breaker = state.path().join("break");
        let repo = Repo::ready("");
        let ids: Vec<String> = work_ids()
            .into_iter()
            .filter(|id| id != "work.4.1" && id != "work.4.2")
            .collect();
        let config = format!(
            "ci:\n  install: mkdir -p \"$DEPLOY_SESSION_ROOT/bin\" && cp \"$DEPLOY_SESSION_TEST_BIN\" \"$DEPLOY_SESSION_ROOT/bin/deploy-session\"\ngates:\n  reliability_min_deployments: 2\n{}  work.4.2:\n    strategy:\n      canary:\n        live_url: \"{}\"\n        steps: [50, 100]\n        set_weight: test \"$DEPLOY_SESSION_WEIGHT\" = 0 || test ! -f {}\n        pause: 300ms\n        probe: {{ timeout: 5s, interval: 50ms }}\n        load: {{ rate: 50 }}\n        criteria: {{ min_success_rate: 99 }}\n",
            run_all(&ids, "true"),
            live.url(),
            breaker.display()
        );
        repo.write("deploy-session.yaml", &config);
        repo.write(".gitignore", ".deploy-session-*/\n.gitlab-ci-local/\n");
        let fixture = Fixture {
            repo,
            breaker,
            _live: live,
            _state: state,
        };
        fixture.decide(&["reliability"]);
        let r = run(fixture.repo.cmd(["export", target]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        fixture.commit("the release, its pipeline and the reviewed decisions");
        fixture
    }

    /// Writes the decisions file: start's manual analysis done by Dana, the
    /// pre-deployment approval by Ann, and Ann's waivers of the gates this
    /// fixture does not measure plus `waive`.
    pub fn decide(&self, waive: &[&str]) {
        let mut d = String::from("actions:\n");
        for id in start_manual_ids() {
            d.push_str(&format!(
                "  {id}: {{ by: \"{DANA}\", note: \"reviewed in merge request !7\" }}\n"
            ));
        }
        d.push_str(&format!(
            "approvals:\n  work.4.1: {{ by: {ANN_Q}, note: \"release approved in merge request !7\" }}\nwaivers:\n"
        ));
        for gate in ["rollback_time", "zero_data_loss"].iter().chain(waive) {
            d.push_str(&format!(
                "  {gate}: {{ by: {ANN_Q}, reason: \"not measured by this fixture\" }}\n"
            ));
        }
        self.repo.write("deploy-session.decisions.yaml", &d);
    }

    pub fn commit(&self, message: &str) {
        self.repo.git(&["add", "-A"]);
        self.repo.git(&["commit", "-q", "-m", message]);
    }

    /// The state `dir` (a copy of the last job's `.ai_context`) holds, in a
    /// fresh clone of the repo.
    pub fn state_from(&self, dir: &std::path::Path) -> Repo {
        let copy = self.repo.copy();
        assert!(dir.is_dir(), "{} holds the last job's state", dir.display());
        copy_dir(dir, &copy.path().join(".ai_context"));
        copy
    }
}

/// The re-run's session kept the failed attempt: two deployments, one
/// failed; and the whole record verifies.
pub fn failure_kept(state: &Repo) {
    let history = run(state.cmd(["history", "--format", "json"])).json();
    let last = history["sessions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        last["deployments"], 2,
        "the failed attempt and the re-run: {last}"
    );
    assert_eq!(last["deployments_failed"], 1, "{last}");
    assert_eq!(run(state.cmd(["audit", "verify"])).code, 0);
    assert_eq!(run(state.cmd(["handoff", "verify"])).code, 0);
}

/// A gate's verdict in the archived or open session of `state`.
pub fn gate(state: &Repo, name: &str) -> String {
    let gates = run(state.cmd(["gates", "--format", "json"])).json();
    gates["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == name)
        .map(|g| g["verdict"].as_str().unwrap().to_string())
        .unwrap_or_default()
}
