//! `deploy-session demo`: a whole deployment session, end to end, on
//! loopback. It copies `examples/demo` (compiled in) to a fresh folder and
//! drives the real CLI there as an operator would — completing the manual
//! steps with notes, watching a broken canary roll back, switching to a
//! fixed blue-green release, ending the session — then prints what the
//! session measured. Every process it started is stopped, also on Ctrl-C.

pub mod serve;

use crate::error::ExitStatus;
use crate::session::Session;
use crate::ui::{Printer, style};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The example repo, as compiled in from `examples/demo`.
const FILES: [(&str, &str); 25] = [
    (
        ".ai_context/framework_progress.md",
        include_str!("../../examples/demo/.ai_context/framework_progress.md"),
    ),
    (".gitignore", include_str!("../../examples/demo/.gitignore")),
    (
        "deploy-session.yaml",
        include_str!("../../examples/demo/deploy-session.yaml"),
    ),
    (
        "deploy-session.blue-green.yaml",
        include_str!("../../examples/demo/deploy-session.blue-green.yaml"),
    ),
    (
        "deployment/ai_system_prompt_v3.7.md",
        include_str!("../../examples/demo/deployment/ai_system_prompt_v3.7.md"),
    ),
    (
        "deployment/AI_ASSISTANT_STARTUP_DEPLOYMENT.md",
        include_str!("../../examples/demo/deployment/AI_ASSISTANT_STARTUP_DEPLOYMENT.md"),
    ),
    (
        "scripts/common.sh",
        include_str!("../../examples/demo/scripts/common.sh"),
    ),
    (
        "scripts/check-env.sh",
        include_str!("../../examples/demo/scripts/check-env.sh"),
    ),
    (
        "scripts/iac.sh",
        include_str!("../../examples/demo/scripts/iac.sh"),
    ),
    (
        "scripts/pipeline.sh",
        include_str!("../../examples/demo/scripts/pipeline.sh"),
    ),
    (
        "scripts/monitoring.sh",
        include_str!("../../examples/demo/scripts/monitoring.sh"),
    ),
    (
        "scripts/security-scan.sh",
        include_str!("../../examples/demo/scripts/security-scan.sh"),
    ),
    (
        "scripts/provision.sh",
        include_str!("../../examples/demo/scripts/provision.sh"),
    ),
    (
        "scripts/build.sh",
        include_str!("../../examples/demo/scripts/build.sh"),
    ),
    (
        "scripts/test.sh",
        include_str!("../../examples/demo/scripts/test.sh"),
    ),
    (
        "scripts/canary.sh",
        include_str!("../../examples/demo/scripts/canary.sh"),
    ),
    (
        "scripts/slot.sh",
        include_str!("../../examples/demo/scripts/slot.sh"),
    ),
    (
        "scripts/runbook.sh",
        include_str!("../../examples/demo/scripts/runbook.sh"),
    ),
    (
        "scripts/stop.sh",
        include_str!("../../examples/demo/scripts/stop.sh"),
    ),
    (
        "scripts/data.sh",
        include_str!("../../examples/demo/scripts/data.sh"),
    ),
    (
        "nginx/nginx.conf",
        include_str!("../../examples/nginx/nginx.conf"),
    ),
    (
        "nginx/proxy.sh",
        include_str!("../../examples/nginx/proxy.sh"),
    ),
    (".demo/release", "v2-broken\n"),
    (".demo/.keep", ""),
    (
        "README.md",
        "# shop-api (deploy-session demo)\n\nCopied from deploy-session's examples/demo.\n",
    ),
];

/// The default ports in the example's `vars`.
const DEFAULT_PORTS: [&str; 4] = ["18080", "18081", "18082", "18083"];

/// Who completes the manual steps.
const OPERATOR: &str = "Demo Operator <operator@shop.example>";

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to put the repo (default: a new temp folder, kept afterwards).
    pub dir: Option<PathBuf>,
    /// Route live traffic through nginx (examples/nginx) instead of the
    /// tool's own router.
    pub nginx: bool,
}

