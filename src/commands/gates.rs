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
    let (state, set, config) = s.read_state_and_protocols()?;
    let Some(session) = state.session.as_ref() else {
        return match crate::session::history::read(&s.paths)?.pop() {
            Some(last) => last_report(args, s, &last.session),
            None => Err(InputError::usage("no deployment session is open")
                .with_hint("`deploy-session start` opens one")
                .into()),
        };
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

/// No session is open: the last finished session's gates, as `end`
/// archived them (the same document `--format json` gives for an open one).
fn last_report(args: &FormatArgs, s: &Settings, session: &str) -> Result<ExitStatus> {
    let path = s.paths.archive(session).join("reports/gates.json");
    let shown = s.paths.shown(&path);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        InputError::in_file(
            &shown,
            None,
            format!("cannot read the archived gate report: {e}"),
        )
    })?;
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| InputError::in_file(&shown, Some(e.line()), format!("not JSON: {e}")))?;
    let passed = doc["passed"].as_bool().unwrap_or(false);
    let text_of =
        |v: &serde_json::Value| crate::ui::visible(v.as_str().unwrap_or_default()).into_owned();
    let rows: Vec<Vec<String>> = doc["gates"]
        .as_array()
        .map(|gates| {
            gates
                .iter()
                .map(|g| {
                    let why = match text_of(&g["reason"]) {
                        r if r.is_empty() => g["evidence"][0]
                            .as_str()
                            .map(|e| crate::ui::visible(e).into_owned())
                            .unwrap_or_default(),
                        r => r,
                    };
                    vec![
                        text_of(&g["group"]),
                        text_of(&g["id"]),
                        text_of(&g["verdict"]),
                        why,
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    match args.format {
        ReportFormat::Json => super::print_json(s, &doc),
        ReportFormat::Markdown => s.printer.out(markdown_table(&gates::TABLE_HEADER, &rows)),
        ReportFormat::Human => {
            s.printer.out(format!(
                "No session is open; the last finished session's gates ({session}, from {}):",
                shown.display()
            ));
            let mut t = s.printer.table(&gates::TABLE_HEADER);
            t.add_rows(rows);
            s.printer.out(t);
        }
    }
    Ok(if passed {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}
