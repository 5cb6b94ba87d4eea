//! Probes and deployment strategies against real HTTP servers on 127.0.0.1
//! (started by the tests on random ports), through the real binary.

use crate::harness::*;
use std::time::Duration;

const NO_DELAY: Duration = Duration::ZERO;

fn state(repo: &Repo, name: &str, content: &str) {
    repo.write(&format!("state/{name}"), content);
}

fn probe(args: &[&str]) -> Run {
    run(Repo::bare().cmd([&["probe"], args].concat()))
}

#[test]
fn probe_command_success_status_body_timeout_refused() {
    let repo = Repo::bare();
    let ok = TestServer::start(&repo.path().join("state"), "ok", 0, NO_DELAY);
    state(&repo, "ok", "200 ok v2");
    let url = format!("{}/health", ok.url());
    let r = probe(&[&url, "--consecutive", "3", "--interval", "10ms"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("3 good answers in a row"), "{}", r.stdout);
    let r = probe(&[
        &url,
        "--status",
        "201",
        "--timeout",
        "300ms",
        "--interval",
        "50ms",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("status 200, expected 201"),
        "{}",
        r.stdout
    );
    let r = probe(&[&url, "--body-contains", "v3", "--retries", "0"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("the body does not contain \"v3\""),
        "{}",
        r.stdout
    );
    let slow = TestServer::start(
        &repo.path().join("state"),
        "slow",
        0,
        Duration::from_secs(3),
    );
    state(&repo, "slow", "200 late");
    let r = probe(&[
        &format!("{}/health", slow.url()),
        "--timeout",
        "500ms",
        "--retries",
        "0",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("timed out"), "{}", r.stdout);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = probe(&[
        &format!("http://127.0.0.1:{port}/"),
        "--retries",
        "1",
        "--interval",
        "10ms",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("connection refused"), "{}", r.stdout);
    let j = run(Repo::bare().cmd(["probe", &url, "--format", "json"])).json();
    assert_eq!(j["probe"]["ok"], true);
    assert_eq!(j["probe"]["attempts"][0]["status"], 200);
}

#[test]
fn a_probe_action_records_its_attempts() {
    let repo = Repo::ready("");
    let server = TestServer::start(&repo.path().join("state"), "svc", 2, NO_DELAY);
    state(&repo, "svc", "200 ok");
    repo.write(
        "deploy-session.yaml",
        &format!("actions:\n  start.2.1:\n    probe: {{ url: \"{}/health\", interval: 10ms, timeout: 5s, consecutive: 2 }}\n", server.url()),
    );
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 3, "{}", r.stdout);
    let a = repo.action("start.2.1");
    assert_eq!(a["status"], "completed");
    let attempts = a["metrics"]["attempts"].as_array().unwrap();
    assert_eq!(
        attempts.len(),
        4,
        "two failures, then two good answers: {attempts:?}"
    );
    assert_eq!(attempts[0]["status"], 500);
    assert_eq!(attempts[3]["ok"], true);
    assert_eq!(server.count(), 4);
}

/// A session stopped just before work.4.2, with `strategy` as its config.
fn blue_green(repo: &Repo, switch: &str) -> (TestServer, TestServer, TestServer) {
    let dir = repo.path().join("state");
    let (blue, green, live) = (
        TestServer::start(&dir, "blue", 0, NO_DELAY),
        TestServer::start(&dir, "green", 0, NO_DELAY),
        TestServer::start(&dir, "live", 0, NO_DELAY),
    );
    state(repo, "blue", "200 ok v1");
    state(repo, "live", "200 ok v1");
    let strategy = format!(
        r#"    strategy:
      blue-green:
        slots: {{ blue: "{}", green: "{}" }}
        live_url: "{}"
        deploy: echo "200 ok v2" > state/$DEPLOY_SESSION_SLOT
        switch: '{switch}'
        probe: {{ expect: {{ body_contains: "ok" }}, timeout: 2s, interval: 20ms, consecutive: 2, retries: 0 }}
        sample_interval: 10ms
"#,
        blue.url(),
        green.url(),
        live.url()
    );
    set_work_4_2(repo, &strategy);
    (blue, green, live)
}

#[test]
fn blue_green_goes_live_with_zero_failed_samples() {
    let repo = at_the_deployment("    run: \"true\"\n");
    let (_b, green, live) = blue_green(
        &repo,
        // Atomic, as a real router switch is: a sample never sees a half-written route.
        "cat state/$DEPLOY_SESSION_SLOT > state/live.tmp && mv state/live.tmp state/live",
    );
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("green is live"), "{}", r.stdout);
    let d = deployment(&repo);
    assert_eq!(d["strategy"], "blue-green");
    assert_eq!(d["outcome"], "succeeded");
    assert_eq!(d["live"], "green");
    assert_eq!(d["failed_samples"], 0);
    assert!(d["samples"].as_u64().unwrap() >= 1);
    assert!(
        green.count() >= 2,
        "the idle slot was probed before the switch"
    );
    assert!(
        live.count() >= d["samples"].as_u64().unwrap(),
        "samples hit the live URL"
    );
    assert_eq!(repo.read("state/live").trim(), "200 ok v2");
}

#[test]
fn blue_green_switches_back_when_live_fails() {
    let repo = at_the_deployment("    run: \"true\"\n");
    // The new slot is healthy alone but breaks under live traffic.
    let switch = r#"if [ "$DEPLOY_SESSION_SLOT" = green ]; then echo "500 broken" > state/live.tmp; else cat state/$DEPLOY_SESSION_SLOT > state/live.tmp; fi && mv state/live.tmp state/live"#;
    let _servers = blue_green(&repo, switch);
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("switch back to blue: ok"), "{}", r.stdout);
    let d = deployment(&repo);
    assert_eq!(d["outcome"], "rolled_back");
    assert_eq!(d["live"], "blue");
    assert!(d["rollback_ms"].is_u64());
    assert_eq!(
        repo.read("state/live").trim(),
        "200 ok v1",
        "live serves the previous slot again"
    );
    assert_eq!(
        repo.action_status("work.4.3"),
        "pending",
        "dependent actions did not run"
    );
}

#[test]
fn a_failing_rollback_is_loud() {
    let repo = at_the_deployment("    run: \"true\"\n");
    let switch = r#"if [ "$DEPLOY_SESSION_SLOT" = green ]; then echo "500 broken" > state/live; else echo "cannot reach the load balancer" >&2; exit 3; fi"#;
    let _servers = blue_green(&repo, switch);
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("ROLLBACK FAILED"), "{}", r.stdout);
    assert!(
        r.stdout.contains("cannot reach the load balancer"),
        "both errors are shown: {}",
        r.stdout
    );
    assert_eq!(deployment(&repo)["outcome"], "rollback_failed");
}

fn canary(repo: &Repo, canary_health: &str, rollback: &str) -> TestServer {
    let dir = repo.path().join("state");
    let live = TestServer::start(&dir, "live", 0, NO_DELAY);
    state(repo, "live", "200 ok v1");
    let strategy = format!(
        r#"    strategy:
      canary:
        live_url: "{}"
        steps: [10, 50, 100]
        set_weight: 'echo $DEPLOY_SESSION_PREVIOUS_WEIGHT-$DEPLOY_SESSION_WEIGHT >> weights.log; if [ "$DEPLOY_SESSION_WEIGHT" = 0 ]; then echo "200 ok v1" > state/live; else echo "{canary_health}" > state/live; fi'
        pause: 100ms
        analysis: test "$DEPLOY_SESSION_WEIGHT" -gt 0
        rollback: '{rollback}'
        probe: {{ timeout: 1s, interval: 10ms, consecutive: 2, retries: 0 }}
        sample_interval: 10ms
"#,
        live.url()
    );
    set_work_4_2(repo, &strategy);
    live
}

#[test]
fn canary_steps_to_100() {
    let repo = at_the_deployment("    run: \"true\"\n");
    let _live = canary(&repo, "200 ok v2", "echo rolled back > rollback.log");
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(repo.read("weights.log"), "0-10\n10-50\n50-100\n");
    assert_eq!(deployment(&repo)["outcome"], "succeeded");
    assert!(!repo.exists("rollback.log"));
}

#[test]
fn a_failing_canary_goes_to_weight_0_and_rolls_back() {
    let repo = at_the_deployment("    run: \"true\"\n");
    let _live = canary(&repo, "500 broken v2", "echo rolled back > rollback.log");
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("canary failed at 10%"), "{}", r.stdout);
    assert_eq!(repo.read("weights.log"), "0-10\n10-0\n");
    assert_eq!(repo.read("rollback.log"), "rolled back\n");
    let d = deployment(&repo);
    assert_eq!(d["outcome"], "rolled_back");
    assert!(
        d["failed_samples"].as_u64().unwrap() >= 1,
        "the broken canary's errors were sampled: {d}"
    );
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 1, "a failed strategy runs again on the next run");
    assert_eq!(repo.session()["deployments"].as_array().unwrap().len(), 2);
}

