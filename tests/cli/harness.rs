//! A temp repo and the binary pointed at it, with the environment pinned
//! (no color, fixed clock, no CI variables) so output is deterministic.

#![allow(dead_code)]

use assert_cmd::Command;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const NOW: &str = "2026-11-25T12:00:00Z";

/// Fixtures from tests/fixtures.
pub fn fixture(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

pub struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    /// An empty git repo.
    pub fn new() -> Repo {
        let repo = Repo::bare();
        for args in [
            vec!["init", "-q", "-b", "main"],
            vec!["config", "user.name", "Test Operator"],
            vec!["config", "user.email", "operator@example.com"],
        ] {
            let ok = std::process::Command::new("git")
                .args(&args)
                .current_dir(repo.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "git {args:?} failed");
        }
        repo
    }

    /// A copy of this repo (its git folder too) in a new temp folder.
    pub fn copy(&self) -> Repo {
        let copy = Repo::bare();
        let ok = std::process::Command::new("cp")
            .arg("-a")
            .arg(self.path().join("."))
            .arg(copy.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "cp -a {}", self.path().display());
        copy
    }

    /// A folder that is not a git repo.
    pub fn bare() -> Repo {
        Repo {
            dir: tempfile::Builder::new()
                .prefix("ds-test-")
                .tempdir()
                .unwrap(),
        }
    }

    /// A git repo holding `fixture` as its master state.
    pub fn with_master(fixture_name: &str) -> Repo {
        let repo = Repo::new();
        repo.write(".ai_context/framework_progress.md", &fixture(fixture_name));
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, content: &str) -> &Repo {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
        self
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.path().join(rel).exists()
    }

    /// The binary with `args`, run in the repo.
    pub fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        Command::from_std(self.std_cmd(args))
    }

    /// The same as a plain std command (for ptys, background runs, signals).
    pub fn std_cmd<I, S>(&self, args: I) -> std::process::Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("deploy-session"));
        c.args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env("DEPLOY_SESSION_NOW", NOW)
            .env("GIT_AUTHOR_NAME", "Test Operator")
            .env("GIT_AUTHOR_EMAIL", "operator@example.com")
            .env("GIT_COMMITTER_NAME", "Test Operator")
            .env("GIT_COMMITTER_EMAIL", "operator@example.com")
            .env_remove("CI")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("RUST_LOG")
            .env_remove("DEPLOY_SESSION_APPROVE");
        c
    }

    /// Runs git in the repo; it must succeed. Returns its stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(self.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every file under the repo (except .git) with its bytes.
    pub fn files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        collect(self.path(), self.path(), &mut out);
        out
    }
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        let rel = p.strip_prefix(root).unwrap().to_path_buf();
        let kind = std::fs::symlink_metadata(&p).unwrap().file_type();
        if kind.is_symlink() {
            // A link is its target's name, never the target's bytes (which
            // may be outside the repo), and is never followed.
            let target = std::fs::read_link(&p).unwrap();
            out.insert(rel, format!("symlink -> {}", target.display()).into_bytes());
        } else if kind.is_dir() {
            collect(root, &p, out);
        } else if kind.is_file() {
            out.insert(rel, std::fs::read(&p).unwrap());
        } else {
            // A FIFO or socket: reading it could block.
            out.insert(rel, b"special file".to_vec());
        }
    }
}

/// Output of a finished command, as text.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(mut c: Command) -> Run {
    let out = c.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

impl Repo {
    /// A git repo ready for `start`: Phase 6 completed and approved, the
    /// framework files present, and `config` as deploy-session.yaml.
    pub fn ready(config: &str) -> Repo {
        let repo = Repo::with_master("master_state/realistic.md");
        repo.write("deployment/ai_system_prompt_v3.7.md", "# prompt\n");
        repo.write(
            "deployment/AI_ASSISTANT_STARTUP_DEPLOYMENT.md",
            "# startup\n",
        );
        if !config.is_empty() {
            repo.write("deploy-session.yaml", config);
        }
        repo
    }

    /// A ready repo whose master state's Phase 6 block is `block`.
    pub fn with_phase6(block: &str) -> Repo {
        Repo::with_phase_block(6, "Testing & Quality Assurance", block)
    }

    /// A ready repo whose master state's Phase `n` (6 or 7) block is `block`.
    pub fn with_phase_block(n: u8, name: &str, block: &str) -> Repo {
        let repo = Repo::ready("");
        let text = fixture("master_state/realistic.md");
        let start = text.find(&format!("#### **Phase {n}")).unwrap();
        let end = text.find(&format!("#### **Phase {}", n + 1)).unwrap();
        let replaced = format!(
            "{}#### **Phase {n}: {name}**\n```json\n{block}\n```\n\n{}",
            &text[..start],
            &text[end..]
        );
        repo.write(".ai_context/framework_progress.md", &replaced);
        repo
    }

