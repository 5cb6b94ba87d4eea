//! `deploy-session status`: the master state's phases and the session.
//! Read-only: never takes the lock, never writes.

use crate::cli::{FormatArgs, ReportFormat};
use crate::error::ExitStatus;
use crate::master_state::{MasterState, Phase};
use crate::protocol::{ProtocolSet, format_duration};
use crate::session::Session;
use crate::settings::Settings;
use crate::ui::{markdown_table, style};
use anyhow::Result;
use std::time::Duration;

const HEADER: [&str; 5] = ["phase", "name", "status", "completed", "approval"];
const ACTION_HEADER: [&str; 6] = ["id", "title", "kind", "status", "time", "detail"];
const NO_SESSION: &str =
    "no deployment session is open in this repo (`deploy-session start` opens one)";

pub fn run(args: &FormatArgs, s: &Settings) -> Result<ExitStatus> {
    let path = s.paths.master_state();
    let shown = s.paths.shown(&path);
    let state = MasterState::load_required(&s.paths)?;
    let mut phases: Vec<&Phase> = state.phases().iter().collect();
    phases.sort_by_key(|p| p.number);
    let session_state = crate::session::read_only(&s.paths)?;
    let session = session_state.session.as_ref();
    // The protocols are needed only to describe a session.
    let (set, config) = match session {
        Some(_) => {
            let seal = session_state.protocols.as_ref();
            let loaded = crate::protocol::load_sealed(&s.paths, seal)?;
            (Some(loaded.set), Some(loaded.config))
        }
        None => (None, None),
    };
    let gate_line = match (session, &set, &config) {
        (Some(x), Some(set), Some(config)) => format!(
            "Gates by evidence — {} (reliability and audit_trail: `deploy-session gates`)",
            crate::gates::by_class(&crate::gates::session_only(set, x, &config.gates))
        ),
        _ => String::new(),
    };
    let actions: Vec<Vec<String>> = match (session, &set) {
        (Some(sess), Some(set)) => action_rows(set, sess),
        _ => Vec::new(),
    };
    let phase_rows: Vec<Vec<String>> = phases.iter().map(|p| row(p)).collect();
    match args.format {
        ReportFormat::Json => super::print_json(
            s,
            &crate::documents::StatusDoc {
                schema_version: crate::documents::SchemaVersion,
                master_state: crate::documents::MasterStateDoc {
                    path: shown.display().to_string(),
                    phases: phases.into_iter().cloned().collect(),
                },
                session: session.map(|x| crate::documents::SessionDoc::new(set.as_ref(), x)),
            },
        ),
        ReportFormat::Markdown => {
            let sess = match session {
                Some(x) => format!(
                    "{}\n\n{gate_line}\n\n{}",
                    headline(x),
                    markdown_table(&ACTION_HEADER, &actions)
                ),
                None => no_session(s),
            };
            s.printer.out(format!(
                "## Phases\n\n{}\n## Session\n\n{sess}\n",
                markdown_table(&HEADER, &phase_rows)
            ));
        }
        ReportFormat::Human => {
            let pr = &s.printer;
            pr.out(pr.paint(style::HEAD, format!("Phases ({})", shown.display())));
            let mut t = pr.table(&HEADER);
            t.add_rows(phase_rows);
            pr.out(t);
            match session {
                None => pr.out(format!(
                    "\n{} {}",
                    pr.paint(style::HEAD, "Session:"),
                    no_session(s)
                )),
                Some(x) => {
                    pr.out(format!(
                        "\n{} {}",
                        pr.paint(style::HEAD, "Session:"),
                        headline(x)
                    ));
                    let mut t = pr.table(&ACTION_HEADER);
                    t.add_rows(actions);
                    pr.out(t);
                    for d in &x.deployments {
                        pr.out(format!(
                            "Deployed by {} {}: {}",
                            d.action,
                            d.title(),
                            d.summary()
                        ));
                    }
                    pr.out(gate_line);
                }
            }
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

fn headline(x: &Session) -> String {
    let git = match &x.git {
        Some(g) => format!(
            "git {}@{}{}",
            g.branch.as_deref().unwrap_or("(detached)"),
            g.commit
                .as_deref()
                .map_or("(none)", |c| &c[..12.min(c.len())]),
            if g.dirty {
                " (uncommitted changes)"
            } else {
                ""
            }
        ),
        None => "no git".into(),
    };
    format!(
        "{} — status {} — opened {} by {} — {git}",
        x.id,
        x.status.map_or("HANDOFF_PROCESSING", |s| s.as_str()),
        x.opened_at,
        crate::ui::visible(&x.opened_by)
    )
}

fn action_rows(set: &ProtocolSet, x: &Session) -> Vec<Vec<String>> {
    set.actions()
        .map(|a| {
            let r = x.action(&a.id);
            let detail = match (&r.by, &r.message) {
                (_, Some(m)) => m.clone(),
                (Some(b), None) => format!("by {b}"),
                _ => String::new(),
            };
            vec![
                a.id.clone(),
                crate::ui::visible(&a.title).into_owned(),
                a.kind.name().into(),
                r.status_shown().into(),
                r.duration_ms
                    .map(|ms| format_duration(Duration::from_millis(ms)))
                    .unwrap_or_default(),
                crate::ui::visible(&detail).into_owned(),
            ]
        })
        .collect()
}

/// The session as JSON, actions in protocol order with id, title and kind.
/// "none open", and the last finished session when there is one.
fn no_session(s: &Settings) -> String {
    match crate::session::history::read(&s.paths)
        .ok()
        .and_then(|mut h| h.pop())
    {
        Some(h) => format!(
            "{NO_SESSION}; the last one, {}, was {} at {} (`deploy-session history`)",
            h.session, h.outcome, h.closed_at
        ),
        None => NO_SESSION.to_string(),
    }
}