/// Runs the demo.
pub fn run(opts: &Options, printer: &Printer) -> Result<ExitStatus> {
    // The demo stops its services itself on Ctrl-C: it owns the signals.
    let _claim = crate::signals::Claim::take();
    let started = Instant::now();
    if opts.nginx {
        nginx_installed()?;
    }
    let dir = prepare(opts.dir.as_deref())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let demo = Demo {
        nginx: opts.nginx,
        dir: dir.clone(),
        printer: printer.clone(),
        transcript: dir.join(".demo/transcript.log"),
    };
    let result = runtime.block_on(demo.script());
    stop_services(&dir);
    match result {
        Ok(summary) => {
            summary.print(printer, &dir, started.elapsed());
            Ok(ExitStatus::Success)
        }
        Err(e) if e.downcast_ref::<Interrupted>().is_some() => {
            printer.out(format!(
                "interrupted: the services are stopped; the session is in {}",
                dir.display()
            ));
            Ok(ExitStatus::Interrupted)
        }
        Err(e) => {
            printer.error(
                format!("{e:#}"),
                Some(&format!(
                    "the whole transcript is in {}",
                    demo.transcript.display()
                )),
            );
            Ok(ExitStatus::Failure)
        }
    }
}

/// Writes the example into `dir` (or a new temp folder) with free ports,
/// and makes it a git repository with one commit.
fn prepare(dir: Option<&Path>) -> Result<PathBuf> {
    let dir = match dir {
        Some(d) => {
            if d.exists() && std::fs::read_dir(d)?.next().is_some() {
                return Err(crate::error::InputError::usage(format!(
                    "--dir {}: the folder is not empty",
                    d.display()
                ))
                .into());
            }
            std::fs::create_dir_all(d)?;
            d.canonicalize()?
        }
        None => tempfile::Builder::new()
            .prefix("deploy-session-demo-")
            .tempdir()?
            .keep(),
    };
    let ports = free_ports(DEFAULT_PORTS.len())?;
    for (rel, text) in FILES {
        let mut text = text.to_string();
        if rel.ends_with(".yaml") {
            for (default, port) in DEFAULT_PORTS.iter().zip(&ports) {
                text = text.replace(&format!("\"{default}\""), &format!("\"{port}\""));
            }
        }
        let path = dir.join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::write(&path, text)?;
    }
    git_init(&dir)?;
    Ok(dir)
}

/// `--proxy nginx` needs nginx: without it, a usage error saying how to
/// install it (exit 2), before anything is written.
fn nginx_installed() -> Result<()> {
    let found = std::process::Command::new(std::env::var("NGINX").unwrap_or("nginx".into()))
        .arg("-v")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Ok(());
    }
    Err(crate::error::InputError::usage(
        "--proxy nginx: nginx is not installed (or not on PATH; NGINX may name it)",
    )
    .with_hint(
        "install it (Debian/Ubuntu: `apt-get install nginx`; macOS: `brew install nginx`), or run the demo with its own router: `deploy-session demo`",
    )
    .into())
}

/// Ports nobody listens on right now.
fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<_>>()?;
    Ok(listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| a.port())
        .collect())
}

fn git_init(dir: &Path) -> Result<()> {
    let repo = git2::Repository::init(dir)?;
    let mut index = repo.index()?;
    index.add_all(["."], git2::IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let sig = git2::Signature::now("Demo Operator", "operator@shop.example")?;
    repo.commit(
        Some("HEAD"),
        &sig,
        &sig,
        "shop-api release candidate v2",
        &tree,
        &[],
    )?;
    let mut config = repo.config()?;
    config.set_str("user.name", "Demo Operator")?;
    config.set_str("user.email", "operator@shop.example")?;
    Ok(())
}

/// Stops every service the demo's scripts started (by their pid files).
fn stop_services(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir.join(".demo")) else {
        return;
    };
    let mut stopped = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_some_and(|x| x == "pid")
            && let Some(pid) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = std::fs::remove_file(&path);
            stopped.push(pid);
        }
    }
    // Wait (briefly) until they are gone: nginx removes its pid file and
    // frees its port only as it exits.
    let deadline = Instant::now() + Duration::from_secs(3);
    for pid in stopped {
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Whether `pid` runs (a zombie waiting for its parent does not).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or_else(|_| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok())
}

/// The demo was interrupted (Ctrl-C / SIGTERM).
#[derive(Debug)]
struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

struct Demo {
    /// Whether the scripts put nginx in front of the services.
    nginx: bool,
    dir: PathBuf,
    printer: Printer,
    transcript: PathBuf,
}

