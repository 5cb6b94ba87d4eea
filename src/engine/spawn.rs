//! Starting a command the way a shell does. A step's cost is mostly the
//! `sh -c` it starts, so the start itself must cost no more than a shell
//! loop's `fork`: the child is cloned `vfork`-style (it borrows our memory
//! and we wait until it has exec'd), does only what a step needs —
//! signal dispositions back to default, its own process group, its three
//! descriptors, its folder — and execs. Everything it uses (argv,
//! environment, folder) is built before the clone: the child may not
//! allocate.
//!
//! std's `Command` (glibc's posix_spawn) asks the kernel about all 64
//! signals and resets each in the child — 128 system calls a step, ~26 µs
//! — and tokio's adds a `SIGCHLD` driver and a reaper. Here the child
//! resets only the signals that have a handler, while every signal is
//! still blocked: our handlers never run on the child's borrowed memory
//! (`signals`' handler counts deliveries — a second one would end the
//! parent at once). Which signals have one is asked of the kernel once
//! (the 31 standard ones: no handler of ours uses a real-time one) and
//! again only after [`crate::signals::handlers_changed`], which every
//! place that installs a handler calls (tests/architecture.rs checks the
//! source for it, and the debug binary the CLI suites run checks the kept
//! answer against the kernel at every start). The exit is awaited on a
//! pidfd from the clone itself (`CLONE_PIDFD`): no `SIGCHLD` handler, no
//! reaper thread, no pid reuse; on kernels without it (before 5.2), by a
//! blocking thread.

use anyhow::{Context, Result, bail};
use nix::libc;
use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::OnceLock;
#[cfg(target_os = "linux")]
use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::unix::AsyncFd;

/// Stack for the cloned child until it execs: its few system calls need
/// little, this leaves a wide margin.
#[cfg(target_os = "linux")]
const CHILD_STACK: usize = 64 * 1024;

/// What the child execs, with everything it needs built up front.
pub struct Launch {
    program: CString,
    argv: Vec<CString>,
    /// Ours (read once, never freed) minus what `vars` replace.
    inherited: Vec<&'static CStr>,
    /// `vars` as `KEY=VALUE`.
    added: Vec<CString>,
    cwd: CString,
}

impl Launch {
    /// `program args…` in `cwd`, with our environment plus `vars` (which
    /// replace variables of the same name).
    pub fn new(
        program: &Path,
        args: &[&str],
        cwd: &Path,
        vars: &[(String, String)],
    ) -> Result<Self> {
        let program = c_string(program.as_os_str(), "the program")?;
        let mut argv = vec![program.clone()];
        for a in args {
            argv.push(c_string(OsStr::new(a), "the command")?);
        }
        let cwd = c_string(cwd.as_os_str(), "the folder")?;
        let inherited = base_env()
            .iter()
            .filter(|(key, _)| !vars.iter().any(|(k, _)| k.as_bytes() == key.as_slice()))
            .map(|(_, pair)| pair.as_c_str())
            .collect();
        let mut added = Vec::with_capacity(vars.len());
        for (k, v) in vars {
            if k.is_empty() || k.contains('=') {
                bail!("environment variable name {k:?} is not valid");
            }
            added.push(c_string(OsStr::new(&format!("{k}={v}")), k)?);
        }
        Ok(Launch {
            program,
            argv,
            inherited,
            added,
            cwd,
        })
    }

    /// Every `KEY=VALUE` the child gets.
    fn env(&self) -> impl Iterator<Item = &CStr> {
        self.inherited
            .iter()
            .copied()
            .chain(self.added.iter().map(CString::as_c_str))
    }

