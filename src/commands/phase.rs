//! `deploy-session phase N --status … --deliverable … --by NAME`

use crate::cli::{PhaseArgs, RunFormat};
use crate::error::{ExitStatus, InputError};
use crate::master_state::PhaseStatus;
use crate::settings::Settings;
use crate::settle::{self, PhaseStatement};
use crate::ui::style;
use anyhow::Result;

pub fn run(args: &PhaseArgs, s: &Settings) -> Result<ExitStatus> {
    let statement = statement(args)?;
    let (mut store, _) = super::resolve::open_for_settling(s, Some(&args.by))?;
    let by = s.actor(Some(&args.by));
    let recorded = settle::record_phase(&mut store, &s.paths, &statement, &by)?;
    store.sync_audit()?;
    store.snapshot()?;
    if store.session().is_some() {
        crate::context::refresh(&store)?;
    }
    let n = args.number;
    if args.format == RunFormat::Json {
        super::print_json(
            s,
            &crate::documents::PhaseStatementDoc {
                schema_version: crate::documents::SchemaVersion,
                phase: n,
                by,
                recorded,
                evidence: "attested",
            },
        );
        return Ok(ExitStatus::Success);
    }
    let p = &s.printer;
    p.out(format!(
        "{} Phase {n}: {} — stated by {} (attested), in {}",
        p.paint(style::OK, "✓"),
        crate::ui::visible(&recorded),
        crate::ui::visible(&by),
        s.paths.shown(&s.paths.master_state()).display()
    ));
    if n == 6 && statement.status == Some(PhaseStatus::Completed) {
        p.info(format!(
            "next: a named approval of Phase 6, given by the approver with their own name: `deploy-session approve --phase 6 --by \"{}\"`",
            crate::progress::PERSON
        ));
    }
    Ok(ExitStatus::Success)
}

/// The statement the flags make, every value checked before anything is
/// opened.
fn statement(args: &PhaseArgs) -> Result<PhaseStatement> {
    let status = args
        .status
        .as_deref()
        .map(|w| parse_status(w, "--status", w))
        .transpose()?;
    let mut deliverables = Vec::new();
    for given in &args.deliverable {
        let (name, status) = match given.split_once('=') {
            Some((name, word)) => (name.trim(), parse_status(word, "--deliverable", given)?),
            None => (given.trim(), PhaseStatus::Completed),
        };
        if name.is_empty() {
            return Err(InputError::usage(format!(
                "--deliverable {given:?}: a deliverable needs a name"
            ))
            .into());
        }
        deliverables.push((name.to_string(), status));
    }
    Ok(PhaseStatement {
        phase: args.number,
        status,
        deliverables,
        all_deliverables: args.all_deliverables,
        note: args.note.clone(),
    })
}

fn parse_status(word: &str, flag: &str, value: &str) -> Result<PhaseStatus, InputError> {
    PhaseStatus::parse(word).ok_or_else(|| {
        InputError::usage(format!("{flag} {value:?}: unknown status {word:?}"))
            .with_hint("not_started, in_progress, blocked or completed")
    })
}