#[test]
fn a_canary_whose_rollback_fails_reports_both() {
    let repo = at_the_deployment("    run: \"true\"\n");
    let _live = canary(&repo, "500 broken v2", "echo stuck >&2; exit 9");
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("canary failed at 10%") && r.stdout.contains("ROLLBACK FAILED"),
        "{}",
        r.stdout
    );
    assert_eq!(deployment(&repo)["outcome"], "rollback_failed");
}

fn rolling(repo: &Repo, deploy: &str, rollback: &str, live: &TestServer) -> Vec<TestServer> {
    let dir = repo.path().join("state");
    let targets: Vec<TestServer> = (1..=4)
        .map(|i| TestServer::start(&dir, &format!("t{i}"), 0, NO_DELAY))
        .collect();
    for i in 1..=4 {
        state(repo, &format!("t{i}"), "200 v1");
    }
    let list: String = targets
        .iter()
        .enumerate()
        .map(|(i, t)| format!("          - {{ name: t{}, url: \"{}\" }}\n", i + 1, t.url()))
        .collect();
    let strategy = format!(
        "    strategy:\n      rolling:\n        targets:\n{list}        batch_size: 2\n        deploy: '{deploy}'\n        rollback: '{rollback}'\n        live_url: \"{}\"\n        probe: {{ timeout: 1s, interval: 10ms, retries: 0 }}\n        sample_interval: 10ms\n",
        live.url()
    );
    set_work_4_2(repo, &strategy);
    targets
}

