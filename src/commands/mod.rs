//! One file per command; [`dispatch`] is the only place that matches on them.

mod abort;
mod approve;
mod audit;
mod completions;
mod config;
mod context;
mod export;
mod gates;
mod handoff;
mod history;
mod init;
mod merge;
mod next;
mod phase;
mod plan;
mod probe;
mod resolve;
pub(crate) mod run;
mod status;
mod todo;
pub(crate) mod walk;

use crate::cli::{
    AuditCommand, Command, ConfigCommand, ContextFormat, HandoffCommand, ReportFormat, RunFormat,
    TodoFormat,
};
use crate::error::{ExitStatus, InputError};
use crate::protocol::{Action, ProtocolName, ProtocolSet};
use crate::settings::Settings;
use anyhow::Result;

/// Runs a parsed command.
pub fn dispatch(command: Command, settings: &Settings) -> Result<ExitStatus> {
    match command {
        Command::Init(a) => init::run(&a, settings),
        Command::Plan(a) => plan::run(&a, settings),
        Command::Status(a) => status::run(&a, settings),
        Command::Start(a) if a.interactive => walk::walk(Some(ProtocolName::Start), settings),
        Command::Work(a) if a.interactive => walk::walk(Some(ProtocolName::Work), settings),
        Command::End(a) if a.run.interactive => end_interactively(&a, settings),
        Command::Start(a) => run::run(ProtocolName::Start, &a, settings),
        Command::Work(a) => run::run(ProtocolName::Work, &a, settings),
        Command::End(a) => run::end(&a, settings),
        Command::Walk(a) => {
            let protocol = a.protocol.as_deref().and_then(ProtocolName::parse);
            walk::walk(protocol, settings)
        }
        Command::Context(a) => context::run(&a, settings),
        Command::Done(a) => resolve::done(&a, settings),
        Command::Skip(a) => resolve::skip(&a, settings),
        Command::Fail(a) => resolve::fail(&a, settings),
        Command::Approve(a) => approve::run(&a, settings),
        Command::Phase(a) => phase::run(&a, settings),
        Command::Next(a) => next::run(&a, settings),
        Command::Todo(a) => todo::run(&a, settings),
        Command::Gates(a) => gates::run(&a, settings),
        Command::Handoff(HandoffCommand::Verify(a)) => handoff::verify(&a, settings),
        Command::Audit(AuditCommand::Verify(a)) => audit::verify(&a, settings),
        Command::Audit(AuditCommand::Log(a)) => audit::log(&a, settings),
        Command::Audit(AuditCommand::Rebuild) => audit::rebuild(settings),
        Command::History(a) => history::run(&a, settings),
        Command::Abort(a) => abort::run(&a, settings),
        Command::Config(ConfigCommand::Check(a)) => config::check(&a, settings),
        Command::Completions(a) => completions::run(&a),
        Command::Man => completions::man(),
        Command::Probe(a) => probe::run(&a, settings),
        Command::Export(a) => export::run(&a, settings),
        Command::Merge(a) => merge::run(&a, settings),
        #[cfg(feature = "demo")]
        Command::Demo(a) => {
            let opts = crate::demo::Options {
                dir: a.dir.clone(),
                nginx: a.proxy == crate::cli::DemoProxy::Nginx,
            };
            crate::demo::run(&opts, &settings.printer)
        }
        #[cfg(feature = "demo")]
        Command::Serve(a) => {
            let opts = crate::demo::serve::Options {
                port: a.port,
                version: a.version.clone(),
                unhealthy: a.unhealthy,
                delay: std::time::Duration::from_millis(a.delay_ms),
                routes: a.routes.clone(),
                exit_with: a.exit_with,
                pid_file: a.pid_file.clone(),
            };
            crate::demo::serve::run(&opts).map(|()| ExitStatus::Success)
        }
    }
}

/// `end -i`: the walk does not take `end`'s extras (waivers, commit).
fn end_interactively(a: &crate::cli::EndArgs, settings: &Settings) -> Result<ExitStatus> {
    if !a.waive.is_empty() || a.commit {
        return Err(InputError::usage("`end -i` cannot be combined with --waive or --commit")
            .with_hint("waive and commit with a non-interactive `deploy-session end --waive GATE --reason ... --commit`")
            .into());
    }
    walk::walk(Some(ProtocolName::End), settings)
}

/// Whether stdout is reserved for one JSON document (so nothing else,
/// not even workflow commands, may be printed there).
pub fn prints_json(command: &Command) -> bool {
    let report = |f: ReportFormat| f == ReportFormat::Json;
    let run = |f: RunFormat| f == RunFormat::Json;
    match command {
        Command::Start(a) | Command::Work(a) => run(a.format),
        Command::End(a) => run(a.run.format),
        Command::Done(a) => run(a.format),
        Command::Skip(a) => run(a.reason.format),
        Command::Fail(a) => run(a.format),
        Command::Approve(a) => run(a.format),
        Command::Probe(a) => run(a.format),
        Command::Status(a) | Command::Gates(a) | Command::History(a) => report(a.format),
        Command::Next(a) | Command::Config(ConfigCommand::Check(a)) => run(a.format),
        Command::Plan(a) => report(a.format),
        Command::Todo(a) => a.format != TodoFormat::Human && a.format != TodoFormat::Markdown,
        Command::Context(a) => a.format == ContextFormat::Json,
        Command::Handoff(HandoffCommand::Verify(a)) => run(a.format),
        Command::Merge(a) => run(a.format),
        Command::Audit(AuditCommand::Verify(a)) => run(a.format),
        Command::Audit(AuditCommand::Log(a)) => report(a.format),
        _ => false,
    }
}

/// Prints a JSON document on stdout.
pub(crate) fn print_json(settings: &Settings, value: &impl serde::Serialize) {
    settings
        .printer
        .out(serde_json::to_string_pretty(value).unwrap_or_default());
}

/// The action `id`, or a usage error suggesting the nearest ids.
pub(crate) fn find_action<'a>(set: &'a ProtocolSet, id: &str) -> Result<&'a Action> {
    set.action(id).ok_or_else(|| {
        let near = set.suggest(id);
        let e = InputError::usage(format!("unknown action id {id:?}"));
        if near.is_empty() {
            e.with_hint("`deploy-session plan` lists every id").into()
        } else {
            e.with_hint(format!("did you mean {}?", near.join(", ")))
                .into()
        }
    })
}
