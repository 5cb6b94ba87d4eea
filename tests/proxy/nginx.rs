//! Blue-green, canary and rolling through nginx under load.

use crate::harness::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One nginx test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// A repo at the deployment with examples/nginx copied into `nginx/`,
/// backends and nginx started there; everything is stopped on drop.
pub struct Stack {
    pub repo: Repo,
    pub proxy_port: u16,
    pub ports: Vec<u16>,
    _serial: std::sync::MutexGuard<'static, ()>,
}

/// `n` ports nobody listens on now.
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("deploy-session")
}

impl Stack {
    /// nginx when the machine has it (the suite's skip/require rule).
    pub fn available() -> bool {
        external_tool("nginx", "${NGINX:-nginx} -v")
    }

    /// Backends `(name, version)` on fresh ports, nginx in front routing
    /// to the first one only.
    pub fn start(backends: &[(&str, &str)]) -> Stack {
        let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let repo = at_the_deployment("    run: \"true\"\n");
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/nginx");
        for e in std::fs::read_dir(&examples).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            repo.write(
                &format!("nginx/{name}"),
                &std::fs::read_to_string(e.path()).unwrap(),
            );
        }
        let mut ports = free_ports(backends.len() + 1);
        let proxy_port = ports.remove(0);
        let stack = Stack {
            repo,
            proxy_port,
            ports,
            _serial: serial,
        };
        for ((name, version), port) in backends.iter().zip(&stack.ports) {
            stack.sh(&format!(
                "sh nginx/backend.sh start {name} {port} {version}"
            ));
        }
        stack.sh(&format!(
            "sh nginx/proxy.sh start .nginx {proxy_port} '{} 1'",
            stack.ports[0]
        ));
        stack
    }

    /// Runs a shell line in the repo, as the scripts' user would.
    pub fn sh(&self, line: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(line)
            .current_dir(self.repo.path())
            .env("DEPLOY_SESSION_BIN", bin())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "`{line}`: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn url(&self, port: u16) -> String {
        format!("http://127.0.0.1:{port}")
    }

    pub fn live(&self) -> String {
        self.url(self.proxy_port)
    }

    /// The action's `env:` every example script needs, plus `extra`.
    pub fn env(&self, extra: &str) -> String {
        // The tool sets DEPLOY_SESSION_BIN (itself) for the scripts.
        format!("    env: {{ NGINX_DIR: .nginx{extra} }}\n    timeout: 60s\n")
    }

    /// How many requests nginx answered with `status` (its access log).
    pub fn logged(&self, status: u16) -> usize {
        self.repo
            .read(".nginx/logs/access.log")
            .lines()
            .filter(|l| l.contains(&format!("\" {status} ")))
            .count()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = std::process::Command::new("sh")
            .arg("-c")
            .arg("sh nginx/proxy.sh stop .nginx >/dev/null; for p in .backends/*.pid; do [ -f \"$p\" ] && kill \"$(cat \"$p\")\"; done; true")
            .current_dir(self.repo.path())
            .status();
    }
}

/// The body of `GET /` on 127.0.0.1:`port`, trimmed.
pub fn get(port: u16) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    c.read_to_string(&mut reply).unwrap();
    let (_, body) = reply.split_once("\r\n\r\n").unwrap_or_default();
    body.trim().to_string()
}

/// The deployment's whole-run traffic figures.
fn traffic(d: &Value) -> (u64, u64) {
    (
        d["traffic"]["requests"].as_u64().unwrap(),
        d["traffic"]["failed"].as_u64().unwrap(),
    )
}

/// Prints the README's table row for a deployment: requests and failures
/// over the whole run, the first judged window's p95/p99 (the switch, the
/// first canary step, the first batch), detection and rollback times
/// (`cargo test --test proxy -- --nocapture` shows them).
fn report(what: &str, repo: &Repo) {
    let d = deployment(repo);
    let w = &windows(repo)[0]["window"];
    let ms = |v: &Value| v.as_u64().map_or("—".into(), |v| format!("{v} ms"));
    let lat = |k: &str| format!("{:.1} ms", w[k].as_u64().unwrap_or(0) as f64 / 1000.0);
    eprintln!(
        "| {what} | {} | {} | {} | {} | {} | {} | {} |",
        d["outcome"].as_str().unwrap_or_default(),
        d["traffic"]["requests"],
        d["traffic"]["failed"],
        lat("p95_us"),
        lat("p99_us"),
        ms(&d["detection_ms"]),
        ms(&d["rollback_ms"]),
    );
}