#[test]
fn rolling_updates_batches_and_rolls_back_finished_ones_in_reverse() {
    let repo = at_the_deployment("    run: \"true\"\n");
    let live = TestServer::start(&repo.path().join("state"), "live", 0, NO_DELAY);
    state(&repo, "live", "200 ok");
    let deploy = r#"echo "deploy $DEPLOY_SESSION_TARGET batch $DEPLOY_SESSION_BATCH" >> rollout.log; if [ "$DEPLOY_SESSION_TARGET" = t3 ] && [ -f break-t3 ]; then echo "500 v2" > state/t3; else echo "200 v2" > state/$DEPLOY_SESSION_TARGET; fi"#;
    let rollback = r#"echo "rollback $DEPLOY_SESSION_TARGET" >> rollout.log; echo "200 v1" > state/$DEPLOY_SESSION_TARGET"#;
    let _targets = rolling(&repo, deploy, rollback, &live);
    repo.write("break-t3", "");
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(
        repo.read("rollout.log"),
        "deploy t1 batch 1\ndeploy t2 batch 1\ndeploy t3 batch 2\ndeploy t4 batch 2\nrollback t4\nrollback t3\nrollback t2\nrollback t1\n"
    );
    for i in 1..=4 {
        assert_eq!(repo.read(&format!("state/t{i}")).trim(), "200 v1");
    }
    assert_eq!(deployment(&repo)["outcome"], "rolled_back");
    std::fs::remove_file(repo.path().join("break-t3")).unwrap();
    std::fs::remove_file(repo.path().join("rollout.log")).unwrap();
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(deployment(&repo)["outcome"], "succeeded");
}

#[test]
fn prober_counts_are_exact() {
    let repo = at_the_deployment("    run: \"true\"\n");
    // The live URL fails exactly its first 5 requests.
    let live = TestServer::start(&repo.path().join("state"), "live", 5, NO_DELAY);
    state(&repo, "live", "200 ok");
    let deploy = r#"sleep 0.3; echo "200 v2" > state/$DEPLOY_SESSION_TARGET"#;
    let _targets = rolling(&repo, deploy, "true", &live);
    let r = run(repo.cmd(["work"]));
    assert_eq!(r.code, 0, "{}", r.stdout);
    let d = deployment(&repo);
    assert_eq!(
        d["samples"].as_u64().unwrap(),
        live.count(),
        "every sample is one request"
    );
    assert_eq!(d["failed_samples"], 5);
    assert!(live.count() > 5);
}

