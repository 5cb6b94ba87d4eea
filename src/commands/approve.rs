//! `deploy-session approve ID | --phase N`

use crate::cli::{ApproveArgs, RunFormat};
use crate::error::ExitStatus;
use crate::protocol::Kind;
use crate::settings::Settings;
use crate::settle;
use crate::ui::style;
use anyhow::Result;

pub fn run(args: &ApproveArgs, s: &Settings) -> Result<ExitStatus> {
    // A CI environment's reviewer, read before anything is opened: a
    // refusal records nothing.
    let (by_api, note_api) = match &args.from_github_environment {
        Some(env) => match crate::github_api::environment_approval(env) {
            Ok(a) => {
                let said = if a.comment.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", a.comment.trim())
                };
                (
                    Some(format!("{} (GitHub)", a.login)),
                    Some(format!(
                        "approved in the GitHub Environment {env} for run {}{said}",
                        a.run_id
                    )),
                )
            }
            Err(why) => {
                s.printer.error(
                    format!("not approved: {why}"),
                    Some("nothing was recorded; the stage waits for a named approval"),
                );
                return Ok(ExitStatus::Failure);
            }
        },
        None => (None, None),
    };
    let (mut store, set) =
        super::resolve::open_for_settling(s, by_api.as_deref().or(args.by.as_deref()))?;
    let by = by_api.unwrap_or_else(|| s.actor(args.by.as_deref()));
    let via = if note_api.is_some() {
        crate::protocol::ApprovalVia::CiEnvironment
    } else {
        crate::protocol::ApprovalVia::Command
    };
    let note = note_api.or_else(|| args.note.clone());
    let approve = |store: &mut crate::session::Store, id: &str, phase: Option<i8>| {
        settle::approve(
            store,
            &s.paths,
            id,
            &by,
            note.clone(),
            phase.map(|n| settle::PhaseApproval {
                phase: n,
                replace: args.replace,
            }),
            via,
        )
    };
    if let Some(id) = &args.id {
        let a = super::resolve::settleable(&store, &set, id, "approve {}", |k| {
            matches!(k, Kind::Approval(_))
        })?;
        let Kind::Approval(spec) = &a.kind else {
            unreachable!("settleable checked the kind");
        };
        approve(&mut store, id, spec.phase)?;
        return super::resolve::finish(s, &mut store, &set, a, "approved", args.format);
    }
    let n = args.phase.unwrap_or(6);
    // Approval actions bound to this phase are satisfied by it.
    let bound: Vec<String> = set
        .actions()
        .filter(|a| matches!(&a.kind, Kind::Approval(spec) if spec.phase == Some(n)))
        .filter(|a| {
            store
                .session()
                .is_some_and(|x| !x.status_of(&a.id).is_done())
        })
        .map(|a| a.id.clone())
        .collect();
    match bound.first() {
        Some(id) => approve(&mut store, id, Some(n))?,
        None => {
            let p = settle::PhaseApproval {
                phase: n,
                replace: args.replace,
            };
            settle::approve_phase(&mut store, &s.paths, p, &by, args.note.clone())?
        }
    }
    for id in bound.iter().skip(1) {
        approve(&mut store, id, None)?;
    }
    store.sync_audit()?;
    store.snapshot()?;
    if store.session().is_some() {
        crate::context::refresh(&store)?;
    }
    if args.format == RunFormat::Json {
        super::print_json(
            s,
            &crate::documents::PhaseApprovalDoc {
                schema_version: crate::documents::SchemaVersion,
                phase: n,
                by: by.clone(),
                approved_actions: bound,
            },
        );
    } else {
        let p = &s.printer;
        p.out(format!(
            "{} Phase {n} approval by {} recorded in {}",
            p.paint(style::OK, "✓"),
            crate::ui::visible(&by),
            s.paths.shown(&s.paths.master_state()).display()
        ));
        for id in &bound {
            p.out(format!("{} {id} approved", p.paint(style::OK, "✓")));
        }
    }
    Ok(ExitStatus::Success)
}