    /// The binary as a plain std command (for background runs and signals).
    pub fn spawn<I, S>(&self, args: I) -> std::process::Child
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut c = self.std_cmd(args);
        // Real time: these runs are interrupted and raced.
        c.env_remove("DEPLOY_SESSION_NOW")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c.spawn().unwrap()
    }

    /// The session state as JSON (state.json replayed: uses `status`).
    pub fn session(&self) -> serde_json::Value {
        let r = run(self.cmd(["status", "--format", "json"]));
        assert_eq!(r.code, 0, "status failed: {}", r.stderr);
        r.json()["session"].clone()
    }

    /// The record of action `id` in the open session.
    pub fn action(&self, id: &str) -> serde_json::Value {
        action_in(&self.session(), id)
    }

    /// The status word of action `id` in the open session.
    pub fn action_status(&self, id: &str) -> String {
        self.action(id)["status"].as_str().unwrap().to_string()
    }

    /// The audit trail's events, parsed.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        let text =
            std::fs::read_to_string(self.path().join(".ai_context/deploy-session/audit.jsonl"))
                .unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Marks every manual action of the given ids done.
    pub fn done_all(&self, ids: &[impl AsRef<str>]) {
        for id in ids {
            let id = id.as_ref();
            let r = run(self.cmd(["done", id, "--note", "done in test"]));
            assert_eq!(r.code, 0, "done {id}: {}", r.stderr);
        }
    }
}

/// Who records Phase 6 finished in the tests, and who approves it.
pub const DANA: &str = "Dana Reviewer <dana@example.com>";
pub const ANN: &str = "Ann Approver <ann@example.com>";