impl Demo {
    /// Runs `deploy-session ARGS` in the demo repo; returns its exit code.
    async fn ds(&self, args: &[&str]) -> Result<(i32, String)> {
        use tokio::signal::unix::{SignalKind, signal};
        let exe = std::env::current_exe()?;
        let child = tokio::process::Command::new(&exe)
            .arg("--repo")
            .arg(&self.dir)
            .args(args)
            .env("DEPLOY_SESSION_DEMO_PID", std::process::id().to_string())
            .env(
                "DEPLOY_SESSION_PROXY",
                if self.nginx { "nginx" } else { "builtin" },
            )
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("cannot run deploy-session")?;
        let pid = child.id().unwrap_or(0) as i32;
        let int = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        // tokio's handlers (and its SIGCHLD one, for the spawn above).
        crate::signals::handlers_changed();
        let (mut int, mut term) = (int?, term?);
        let wait = child.wait_with_output();
        tokio::pin!(wait);
        let out = tokio::select! {
            out = &mut wait => out?,
            _ = int.recv() => return Err(self.interrupt(pid, wait).await),
            _ = term.recv() => return Err(self.interrupt(pid, wait).await),
        };
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let code = out.status.code().unwrap_or(-1);
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.transcript)?;
        std::io::Write::write_all(
            &mut log,
            format!(
                "$ deploy-session {}\n{text}[exit {code}]\n\n",
                args.join(" ")
            )
            .as_bytes(),
        )?;
        Ok((code, text))
    }

    /// Passes the interruption on to the running deploy-session (which then
    /// stops its actions and saves its state) and waits for it.
    async fn interrupt<F: std::future::Future>(
        &self,
        pid: i32,
        wait: std::pin::Pin<&mut F>,
    ) -> anyhow::Error {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGINT,
        );
        let _ = tokio::time::timeout(Duration::from_secs(10), wait).await;
        Interrupted.into()
    }

    fn step(&self, what: &str, detail: &str) {
        let p = &self.printer;
        p.out(format!("{} {what:<12} {detail}", p.paint(style::HEAD, "▶")));
    }

    /// Runs a protocol as an operator would: whenever it stops for a person,
    /// completes the manual steps with a note and runs it again.
    async fn drive(&self, first: &[&str]) -> Result<(i32, usize)> {
        let protocol = first[0];
        let mut args: Vec<&str> = first.to_vec();
        let mut by_hand = 0;
        for _ in 0..20 {
            let (code, _) = self.ds(&args).await?;
            if code != 3 {
                return Ok((code, by_hand));
            }
            by_hand += self.complete_waiting().await?;
            args = vec![protocol];
        }
        bail!("`deploy-session {protocol}` kept waiting for people")
    }

    /// Completes every waiting manual step, as the operator.
    async fn complete_waiting(&self) -> Result<usize> {
        let (_, out) = self.ds(&["next", "--format", "json"]).await?;
        let next: serde_json::Value =
            serde_json::from_str(&out).context("`next --format json` did not print JSON")?;
        let mut n = 0;
        for a in next["next"].as_array().cloned().unwrap_or_default() {
            let (id, title) = (
                a["id"].as_str().unwrap_or_default(),
                a["title"].as_str().unwrap_or_default(),
            );
            if a["kind"] != "manual" {
                bail!("{id} waits, but it is not a manual step: {}", a["message"]);
            }
            let note = format!("reviewed by the demo operator: {title}");
            let (code, out) = self
                .ds(&["done", id, "--note", &note, "--by", OPERATOR])
                .await?;
            if code != 0 {
                bail!("`done {id}` failed: {out}");
            }
            n += 1;
        }
        if n == 0 {
            bail!("the run waits, but nothing manual is next");
        }
        Ok(n)
    }

    async fn script(&self) -> Result<Summary> {
        let p = &self.printer;
        p.out(format!(
            "{} — a whole deployment session in {}",
            p.paint(style::HEAD, "deploy-session demo"),
            self.dir.display()
        ));
        if self.nginx {
            self.step("proxy", "live traffic goes through nginx (examples/nginx)");
        }
        let (code, by_hand) = self.drive(&["start"]).await?;
        expect("start", code, 0)?;
        self.step(
            "start",
            &format!("done; the operator completed {by_hand} manual steps"),
        );
        let (code, more) = self.drive(&["work"]).await?;
        expect("work with the canary of v2-broken", code, 1)?;
        self.step("work", &format!("the canary of v2-broken failed its probes and rolled back (exit 1; {more} manual steps on the way)"));
        std::fs::write(self.dir.join(".demo/release"), "v2\n")?;
        std::fs::copy(
            self.dir.join("deploy-session.blue-green.yaml"),
            self.dir.join("deploy-session.yaml"),
        )?;
        self.step(
            "fix",
            "release v2 built; the operator switches work.4.2 to blue-green",
        );
        let (code, more) = self.drive(&["work", "--rerun", "work.3.2"]).await?;
        expect("work with blue-green v2", code, 0)?;
        self.step(
            "work",
            &format!("blue-green release of v2 is live ({more} manual steps on the way)"),
        );
        let (code, out) = self
            .ds(&[
                "end",
                "--waive",
                "reliability",
                "--reason",
                "demo: two deployments measured, ten needed to state a rate",
                "--by",
                OPERATOR,
            ])
            .await?;
        if code != 0 {
            bail!("`end` exited {code}:\n{out}");
        }
        self.step(
            "end",
            "gates evaluated (reliability waived), handoff package written, session archived",
        );
        let (handoff_code, handoff) = self.ds(&["handoff", "verify"]).await?;
        let (audit_code, audit) = self.ds(&["audit", "verify"]).await?;
        Summary::read(&self.dir, (handoff_code, handoff), (audit_code, audit))
    }
}

