//! Child processes: each command runs as `sh -c` in its own process group,
//! with its output streamed line by line (masked) to the terminal and to
//! its log. A timeout or an interruption kills the whole group —
//! grandchildren included — first politely (SIGTERM), then for good.

use crate::redact::Redactor;
use crate::session::ProcessRecord;
use anyhow::{Context, Result};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::cell::RefCell;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

/// How long a group gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_millis(1500);

/// How long output is still read after the command exits (a background
/// process it started may hold the pipes open forever).
const DRAIN: Duration = Duration::from_millis(200);

/// Lines of output kept for failure messages.
const TAIL_LINES: usize = 20;

/// What to run.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub command: String,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    pub timeout: Option<Duration>,
    /// Appended to, created on the first line of output (a silent command
    /// leaves no empty log behind); `log_header` is written first.
    pub log: Option<PathBuf>,
    pub log_header: String,
}

/// How it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    Signalled(i32),
    TimedOut,
    Interrupted,
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct CommandResult {
    pub ending: Ending,
    pub duration: Duration,
    /// The last lines of output (masked), for messages.
    pub tail: Vec<String>,
    /// Whether anything was written to the log.
    pub logged: bool,
}

impl CommandResult {
    /// Exit 0.
    pub fn ok(&self) -> bool {
        self.ending == Ending::Exited(0)
    }

    /// The exit code, when it exited.
    pub fn exit_code(&self) -> Option<i32> {
        match self.ending {
            Ending::Exited(c) => Some(c),
            _ => None,
        }
    }

    /// One line saying how it ended.
    pub fn describe(&self, timeout: Option<Duration>) -> String {
        match self.ending {
            Ending::Exited(0) => "exit 0".into(),
            Ending::Exited(c) => format!("exit {c}"),
            Ending::Signalled(s) => format!("killed by signal {s}"),
            Ending::TimedOut => format!(
                "timed out after {} (its process group was killed)",
                crate::protocol::format_duration(timeout.unwrap_or_default())
            ),
            Ending::Interrupted => "interrupted (its process group was killed)".into(),
        }
    }
}

/// Where output lines go as they arrive.
pub trait LineSink {
    fn line(&self, text: &str);
}

/// Runs `spec`; `on_spawn` is called with the child's identity before any
/// waiting, so a crash of this process can be cleaned up later.
pub async fn run(
    spec: &CommandSpec,
    redactor: &Redactor,
    sink: &dyn LineSink,
    mut cancel: watch::Receiver<bool>,
    on_spawn: &mut dyn FnMut(ProcessRecord) -> Result<()>,
) -> Result<CommandResult> {
    let started = Instant::now();
    let log = Rc::new(RefCell::new(LazyLog {
        path: spec.log.clone(),
        header: redactor.mask(&spec.log_header),
        file: None,
        failed: false,
    }));
    // One pipe for stdout and stderr: lines keep the order a terminal would
    // show, and it is one pipe to set up instead of two.
    let (reader, writer) = std::io::pipe().context("cannot create a pipe")?;
    let mut child = {
        let launch =
            super::spawn::Launch::new(shell(), &["-c", &spec.command], &spec.cwd, &spec.env)?;
        let stdin = dev_null()?;
        launch
            .spawn(stdin.as_raw_fd(), writer.as_raw_fd(), writer.as_raw_fd())
            .with_context(|| format!("cannot start `sh -c` in {}", spec.cwd.display()))?
    };
    // Our write end stays open until the child has exited, then goes, so
    // the pipe reaches end-of-file once the child (and whatever it left
    // holding its output) is done. Held until then, its end-of-file does
    // not wake us a moment before its exit does: one wake-up a step
    // instead of two.
    let pid = child.id();
    on_spawn(describe_process(pid))?;
    let tail = Rc::new(RefCell::new(Vec::<String>::new()));
    let output = nonblocking_receiver(reader)?;
    let readers = pump(Some(output), redactor, sink, &log, &tail);
    tokio::pin!(readers);
    let deadline = async {
        match spec.timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    let mut readers_done = false;
    let ending = loop {
        tokio::select! {
            status = child.wait() => break ending_of(status.context("cannot wait for the command")?),
            _ = &mut readers, if !readers_done => readers_done = true,
            _ = &mut deadline => {
                kill_group(pid, &mut child).await;
                break Ending::TimedOut;
            }
            changed = cancel.changed() => {
                if changed.is_err() || *cancel.borrow() {
                    kill_group(pid, &mut child).await;
                    break Ending::Interrupted;
                }
            }
        }
    };
    drop(writer);
    if !readers_done {
        let _ = tokio::time::timeout(DRAIN, &mut readers).await;
    }
    let logged = log.borrow_mut().finish();
    let tail = tail.borrow().clone();
    Ok(CommandResult {
        ending,
        duration: started.elapsed(),
        tail,
        logged,
    })
}

fn ending_of(status: std::process::ExitStatus) -> Ending {
    match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(c), _) => Ending::Exited(c),
        (None, Some(s)) => Ending::Signalled(s),
        (None, None) => Ending::Exited(-1),
    }
}