    /// Starts it in a new process group with `stdin`, `stdout`, `stderr`.
    pub fn spawn(&self, stdin: RawFd, stdout: RawFd, stderr: RawFd) -> Result<Child> {
        // Kept open until the clone returns.
        let lifted = above_stdio([stdin, stdout, stderr]).context("cannot start a process")?;
        let fds = lifted.fds;
        if !NO_PIDFD.load(Ordering::Relaxed) {
            match self.spawn_with(fds, true) {
                // Linux before 5.2 (RHEL 8's 4.18) has no CLONE_PIDFD.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    NO_PIDFD.store(true, Ordering::Relaxed);
                }
                other => return self.started(other.context("cannot start a process")?),
            }
        }
        self.started(
            self.spawn_with(fds, false)
                .context("cannot start a process")?,
        )
    }

    /// Clones and execs; with `pidfd`, the clone also returns a pidfd to
    /// wait on, else a blocking thread waits. The child's own failure
    /// (before exec) comes back in [`Started::failed`].
    #[cfg(target_os = "linux")]
    fn spawn_with(&self, fds: [RawFd; 3], pidfd: bool) -> std::io::Result<Started> {
        let argv = null_terminated(self.argv.iter().map(CString::as_c_str));
        let envp = null_terminated(self.env());
        let mut block = Blocked::all()?;
        let mut plan = ChildPlan {
            program: &self.program,
            argv: &argv,
            envp: &envp,
            cwd: &self.cwd,
            fds,
            handled: handled_signals(),
            mask: block.previous,
            error: 0,
            step: "",
        };
        thread_local! {
            /// The child's stack, reused: one clone at a time per thread,
            /// since the thread is suspended until the child execs.
            static STACK: std::cell::RefCell<Box<[u8]>> =
                std::cell::RefCell::new(vec![0u8; CHILD_STACK].into_boxed_slice());
        }
        let stack = STACK.with(|s| s.borrow_mut().as_mut_ptr() as usize);
        // The stack grows down; its top, 16-byte aligned.
        let top = (stack + CHILD_STACK) & !15;
        let mut fd: libc::c_int = -1;
        let flags = libc::CLONE_VM
            | libc::CLONE_VFORK
            | libc::SIGCHLD
            | if pidfd { libc::CLONE_PIDFD } else { 0 };
        // SAFETY: the child runs `child_main` on its own stack, sharing our
        // memory, and only reads `plan` (alive until clone returns, which
        // with CLONE_VFORK is after the child has exec'd or exited) and
        // writes its `error`. It makes no allocation and takes no lock.
        let pid = unsafe {
            libc::clone(
                child_main,
                top as *mut libc::c_void,
                flags,
                &mut plan as *mut ChildPlan as *mut libc::c_void,
                &mut fd as *mut libc::c_int,
            )
        };
        let clone_error = std::io::Error::last_os_error();
        block.restore();
        if pid < 0 {
            return Err(clone_error);
        }
        // SAFETY: with CLONE_PIDFD the kernel gave us this descriptor and
        // nothing else owns it.
        let fd = pidfd.then(|| unsafe { OwnedFd::from_raw_fd(fd) });
        // SAFETY: the child's write happened before clone returned (vfork).
        let failed = unsafe {
            let error = std::ptr::read_volatile(&plan.error);
            (error != 0).then(|| (error, std::ptr::read_volatile(&plan.step)))
        };
        Ok(Started { pid, fd, failed })
    }

    /// Elsewhere than Linux (the release's macOS build): std's spawn,
    /// awaited by a blocking thread.
    #[cfg(not(target_os = "linux"))]
    fn spawn_with(&self, fds: [RawFd; 3], _pidfd: bool) -> std::io::Result<Started> {
        use std::os::unix::process::CommandExt;
        let os = |c: &CStr| OsStr::from_bytes(c.to_bytes()).to_os_string();
        let copy = |fd: RawFd| -> std::io::Result<std::process::Stdio> {
            // SAFETY: F_DUPFD_CLOEXEC only creates a new descriptor, which
            // the Stdio then owns.
            let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
            if copy < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(unsafe { OwnedFd::from_raw_fd(copy) }.into())
        };
        let vars = self.env().filter_map(|pair| {
            let bytes = pair.to_bytes();
            let at = bytes.iter().position(|&b| b == b'=')?;
            Some((
                OsStr::from_bytes(&bytes[..at]).to_os_string(),
                OsStr::from_bytes(&bytes[at + 1..]).to_os_string(),
            ))
        });
        let child = std::process::Command::new(os(&self.program))
            .args(self.argv[1..].iter().map(|a| os(a)))
            .env_clear()
            .envs(vars)
            .current_dir(os(&self.cwd))
            .stdin(copy(fds[0])?)
            .stdout(copy(fds[1])?)
            .stderr(copy(fds[2])?)
            .process_group(0)
            .spawn()?;
        Ok(Started {
            pid: child.id() as libc::pid_t,
            fd: None,
            failed: None,
        })
    }

    /// A [`Started`] child, to be awaited — or the error it exec'd none with.
    fn started(&self, started: Started) -> Result<Child> {
        let Started { pid, fd, failed } = started;
        let waiter = match fd {
            Some(fd) => {
                // SAFETY: an OwnedFd stays open, and the same descriptor,
                // for as long as the AsyncFd owns it.
                let fd =
                    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) };
                match fd {
                    Ok(fd) => Waiter::Pidfd(fd),
                    // Still ours to reap: a thread does it.
                    Err(e) => {
                        let _ = Waiter::thread(pid);
                        return Err(e.into_parts().1).context("cannot watch a started process");
                    }
                }
            }
            None => Waiter::thread(pid),
        };
        let mut child = Child {
            pid,
            waiter,
            status: None,
        };
        if let Some((error, step)) = failed {
            // It exited (127) without exec'ing: reap it, report why.
            let _ = child.try_reap();
            return Err(std::io::Error::from_raw_os_error(error))
                .with_context(|| format!("cannot {step} for `{}`", self.shown()));
        }
        Ok(child)
    }

    fn shown(&self) -> String {
        self.program.to_string_lossy().into_owned()
    }
}