fn expect(what: &str, code: i32, want: i32) -> Result<()> {
    if code != want {
        bail!("`{what}` exited {code}, the demo expected {want}");
    }
    Ok(())
}

/// What the session recorded, read back from its archive.
struct Summary {
    session: Session,
    handoff: (i32, String),
    audit: (i32, String),
}

impl Summary {
    fn read(dir: &Path, handoff: (i32, String), audit: (i32, String)) -> Result<Summary> {
        let paths = crate::paths::RepoPaths::new(dir.to_path_buf());
        let last = crate::session::history::read(&paths)?
            .pop()
            .context("the session is not in the history")?;
        let text = std::fs::read_to_string(paths.archive(&last.session).join("session.json"))?;
        Ok(Summary {
            session: serde_json::from_str(&text)?,
            handoff,
            audit,
        })
    }

    fn print(&self, p: &Printer, dir: &Path, took: Duration) {
        let ms = |v: u64| crate::protocol::format_duration(Duration::from_millis(v));
        let s = &self.session;
        p.out(format!(
            "\n{} (measured by deploy-session, from the session's own records)",
            p.paint(style::HEAD, "What happened")
        ));
        for d in &s.deployments {
            p.out(format!("  {:<11} {}", d.title(), d.summary()));
        }
        let by_people = s
            .actions
            .values()
            .filter(|a| a.by.is_some() && a.status.is_done())
            .count();
        let by_tool = s
            .actions
            .values()
            .filter(|a| a.by.is_none() && a.status.is_done())
            .count();
        p.out(format!("  {:<11} {by_tool} run by deploy-session, {by_people} completed by the operator with notes", "actions"));
        let handoff = crate::paths::RepoPaths::new(dir.to_path_buf()).handoff(&s.id);
        // The verdict's first line (the anchors' list is `audit verify`'s
        // to show), a 64-digit head shortened.
        let verdict = |r: &(i32, String)| {
            let first = r.1.trim().lines().next().unwrap_or_default();
            let short = first
                .split(' ')
                .map(
                    |w| match w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()) {
                        true => format!("{}…", &w[..8]),
                        false => w.to_string(),
                    },
                )
                .collect::<Vec<_>>()
                .join(" ");
            if r.0 == 0 {
                short
            } else {
                format!("FAILED: {short}")
            }
        };
        p.out(format!("  {:<11} {}", "handoff", handoff.display()));
        p.out(format!("  {:<11} {}", "", verdict(&self.handoff)));
        p.out(format!("  {:<11} {}", "audit", verdict(&self.audit)));
        p.out(format!(
            "\n{} (the services it started are stopped; the repo stays)",
            p.paint(style::HEAD, "Inspect it")
        ));
        // The binary as it was run: `cargo run` puts none on PATH.
        let me = invoked_as();
        for cmd in [
            "status",
            "history",
            "handoff verify",
            "audit verify",
            "audit log",
        ] {
            p.out(format!("  {me} --repo {} {cmd}", dir.display()));
        }
        p.out(format!("\nDone in {}.", ms(took.as_millis() as u64)));
    }
}

/// How to run this binary again: its name when PATH finds this very file,
/// else its full path.
fn invoked_as() -> String {
    let Ok(me) = std::env::current_exe() else {
        return "deploy-session".into();
    };
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            dir.join("deploy-session")
                .canonicalize()
                .is_ok_and(|found| me.canonicalize().is_ok_and(|m| m == found))
        })
    });
    if on_path {
        "deploy-session".into()
    } else {
        crate::ui::visible(&me.display().to_string()).into_owned()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_example_file_is_compiled_in() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo");
        let mut on_disk = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    on_disk.push(e.path().strip_prefix(&root).unwrap().display().to_string());
                }
            }
        }
        let compiled: Vec<&str> = super::FILES.iter().map(|(p, _)| *p).collect();
        for f in &on_disk {
            assert!(
                compiled.contains(&f.as_str()),
                "examples/demo/{f} is not in demo::FILES"
            );
        }
    }
}