/// stdin for commands: /dev/null, opened once.
fn dev_null() -> Result<&'static std::fs::File> {
    static NULL: OnceLock<std::fs::File> = OnceLock::new();
    match NULL.get() {
        Some(f) => Ok(f),
        None => {
            let f = std::fs::File::open("/dev/null").context("cannot open /dev/null")?;
            Ok(NULL.get_or_init(|| f))
        }
    }
}

/// The read end of our output pipe, made non-blocking with one syscall (it
/// is known to be a read-only pipe) and handed to tokio.
fn nonblocking_receiver(reader: std::io::PipeReader) -> Result<tokio::net::unix::pipe::Receiver> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let fd: std::os::fd::OwnedFd = reader.into();
    fcntl(&fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).context("cannot set up the output pipe")?;
    tokio::net::unix::pipe::Receiver::from_owned_fd_unchecked(fd)
        .context("cannot read the command's output")
}

/// `sh`, found on PATH once (not searched again for every command).
fn shell() -> &'static Path {
    static SH: OnceLock<PathBuf> = OnceLock::new();
    SH.get_or_init(|| {
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|d| d.join("sh"))
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("/bin/sh"))
    })
}

/// A log file opened when the first line arrives.
struct LazyLog {
    path: Option<PathBuf>,
    header: String,
    file: Option<std::io::BufWriter<std::fs::File>>,
    failed: bool,
}

impl LazyLog {
    fn line(&mut self, text: &str) {
        if self.file.is_none() && !self.failed {
            self.file = self.path.as_deref().and_then(|p| open_log(p).ok());
            self.failed = self.file.is_none();
            if let Some(f) = self.file.as_mut() {
                let _ = writeln!(f, "{}", self.header);
            }
        }
        if let Some(f) = self.file.as_mut() {
            let _ = writeln!(f, "{text}");
        }
    }

    fn finish(&mut self) -> bool {
        match self.file.as_mut() {
            Some(f) => {
                let _ = f.flush();
                true
            }
            None => false,
        }
    }
}

fn open_log(path: &Path) -> Result<std::io::BufWriter<std::fs::File>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open the log {}", path.display()))?;
    Ok(std::io::BufWriter::new(f))
}

type SharedLog = Rc<RefCell<LazyLog>>;

async fn pump<R: tokio::io::AsyncRead + Unpin>(
    stream: Option<R>,
    redactor: &Redactor,
    sink: &dyn LineSink,
    log: &SharedLog,
    tail: &Rc<RefCell<Vec<String>>>,
) {
    let Some(mut stream) = stream else { return };
    let mut masker = redactor.stream();
    let mut buf = vec![0u8; 8192];
    let emit = |line: String| {
        log.borrow_mut().line(&line);
        sink.line(&line);
        let mut t = tail.borrow_mut();
        if t.len() == TAIL_LINES {
            t.remove(0);
        }
        t.push(line);
    };
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => masker.push(&buf[..n]).into_iter().for_each(emit),
        }
    }
    masker.flush().into_iter().for_each(emit);
}