/// The descriptors a child gets, none of them 0, 1 or 2: the child sets
/// its 0, 1 and 2 in turn, so a source that is one of those (possible when
/// we were started with a standard descriptor closed) would be overwritten
/// before it is copied. Such a source is duplicated above 2 first.
struct Lifted {
    fds: [RawFd; 3],
    _copies: Vec<OwnedFd>,
}

fn above_stdio(fds: [RawFd; 3]) -> std::io::Result<Lifted> {
    let mut lifted = Lifted {
        fds,
        _copies: Vec::new(),
    };
    for fd in lifted.fds.iter_mut() {
        if (0..3).contains(fd) {
            // SAFETY: F_DUPFD_CLOEXEC only creates a new descriptor.
            let copy = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3) };
            if copy < 0 {
                return Err(std::io::Error::last_os_error());
            }
            *fd = copy;
            // SAFETY: just created, owned by nothing else.
            lifted._copies.push(unsafe { OwnedFd::from_raw_fd(copy) });
        }
    }
    Ok(lifted)
}

/// Set once a clone with CLONE_PIDFD was refused (an older kernel).
static NO_PIDFD: AtomicBool = AtomicBool::new(false);

/// What a clone gave back.
struct Started {
    pid: libc::pid_t,
    fd: Option<OwnedFd>,
    /// errno and the step, when the child failed before exec.
    failed: Option<(libc::c_int, &'static str)>,
}

/// How a child's exit is awaited.
enum Waiter {
    /// Its pidfd turns readable (Linux 5.2+).
    Pidfd(AsyncFd<OwnedFd>),
    /// A blocking thread reaps it and hands over the raw status.
    Thread(tokio::task::JoinHandle<std::io::Result<libc::c_int>>),
}

impl Waiter {
    fn thread(pid: libc::pid_t) -> Waiter {
        Waiter::Thread(tokio::task::spawn_blocking(move || {
            let mut raw = 0;
            loop {
                // SAFETY: blocking waitpid on our own child; only this
                // thread reaps it.
                let r = unsafe { libc::waitpid(pid, &mut raw, 0) };
                if r == pid {
                    return Ok(raw);
                }
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }))
    }
}

/// A started process.
pub struct Child {
    pid: libc::pid_t,
    waiter: Waiter,
    status: Option<ExitStatus>,
}

impl Child {
    /// Its pid (also its process group's id).
    pub fn id(&self) -> i32 {
        self.pid
    }

    /// Waits until it exits (again and again after a cancelled wait).
    pub async fn wait(&mut self) -> Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_reap()? {
                return Ok(status);
            }
            match &mut self.waiter {
                Waiter::Pidfd(fd) => fd.readable().await?.clear_ready(),
                Waiter::Thread(handle) => {
                    let raw = handle
                        .await
                        .context("the thread waiting for a process failed")?
                        .with_context(|| format!("cannot wait for process {}", self.pid))?;
                    self.status = Some(ExitStatus::from_raw(raw));
                }
            }
        }
    }

    /// Its status if it has exited (reaping it, when a pidfd is what
    /// waits), without waiting.
    fn try_reap(&mut self) -> Result<Option<ExitStatus>> {
        if self.status.is_some() || matches!(self.waiter, Waiter::Thread(_)) {
            return Ok(self.status);
        }
        let mut raw: libc::c_int = 0;
        // SAFETY: plain waitpid on our own child; the pidfd we hold keeps
        // its pid from being reused until it is reaped here.
        let r = unsafe { libc::waitpid(self.pid, &mut raw, libc::WNOHANG) };
        if r < 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("cannot wait for process {}", self.pid));
        }
        if r == self.pid {
            self.status = Some(ExitStatus::from_raw(raw));
        }
        Ok(self.status)
    }
}

