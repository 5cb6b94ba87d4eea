//! One owner for SIGINT and SIGTERM. A command that is not running a
//! protocol has nothing to save: the first signal ends it at once (exit
//! 130), even while it is blocked reading a FIFO. A protocol run (or the
//! demo) claims the signals: the first one asks it to stop — kill its
//! process groups, record `interrupted`, save — and a second one, or the
//! run still going [`GRACE`] later (blocked somewhere a signal cannot
//! reach, or in what the command does after the run), ends the process at
//! once. The OS releases the lock either way,
//! and the next writer resumes from the journal.

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a claimed run has to stop after the first signal: the process
/// groups' grace (1.5 s) and the final save, with room to spare.
pub const GRACE: Duration = Duration::from_secs(5);

/// How long a command has, after its interrupted run saved and let go of
/// the signals, to refresh its views and exit by itself.
pub const AFTER_RUN: Duration = Duration::from_millis(500);

/// Runs that own the signals now.
static OWNERS: AtomicU32 = AtomicU32::new(0);
/// SIGINT/SIGTERM received so far.
static RECEIVED: AtomicU32 = AtomicU32::new(0);

/// A last line for stderr when a signal ends the command at once (set by a
/// command whose every step is already saved, such as `walk` at a prompt).
static FAREWELL: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static FAREWELL_LEN: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_: std::os::raw::c_int) {
    // Only atomics, write(2) and _exit: async-signal-safe.
    let before = RECEIVED.fetch_add(1, Ordering::SeqCst);
    if OWNERS.load(Ordering::SeqCst) == 0 || before > 0 {
        let text = FAREWELL.load(Ordering::SeqCst);
        if !text.is_null() {
            // SAFETY: the pointer and length come from a leaked &'static str.
            unsafe {
                nix::libc::write(2, text.cast(), FAREWELL_LEN.load(Ordering::SeqCst));
            }
        }
        // SAFETY: _exit is async-signal-safe and ends the process at once.
        unsafe { nix::libc::_exit(130) };
    }
}

/// Sets the line a signal that ends the command at once prints first.
pub fn farewell(text: String) {
    let text: &'static str = Box::leak(text.into_boxed_str());
    FAREWELL.store(std::ptr::null_mut(), Ordering::SeqCst);
    FAREWELL_LEN.store(text.len(), Ordering::SeqCst);
    FAREWELL.store(text.as_ptr().cast_mut(), Ordering::SeqCst);
}

/// Installs the handler; call first thing in `main`, before any thread.
pub fn install() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only touches atomics and calls _exit.
        unsafe {
            let _ = sigaction(signal, &action);
        }
    }
    handlers_changed();
}

/// Bumped whenever a handler is installed, so whoever keeps which signals
/// have one (the command starter resets those in its children) asks again.
static HANDLERS_GENERATION: AtomicU64 = AtomicU64::new(1);

/// Call after installing a signal handler (or putting one back), before
/// the next command starts: its child must reset that signal too.
pub fn handlers_changed() {
    HANDLERS_GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// How many times the handlers changed (never 0).
pub fn handlers_generation() -> u64 {
    HANDLERS_GENERATION.load(Ordering::SeqCst)
}

/// A run's claim on the signals, released when dropped.
#[derive(Debug)]
pub struct Claim(());

impl Claim {
    /// Claims the signals, and starts the watchdog that ends the process
    /// [`GRACE`] after the first signal if the run has not stopped.
    pub fn take() -> Claim {
        OWNERS.fetch_add(1, Ordering::SeqCst);
        // One watchdog for the process, however many runs claim in turn
        // (the walkthrough runs one action at a time).
        static WATCHDOG: std::sync::Once = std::sync::Once::new();
        WATCHDOG.call_once(|| {
            std::thread::spawn(|| {
                let (mut signalled, mut released): (Option<Instant>, Option<Instant>) =
                    (None, None);
                loop {
                    std::thread::sleep(Duration::from_millis(100));
                    if RECEIVED.load(Ordering::SeqCst) == 0 {
                        continue;
                    }
                    let first = *signalled.get_or_insert_with(Instant::now);
                    // Once the stopped run has let go, what the command
                    // does next (refreshing a view) gets [`AFTER_RUN`]: it
                    // may block where the spent signal cannot reach.
                    if OWNERS.load(Ordering::SeqCst) == 0 {
                        released.get_or_insert_with(Instant::now);
                    }
                    if first.elapsed() >= GRACE
                        || released.is_some_and(|r| r.elapsed() >= AFTER_RUN)
                    {
                        // SAFETY: ends the process; the lock goes with it.
                        unsafe { nix::libc::_exit(130) };
                    }
                }
            });
        });
        Claim(())
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        OWNERS.fetch_sub(1, Ordering::SeqCst);
    }
}