#[test]
fn strategy_commands_get_their_values_as_environment_variables() {
    let repo = at_the_deployment("    run: \"true\"\n");
    let switch = "env | grep ^DEPLOY_SESSION_ | sort > env.txt; cat state/$DEPLOY_SESSION_SLOT > state/live.tmp && mv state/live.tmp state/live";
    let _servers = blue_green(&repo, switch);
    assert_eq!(run(repo.cmd(["work"])).code, 0);
    let env = repo.read("env.txt");
    for want in [
        "DEPLOY_SESSION_ACTION=work.4.2",
        "DEPLOY_SESSION_SLOT=green",
        "DEPLOY_SESSION_PREVIOUS_SLOT=blue",
        "DEPLOY_SESSION_STEP=switch to green",
        "DEPLOY_SESSION_STRATEGY=blue-green",
    ] {
        assert!(env.contains(want), "{want} missing from\n{env}");
    }
    assert!(env.contains("DEPLOY_SESSION_SLOT_URL=http://127.0.0.1:"));
    assert!(env.contains("DEPLOY_SESSION_BIN="));
}

#[cfg(feature = "demo")]
fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[cfg(feature = "demo")]
fn demo_ports(dir: &std::path::Path) -> Vec<u16> {
    let config = std::fs::read_to_string(dir.join("deploy-session.yaml")).unwrap();
    config
        .lines()
        .filter(|l| l.contains("_port:"))
        .filter_map(|l| l.split('"').nth(1)?.parse().ok())
        .collect()
}

#[cfg(feature = "demo")]
#[test]
fn the_demo_runs_end_to_end_and_leaves_nothing_running() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("demo");
    let r = run(Repo::bare().cmd(["demo", "--dir", target.to_str().unwrap()]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("What happened"), "{}", r.stdout);
    let canary = r
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("canary"))
        .expect("a canary line");
    assert!(
        canary.contains("rolled back after") && canary.contains("rollback took"),
        "{canary}"
    );
    let bg = r
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("blue-green"))
        .expect("a blue-green line");
    assert!(
        bg.contains("live after") && bg.contains(" 0 failed, p95 "),
        "{bg}"
    );
    assert!(
        r.stdout.contains("8 files match the manifest"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("chain intact"), "{}", r.stdout);
    // The "inspect it" commands run as printed (the test's PATH has no
    // deploy-session: the demo names the binary by its path).
    let inspect = r
        .stdout
        .lines()
        .find(|l| l.trim_end().ends_with(" audit verify"))
        .expect("an inspect line");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(inspect.trim())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{inspect}: {out:?}");
    // The figures come from the session's records.
    let paths = std::fs::read_dir(target.join(".ai_context/deploy-session/archive")).unwrap();
    let session_dir = paths.flatten().find(|e| e.path().is_dir()).unwrap().path();
    let session: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(session_dir.join("session.json")).unwrap())
            .unwrap();
    let deps = session["deployments"].as_array().unwrap();
    assert_eq!(deps[0]["outcome"], "rolled_back");
    assert_eq!(deps[1]["outcome"], "succeeded");
    assert_eq!(deps[1]["failed_samples"], 0);
    for port in demo_ports(&target) {
        wait_for(30, &format!("port {port} to close after the demo"), || {
            !listening(port)
        });
    }
}

#[cfg(feature = "demo")]
#[test]
fn ctrl_c_in_the_demo_stops_everything() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("demo");
    let repo = Repo::bare();
    let child = repo.spawn(["demo", "--dir", target.to_str().unwrap()]);
    wait_for(30, "the demo's services to start", || {
        // The whole pid, not just the file: it exists empty for a moment.
        std::fs::read_to_string(target.join(".demo/router.pid"))
            .is_ok_and(|t| t.trim().parse::<i32>().is_ok())
    });
    // The processes themselves, not their ports: a port freed by the demo
    // may be taken by another test running at the same time.
    let pids: Vec<i32> = std::fs::read_dir(target.join(".demo"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "pid"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok()?.trim().parse().ok())
        .collect();
    assert!(!pids.is_empty(), "the demo records its services' pids");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    wait_for(5, "the demo's services to exit", || {
        pids.iter().all(|pid| {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), None)
                == Err(nix::errno::Errno::ESRCH)
        })
    });
}