/// SIGTERM to the group, then SIGKILL after the grace period (the group
/// may outlive its leader, so the second signal goes regardless).
async fn kill_group(pid: i32, child: &mut super::spawn::Child) {
    let group = Pid::from_raw(pid);
    let _ = killpg(group, Signal::SIGTERM);
    let _ = tokio::time::timeout(KILL_GRACE, child.wait()).await;
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.wait().await;
}

/// This boot's id (pids are only meaningful within one boot).
pub fn boot_id() -> Option<String> {
    static BOOT: OnceLock<Option<String>> = OnceLock::new();
    BOOT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|s| s.trim().to_string())
    })
    .clone()
}

/// (zombie?, pgrp, starttime) of a process, from /proc/PID/stat.
fn proc_stat(pid: i32) -> Option<(bool, i32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): pgrp is field 5, starttime field 22.
    let zombie = fields.first() == Some(&"Z");
    Some((
        zombie,
        fields.get(2)?.parse().ok()?,
        fields.get(19)?.parse().ok()?,
    ))
}

/// (pgrp, starttime) of a live process; `None` for zombies (dead, waiting
/// to be reaped) and processes that are gone.
fn live_stat(pid: i32) -> Option<(i32, u64)> {
    proc_stat(pid)
        .filter(|(z, _, _)| !z)
        .map(|(_, g, s)| (g, s))
}

fn describe_process(pid: i32) -> ProcessRecord {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .ok();
    ProcessRecord {
        pid,
        spawned_at_ms: now_ms,
        boot_id: boot_id(),
    }
}

/// When a process started (Unix milliseconds), from its start ticks and the
/// boot time. /proc reports ticks in USER_HZ, which Linux fixes at 100.
fn started_at_ms(start_ticks: u64) -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let btime: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())?;
    Some(btime * 1000 + start_ticks * 10)
}

/// Pids of live processes in process group `pgid`.
pub fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| live_stat(pid).is_some_and(|(g, _)| g == pgid))
        .collect()
}

