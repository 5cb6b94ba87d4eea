use crate::harness::*;
use serde_json::Value;

fn plan_json(repo: &Repo, args: &[&str]) -> Value {
    let mut all = vec!["plan", "--format", "json"];
    all.extend_from_slice(args);
    let r = run(repo.cmd(all));
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.json()
}

#[test]
fn plan_lists_every_seed_step_with_its_fields() {
    let repo = Repo::new();
    let plan = plan_json(&repo, &[]);
    let actions = plan["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 54);
    for a in actions {
        for key in [
            "id",
            "title",
            "active_form",
            "task_type",
            "agent",
            "kind",
            "needs",
        ] {
            assert!(!a[key].is_null(), "{key} missing in {a}");
        }
    }
    let agents: std::collections::BTreeSet<&str> = actions
        .iter()
        .map(|a| a["agent"].as_str().unwrap())
        .collect();
    assert_eq!(
        agents.into_iter().collect::<Vec<_>>(),
        [
            "cloud-devops-expert",
            "cloud-ops-engineer",
            "gcp-ai-architect",
            "performance-optimizer",
            "security-auditor",
            "system-architect"
        ]
    );
    let by_id = |id: &str| actions.iter().find(|a| a["id"] == id).unwrap().clone();
    assert_eq!(
        by_id("work.4.1")["needs"],
        serde_json::json!(["work.2.5", "work.3.5"])
    );
    assert_eq!(by_id("start.1.2")["kind"], "approval");
    assert_eq!(by_id("end.2.3")["items"].as_array().unwrap().len(), 5);
    let r = run(repo.cmd(["plan"]));
    assert!(r.stdout.ends_with("54 actions\n"), "{}", r.stdout);
}

#[test]
fn plan_of_one_protocol() {
    let repo = Repo::new();
    let plan = plan_json(&repo, &["work"]);
    assert_eq!(plan["actions"].as_array().unwrap().len(), 25);
    assert_eq!(
        plan["protocols"][0]["stages"][3]["needs"],
        serde_json::json!(["work.2", "work.3"])
    );
    let md = run(repo.cmd(["plan", "end", "--format", "markdown"]));
    assert!(
        md.stdout
            .contains("| end.2.3 | Create deployment handoff package for operations |"),
        "{}",
        md.stdout
    );
}

#[test]
fn plan_applies_the_config() {
    let repo = Repo::new();
    repo.write(
        "deploy-session.yaml",
        "vars:\n  svc: orders\nactions:\n  start.3.1:\n    run: echo ${svc}\n    timeout: 30s\n  work.5.3:\n    optional: true\nadd:\n  - id: work.2.6\n    after: work.2.5\n    title: Run infrastructure smoke tests\n    active: Running infrastructure smoke tests\n    task_type: RESOURCE_PROVISIONING\n    agent: cloud-devops-expert\n    run: make smoke\n",
    );
    let plan = plan_json(&repo, &[]);
    let actions = plan["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 55);
    let pos = |id: &str| actions.iter().position(|a| a["id"] == id).unwrap();
    assert_eq!(pos("work.2.6"), pos("work.2.5") + 1);
    let a = &actions[pos("start.3.1")];
    assert_eq!(a["kind"], "run");
    assert_eq!(a["summary"], "run: echo orders");
    assert_eq!(a["origin"], "config");
    assert_eq!(actions[pos("work.5.3")]["optional"], true);
    assert_eq!(actions[pos("work.3.1")]["origin"], "built_in");
}

#[test]
fn plan_refuses_a_broken_config() {
    let repo = Repo::new();
    repo.write(
        "deploy-session.yaml",
        "actions:\n  start.3.9:\n    run: x\n",
    );
    let r = run(repo.cmd(["plan"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("deploy-session.yaml:2:3: unknown action id start.3.9"),
        "{}",
        r.stderr
    );
}
