use crate::harness::*;

fn check(repo: &Repo) -> Run {
    run(repo.cmd(["config", "check"]))
}

#[test]
fn a_valid_config_gets_a_summary() {
    let repo = Repo::new();
    repo.write(
        "deploy-session.yaml",
        "vars: {svc: orders}\nsecrets: [CLOUD_TOKEN]\nactions:\n  start.3.2:\n    run: terraform init\n    cwd: infra\n    produces: [infra/.terraform.lock.hcl]\n  work.4.5:\n    probe: { url: \"http://127.0.0.1:8080/health\", expect: { status: 200 }, timeout: 60s }\n",
    );
    let r = check(&repo);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "deploy-session.yaml: OK — 2 overrides, 0 added actions, 1 var, 1 secret; 54 actions in all\n"
    );
}

#[test]
fn no_config_is_fine() {
    let r = check(&Repo::new());
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("no config file"));
}

#[test]
fn every_error_is_reported_with_its_location() {
    let repo = Repo::new();
    let text = "\
actions:
  start.3.1:
    runn: echo hi
  start.3.2:
    run: terraform init
    cwd: ../elsewhere
  start.3.3:
    run: deploy ${service}
  start.3.4:
    retries: many
  start.3.5:
    produces: [/etc/passwd]
  start.3.9:
    run: x
  start.1.1:
    run: echo replace a check
add:
  - id: work.3.6
    after: work.2.5
    title: Smoke
    active: Smoking
    task_type: NOT_A_TYPE
    agent: cloud-devops-expert
    run: make smoke
";
    repo.write("deploy-session.yaml", text);
    let before = repo.files();
    let r = check(&repo);
    assert_eq!(r.code, 2, "{}", r.stderr);
    insta::assert_snapshot!("config_check_errors", r.stderr);
    assert_same_files(&before, &repo.files(), "bad input");
}

#[test]
fn yaml_syntax_errors_have_a_position() {
    let repo = Repo::new();
    repo.write(
        "deploy-session.yaml",
        "actions:\n  start.3.1:\n    run: [unclosed\n",
    );
    let r = check(&repo);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("deploy-session.yaml:4:1: invalid YAML"),
        "{}",
        r.stderr
    );
}

#[test]
fn json_report_lists_errors() {
    let repo = Repo::new();
    repo.write(".ai_context/deploy-session.yaml", "actions:\n  work.4.2:\n    strategy:\n      canary:\n        live_url: http://127.0.0.1:1\n        steps: [50, 10]\n        set_weight: ./w.sh\n");
    let r = run(repo.cmd(["config", "check", "--format", "json"]));
    assert_eq!(r.code, 2);
    let j = r.json();
    assert_eq!(j["valid"], false);
    assert_eq!(j["file"], ".ai_context/deploy-session.yaml");
    assert_eq!(j["errors"][0]["line"], 6);
    assert!(
        j["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("rising weights")
    );
}

#[test]
fn two_config_files_are_ambiguous() {
    let repo = Repo::new();
    repo.write("deploy-session.yaml", "vars: {}\n");
    repo.write(".ai_context/deploy-session.yaml", "vars: {}\n");
    let r = check(&repo);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("two config files"), "{}", r.stderr);
}

#[test]
fn the_readme_config_example_is_valid() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let section = &readme[readme
        .find("## Configuration")
        .expect("README has a Configuration section")..];
    let start = section.find("```yaml\n").unwrap() + "```yaml\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];
    let repo = Repo::new();
    repo.write("deploy-session.yaml", example);
    let r = check(&repo);
    assert_eq!(r.code, 0, "README example is invalid:\n{}", r.stderr);
}

/// A canary's `pause` is one duration or one per step; a list of the wrong
/// length, a zero single pause and a non-duration are located errors.
#[test]
fn a_canary_pause_is_one_or_one_per_step() {
    let canary = |pause: &str| {
        format!(
            "actions:\n  work.4.2:\n    strategy:\n      canary:\n        live_url: http://127.0.0.1:1\n        steps: [5, 50, 100]\n        set_weight: ./w.sh\n        pause: {pause}\n"
        )
    };
    let repo = Repo::ready(&canary("[5m, 20m, 0s]"));
    let r = run(repo.cmd(["config", "check"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan = run(repo.cmd(["plan", "work", "--format", "json"])).json();
    assert_eq!(plan["schema_version"], 1);
    for (pause, message) in [
        (
            "[5m, 20m]",
            "deploy-session.yaml:8:9: `pause` lists 2 durations for 3 steps",
        ),
        ("0s", "is zero"),
        ("[5m, soon, 0s]", "\"soon\" is not a duration"),
        (
            "{a: 1}",
            "`pause` is a duration (30s) or a list with one per step",
        ),
        (
            "30s\n        min_success_rate: 0",
            "`min_success_rate` 0 is not a percentage above 0",
        ),
        (
            "30s\n        min_success_rate: 101",
            "`min_success_rate` 101 is not a percentage",
        ),
        (
            "30s\n        health_paths: [/health, ready]",
            "health path \"ready\" must start with `/`",
        ),
        (
            "30s\n        load: { rate: 0 }",
            "deploy-session.yaml:9:17: `rate` 0 is not 1 to 5000",
        ),
        (
            "30s\n        load: { rate: 100, path: health }",
            "the load path must start with `/`",
        ),
        (
            "30s\n        criteria: { min_requests: 5 }",
            "`criteria` judges nothing",
        ),
        (
            "30s\n        criteria: { max_p99: 1s, min_requests: 0 }",
            "`min_requests` 0 would pass a window with no evidence",
        ),
        (
            "30s\n        criteria: { max_p95: 2s, max_p99: 200ms }",
            "`max_p95` 2s is above `max_p99` 200ms",
        ),
        (
            "30s\n        criteria: { min_success_rate: 100.5 }",
            "`min_success_rate` 100.5 is not a percentage",
        ),
        (
            "30s\n        min_success_rate: 99\n        criteria: { min_success_rate: 99 }",
            "`min_success_rate` is given twice",
        ),
        (
            "30s\n        criteria: { max_p99: 1s, unknown: 1 }",
            "unknown",
        ),
    ] {
        repo.write("deploy-session.yaml", &canary(pause));
        let r = run(repo.cmd(["config", "check"]));
        assert_eq!(r.code, 2, "{pause}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{pause}: {}", r.stderr);
        assert!(
            r.stderr.contains("deploy-session.yaml:"),
            "{pause}: located: {}",
            r.stderr
        );
    }
}

/// `notify:` needs a target; a webhook must be http(s); unknown keys are
/// named. Each a located error.
#[test]
fn notify_config_errors_are_located() {
    let repo = Repo::ready("");
    for (notify, message) in [
        (
            "notify: {retries: 2}",
            "deploy-session.yaml:1:9: `notify` needs a `webhook`, a `command`, or both",
        ),
        (
            "notify: {webhook: ftp://x}",
            "notify webhook \"ftp://x\" is not an http:// or https:// URL",
        ),
        ("notify: {hook: http://x}", "unknown"),
    ] {
        repo.write("deploy-session.yaml", &format!("{notify}\n"));
        let r = run(repo.cmd(["config", "check"]));
        assert_eq!(r.code, 2, "{notify}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{notify}: {}", r.stderr);
        assert!(
            r.stderr.contains("deploy-session.yaml:1:"),
            "{notify}: {}",
            r.stderr
        );
    }
}
