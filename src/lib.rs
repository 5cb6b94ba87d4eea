//! deploy-session: the Deployment Framework's phase-7 session protocols
//! (start, work, end) as a deterministic, resumable, auditable program.
//!
//! The module map reads like the architecture: the master state file, the
//! protocol model, and the commands that read and run them.

pub(crate) mod anchors;
pub mod api;
pub(crate) mod audit;
pub(crate) mod cli;
pub(crate) mod clock;
pub(crate) mod closing;
pub(crate) mod commands;
pub(crate) mod context;
pub(crate) mod decisions;
#[cfg(feature = "demo")]
pub(crate) mod demo;
pub(crate) mod digest;
pub(crate) mod documents;
pub(crate) mod engine;
pub(crate) mod error;
pub(crate) mod export;
pub(crate) mod fsio;
pub(crate) mod gates;
pub(crate) mod git;
pub(crate) mod github_api;
pub(crate) mod handoff;
pub(crate) mod http;
pub(crate) mod kinds;
pub(crate) mod master_state;
pub(crate) mod notify;
pub(crate) mod paths;
pub(crate) mod progress;
pub(crate) mod protocol;
pub(crate) mod redact;
pub(crate) mod reports;
pub(crate) mod session;
pub(crate) mod settings;
pub(crate) mod settle;
pub(crate) mod signals;
pub(crate) mod signing;
pub(crate) mod templating;
#[cfg(test)]
mod testing;
pub(crate) mod todo;
pub(crate) mod traffic;
pub(crate) mod ui;

/// The program: parse arguments, run the command, map the outcome to an
/// exit code. Errors print one line (`-v`: the whole cause chain).
pub fn main() -> std::process::ExitCode {
    ignore_file_size_signal();
    signals::install();
    let cli = {
        use clap::FromArgMatches;
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        let matches = cli::parser_for(&args).get_matches_from(args);
        cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    };
    let printer = settings::printer(&cli.global);
    init_tracing(cli.global.verbose, printer.stderr_color());
    let json_out = commands::prints_json(&cli.command);
    let outcome = settings::Settings::from_args(&cli.global)
        .and_then(|s| commands::dispatch(cli.command, &s));
    let status = match outcome {
        Ok(status) => status,
        Err(err) => {
            report_error(&printer, &err);
            if settings::github_actions() {
                annotate_error(&printer, &err, json_out);
            }
            error::classify(&err)
        }
    };
    std::process::ExitCode::from(status.code() as u8)
}

/// Leaves `value` to the end of the process instead of freeing it: the
/// command is about to exit, and freeing a large session or protocol set
/// piece by piece (~0.3 ms for 500 actions) costs more than the exit that
/// returns the memory whole. Nothing with a `Drop` that does work (a lock,
/// a file) may be passed.
pub(crate) fn keep_until_exit<T>(value: T) {
    std::mem::forget(value);
}

fn report_error(printer: &ui::Printer, err: &anyhow::Error) {
    let hint = error::hint_of(err);
    if printer.verbose() > 0 {
        printer.error(err, hint.as_deref());
        for cause in err.chain().skip(1) {
            printer.info(format!("  caused by: {cause}"));
        }
    } else {
        printer.error(format!("{err:#}"), hint.as_deref());
    }
}

/// A write past a file-size limit (`ulimit -f`) then fails with EFBIG, an
/// error the tool reports and recovers from, instead of killing the process
/// by SIGXFSZ mid-write. A handler that does nothing, rather than SIG_IGN:
/// handlers are reset before `exec` (engine/spawn.rs) and by it, so
/// commands the tool runs get the default.
fn ignore_file_size_signal() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    extern "C" fn on_file_size_limit(_: std::os::raw::c_int) {}
    let action = SigAction::new(
        SigHandler::Handler(on_file_size_limit),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: called first thing in main, before any thread exists; the
    // handler does nothing, so it is async-signal-safe.
    unsafe {
        let _ = sigaction(Signal::SIGXFSZ, &action);
    }
    signals::handlers_changed();
}

/// The error as `::error` workflow commands: on stdout, where the runner
/// reads them, unless stdout is reserved for a JSON document.
fn annotate_error(printer: &ui::Printer, err: &anyhow::Error, json_out: bool) {
    for line in reports::github::error_annotations(err) {
        if json_out {
            eprintln!("{line}");
        } else {
            printer.out(line);
        }
    }
}

/// Diagnostics on stderr, colored as the printer colors stderr (so
/// `--color` and `NO_COLOR` hold for them too).
fn init_tracing(verbose: u8, ansi: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "deploy_session=debug",
        _ => "deploy_session=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}