/// Kills what is left of a process group a killed deploy-session recorded,
/// if it is provably the same group: same boot, and its leader, if alive,
/// started when the recorded process was spawned (within the 1 s precision
/// of the boot time). Returns whether anything was signalled.
pub fn reap_orphan(rec: &ProcessRecord) -> bool {
    if rec.pid <= 1 || rec.boot_id.is_some() && rec.boot_id != boot_id() {
        return false;
    }
    if let Some((_, ticks)) = live_stat(rec.pid)
        && let (Some(started), Some(spawned)) = (started_at_ms(ticks), rec.spawned_at_ms)
        && started.abs_diff(spawned) > 2000
    {
        return false; // the pid now belongs to someone else
    }
    if group_members(rec.pid).is_empty() {
        return false;
    }
    killpg(Pid::from_raw(rec.pid), Signal::SIGKILL).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Collect(Mutex<Vec<String>>);
    impl LineSink for Collect {
        fn line(&self, text: &str) {
            self.0.lock().unwrap().push(text.to_string());
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn spec(cmd: &str, timeout: Option<Duration>) -> CommandSpec {
        CommandSpec {
            command: cmd.into(),
            cwd: std::env::temp_dir(),
            env: vec![("X_VALUE".into(), "$(touch pwned)".into())],
            timeout,
            log: None,
            log_header: String::new(),
        }
    }

    #[test]
    fn output_is_captured_masked_and_env_is_literal() {
        let sink = Collect::default();
        let (_tx, rx) = watch::channel(false);
        let red = Redactor::new(["sekrit-value"]);
        let mut spawned = Vec::new();
        let r = rt()
            .block_on(run(
                &spec(
                    "echo hello; echo sekrit-value >&2; printf '%s' \"$X_VALUE\"; exit 3",
                    None,
                ),
                &red,
                &sink,
                rx,
                &mut |p| {
                    spawned.push(p);
                    Ok(())
                },
            ))
            .unwrap();
        assert_eq!(r.ending, Ending::Exited(3));
        let mut lines = sink.0.into_inner().unwrap();
        lines.sort();
        assert_eq!(lines, ["$(touch pwned)", "***", "hello"]);
        assert_eq!(spawned.len(), 1);
        assert!(spawned[0].spawned_at_ms.is_some());
    }

    #[test]
    fn timeout_kills_the_whole_group() {
        let sink = Collect::default();
        let (_tx, rx) = watch::channel(false);
        let mut pid = 0;
        let r = rt()
            .block_on(run(
                &spec("sleep 100 & sleep 100", Some(Duration::from_millis(300))),
                &Redactor::default(),
                &sink,
                rx,
                &mut |p| {
                    pid = p.pid;
                    Ok(())
                },
            ))
            .unwrap();
        assert_eq!(r.ending, Ending::TimedOut);
        assert!(r.duration < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            group_members(pid).is_empty(),
            "group {pid} still has members"
        );
    }

    #[test]
    fn cancel_interrupts() {
        let sink = Collect::default();
        let (tx, rx) = watch::channel(false);
        let spec = spec("sleep 100", None);
        let redactor = Redactor::default();
        let mut on_spawn = |_| Ok(());
        let r = rt().block_on(async {
            let runner = run(&spec, &redactor, &sink, rx, &mut on_spawn);
            let canceller = async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                tx.send(true).unwrap();
            };
            tokio::join!(runner, canceller).0
        });
        assert_eq!(r.unwrap().ending, Ending::Interrupted);
    }

    #[test]
    fn a_background_child_holding_the_pipe_does_not_hang_us() {
        let sink = Collect::default();
        let (_tx, rx) = watch::channel(false);
        let mut pid = 0;
        let r = rt()
            .block_on(run(
                &spec("sleep 3 & echo started", None),
                &Redactor::default(),
                &sink,
                rx,
                &mut |p| {
                    pid = p.pid;
                    Ok(())
                },
            ))
            .unwrap();
        assert!(r.ok());
        assert!(r.duration < Duration::from_secs(2), "{:?}", r.duration);
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }

    /// Our write end is held until the child exits: output written up to
    /// the exit is all read after it, and a child that closes its output
    /// early is still waited for.
    #[test]
    fn output_up_to_the_exit_is_read_and_an_early_close_is_waited_out() {
        let run_it = |cmd: &str| {
            let sink = Collect::default();
            let (_tx, rx) = watch::channel(false);
            let r = rt()
                .block_on(run(
                    &spec(cmd, None),
                    &Redactor::default(),
                    &sink,
                    rx,
                    &mut |_| Ok(()),
                ))
                .unwrap();
            (r, sink.0.into_inner().unwrap())
        };
        let (r, lines) = run_it("seq 1 20000; printf last");
        assert!(r.ok());
        assert_eq!(lines.len(), 20001);
        assert_eq!(lines.last().map(String::as_str), Some("last"));
        let (r, lines) = run_it("echo early; exec >&- 2>&-; sleep 0.3; exit 4");
        assert_eq!(r.ending, Ending::Exited(4));
        assert!(r.duration >= Duration::from_millis(300), "{:?}", r.duration);
        assert_eq!(lines, ["early"]);
    }

    #[test]
    fn orphans_are_reaped_only_when_provably_ours() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 100"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        std::thread::sleep(Duration::from_millis(50));
        let mut rec = describe_process(pid);
        let real = rec.spawned_at_ms;
        rec.spawned_at_ms = real.map(|s| s - 3_600_000);
        assert!(
            !reap_orphan(&rec),
            "a process that started at another time must not be killed"
        );
        rec.spawned_at_ms = real;
        assert!(reap_orphan(&rec));
        let status = child.wait().unwrap();
        assert!(!status.success());
    }
}
