//! `done`, `skip` and `fail`: a person (or assistant) settles an action.

use crate::cli::{DoneArgs, ReasonArgs, RunFormat};
use crate::error::{ExitStatus, InputError};
use crate::protocol::{Action, Kind, ProtocolSet};
use crate::session::{ActionStatus, Store};
use crate::settings::Settings;
use crate::settle;
use crate::ui::style;
use anyhow::Result;

pub fn done(args: &DoneArgs, s: &Settings) -> Result<ExitStatus> {
    let (mut store, set, _) = s.open_store(args.by.as_deref())?;
    let a = settleable(&store, &set, &args.id, "mark {} done", |k| {
        matches!(k, Kind::Manual)
    })?;
    let evidence = settle::check_evidence(
        s.paths.root(),
        &std::env::current_dir()?,
        &args.evidence,
        Some("--evidence"),
    )?;
    settle::done(
        &mut store,
        &a.id,
        &s.actor(args.by.as_deref()),
        args.note.clone(),
        evidence,
    )?;
    finish(s, &mut store, &set, a, "done", args.format)
}

pub fn skip(args: &ReasonArgs, s: &Settings) -> Result<ExitStatus> {
    let (mut store, set, _) = s.open_store(args.by.as_deref())?;
    let a = settleable(&store, &set, &args.id, "skip {}", |k| {
        !matches!(k, Kind::Approval(_) | Kind::Builtin(_))
    })?;
    settle::skip(
        &mut store,
        &a.id,
        &s.actor(args.by.as_deref()),
        &args.reason,
    )?;
    finish(s, &mut store, &set, a, "skipped", args.format)
}

pub fn fail(args: &ReasonArgs, s: &Settings) -> Result<ExitStatus> {
    let (mut store, set, _) = s.open_store(args.by.as_deref())?;
    let a = settleable(&store, &set, &args.id, "fail {}", Kind::needs_human)?;
    settle::fail(
        &mut store,
        &a.id,
        &s.actor(args.by.as_deref()),
        &args.reason,
    )?;
    finish(s, &mut store, &set, a, "failed", args.format)
}

/// The action `id`, if a person may settle it now: it exists, its kind
/// allows `verb`, a session is open, its protocol may start, and it is not
/// already settled.
pub(super) fn settleable<'a>(
    store: &Store,
    set: &'a ProtocolSet,
    id: &str,
    verb: &str,
    kind_ok: impl Fn(&Kind) -> bool,
) -> Result<&'a Action> {
    let a = super::find_action(set, id)?;
    let what = verb.replace("{}", id);
    if !kind_ok(&a.kind) {
        return Err(wrong_kind(a, &what).into());
    }
    let Some(session) = store.session() else {
        return Err(InputError::usage("no deployment session is open")
            .with_hint("`deploy-session start` opens one")
            .into());
    };
    if let Some(req) = set.get(a.protocol).requires {
        let open: Vec<&str> = set
            .get(req)
            .actions()
            .filter(|x| !x.optional() && !session.status_of(&x.id).is_done())
            .map(|x| x.id.as_str())
            .collect();
        if !open.is_empty() {
            return Err(InputError::usage(format!(
                "{id} belongs to `{}`, which starts once `{req}` is complete (not done: {})",
                a.protocol,
                open.join(", ")
            ))
            .into());
        }
    }
    let rec = session.action(id);
    if rec.status.is_done() {
        let by = rec.by.map(|b| format!(" by {b}")).unwrap_or_default();
        let at = rec.ended_at.map(|t| format!(" at {t}")).unwrap_or_default();
        return Err(InputError::usage(format!(
            "cannot {what}: it is already {}{by}{at}",
            rec.status.word()
        ))
        .with_hint(format!(
            "`deploy-session {} --rerun {id}` runs it again",
            a.protocol
        ))
        .into());
    }
    if rec.status == ActionStatus::Running {
        return Err(InputError::usage(format!("cannot {what}: it is running")).into());
    }
    Ok(a)
}

fn wrong_kind(a: &Action, what: &str) -> InputError {
    let how = match &a.kind {
        Kind::Approval(_) => format!(
            "approve it with `deploy-session approve {}` (or fail it)",
            a.id
        ),
        Kind::Builtin(_) => format!(
            "deploy-session performs it itself when `deploy-session {}` runs",
            a.protocol
        ),
        Kind::Manual => format!(
            "`deploy-session done {}`, `skip {} --reason ...` or `fail {} --reason ...`",
            a.id, a.id, a.id
        ),
        _ => format!(
            "it completes by running: `deploy-session {}` (skip it with a reason to pass it by)",
            a.protocol
        ),
    };
    InputError::usage(format!("cannot {what}: it is a `{}` action", a.kind.name())).with_hint(how)
}

/// Saves, refreshes the context and says what is next (JSON: `{schema_version,
/// action, status, next}`).
pub(super) fn finish(
    s: &Settings,
    store: &mut Store,
    set: &ProtocolSet,
    a: &Action,
    verb: &str,
    format: RunFormat,
) -> Result<ExitStatus> {
    store.sync_audit()?;
    store.snapshot()?;
    crate::context::refresh(store)?;
    let next = crate::progress::next_actions(set, store.session());
    if format == RunFormat::Json {
        let status = store
            .session()
            .map_or(crate::session::ActionStatus::Completed, |x| {
                x.status_of(&a.id)
            });
        super::print_json(
            s,
            &crate::documents::SettleDoc {
                schema_version: crate::documents::SchemaVersion,
                action: a.id.clone(),
                status,
                next,
            },
        );
        return Ok(ExitStatus::Success);
    }
    let p = &s.printer;
    p.out(format!(
        "{} {} {verb}: {}",
        p.paint(style::OK, "✓"),
        a.id,
        a.title
    ));
    if next.is_empty() {
        p.out(format!("next: `deploy-session {}` to continue", a.protocol));
    } else {
        p.out("next:");
        super::run::print_next(s, &next);
    }
    Ok(ExitStatus::Success)
}