/// A webhook that fails its first request, then records every body.
fn webhook() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/hook",
        server.server_addr().to_ip().unwrap().port()
    );
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for (n, mut req) in server.incoming_requests().enumerate() {
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            let status = if n == 0 { 500 } else { 200 };
            if status == 200 {
                kept.lock().unwrap().push(body);
            }
            let _ = req.respond(tiny_http::Response::empty(status));
        }
    });
    (url, bodies)
}

/// `notify:` hears of the start, the rollback and the end of a deployment:
/// the command gets each body on stdin, the webhook too after a retry;
/// bodies match the shipped schema, secrets are masked, and each delivery
/// is in the audit trail.
#[test]
fn notifications_tell_of_start_rollback_and_end() {
    let repo = at_the_deployment("    run: \"true\"\n");
    let _live = canary(
        &repo,
        "500 broken $NOTIFY_SECRET",
        "echo rolled back > rollback.log",
    );
    let (url, bodies) = webhook();
    let config = repo.read("deploy-session.yaml");
    repo.write(
        "deploy-session.yaml",
        &format!(
            "secrets: [NOTIFY_SECRET]\nnotify:\n  webhook: {url}\n  command: cat >> notifications.jsonl; echo >> notifications.jsonl\n  retries: 2\n{config}"
        ),
    );
    let mut c = repo.std_cmd(["work"]);
    c.env("NOTIFY_SECRET", "s3cr3t-value-77");
    let r = run(assert_cmd::Command::from_std(c));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let lines: Vec<serde_json::Value> = repo
        .read("notifications.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        [
            "deployment_started",
            "rollback_started",
            "deployment_finished"
        ]
    );
    for l in &lines {
        crate::ci::assert_schema("notification", l);
        assert_eq!(l["action"], "work.4.2");
        assert_eq!(l["strategy"], "canary");
    }
    assert_eq!(lines[2]["outcome"], "rolled_back");
    assert!(
        lines[1]["message"]
            .as_str()
            .unwrap()
            .contains("canary failed at 10%")
    );
    let hooked = bodies.lock().unwrap().clone();
    assert_eq!(
        hooked.len(),
        3,
        "every event reached the webhook: {hooked:?}"
    );
    for text in hooked
        .iter()
        .chain([repo.read("notifications.jsonl")].iter())
    {
        assert!(
            !text.contains("s3cr3t-value-77"),
            "a secret reached a receiver: {text}"
        );
    }
    let sent: Vec<serde_json::Value> = repo
        .audit()
        .into_iter()
        .filter(|e| e["event"] == "notification_sent")
        .collect();
    assert_eq!(sent.len(), 6, "three events, two targets each");
    assert!(
        sent.iter().all(|e| e["detail"]["delivered"] == true),
        "{sent:?}"
    );
    assert!(
        sent.iter()
            .any(|e| e["detail"]["target"] == "webhook" && e["detail"]["attempts"] == 2),
        "the first webhook call failed and was retried: {sent:?}"
    );
    assert_eq!(run(repo.cmd(["audit", "verify"])).code, 0);
}

/// A canary whose live URL answers errors for a while after its weight
/// change, then recovers: the probe alone passes it, but `min_success_rate`
/// judges the step's live samples and rolls it back, saying the rate.
#[test]
fn a_canary_below_its_success_rate_rolls_back() {
    let strategy = |criterion: &str, live: &str| {
        format!(
            r#"    strategy:
      canary:
        live_url: "{live}"
        steps: [10, 100]
        set_weight: 'if [ "$DEPLOY_SESSION_WEIGHT" = 10 ]; then echo "500 warming up" > state/live; (sleep 0.4; echo "200 ok v2" > state/live) & fi; true'
        pause: 50ms
        rollback: 'echo "200 ok v1" > state/live'
        probe: {{ timeout: 5s, interval: 20ms, consecutive: 2 }}
        sample_interval: 10ms
{criterion}"#
        )
    };
    for (criterion, expect) in [("", 0), ("        min_success_rate: 99\n", 1)] {
        let repo = at_the_deployment("    run: \"true\"\n");
        let live = TestServer::start(&repo.path().join("state"), "live", 0, NO_DELAY);
        state(&repo, "live", "200 ok v1");
        set_work_4_2(&repo, &strategy(criterion, &live.url()));
        let r = run(repo.cmd(["work"]));
        assert_eq!(r.code, expect, "{criterion:?}: {}", r.stdout);
        if expect == 1 {
            assert!(
                r.stdout.contains("success rate")
                    && r.stdout.contains("below the 99% minimum")
                    && r.stdout.contains("detected"),
                "{}",
                r.stdout
            );
            assert_eq!(deployment(&repo)["outcome"], "rolled_back");
        } else {
            assert_eq!(deployment(&repo)["outcome"], "succeeded");
        }
    }
}

