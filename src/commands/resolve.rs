//! `done`, `skip` and `fail`: a person (or assistant) settles an action.

use crate::cli::{DoneArgs, ReasonArgs};
use crate::error::{ExitStatus, InputError};
use crate::paths::inside_repo;
use crate::protocol::{Action, Kind, ProtocolSet};
use crate::session::{ActionStatus, EventKind, Store};
use crate::settings::Settings;
use crate::ui::style;
use anyhow::Result;

pub fn done(args: &DoneArgs, s: &Settings) -> Result<ExitStatus> {
    let (mut store, set, _) = s.open_store(args.by.as_deref())?;
    let a = settleable(&store, &set, &args.id, "mark {} done", |k| {
        matches!(k, Kind::Manual)
    })?;
    let evidence = check_evidence(s, &args.evidence)?;
    let actor = s.actor(args.by.as_deref());
    store.record_as(
        &actor,
        Some(&a.id),
        EventKind::ActionResolved {
            status: ActionStatus::Completed,
            note: args.note.clone(),
            evidence,
        },
    )?;
    finish(s, &mut store, &set, a, "done")
}

pub fn skip(args: &ReasonArgs, s: &Settings) -> Result<ExitStatus> {
    let (mut store, set, _) = s.open_store(args.by.as_deref())?;
    let a = settleable(&store, &set, &args.id, "skip {}", |k| {
        !matches!(k, Kind::Approval(_) | Kind::Builtin(_))
    })?;
    let actor = s.actor(args.by.as_deref());
    store.record_as(
        &actor,
        Some(&a.id),
        EventKind::ActionResolved {
            status: ActionStatus::Skipped,
            note: Some(args.reason.clone()),
            evidence: Vec::new(),
        },
    )?;
    finish(s, &mut store, &set, a, "skipped")
}

pub fn fail(args: &ReasonArgs, s: &Settings) -> Result<ExitStatus> {
    let (mut store, set, _) = s.open_store(args.by.as_deref())?;
    let a = settleable(&store, &set, &args.id, "fail {}", Kind::needs_human)?;
    let actor = s.actor(args.by.as_deref());
    store.record_as(
        &actor,
        Some(&a.id),
        EventKind::ActionResolved {
            status: ActionStatus::Failed,
            note: Some(args.reason.clone()),
            evidence: Vec::new(),
        },
    )?;
    finish(s, &mut store, &set, a, "failed")
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
    if !kind_ok(&a.kind) {
        return Err(wrong_kind(a, verb).into());
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
            "cannot {}: it is already {}{by}{at}",
            verb.replace("{}", id),
            rec.status.word()
        ))
        .with_hint(format!(
            "`deploy-session {} --rerun {id}` runs it again",
            a.protocol
        ))
        .into());
    }
    if rec.status == ActionStatus::Running {
        return Err(
            InputError::usage(format!("cannot {}: it is running", verb.replace("{}", id))).into(),
        );
    }
    Ok(a)
}

fn wrong_kind(a: &Action, verb: &str) -> InputError {
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
    InputError::usage(format!(
        "cannot {}: it is a `{}` action",
        verb.replace("{}", &a.id),
        a.kind.name()
    ))
    .with_hint(how)
}

/// Evidence paths must exist inside the repo; returns them repo-relative.
fn check_evidence(s: &Settings, paths: &[String]) -> Result<Vec<String>> {
    let root = s.paths.root();
    let cwd = std::env::current_dir()?;
    let mut out = Vec::new();
    for p in paths {
        let abs = if std::path::Path::new(p).is_absolute() {
            std::path::PathBuf::from(p)
        } else {
            cwd.join(p)
        };
        let as_given = abs.to_string_lossy().into_owned();
        let rel = inside_repo(root, &as_given)
            .map_err(|why| InputError::usage(format!("--evidence {p}: {why}")))?;
        let full = root.join(&rel);
        let real = full
            .canonicalize()
            .map_err(|_| InputError::usage(format!("--evidence {p}: no such file")))?;
        if !real.starts_with(root) {
            return Err(
                InputError::usage(format!("--evidence {p}: it resolves outside the repo")).into(),
            );
        }
        out.push(rel.display().to_string());
    }
    Ok(out)
}

/// Saves, refreshes the context and says what is next.
pub(super) fn finish(
    s: &Settings,
    store: &mut Store,
    set: &ProtocolSet,
    a: &Action,
    verb: &str,
) -> Result<ExitStatus> {
    store.sync_audit()?;
    store.snapshot()?;
    crate::context::refresh(store)?;
    let p = &s.printer;
    p.out(format!(
        "{} {} {verb}: {}",
        p.paint(style::OK, "✓"),
        a.id,
        a.title
    ));
    let next = crate::progress::next_actions(set, store.session());
    if next.is_empty() {
        p.out(format!("next: `deploy-session {}` to continue", a.protocol));
    } else {
        p.out("next:");
        super::run::print_next(s, &next);
    }
    Ok(ExitStatus::Success)
}
