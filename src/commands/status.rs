//! `deploy-session status`: the master state's phases and the session.
//! Read-only: never takes the lock, never writes.

use crate::cli::{FormatArgs, ReportFormat};
use crate::error::{ExitStatus, InputError};
use crate::master_state::{MasterState, Phase};
use crate::settings::Settings;
use crate::ui::{markdown_table, style};
use anyhow::Result;
use serde_json::json;

const HEADER: [&str; 5] = ["phase", "name", "status", "completed", "approval"];
const NO_SESSION: &str =
    "no deployment session has been started in this repo (`deploy-session start` opens one)";

pub fn run(args: &FormatArgs, s: &Settings) -> Result<ExitStatus> {
    let path = s.paths.master_state();
    let shown = s.paths.shown(&path);
    if !path.exists() {
        return Err(
            InputError::in_file(&shown, None, "the master state file does not exist")
                .with_hint("`deploy-session init` creates one in the framework's format")
                .into(),
        );
    }
    let state = MasterState::load(&path, &shown)?;
    let mut phases: Vec<&Phase> = state.phases().iter().collect();
    phases.sort_by_key(|p| p.number);
    match args.format {
        ReportFormat::Json => super::print_json(
            s,
            &json!({
                "schema_version": 1,
                "master_state": { "path": shown, "phases": phases },
                "session": null,
            }),
        ),
        ReportFormat::Markdown => {
            let rows: Vec<Vec<String>> = phases.iter().map(|p| row(p)).collect();
            s.printer.out(format!(
                "## Phases\n\n{}\n## Session\n\n{NO_SESSION}\n",
                markdown_table(&HEADER, &rows)
            ));
        }
        ReportFormat::Table => {
            let pr = &s.printer;
            pr.out(pr.paint(style::HEAD, format!("Phases ({})", shown.display())));
            let mut t = pr.table(&HEADER);
            for p in &phases {
                t.add_row(row(p));
            }
            pr.out(t);
            pr.out(format!(
                "\n{} {NO_SESSION}",
                pr.paint(style::HEAD, "Session:")
            ));
        }
    }
    Ok(ExitStatus::Success)
}

fn row(p: &Phase) -> Vec<String> {
    let approval = match &p.approval {
        Some(a) if p.approved() => format!(
            "approved{}{}",
            a.by.as_deref()
                .map(|b| format!(" by {b}"))
                .unwrap_or_default(),
            a.at.as_deref()
                .map(|t| format!(" at {t}"))
                .unwrap_or_default()
        ),
        Some(a) => format!("{:?}", a.status).to_lowercase(),
        None => "—".into(),
    };
    vec![
        p.number.to_string(),
        p.name.clone(),
        p.status.to_string(),
        if p.completed { "yes" } else { "no" }.into(),
        approval,
    ]
}