/// `criteria.metrics`: the team's own measurements judge each step. A
/// command reporting 5 % failures rolls the canary back; one printing
/// something else fails it, quoting the line.
#[test]
fn a_metrics_command_judges_the_canary() {
    for (line, expect) in [
        (
            r#"{"requests": 400, "failed": 0, "p95_ms": 3, "p99_ms": 9}"#,
            "succeeded",
        ),
        (
            r#"{"requests": 400, "failed": 20, "p95_ms": 3, "p99_ms": 9}"#,
            "rolled_back",
        ),
        ("all good", "rolled_back"),
    ] {
        let repo = at_the_deployment("    run: \"true\"\n");
        let live = TestServer::start(&repo.path().join("state"), "live", 0, NO_DELAY);
        state(&repo, "live", "200 ok");
        repo.write(
            "metrics.sh",
            &format!("echo \"window $DEPLOY_SESSION_WINDOW_MS ms\"\necho '{line}'\n"),
        );
        set_work_4_2(
            &repo,
            &format!(
                "    strategy:\n      canary:\n        live_url: \"{}\"\n        steps: [50, 100]\n        set_weight: \"true\"\n        probe: {{ timeout: 5s, interval: 20ms }}\n        criteria: {{ min_success_rate: 99, metrics: sh metrics.sh }}\n",
                live.url()
            ),
        );
        let r = run(repo.cmd(["work"]));
        let d = deployment(&repo);
        assert_eq!(d["outcome"], expect, "{line}: {}", r.stdout);
        if line.starts_with("all") {
            assert!(r.stdout.contains("printed \"all good\""), "{}", r.stdout);
        } else if expect == "rolled_back" {
            assert!(
                r.stdout
                    .contains("success rate 95.0% is below the 99% minimum"),
                "{}",
                r.stdout
            );
            assert!(d["detection_ms"].as_u64().is_some(), "{d}");
        } else {
            let steps = action_in(&repo.session(), "work.4.2")["metrics"]["steps"].clone();
            let judged: Vec<_> = steps
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["source"] == "metrics command")
                .collect();
            assert_eq!(judged.len(), 2, "one verdict per step: {steps}");
        }
    }
}

/// A slot answering on `/health` but not on `/ready`: with `health_paths`
/// each endpoint is probed, so the switch never happens; with both
/// answering, both are probed and it goes live.
#[test]
fn every_health_endpoint_must_answer() {
    let not_ready = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}",
        not_ready.server_addr().to_ip().unwrap().port()
    );
    std::thread::spawn(move || {
        for req in not_ready.incoming_requests() {
            let status = if req.url() == "/ready" { 503 } else { 200 };
            let _ = req.respond(tiny_http::Response::from_string("ok").with_status_code(status));
        }
    });
    for broken in [true, false] {
        let repo = at_the_deployment("    run: \"true\"\n");
        let (_b, green, _live) = blue_green(
            &repo,
            "cat state/$DEPLOY_SESSION_SLOT > state/live.tmp && mv state/live.tmp state/live",
        );
        let mut config = repo.read("deploy-session.yaml").replace(
            "        sample_interval: 10ms\n",
            "        sample_interval: 10ms\n        health_paths: [/health, /ready]\n",
        );
        if broken {
            config = config.replace(&green.url(), &url);
        }
        repo.write("deploy-session.yaml", &config);
        let r = run(repo.cmd(["work"]));
        if broken {
            assert_eq!(r.code, 1, "{}", r.stdout);
            assert!(r.stdout.contains("probe green /ready"), "{}", r.stdout);
            assert_eq!(
                repo.read("state/live").trim(),
                "200 ok v1",
                "never switched"
            );
        } else {
            assert_eq!(r.code, 0, "{}", r.stdout);
            let steps = repo.action("work.4.2")["metrics"]["steps"].to_string();
            assert!(
                steps.contains("probe green /health") && steps.contains("probe green /ready"),
                "{steps}"
            );
        }
    }
}