impl Repo {
    /// A person records Phase 6 finished (`phase`), another approves it:
    /// what a fresh `init` needs before `start`.
    pub fn record_phase6(&self) {
        let r = run(self.cmd([
            "phase",
            "6",
            "--status",
            "completed",
            "--all-deliverables",
            "--by",
            DANA,
        ]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        let r = run(self.cmd(["approve", "--phase", "6", "--by", ANN]));
        assert_eq!(r.code, 0, "{}", r.stderr);
    }

    /// A named person approves the release (work.4.1, an approval by
    /// default).
    pub fn approve_release(&self) {
        let r = run(self.cmd([
            "approve",
            "work.4.1",
            "--by",
            "Rel Manager <rm@example.com>",
        ]));
        assert_eq!(r.code, 0, "{}", r.stderr);
    }

    /// A started session taken through `work` by people alone: every manual
    /// action done with a note, work.4.1 approved by name.
    pub fn work_done_by_hand(&self) {
        self.done_all(&start_manual_ids());
        assert_eq!(run(self.cmd(["work"])).code, 3);
        let (before, after): (Vec<String>, Vec<String>) = work_ids()
            .into_iter()
            .filter(|id| id != "work.4.1")
            .partition(|id| id.as_str() < "work.4");
        self.done_all(&before);
        self.approve_release();
        self.done_all(&after);
        assert_eq!(run(self.cmd(["work"])).code, 0);
    }
}

/// Waits until `cond` holds (up to `secs`), polling.
pub fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Waits for `child` to exit (up to `secs`) and returns how it ended.
pub fn wait_exit(
    child: &mut std::process::Child,
    secs: u64,
    what: &str,
) -> std::process::ExitStatus {
    let mut status = None;
    wait_for(secs, what, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    status.unwrap()
}

/// Ids start.2.1..5 and start.3.1..5 (the manual steps of `start`).
pub fn start_manual_ids() -> Vec<String> {
    (2..=3)
        .flat_map(|s| (1..=5).map(move |n| format!("start.{s}.{n}")))
        .collect()
}

/// Ids of every action of `work`.
pub fn work_ids() -> Vec<String> {
    (1..=5)
        .flat_map(|s| (1..=5).map(move |n| format!("work.{s}.{n}")))
        .collect()
}

/// A config giving each of `ids` the command `run`.
pub fn run_all(ids: &[String], command: &str) -> String {
    let mut s = String::from("actions:\n");
    for id in ids {
        s.push_str(&format!("  {id}:\n    run: {command:?}\n"));
    }
    s
}

/// Asserts two file maps are equal, naming the paths that differ.
pub fn assert_same_files(
    before: &BTreeMap<PathBuf, Vec<u8>>,
    after: &BTreeMap<PathBuf, Vec<u8>>,
    context: &str,
) {
    let changed: Vec<String> = before
        .keys()
        .chain(after.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|p| before.get(*p) != after.get(*p))
        .map(|p| p.display().to_string())
        .collect();
    assert!(changed.is_empty(), "{context}: files changed: {changed:?}");
}

/// An HTTP server on 127.0.0.1 for tests. Each answer is decided by a file
/// in `state_dir` named after the server: its content is `STATUS BODY`
/// (missing file: 503). `fail_first` requests answer 500 first. Every
/// request is counted.
pub struct TestServer {
    pub port: u16,
    pub requests: std::sync::Arc<std::sync::atomic::AtomicU64>,
    pub failed: std::sync::Arc<std::sync::atomic::AtomicU64>,
    server: std::sync::Arc<tiny_http::Server>,
}

impl TestServer {
    pub fn start(
        state_dir: &Path,
        name: &str,
        fail_first: u64,
        delay: std::time::Duration,
    ) -> TestServer {
        use std::sync::atomic::Ordering;
        let server = std::sync::Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let failed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (s, r, f) = (server.clone(), requests.clone(), failed.clone());
        let file = state_dir.join(name);
        std::thread::spawn(move || {
            for req in s.incoming_requests() {
                let n = r.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(delay);
                let text = std::fs::read_to_string(&file).unwrap_or_else(|_| "503 no state".into());
                let (mut status, body) = text
                    .trim()
                    .split_once(' ')
                    .map(|(a, b)| (a.parse().unwrap_or(500), b.to_string()))
                    .unwrap_or((500, String::new()));
                if n < fail_first {
                    status = 500;
                }
                if status >= 400 {
                    f.fetch_add(1, Ordering::SeqCst);
                }
                let _ =
                    req.respond(tiny_http::Response::from_string(body).with_status_code(status));
            }
        });
        TestServer {
            port,
            requests,
            failed,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn count(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

/// Gates that need measurements a session without a deployment cannot have.
pub const UNMEASURED: [&str; 6] = [
    "rollback_capability",
    "reliability",
    "deployment_time",
    "rollback_time",
    "zero_data_loss",
    "real_time_validation",
];

/// `end` waiving the unmeasured gates, then `extra`.
pub fn end_waiving_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["end"];
    for g in UNMEASURED {
        args.extend(["--waive", g]);
    }
    args.extend(["--reason", "no deployment measured yet"]);
    args.extend_from_slice(extra);
    args
}

/// Makes `dir` (any folder, e.g. one with a hostile name) a git repo ready
/// for `start`, with `config` as deploy-session.yaml.
pub fn ready_in(dir: &Path, config: &str) {
    for (rel, text) in [
        (
            ".ai_context/framework_progress.md",
            fixture("master_state/realistic.md"),
        ),
        ("deployment/ai_system_prompt_v3.7.md", "x".to_string()),
        (
            "deployment/AI_ASSISTANT_STARTUP_DEPLOYMENT.md",
            "x".to_string(),
        ),
        ("deploy-session.yaml", config.to_string()),
    ] {
        std::fs::create_dir_all(dir.join(rel).parent().unwrap()).unwrap();
        std::fs::write(dir.join(rel), text).unwrap();
    }
    let ok = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "git init in {}", dir.display());
}

/// The record of action `id` in a session as `status --format json` shows it.
pub fn action_in(session: &serde_json::Value, id: &str) -> serde_json::Value {
    session["actions"]
        .as_array()
        .expect("the session lists its actions")
        .iter()
        .find(|a| a["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no action {id}"))
}

/// Pids of live processes whose command line contains `needle` (read from
/// /proc, so no `pgrep` is needed; zombies and this process excluded).
pub fn processes_running(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .filter(|pid| *pid != me)
                .filter(|pid| {
                    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                    let stat =
                        std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                    cmdline.contains(needle) && !stat.contains(") Z ")
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The one rule for tests that need a tool from outside the project
/// (actionlint, ssh-keygen, gitlab-ci-local, nginx, prlimit, …): returns
/// whether `tool` answers `probe` (a shell command). When it does not, the
/// test is skipped with a line naming the tool — unless
/// `DEPLOY_SESSION_REQUIRE_TOOLS=1` (as `.ci/run` sets, after installing
/// them), where a missing tool fails the test. So no such test ever passes
/// silently without having run.
pub fn external_tool(tool: &str, probe: &str) -> bool {
    let found = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{probe} >/dev/null 2>&1"))
        .status()
        .is_ok_and(|s| s.success());
    let required = std::env::var("DEPLOY_SESSION_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
    match tool_verdict(tool, probe, found, required) {
        Ok(run) => run,
        Err(failure) => panic!("{failure}"),
    }
}

/// The rule itself: run when found; else skip with a line naming the tool,
/// or fail when tools are required.
pub fn tool_verdict(tool: &str, probe: &str, found: bool, required: bool) -> Result<bool, String> {
    if found {
        return Ok(true);
    }
    if required {
        return Err(format!(
            "{tool} is required (DEPLOY_SESSION_REQUIRE_TOOLS=1) but `{probe}` failed"
        ));
    }
    eprintln!(
        "SKIPPED: {tool} not found (`{probe}` failed); set DEPLOY_SESSION_REQUIRE_TOOLS=1 to make this a failure"
    );
    Ok(false)
}

/// Waits until the trail records that action `id` spawned its command
/// (a kill before that leaves no process to reap). Tolerates a line being
/// written at that moment.
pub fn wait_spawn_recorded(repo: &Repo, id: &str) {
    let trail = repo.path().join(".ai_context/deploy-session/audit.jsonl");
    let action = format!("\"action\":\"{id}\"");
    wait_for(30, &format!("the spawn of {id} to be recorded"), || {
        std::fs::read_to_string(&trail)
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains("\"event\":\"action_started\"") && l.contains(&action))
    });
}

/// `text` with what changes from run to run named instead: the repo's path
/// (`<repo>`), its folder name (`<project>`) and the open session's id
/// (`<session>`). For snapshots.
pub fn placeholders(repo: &Repo, text: &str) -> String {
    let root = repo.path().display().to_string();
    let project = repo
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut text = text.replace(&root, "<repo>").replace(&project, "<project>");
    if let Some(id) = repo
        .exists(".ai_context/deploy-session/state.json")
        .then(|| repo.session()["id"].as_str().map(String::from))
        .flatten()
    {
        text = text.replace(&id, "<session>");
    }
    text
}

/// Rewrites the trail's lines with `edit`, then recomputes every hash and
/// `prev` after it, as a forger who knows the format would.
pub fn rechain(repo: &Repo, edit: impl Fn(&mut Vec<serde_json::Value>)) {
    let text = repo.read(".ai_context/deploy-session/audit.jsonl");
    let mut events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    edit(&mut events);
    let mut prev = "0".repeat(64);
    let mut out = String::new();
    for (i, e) in events.iter_mut().enumerate() {
        e["seq"] = (i as u64 + 1).into();
        e["prev"] = prev.clone().into();
        let canonical = format!(
            "{{\"seq\":{},\"ts\":{},\"session\":{},\"event\":{},\"action\":{},\"actor\":{},\"detail\":{},\"prev\":{}}}",
            e["seq"],
            e["ts"],
            e["session"],
            e["event"],
            e["action"],
            e["actor"],
            e["detail"],
            e["prev"]
        );
        let hash: String = <sha2::Sha256 as sha2::Digest>::digest(canonical.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        out.push_str(&canonical[..canonical.len() - 1]);
        out.push_str(&format!(",\"hash\":\"{hash}\"}}\n"));
        prev = hash;
    }
    repo.write(".ai_context/deploy-session/audit.jsonl", &out);
}

/// A repo whose session has started, every action but work.4.2 a `true`,
/// and work.4.2 given `strategy` (an indented block under the action).
pub fn at_the_deployment(strategy: &str) -> Repo {
    let repo = Repo::ready("");
    std::fs::create_dir_all(repo.path().join("state")).unwrap();
    let mut ids = start_manual_ids();
    ids.extend(work_ids().into_iter().filter(|id| id != "work.4.2"));
    let config = format!("{}  work.4.2:\n{strategy}", run_all(&ids, "true"));
    repo.write("deploy-session.yaml", &config);
    let r = run(repo.cmd(["config", "check"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(run(repo.cmd(["start"])).code, 0);
    repo
}

/// The session's last recorded deployment.
pub fn deployment(repo: &Repo) -> serde_json::Value {
    repo.session()["deployments"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .expect("a deployment was recorded")
}

/// Replaces work.4.2's placeholder `run` in the config with `kind` (a
/// `strategy:` block, indented under the action).
pub fn set_work_4_2(repo: &Repo, kind: &str) {
    let config = repo
        .read("deploy-session.yaml")
        .replace("  work.4.2:\n    run: \"true\"\n", "  work.4.2:\n");
    repo.write("deploy-session.yaml", &format!("{config}{kind}"));
}

/// An install command for exports whose install job is not run: the
/// structure under test does not depend on it.
pub const INSTALL: &str = "cp /opt/deploy-session \"$DEPLOY_SESSION_ROOT/bin/\"";

/// Copies the contents of `from` into `to` (created if missing), as `cp -R
/// from/. to` does.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let ok = std::process::Command::new("cp")
        .arg("-R")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .unwrap()
        .success();
    assert!(ok, "cp -R {} {}", from.display(), to.display());
}
