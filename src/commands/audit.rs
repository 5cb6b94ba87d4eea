//! `deploy-session audit verify | log`

use crate::audit;
use crate::cli::{AuditLogArgs, FormatArgs, ReportFormat};
use crate::error::ExitStatus;
use crate::settings::Settings;
use crate::ui::{markdown_table, style};
use anyhow::Result;

pub fn verify(args: &FormatArgs, s: &Settings) -> Result<ExitStatus> {
    let path = s.paths.audit();
    let v = audit::verify(&path)?;
    let ok = v.first_bad.is_none();
    let shown = s.paths.shown(&path).display().to_string();
    if args.format == ReportFormat::Json {
        super::print_json(
            s,
            &serde_json::json!({
                "schema_version": 1,
                "path": shown,
                "ok": ok,
                "events": v.events,
                "head": v.head,
                "first_bad": v.first_bad.as_ref().map(|(line, why)| serde_json::json!({"line": line, "reason": why})),
            }),
        );
    } else {
        let p = &s.printer;
        match &v.first_bad {
            None => p.out(format!(
                "{} {shown}: {} events, chain intact, head {}",
                p.paint(style::OK, "✓"),
                v.events,
                v.head
            )),
            Some((line, why)) => p.out(format!(
                "{} {shown}:{line}: {why} ({} events before it verify)",
                p.paint(style::BAD, "✗"),
                v.events
            )),
        }
    }
    Ok(if ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

pub fn log(args: &AuditLogArgs, s: &Settings) -> Result<ExitStatus> {
    let tail = audit::read_tail(&s.paths.audit(), &audit::JournalPos::default())?;
    let events: Vec<&audit::Event> = tail
        .events
        .iter()
        .filter(|e| args.session.as_ref().is_none_or(|id| &e.session == id))
        .collect();
    if let Some(id) = &args.session
        && events.is_empty()
    {
        return Err(crate::error::InputError::usage(format!(
            "--session {id}: no event of that session in {}",
            s.paths.shown(&s.paths.audit()).display()
        ))
        .with_hint("`deploy-session history` lists the sessions")
        .into());
    }
    let header = [
        "seq", "time", "session", "event", "action", "actor", "detail",
    ];
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let mut detail = e.detail.to_string();
            if detail.chars().count() > 80 {
                detail = format!("{}…", detail.chars().take(79).collect::<String>());
            }
            let shown = |t: &str| crate::ui::visible(t).into_owned();
            vec![
                e.seq.to_string(),
                shown(&e.ts),
                shown(&e.session),
                shown(&e.event),
                shown(e.action.as_deref().unwrap_or_default()),
                shown(&e.actor),
                shown(&detail),
            ]
        })
        .collect();
    match args.format {
        ReportFormat::Json => super::print_json(
            s,
            &serde_json::json!({"schema_version": 1, "events": events}),
        ),
        ReportFormat::Markdown => s.printer.out(markdown_table(&header, &rows)),
        ReportFormat::Table => {
            let mut t = s.printer.table(&header);
            t.add_rows(rows);
            s.printer.out(t);
        }
    }
    Ok(ExitStatus::Success)
}