impl Drop for Child {
    /// A child nobody waited for (an error path) is reaped by a thread, so
    /// it does not linger as a zombie (with no pidfd, one already is).
    fn drop(&mut self) {
        if matches!(self.waiter, Waiter::Pidfd(_))
            && self.status.is_none()
            && self.try_reap().ok().flatten().is_none()
        {
            let pid = self.pid;
            std::thread::spawn(move || {
                let mut raw = 0;
                // SAFETY: blocking waitpid on our own child.
                unsafe { libc::waitpid(pid, &mut raw, 0) };
            });
        }
    }
}

#[cfg(target_os = "linux")]
/// What the child reads (and the one field it writes: why it failed).
struct ChildPlan<'a> {
    program: &'a CStr,
    argv: &'a [*const libc::c_char],
    envp: &'a [*const libc::c_char],
    cwd: &'a CStr,
    fds: [RawFd; 3],
    /// Bit `n` set: signal `n` has a handler, to reset before the mask is.
    handled: u32,
    mask: libc::sigset_t,
    error: libc::c_int,
    step: &'static str,
}

#[cfg(target_os = "linux")]
/// The child, between the clone and `execve`: system calls only.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    let plan = arg as *mut ChildPlan;
    // SAFETY: `arg` is the parent's `ChildPlan`, alive while we run (the
    // parent is suspended until we exec or exit); only system calls follow.
    unsafe {
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        // Rust ignores SIGPIPE; a command must not inherit that.
        libc::sigaction(libc::SIGPIPE, &default, std::ptr::null_mut());
        // Our handlers must not run here once the mask is restored (the
        // table is the child's own: no CLONE_SIGHAND). Dispositions that
        // are ignored stay ignored, as exec would keep them.
        for signal in 1..32 {
            if (*plan).handled & (1 << signal) != 0 {
                libc::sigaction(signal, &default, std::ptr::null_mut());
            }
        }
        if libc::setpgid(0, 0) != 0 {
            fail(plan, "start a process group");
        }
        for (target, &fd) in (*plan).fds.iter().enumerate() {
            let target = target as RawFd;
            let ok = if fd == target {
                libc::fcntl(fd, libc::F_SETFD, 0) == 0
            } else {
                libc::dup2(fd, target) == target
            };
            if !ok {
                fail(plan, "set up the output");
            }
        }
        if libc::chdir((*plan).cwd.as_ptr()) != 0 {
            fail(plan, "enter the folder");
        }
        libc::sigprocmask(libc::SIG_SETMASK, &(*plan).mask, std::ptr::null_mut());
        libc::execve(
            (*plan).program.as_ptr(),
            (*plan).argv.as_ptr(),
            (*plan).envp.as_ptr(),
        );
        fail(plan, "run")
    }
}

#[cfg(target_os = "linux")]
/// Leaves errno and the failed step for the parent, and exits.
///
/// # Safety
/// Only from `child_main`, with its plan.
unsafe fn fail(plan: *mut ChildPlan, step: &'static str) -> ! {
    // SAFETY: see `child_main`.
    unsafe {
        (*plan).error = *libc::__errno_location();
        (*plan).step = step;
        libc::_exit(127)
    }
}

#[cfg(target_os = "linux")]
/// Every signal blocked on this thread while the child shares our memory
/// (a handler must not run on its stack before it has reset what it
/// needs); restored after.
struct Blocked {
    previous: libc::sigset_t,
    restored: bool,
}

#[cfg(target_os = "linux")]
impl Blocked {
    fn all() -> std::io::Result<Self> {
        // SAFETY: sigset_t is plain data; sigfillset and pthread_sigmask
        // only write the sets passed.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut previous: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            let r = libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut previous);
            if r != 0 {
                return Err(std::io::Error::from_raw_os_error(r));
            }
            Ok(Blocked {
                previous,
                restored: false,
            })
        }
    }

    fn restore(&mut self) {
        if !self.restored {
            // SAFETY: restores the mask saved in `all`.
            unsafe {
                libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut())
            };
            self.restored = true;
        }
    }
}

#[cfg(target_os = "linux")]
impl Drop for Blocked {
    fn drop(&mut self) {
        self.restore();
    }
}

