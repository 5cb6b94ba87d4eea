//! `done`, `skip` and `fail`: a person (or assistant) settles an action.

use crate::cli::{DoneArgs, ReasonArgs, RunFormat, SkipArgs};
use crate::error::{ExitStatus, InputError};
use crate::protocol::{Action, Kind, ProtocolSet};
use crate::session::{ActionStatus, Store};
use crate::settings::Settings;
use crate::settle;
use crate::ui::style;
use anyhow::Result;

pub fn done(args: &DoneArgs, s: &Settings) -> Result<ExitStatus> {
    let (mut store, set) = open_for_settling(s, args.by.as_deref())?;
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

pub fn skip(skip: &SkipArgs, s: &Settings) -> Result<ExitStatus> {
    let args = &skip.reason;
    let (mut store, set) = open_for_settling(s, args.by.as_deref())?;
    let overriding = skip.override_validation;
    let a = settleable(&store, &set, &args.id, "skip {}", |k| {
        !matches!(k, Kind::Approval(_)) && (overriding || !k.is_validation())
    })?;
    if overriding && !a.kind.is_validation() {
        return Err(InputError::usage(format!(
            "--override: {} is {}, not one of the tool's validations; skip it without --override",
            a.id,
            a.kind.described()
        ))
        .into());
    }
    settle::skip(
        &mut store,
        &a.id,
        &s.actor(args.by.as_deref()),
        &args.reason,
        overriding,
    )?;
    let verb = if overriding {
        "skipped by override"
    } else {
        "skipped"
    };
    finish(s, &mut store, &set, a, verb, args.format)
}

pub fn fail(args: &ReasonArgs, s: &Settings) -> Result<ExitStatus> {
    let (mut store, set) = open_for_settling(s, args.by.as_deref())?;
    let a = settleable(&store, &set, &args.id, "fail {}", Kind::needs_human)?;
    settle::fail(
        &mut store,
        &a.id,
        &s.actor(args.by.as_deref()),
        &args.reason,
    )?;
    finish(s, &mut store, &set, a, "failed", args.format)
}

/// Opens the store for a person's decision. A broken master state refuses
/// it first (exit 2, nothing written): the session must not move on a
/// record nobody can read.
pub(super) fn open_for_settling(
    s: &Settings,
    by: Option<&str>,
) -> Result<(Store, std::sync::Arc<ProtocolSet>)> {
    crate::master_state::MasterState::load_required(&s.paths)?;
    let (store, set, _) = s.open_store(by)?;
    Ok((store, set))
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
    let protocol = set.get(a.protocol);
    let waiting_on: Vec<&str> = protocol
        .stages
        .iter()
        .find(|st| st.id == a.stage)
        .map(|st| st.needs.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|need| protocol.stages.iter().find(|st| &st.id == need))
        .flat_map(|st| st.actions.iter())
        .filter(|x| !x.optional() && !session.status_of(&x.id).is_done())
        .map(|x| x.id.as_str())
        .collect();
    if !waiting_on.is_empty() {
        return Err(InputError::usage(format!(
            "cannot {what}: its stage starts once the stages before it are complete (not done: {})",
            waiting_on.join(", ")
        ))
        .with_hint("`deploy-session next` shows what comes first")
        .into());
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
        k if k.is_validation() => format!(
            "it is one of deploy-session's own validations and runs with `deploy-session {}`; to pass it by anyway, a person names themself: `deploy-session skip {} --override --by \"{}\" --reason \"<why>\"` (shown as an override in status, gates and the handoff)",
            a.protocol,
            a.id,
            crate::progress::PERSON
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
    InputError::usage(format!("cannot {what}: it is {}", a.kind.described())).with_hint(how)
}

/// Moves the session's status forward (never back) to what its settled
/// actions have reached: a session completed by hand advances as a run
/// would.
fn advance_status(store: &mut Store, set: &ProtocolSet) -> Result<()> {
    let Some(session) = store.session() else {
        return Ok(());
    };
    let Some(reached) = crate::progress::settled_status(set, session) else {
        return Ok(());
    };
    let now = session.status;
    // Every status between, in the seed's order: each was passed through.
    let passed: Vec<_> = crate::protocol::SessionStatus::ALL
        .into_iter()
        .filter(|st| now.is_none_or(|n| *st > n) && *st <= reached)
        .collect();
    for status in passed {
        store.record(None, crate::session::EventKind::StatusChanged { status })?;
    }
    Ok(())
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
    advance_status(store, set)?;
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
    // A skip or a failure echoes its reason, as recorded (shown, not obeyed).
    let reason = store
        .session()
        .map(|x| x.action(&a.id))
        .filter(|r| matches!(r.status, ActionStatus::Skipped | ActionStatus::Failed))
        .and_then(|r| r.note)
        .map(|n| format!(" — {}", crate::ui::visible(&n)))
        .unwrap_or_default();
    p.out(format!(
        "{} {} {verb}: {}{reason}",
        p.paint(style::OK, "✓"),
        a.id,
        a.title
    ));
    if p.quiet() {
        // -q: the result line only.
    } else if next.is_empty() {
        p.out(format!("next: `deploy-session {}` to continue", a.protocol));
    } else {
        p.out("next:");
        super::run::print_next(s, &next);
    }
    Ok(ExitStatus::Success)
}
