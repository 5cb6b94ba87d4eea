//! `deploy-session approve ID | --phase N`

use crate::cli::ApproveArgs;
use crate::engine::write_phase_approval;
use crate::error::{ExitStatus, InputError};
use crate::protocol::Kind;
use crate::session::{ActionStatus, EventKind};
use crate::settings::Settings;
use crate::ui::style;
use anyhow::Result;

pub fn run(args: &ApproveArgs, s: &Settings) -> Result<ExitStatus> {
    let (mut store, set, _) = s.open_store(args.by.as_deref())?;
    let by = s.actor(args.by.as_deref());
    let p = &s.printer;
    if let Some(n) = args.phase {
        if !s.paths.master_state().exists() {
            return Err(InputError::in_file(
                &s.paths.shown(&s.paths.master_state()),
                None,
                "the master state file does not exist",
            )
            .with_hint("`deploy-session init` creates one")
            .into());
        }
        write_phase_approval(&s.paths, n, &by, args.note.clone())?;
        p.out(format!(
            "{} Phase {n} approval by {by} recorded in {}",
            p.paint(style::OK, "✓"),
            s.paths.shown(&s.paths.master_state()).display()
        ));
        // Approval actions bound to this phase are satisfied too.
        let bound: Vec<String> = set
            .actions()
            .filter(|a| matches!(&a.kind, Kind::Approval(spec) if spec.phase == Some(n)))
            .map(|a| a.id.clone())
            .collect();
        if let Some(session) = store.session().cloned() {
            let shown = s.paths.shown(&s.paths.master_state()).display().to_string();
            store.record_as(
                &by,
                None,
                EventKind::FileWritten {
                    path: shown,
                    purpose: format!("Phase {n} approval"),
                },
            )?;
            for id in bound.iter().filter(|id| !session.status_of(id).is_done()) {
                grant(&mut store, id, &by, args.note.clone(), Some(n))?;
                p.out(format!("{} {id} approved", p.paint(style::OK, "✓")));
            }
        }
    } else {
        let id = args.id.as_deref().unwrap_or_default();
        let a = super::resolve::settleable(&store, &set, id, "approve {}", |k| {
            matches!(k, Kind::Approval(_))
        })?;
        let Kind::Approval(spec) = &a.kind else {
            unreachable!("settleable checked the kind");
        };
        if let Some(n) = spec.phase {
            write_phase_approval(&s.paths, n, &by, args.note.clone())?;
            let shown = s.paths.shown(&s.paths.master_state()).display().to_string();
            store.record_as(
                &by,
                None,
                EventKind::FileWritten {
                    path: shown,
                    purpose: format!("Phase {n} approval"),
                },
            )?;
        }
        grant(&mut store, id, &by, args.note.clone(), spec.phase)?;
        return super::resolve::finish(s, &mut store, &set, a, "approved");
    }
    store.sync_audit()?;
    if store.session().is_some() {
        store.snapshot()?;
        crate::context::refresh(&store)?;
    }
    Ok(ExitStatus::Success)
}

fn grant(
    store: &mut crate::session::Store,
    id: &str,
    by: &str,
    note: Option<String>,
    phase: Option<i8>,
) -> Result<()> {
    store.record_as(
        by,
        Some(id),
        EventKind::ApprovalGranted {
            via: "command".into(),
            note: note.clone(),
            phase,
        },
    )?;
    store.record_as(
        by,
        Some(id),
        EventKind::ActionResolved {
            status: ActionStatus::Completed,
            note,
            evidence: Vec::new(),
        },
    )
}