/// The kept answer of [`handled_signals`]: the generation of the handlers
/// it was asked in (high half, see [`crate::signals::handlers_changed`])
/// beside the signals (low half).
#[cfg(target_os = "linux")]
static HANDLED: AtomicU64 = AtomicU64::new(0);

/// The standard signals that have a handler now, as a bit set.
#[cfg(target_os = "linux")]
fn handled_signals() -> u32 {
    let generation = crate::signals::handlers_generation();
    let kept = HANDLED.load(Ordering::SeqCst);
    if kept >> 32 == generation {
        let handled = kept as u32;
        // The debug binary (what the CLI suites run) checks the kept answer
        // at every start, so a handler installed unannounced — by a new
        // dependency, say — fails the tests. Not in unit tests: their
        // threads install handlers while others start commands.
        #[cfg(all(debug_assertions, not(test)))]
        assert_eq!(
            handled,
            ask_handled_signals(),
            "a signal handler was installed without signals::handlers_changed()"
        );
        return handled;
    }
    let handled = ask_handled_signals();
    HANDLED.store(generation << 32 | u64::from(handled), Ordering::SeqCst);
    handled
}

/// Asks the kernel which of signals 1–31 have a handler.
#[cfg(target_os = "linux")]
fn ask_handled_signals() -> u32 {
    (1..32).fold(0, |set, signal| {
        // SAFETY: sigaction with no new action only writes `now`.
        let handled = unsafe {
            let mut now: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &mut now) == 0
                && now.sa_sigaction != libc::SIG_DFL
                && now.sa_sigaction != libc::SIG_IGN
        };
        if handled { set | 1 << signal } else { set }
    })
}

/// Our environment as `KEY=VALUE` strings, read once: the process never
/// changes its own environment.
fn base_env() -> &'static [(Vec<u8>, CString)] {
    static BASE: OnceLock<Vec<(Vec<u8>, CString)>> = OnceLock::new();
    BASE.get_or_init(|| {
        std::env::vars_os()
            .filter_map(|(k, v)| {
                let mut pair = k.as_bytes().to_vec();
                pair.push(b'=');
                pair.extend_from_slice(v.as_bytes());
                Some((k.as_bytes().to_vec(), CString::new(pair).ok()?))
            })
            .collect()
    })
}

fn c_string(s: &OsStr, what: &str) -> Result<CString> {
    CString::new(s.as_bytes())
        .map_err(|_| anyhow::anyhow!("{what} contains a NUL byte: {}", s.to_string_lossy()))
}

