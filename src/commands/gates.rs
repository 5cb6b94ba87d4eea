//! `deploy-session gates`: each quality gate with its verdict and the
//! evidence behind it. Read-only; exit 1 when any gate neither passes nor
//! is waived.

use crate::cli::{FormatArgs, ReportFormat};
use crate::error::{ExitStatus, InputError};
use crate::gates;
use crate::settings::Settings;
use crate::ui::{markdown_table, style};
use anyhow::Result;

pub fn run(args: &FormatArgs, s: &Settings) -> Result<ExitStatus> {
    let (set, config) = crate::protocol::load(&s.paths)?;
    let state = crate::session::read_only(&s.paths)?;
    let Some(session) = state.session.as_ref() else {
        let last = crate::session::history::read(&s.paths)?.pop();
        let hint = match last {
            Some(h) => format!(
                "the last session's gates are in {}/reports/gates.json",
                s.paths.shown(&s.paths.archive(&h.session)).display()
            ),
            None => "`deploy-session start` opens one".to_string(),
        };
        return Err(InputError::usage("no deployment session is open")
            .with_hint(hint)
            .into());
    };
    let results = gates::judge(&s.paths, &set, &state, &config.gates, &[])?;
    let ok = results.iter().all(|g| g.verdict.acceptable());
    let rows: Vec<Vec<String>> = results.iter().map(gates::GateResult::row).collect();
    let header = gates::TABLE_HEADER;
    match args.format {
        ReportFormat::Json => super::print_json(
            s,
            &crate::documents::GatesDoc {
                schema_version: crate::documents::SchemaVersion,
                session: session.id.clone(),
                passed: ok,
                gates: results.clone(),
            },
        ),
        ReportFormat::Markdown => s.printer.out(markdown_table(&header, &rows)),
        ReportFormat::Human => {
            let p = &s.printer;
            let mut t = p.table(&header);
            t.add_rows(rows);
            p.out(t);
            for (id, by, reason) in session.overrides() {
                p.out(format!(
                    "{} override: {id} (one of deploy-session's validations) was skipped by {}: {}",
                    p.paint(style::WAIT, "!"),
                    crate::ui::visible(by),
                    crate::ui::visible(reason)
                ));
            }
            p.out(format!(
                "by evidence: {} (pass: machine evidence; attested: people's notes only)",
                gates::summary(&results)
            ));
            let failing: Vec<&str> = results
                .iter()
                .filter(|g| !g.verdict.acceptable())
                .map(|g| g.id.as_str())
                .collect();
            if failing.is_empty() {
                p.out(format!(
                    "{} every gate passes or is waived",
                    p.paint(style::OK, "✓")
                ));
            } else {
                p.out(format!(
                    "{} not passing: {} (`deploy-session end --waive GATE --reason \"...\"` records a waiver)",
                    p.paint(style::BAD, "✗"),
                    failing.join(", ")
                ));
            }
        }
    }
    Ok(if ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}