/// The `traffic …` steps the strategy recorded (one per judged window).
fn windows(repo: &Repo) -> Vec<Value> {
    action_in(&repo.session(), "work.4.2")["metrics"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s.get("window").is_some())
        .cloned()
        .collect()
}

/// Blue-green behind nginx at 100 requests/s: the switch is one graceful
/// reload, and not one request fails — before, during or after it.
#[test]
fn blue_green_behind_nginx_fails_no_request_at_100_per_second() {
    if !Stack::available() {
        return;
    }
    let s = Stack::start(&[("blue", "v1")]);
    let green = free_ports(1)[0];
    set_work_4_2(
        &s.repo,
        &format!(
            "    strategy:\n      blue-green:\n        slots: {{ blue: \"{}\", green: \"{}\" }}\n        live_url: \"{}\"\n        deploy: sh nginx/blue-green.sh deploy\n        switch: sh nginx/blue-green.sh switch\n        probe: {{ expect: {{ body_contains: \"ok v2\" }}, timeout: 10s, interval: 50ms, consecutive: 3 }}\n        pause: 1s\n        load: {{ rate: 100 }}\n        criteria: {{ min_success_rate: 100, max_p99: 2s, min_requests: 50 }}\n{}",
            s.url(s.ports[0]),
            s.url(green),
            s.live(),
            s.env(", RELEASE: v2")
        ),
    );
    let r = run(s.repo.cmd(["work"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    report("blue-green", &s.repo);
    let d = deployment(&s.repo);
    assert_eq!(d["outcome"], "succeeded");
    let (requests, failed) = traffic(&d);
    assert_eq!(failed, 0, "{d}");
    // 100/s over the whole deployment (≥ 1 s of pause): at least 100 sent.
    assert!(requests >= 100, "{requests} requests: {d}");
    assert_eq!(s.logged(502) + s.logged(500), 0, "nginx logged errors");
    assert!(
        s.logged(200) as u64 >= requests,
        "the traffic went through nginx"
    );
    assert_eq!(get(s.proxy_port), "v2");
    let w = windows(&s.repo);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0]["window"]["failed"], 0);
}

/// A canary behind nginx: `stable` v1 live, the canary's release and
/// flags in `release`, the canary's own `fields` (steps, pause, load,
/// criteria); runs `work` and must exit 1 (rolled back).
fn canary_behind_nginx(fields: &str, release: &str) -> (Stack, Run) {
    let s = Stack::start(&[("stable", "v1")]);
    let canary = free_ports(1)[0];
    set_work_4_2(
        &s.repo,
        &format!(
            "    strategy:\n      canary:\n        live_url: \"{}\"\n        deploy: sh nginx/canary.sh deploy\n        set_weight: sh nginx/canary.sh weight\n        rollback: sh nginx/canary.sh stop\n        probe: {{ timeout: 10s, interval: 20ms }}\n        {fields}\n{}",
            s.live(),
            s.env(&format!(
                ", {release}, STABLE_PORT: \"{}\", CANARY_PORT: \"{canary}\"",
                s.ports[0]
            ))
        ),
    );
    let r = run(s.repo.cmd(["work"]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    (s, r)
}

/// A broken canary (every answer 500) behind nginx: the error-rate
/// criterion fails its first step and it is rolled back automatically.
/// Failed requests are at most its weight's share of the traffic, and the
/// detection time is recorded.
#[test]
fn a_broken_canary_is_rolled_back_by_its_error_rate() {
    if !Stack::available() {
        return;
    }
    let (s, r) = canary_behind_nginx(
        "steps: [10, 50, 100]\n        pause: 1s\n        load: { rate: 100, path: / }\n        criteria: { min_success_rate: 99, min_requests: 50 }",
        "RELEASE: v2-broken, RELEASE_FLAGS: --unhealthy",
    );
    assert!(r.stdout.contains("canary failed at 10%"), "{}", r.stdout);
    assert!(r.stdout.contains("below the 99% minimum"), "{}", r.stdout);
    report("canary, broken (500s)", &s.repo);
    let d = deployment(&s.repo);
    assert_eq!(d["outcome"], "rolled_back", "{d}");
    let (requests, failed) = traffic(&d);
    assert!(failed > 0, "the broken canary answered some: {d}");
    // nginx's weighted round robin sends exactly 1 in 10 to a weight of 10.
    assert!(
        failed as f64 <= 0.10 * requests as f64 + 2.0,
        "{failed} failed of {requests}: more than the canary's 10%"
    );
    let detected = d["detection_ms"].as_u64().expect("detection time recorded");
    assert!(
        (1000..10_000).contains(&detected),
        "detected after the 1s pause: {detected}ms"
    );
    assert!(d["rollback_ms"].as_u64().is_some());
    // After the rollback the stable release answers everything again.
    assert_eq!(get(s.proxy_port), "v1");
}

/// A slow canary (every answer 500 ms late, 10× the 50 ms criterion)
/// answers correctly, so only latency tells: the p99 criterion fails its
/// first step and it is rolled back.
#[test]
fn a_slow_canary_is_rolled_back_by_its_latency() {
    if !Stack::available() {
        return;
    }
    let (s, r) = canary_behind_nginx(
        "steps: [10, 100]\n        pause: 1500ms\n        load: { rate: 100 }\n        criteria: { min_success_rate: 99, max_p99: 50ms, min_requests: 50 }",
        "RELEASE: v2, RELEASE_FLAGS: \"--delay-ms 500\"",
    );
    assert!(r.stdout.contains("p99 latency"), "{}", r.stdout);
    assert!(r.stdout.contains("above the 50ms maximum"), "{}", r.stdout);
    report("canary, slow (+500 ms)", &s.repo);
    let d = deployment(&s.repo);
    assert_eq!(d["outcome"], "rolled_back", "{d}");
    assert_eq!(traffic(&d).1, 0, "nothing failed; it was only slow: {d}");
    let w = windows(&s.repo);
    let p99 = w[0]["window"]["p99_us"].as_u64().unwrap();
    assert!(p99 >= 400_000, "the window's p99 shows the delay: {p99}us");
    assert!(d["detection_ms"].as_u64().is_some());
}

/// Rolling behind nginx: each backend is drained (marked down, reloaded)
/// before it restarts, so at 100 requests/s not one request fails.
#[test]
fn rolling_with_drained_backends_fails_no_request() {
    if !Stack::available() {
        return;
    }
    let s = Stack::start(&[("a", "v1"), ("b", "v1"), ("c", "v1")]);
    let all = s.ports.iter().map(|p| format!("{p} 1")).collect::<Vec<_>>();
    s.sh(&format!(
        "sh nginx/proxy.sh upstream .nginx {}",
        all.iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    let targets: String = ["a", "b", "c"]
        .iter()
        .zip(&s.ports)
        .map(|(n, p)| format!("          - {{ name: {n}, url: \"{}\" }}\n", s.url(*p)))
        .collect();
    let ports = s
        .ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    set_work_4_2(
        &s.repo,
        &format!(
            "    strategy:\n      rolling:\n        targets:\n{targets}        deploy: sh nginx/rolling.sh deploy\n        rollback: sh nginx/rolling.sh rollback\n        live_url: \"{}\"\n        probe: {{ expect: {{ body_contains: \"ok v2\" }}, timeout: 10s, interval: 20ms }}\n        pause: 300ms\n        load: {{ rate: 100 }}\n        criteria: {{ min_success_rate: 100, min_requests: 20 }}\n{}",
            s.live(),
            s.env(&format!(
                ", RELEASE: v2, PREVIOUS_RELEASE: v1, TARGET_PORTS: \"{ports}\""
            ))
        ),
    );
    let r = run(s.repo.cmd(["work"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    report("rolling, drained", &s.repo);
    let d = deployment(&s.repo);
    assert_eq!(d["outcome"], "succeeded", "{d}");
    let (requests, failed) = traffic(&d);
    assert_eq!(failed, 0, "{d}");
    assert!(requests >= 100, "{requests} requests: {d}");
    assert_eq!(windows(&s.repo).len(), 3, "one judged window per batch");
    assert_eq!(s.logged(502), 0, "nginx logged bad gateways");
}

/// `demo --proxy nginx` runs the whole demo through nginx and stops it;
/// without nginx it exits 2 saying how to install it, writing nothing.
#[test]
fn the_demo_runs_through_nginx_and_says_when_nginx_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = std::process::Command::new(bin())
        .args(["demo", "--proxy", "nginx", "--dir"])
        .arg(dir.path().join("d"))
        .env("NGINX", "/nonexistent/nginx")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("nginx is not installed") && err.contains("apt-get install nginx"),
        "{err}"
    );
    assert!(!dir.path().join("d").exists(), "nothing was written");
    if !Stack::available() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let out = std::process::Command::new(bin())
        .args(["demo", "--proxy", "nginx", "--dir"])
        .arg(dir.path().join("d"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("through nginx"), "{text}");
    let log = std::fs::read_to_string(dir.path().join("d/.demo/nginx/logs/access.log")).unwrap();
    assert!(log.lines().count() >= 100, "the traffic went through nginx");
    let pid = std::fs::read_to_string(dir.path().join("d/.demo/nginx/nginx.pid"));
    assert!(pid.is_err(), "nginx was stopped (its pid file is gone)");
}