#[cfg(target_os = "linux")]
fn null_terminated<'a>(strings: impl Iterator<Item = &'a CStr>) -> Vec<*const libc::c_char> {
    strings
        .map(CStr::as_ptr)
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn raw(fd: &impl AsRawFd) -> RawFd {
        fd.as_raw_fd()
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// Runs `cmd` both ways a child can be awaited — on its pidfd and, as
    /// on kernels before 5.2, by a thread — and checks both saw the same.
    fn run(cmd: &str, vars: &[(String, String)], cwd: &Path) -> (ExitStatus, String) {
        let runs: Vec<(ExitStatus, String)> = [true, false]
            .into_iter()
            .map(|pidfd| {
                let (reader, writer) = std::io::pipe().unwrap();
                let null = std::fs::File::open("/dev/null").unwrap();
                let launch = Launch::new(Path::new("/bin/sh"), &["-c", cmd], cwd, vars).unwrap();
                let status = rt().block_on(async {
                    let fds = [raw(&null), raw(&writer), raw(&writer)];
                    let mut child = launch
                        .started(launch.spawn_with(fds, pidfd).unwrap())
                        .unwrap();
                    drop(writer);
                    assert_eq!(matches!(child.waiter, Waiter::Pidfd(_)), pidfd);
                    child.wait().await.unwrap()
                });
                let mut out = String::new();
                std::io::Read::read_to_string(&mut { reader }, &mut out).unwrap();
                (status, out)
            })
            .collect();
        assert_eq!(runs[0], runs[1], "pidfd and thread waits differ");
        runs[0].clone()
    }

    #[test]
    fn runs_in_its_folder_group_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let vars = [("DS_SPAWN_TEST".to_string(), "a b $(x)".to_string())];
        let (status, out) = run(
            "pwd; printf '%s\\n' \"$DS_SPAWN_TEST\"; [ \"$(cut -d' ' -f5 /proc/$$/stat)\" = $$ ] && echo own-group; echo err >&2; exit 7",
            &vars,
            dir.path(),
        );
        assert_eq!(status.code(), Some(7));
        let real = dir.path().canonicalize().unwrap();
        assert_eq!(
            out,
            format!("{}\na b $(x)\nown-group\nerr\n", real.display())
        );
    }

    #[test]
    fn a_replaced_variable_appears_once_and_path_is_inherited() {
        let dir = tempfile::tempdir().unwrap();
        let vars = [("HOME".to_string(), "/nowhere".to_string())];
        let (_, out) = run(
            "env | grep -c '^HOME='; echo $HOME; [ -n \"$PATH\" ] && echo path",
            &vars,
            dir.path(),
        );
        assert_eq!(out, "1\n/nowhere\npath\n");
    }

    #[test]
    fn sigpipe_is_back_to_default_in_the_child() {
        let dir = tempfile::tempdir().unwrap();
        // With SIGPIPE at its default, `yes` dies of it (128 + 13) when its
        // reader goes; ignored, it would exit 1 with a write error.
        let (_, out) = run(
            "(yes 2>/dev/null; echo \"yes ended $?\" >&2) | head -n1 >/dev/null",
            &[],
            dir.path(),
        );
        assert_eq!(out, "yes ended 141\n");
    }

    #[test]
    fn a_missing_folder_or_program_is_an_error_naming_the_step() {
        let null = std::fs::File::open("/dev/null").unwrap();
        let launch = Launch::new(
            Path::new("/bin/sh"),
            &["-c", "true"],
            Path::new("/no/such/folder"),
            &[],
        )
        .unwrap();
        let rt = rt();
        let _guard = rt.enter();
        let e = launch
            .spawn(raw(&null), raw(&null), raw(&null))
            .err()
            .unwrap();
        assert!(
            format!("{e:#}").contains("cannot enter the folder"),
            "{e:#}"
        );
        let fds = [raw(&null), raw(&null), raw(&null)];
        let e = launch
            .started(launch.spawn_with(fds, false).unwrap())
            .err()
            .unwrap();
        assert!(
            format!("{e:#}").contains("cannot enter the folder"),
            "thread wait: {e:#}"
        );
        let launch = Launch::new(Path::new("/no/such/sh"), &[], Path::new("/"), &[]).unwrap();
        let e = launch
            .spawn(raw(&null), raw(&null), raw(&null))
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("cannot run"), "{e:#}");
        assert!(format!("{e:#}").contains("No such file"), "{e:#}");
    }

    #[test]
    fn standard_descriptors_are_lifted_above_two_before_the_child_sets_them() {
        let lifted = above_stdio([0, 1, 2]).unwrap();
        assert!(lifted.fds.iter().all(|&fd| fd > 2), "{:?}", lifted.fds);
        let kept = above_stdio([7, 8, 9]).unwrap();
        assert_eq!(kept.fds, [7, 8, 9]);
        assert!(kept._copies.is_empty());
    }

    #[test]
    fn a_new_handler_is_reset_in_the_child_once_announced() {
        extern "C" fn nothing(_: libc::c_int) {}
        let usr2 = 1u32 << libc::SIGUSR2;
        let before = handled_signals();
        assert_eq!(before & usr2, 0, "nothing here handles SIGUSR2");
        // SAFETY: installs a handler that does nothing; no other test
        // touches SIGUSR2.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = nothing as extern "C" fn(libc::c_int) as usize;
            assert_eq!(
                libc::sigaction(libc::SIGUSR2, &action, std::ptr::null_mut()),
                0
            );
        }
        assert_eq!(ask_handled_signals() & usr2, usr2);
        crate::signals::handlers_changed();
        assert_eq!(handled_signals() & usr2, usr2, "asked again once announced");
        // SAFETY: puts the default back.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(libc::SIGUSR2, &action, std::ptr::null_mut());
        }
        crate::signals::handlers_changed();
        assert_eq!(handled_signals() & usr2, 0);
    }

    #[test]
    fn nul_bytes_are_refused_before_anything_starts() {
        let e = Launch::new(Path::new("/bin/sh"), &["-c", "a\0b"], Path::new("/"), &[])
            .err()
            .unwrap();
        assert!(e.to_string().contains("NUL"), "{e}");
        let vars = [("A=B".to_string(), "x".to_string())];
        assert!(Launch::new(Path::new("/bin/sh"), &[], Path::new("/"), &vars).is_err());
    }
}
