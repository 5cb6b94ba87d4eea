//! Environments and promotion: staging, then a named approval, then
//! production — and a staging that fails never reaches production.

use crate::harness::*;
use std::time::Duration;

/// A canary of `env` whose weight changes are logged to `<env>.log`; its
/// rollback writes `200 ok` to the state file `<env>` (the live server's
/// answer when it reads that file).
fn canary(env: &str, live: &TestServer) -> String {
    format!(
        "    environment: {env}\n    strategy:\n      canary:\n        live_url: \"{}\"\n        steps: [50, 100]\n        set_weight: 'echo \"$DEPLOY_SESSION_WEIGHT\" >> {env}.log'\n        rollback: 'echo \"200 ok\" > \"$STATE/{env}\"'\n        probe: {{ timeout: 1s, interval: 20ms, retries: 0 }}\n        sample_interval: 10ms\n",
        live.url()
    )
}

/// A repo whose work protocol deploys to staging (work.4.2), waits for the
/// promotion's approval (work.4.6) and deploys to production (work.4.7).
fn promoted(
    state: &std::path::Path,
    staging: &TestServer,
    production: &TestServer,
    approval: &str,
) -> Repo {
    let repo = Repo::ready("");
    let mut ids = start_manual_ids();
    ids.extend(work_ids().into_iter().filter(|id| id != "work.4.2"));
    let config = format!(
        "{}  work.4.2:\n{}add:\n  - id: work.4.6\n    after: work.4.5\n    title: Approve the promotion to production\n    active: Approving the promotion to production\n    task_type: DEPLOYMENT_VALIDATION\n    agent: cloud-devops-expert\n    approval: {{ subject: promote the release to production }}\n    environment: production\n{approval}  - id: work.4.7\n    after: work.4.6\n    title: Deploy to production\n    active: Deploying to production\n    task_type: STRATEGY_EXECUTION\n    agent: cloud-devops-expert\n{}environments:\n  staging: {{}}\n  production: {{ promote_from: staging }}\n",
        run_all(&ids, "true"),
        canary("staging", staging),
        canary("production", production)
    );
    repo.write(
        "deploy-session.yaml",
        &config.replace("$STATE", &state.display().to_string()),
    );
    let r = run(repo.cmd(["config", "check"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 0, "{}", r.stdout);
    repo
}

fn deployments(repo: &Repo) -> Vec<(String, String)> {
    repo.session()["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["environment"].as_str().unwrap_or("").to_string(),
                d["outcome"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn staging_then_a_named_approval_then_production() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("live"), "200 ok").unwrap();
    let staging = TestServer::start(state.path(), "live", 0, Duration::ZERO);
    let production = TestServer::start(state.path(), "live", 0, Duration::ZERO);
    let repo = promoted(state.path(), &staging, &production, "");
    // plan names each action's environment.
    let plan = run(repo.cmd(["plan", "work"])).stdout;
    assert!(plan.contains("strategy: canary → staging"), "{plan}");
    assert!(plan.contains("→ production"), "{plan}");
    // The export gives the deploying job (and its approval) the CI
    // environment the config names.
    let gitlab = run(repo.cmd(["export", "--install", INSTALL, "gitlab-ci", "-o", "-"])).stdout;
    let pipeline: serde_yaml::Value = serde_yaml::from_str(&gitlab).unwrap();
    assert_eq!(
        pipeline["work-4"]["environment"]["name"], "production",
        "{gitlab}"
    );
    assert_eq!(
        pipeline["approve-work-4"]["environment"]["name"], "production",
        "{gitlab}"
    );
    let github =
        run(repo.cmd(["export", "--install", INSTALL, "github-actions", "-o", "-"])).stdout;
    assert!(
        github.contains("Create the GitHub Environment `production`"),
        "{github}"
    );
    // Staging deploys, then the run waits for the promotion's approval.
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert!(r.stdout.contains("work.4.6"), "{}", r.stdout);
    assert_eq!(deployments(&repo), [("staging".into(), "succeeded".into())]);
    assert!(!repo.path().join("production.log").exists());
    // A named person approves; production deploys.
    let r = run(repo.cmd([
        "approve",
        "work.4.6",
        "--by",
        ANN,
        "--note",
        "staging ran clean",
    ]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        deployments(&repo),
        [
            ("staging".into(), "succeeded".into()),
            ("production".into(), "succeeded".into())
        ]
    );
    assert_eq!(repo.read("production.log"), "50\n100\n");
    // status and the completion report name the environment.
    let status = run(repo.cmd(["status"])).stdout;
    assert!(
        status.contains("canary → production: live after"),
        "{status}"
    );
    // End; history keeps the counts per environment.
    let r = run(repo.cmd(end_waiving_args(&[])));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let h = run(repo.cmd(["history", "--format", "json"])).json();
    let envs = &h["sessions"][0]["environments"];
    assert_eq!(envs["staging"]["deployments"], 1, "{h}");
    assert_eq!(envs["production"]["failed"], 0, "{h}");
    assert_eq!(
        h["reliability"]["environments"]["production"]["rate"],
        100.0
    );
    let text = run(repo.cmd(["history"])).stdout;
    assert!(
        text.contains("  production: 100.00% of 1 deployment"),
        "{text}"
    );
    // The handoff's performance baseline has a row per environment.
    let handoff = std::fs::read_dir(repo.path().join(".ai_context/handoff"))
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    let baseline = std::fs::read_to_string(handoff.join("05-performance-baseline.md")).unwrap();
    assert!(
        baseline.contains("| canary | staging | succeeded |"),
        "{baseline}"
    );
    assert!(
        baseline.contains("| canary | production | succeeded |"),
        "{baseline}"
    );
    assert_eq!(run(repo.cmd(["audit", "verify"])).code, 0);
}

/// Staging's canary fails: the run stops there, and production is never
/// touched. Forcing past it (skipping the failed staging deployment and
/// approving) still does not deploy: production needs staging's success.
#[test]
fn a_failure_in_staging_never_reaches_production() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("staging"), "500 broken").unwrap();
    std::fs::write(state.path().join("live"), "200 ok").unwrap();
    let staging = TestServer::start(state.path(), "staging", 0, Duration::ZERO);
    let production = TestServer::start(state.path(), "live", 0, Duration::ZERO);
    let repo = promoted(state.path(), &staging, &production, "");
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(
        deployments(&repo),
        [("staging".into(), "rolled_back".into())]
    );
    let r = run(repo.cmd([
        "skip",
        "work.4.2",
        "--reason",
        "force it through",
        "--by",
        DANA,
    ]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(run(repo.cmd(["work"])).code, 3, "the approval still waits");
    let r = run(repo.cmd(["approve", "work.4.6", "--by", ANN]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("production is promoted from staging, whose last deployment (work.4.2) rolled back; nothing was deployed"),
        "{}",
        r.stdout
    );
    assert!(
        !repo.path().join("production.log").exists(),
        "production untouched"
    );
    assert_eq!(production.count(), 0, "not even probed");
    assert_eq!(
        deployments(&repo).len(),
        1,
        "no production deployment recorded"
    );
}

/// An optional approval that nobody gave lets the run go on, but it is
/// not an approval: production still waits for a named one.
#[test]
fn an_approval_nobody_gave_does_not_promote() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("live"), "200 ok").unwrap();
    let staging = TestServer::start(state.path(), "live", 0, Duration::ZERO);
    let production = TestServer::start(state.path(), "live", 0, Duration::ZERO);
    let repo = promoted(state.path(), &staging, &production, "    optional: true\n");
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "deploying to production needs a named approval (work.4.6), and none is recorded"
        ),
        "{}",
        r.stdout
    );
    assert!(!repo.path().join("production.log").exists());
}

/// Impossible environments are config errors at their line.
#[test]
fn environment_config_errors_are_located() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("live"), "200 ok").unwrap();
    let live = TestServer::start(state.path(), "live", 0, Duration::ZERO);
    let repo = Repo::ready("");
    let base =
        |envs: &str, env: &str| format!("actions:\n  work.4.2:\n{}{envs}", canary(env, &live));
    for (config, message) in [
        (
            base("environments:\n  staging: {}\n", "stagin"),
            "work.4.2: environment \"stagin\" is not under `environments:`",
        ),
        (
            base("", "staging"),
            "declare it: `environments: { staging: {} }`",
        ),
        (
            base(
                "environments:\n  staging: {}\n  production: { promote_from: qa }\n",
                "staging",
            ),
            "production is promoted from \"qa\", which is not under `environments:`",
        ),
        (
            base(
                "environments:\n  a: { promote_from: b }\n  b: { promote_from: a }\n",
                "a",
            ),
            "promotions go round in a circle",
        ),
        (
            base(
                "environments:\n  staging: {}\n  production: { promote_from: staging }\n",
                "production",
            ),
            "production is promoted from staging, but no `strategy` action deploys to staging before it",
        ),
        (
            base(
                "environments:\n  staging: {}\n  production: { promote_from: staging }\n",
                "production",
            ),
            "deploying to production needs a named approval first",
        ),
        (
            base(
                "environments:\n  production: { aproval: false }\n",
                "production",
            ),
            "aproval",
        ),
        (
            base(
                "environments:\n  \"prod; curl x|sh\": {}\n",
                "\"prod; curl x|sh\"",
            ),
            "environment name \"prod; curl x|sh\": use letters, digits",
        ),
    ] {
        repo.write("deploy-session.yaml", &config);
        let r = run(repo.cmd(["config", "check"]));
        assert_eq!(r.code, 2, "{config}");
        assert!(r.stderr.contains(message), "{config}\n{}", r.stderr);
        assert!(
            r.stderr.contains("deploy-session.yaml:"),
            "located: {}",
            r.stderr
        );
    }
    // approval: false lifts the need for an approval action.
    repo.write(
        "deploy-session.yaml",
        &base(
            "environments:\n  production: { approval: false }\n",
            "production",
        ),
    );
    let r = run(repo.cmd(["config", "check"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
}
