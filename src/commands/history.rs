//! `deploy-session history`: one row per finished session, and the
//! deployment success rate with its sample size.

use crate::cli::{FormatArgs, ReportFormat};
use crate::error::ExitStatus;
use crate::protocol::format_duration;
use crate::session::history::{self, Reliability};
use crate::settings::Settings;
use crate::ui::markdown_table;
use anyhow::Result;
use std::time::Duration;

pub fn run(args: &FormatArgs, s: &Settings) -> Result<ExitStatus> {
    let state = crate::session::read_only(&s.paths)?;
    let entries = history::read_verified(&s.paths, &state)?;
    let r = Reliability::of(&entries, None);
    let per_env = Reliability::per_environment(&entries, None);
    let ms = |v: Option<u64>| {
        v.map(|m| format_duration(Duration::from_millis(m)))
            .unwrap_or_default()
    };
    let rate = match r.rate() {
        Some(p) => format!(
            "{p:.2}% of {} succeeded across {}",
            crate::ui::count(r.deployments, "deployment", "deployments"),
            crate::ui::count(r.sessions, "session", "sessions")
        ),
        None => "no deployment has been measured yet".to_string(),
    };
    match args.format {
        ReportFormat::Json => super::print_json(
            s,
            &crate::documents::HistoryDoc {
                schema_version: crate::documents::SchemaVersion,
                sessions: entries.clone(),
                reliability: crate::documents::ReliabilityDoc {
                    deployments: r.deployments,
                    succeeded: r.succeeded,
                    sessions: r.sessions,
                    rate: r.rate(),
                    environments: per_env
                        .iter()
                        .map(|(env, r)| (env.clone(), r.into()))
                        .collect(),
                },
            },
        ),
        _ => {
            let header = [
                "session",
                "opened",
                "closed",
                "outcome",
                "took",
                "deployments (failed)",
                "deploy",
                "rollback",
            ];
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|h| {
                    vec![
                        h.session.clone(),
                        h.opened_at.clone(),
                        h.closed_at.clone(),
                        h.outcome.clone(),
                        ms(Some(h.duration_ms)),
                        format!("{} ({})", h.deployments, h.deployments_failed),
                        ms(h.deploy_ms),
                        ms(h.rollback_ms),
                    ]
                })
                .collect();
            if args.format == ReportFormat::Markdown {
                s.printer.out(markdown_table(&header, &rows));
            } else {
                let mut t = s.printer.table(&header);
                t.add_rows(rows);
                s.printer.out(t);
            }
            s.printer.out(format!(
                "{}; {rate}",
                crate::ui::count(entries.len() as u64, "session", "sessions")
            ));
            for (env, r) in &per_env {
                if let Some(p) = r.rate() {
                    s.printer.out(format!(
                        "  {env}: {p:.2}% of {} succeeded across {}",
                        crate::ui::count(r.deployments, "deployment", "deployments"),
                        crate::ui::count(r.sessions, "session", "sessions")
                    ));
                }
            }
        }
    }
    Ok(ExitStatus::Success)
}
