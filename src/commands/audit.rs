//! `deploy-session audit verify | log`

use crate::audit;
use crate::cli::{AuditLogArgs, AuditVerifyArgs, ReportFormat};
use crate::error::ExitStatus;
use crate::settings::Settings;
use crate::ui::{markdown_table, style};
use anyhow::Result;

pub fn verify(args: &AuditVerifyArgs, s: &Settings) -> Result<ExitStatus> {
    let path = s.paths.audit();
    let allowed = s.allowed_signers(args.allowed_signers.as_deref())?;
    let mut report = crate::anchors::verify(&s.paths, &allowed)?;
    report
        .anchors
        .extend([todo_view(s), protocol_cache_view(s)].into_iter().flatten());
    let v = &report.chain;
    let ok = report.ok();
    let shown = s.paths.shown(&path).display().to_string();
    let unanchored = v.events.saturating_sub(report.anchored_to);
    if args.format == crate::cli::RunFormat::Json {
        super::print_json(
            s,
            &crate::documents::AuditVerifyDoc {
                schema_version: crate::documents::SchemaVersion,
                path: shown,
                ok,
                events: v.events,
                head: v.head.clone(),
                first_bad: v
                    .first_bad
                    .as_ref()
                    .map(|(line, why)| crate::documents::BadLine {
                        line: *line,
                        reason: why.clone(),
                    }),
                anchors: report.anchors.clone(),
                anchored_to: report.anchored_to,
                unanchored,
                signature: report.signature,
            },
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
        for a in &report.anchors {
            let mark = if a.ok {
                p.paint(style::OK, "✓")
            } else {
                p.paint(style::BAD, "✗")
            };
            p.out(format!(
                "{mark} anchor {}: {}",
                a.anchor,
                crate::ui::visible(&a.detail)
            ));
        }
        if report.anchors.is_empty() {
            p.out(format!(
                "{} no anchor: nothing outside the trail records it, so cutting or rewriting it cannot be detected",
                p.paint(style::WAIT, "!")
            ));
        }
        let (mark, what) = match report.signature {
            "good" => (p.paint(style::OK, "✓"), "signed"),
            "bad" => (p.paint(style::BAD, "✗"), "signature BAD"),
            "not-checked" => (
                p.paint(style::WAIT, "!"),
                "signed but not checked (no allowed signers)",
            ),
            _ => (p.paint(style::WAIT, "!"), "unsigned"),
        };
        p.out(format!(
            "{mark} {what}: {unanchored} of {} events rest on the chain alone (after seq {}); anyone who can write the file could have appended them",
            v.events,
            report.anchored_to
        ));
    }
    Ok(if ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

/// The todo list checked as a view: it must be what the trail's state
/// renders (an assistant reads it; the tool never does). `None` when there
/// is no list, or no state to compare it with.
fn todo_view(s: &Settings) -> Option<crate::anchors::AnchorCheck> {
    let path = s.paths.todos();
    let on_disk = match view_bytes(s, &path) {
        Ok(bytes) => bytes?,
        Err(refused) => return Some(refused),
    };
    let (set, config) = crate::protocol::load(&s.paths).ok()?;
    let state = crate::session::read_only(&s.paths).ok()?;
    let want = crate::todo::render(&set, state.session.as_ref(), &s.redactor(&config)).ok()?;
    Some(view_check(
        s,
        &path,
        want == on_disk,
        "the list the trail's state gives",
        "differs from the list the trail's state gives (edited?); `deploy-session audit rebuild` writes it again",
    ))
}

/// A view's bytes (`None`: there is none), or the failed verdict for
/// something that is not a regular file in its place (a FIFO, a folder): it
/// is read without blocking, and not what the trail gives either way.
fn view_bytes(
    s: &Settings,
    path: &std::path::Path,
) -> Result<Option<Vec<u8>>, crate::anchors::AnchorCheck> {
    crate::fsio::read_regular(path).map_err(|e| crate::anchors::AnchorCheck {
        anchor: format!("view {}", s.paths.shown(path).display()),
        ok: false,
        detail: format!("cannot be read as the view: {e}"),
    })
}

/// A view's verdict, as `audit verify` lists it.
fn view_check(
    s: &Settings,
    path: &std::path::Path,
    ok: bool,
    holds: &str,
    differs: &str,
) -> crate::anchors::AnchorCheck {
    crate::anchors::AnchorCheck {
        anchor: format!("view {}", s.paths.shown(path).display()),
        ok,
        detail: if ok { holds } else { differs }.to_string(),
    }
}

/// The protocol cache checked as a view: its bytes must be the ones the
/// trail's newest `protocol_resolved` line seals (a cache nothing seals is
/// never read, and not reported). `None` without a cache or a seal.
fn protocol_cache_view(s: &Settings) -> Option<crate::anchors::AnchorCheck> {
    let path = s.paths.protocol_cache();
    let on_disk = match view_bytes(s, &path) {
        Ok(bytes) => bytes?,
        Err(refused) => return Some(refused),
    };
    let seal = crate::session::read_only(&s.paths).ok()?.protocols?;
    Some(view_check(
        s,
        &path,
        crate::digest::sha256_hex(&on_disk) == seal.cache_sha256,
        "the protocol cache the trail's newest `protocol_resolved` line seals",
        "not the protocol cache the trail seals (edited?): no command reads it, and the next run puts the sealed one back",
    ))
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
            &crate::documents::AuditLogDoc {
                schema_version: crate::documents::SchemaVersion,
                events: events.into_iter().cloned().collect(),
            },
        ),
        ReportFormat::Markdown => s.printer.out(markdown_table(&header, &rows)),
        ReportFormat::Human => {
            let mut t = s.printer.table(&header);
            t.add_rows(rows);
            s.printer.out(t);
        }
    }
    Ok(ExitStatus::Success)
}

/// `audit rebuild`: the views written again from the trail alone.
pub fn rebuild(s: &Settings) -> Result<ExitStatus> {
    let (store, backup) = s.rebuild_store()?;
    crate::context::refresh(&store)?;
    let (sessions, index_backup) = crate::session::history::rebuild(&s.paths)?;
    let shown = |p: &std::path::Path| s.paths.shown(p).display().to_string();
    let state = shown(&s.paths.state());
    match backup {
        Some(old) => s.printer.info(format!(
            "rebuilt {state} and the todo list from {} events of the audit trail; the old state.json is kept as {}",
            store.state.journal.seq,
            shown(&old)
        )),
        None => s.printer.info(format!(
            "rebuilt {state} and the todo list from {} events of the audit trail",
            store.state.journal.seq
        )),
    }
    let index = shown(&s.paths.archive_root().join("index.jsonl"));
    s.printer.info(match index_backup {
        Some(old) => format!(
            "rebuilt {index} from the trail's seals: {sessions} sessions; the old index is kept as {}",
            shown(&old)
        ),
        None => format!("{index}: {sessions} sessions, as the trail seals them"),
    });
    Ok(ExitStatus::Success)
}
