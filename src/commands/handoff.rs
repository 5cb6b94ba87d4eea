//! `deploy-session handoff verify [DIR]`

use crate::cli::{HandoffVerifyArgs, ReportFormat};
use crate::error::{ExitStatus, InputError};
use crate::handoff::verify;
use crate::settings::Settings;
use crate::ui::style;
use anyhow::Result;

pub fn verify(args: &HandoffVerifyArgs, s: &Settings) -> Result<ExitStatus> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => default_dir(s)?,
    };
    if !dir.is_dir() {
        return Err(InputError::usage(format!(
            "{}: no such handoff package folder",
            dir.display()
        ))
        .into());
    }
    let report = verify::verify(&dir);
    let ok = report.problems.is_empty();
    if args.format == ReportFormat::Json {
        super::print_json(
            s,
            &serde_json::json!({"schema_version": 1, "ok": ok, "report": report}),
        );
    } else {
        let p = &s.printer;
        let shown = s
            .paths
            .shown(&std::path::absolute(&dir).unwrap_or(dir.clone()))
            .display()
            .to_string();
        if ok {
            p.out(format!(
                "{} {shown}: {} files match the manifest",
                p.paint(style::OK, "✓"),
                report.files_ok
            ));
        } else {
            for pr in &report.problems {
                p.out(format!(
                    "{} {}: {} — {}",
                    p.paint(style::BAD, "✗"),
                    pr.kind,
                    pr.path,
                    pr.detail
                ));
            }
            p.out(format!(
                "{shown}: {} problem(s), {} files intact",
                report.problems.len(),
                report.files_ok
            ));
        }
    }
    Ok(if ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

/// The open session's package, else the last finished session's.
fn default_dir(s: &Settings) -> Result<std::path::PathBuf> {
    let state = crate::session::read_only(&s.paths)?;
    let id = match state.session {
        Some(x) => Some(x.id),
        None => crate::session::history::read(&s.paths)?
            .pop()
            .map(|h| h.session),
    };
    match id {
        Some(id) => Ok(s.paths.handoff(&id)),
        None => Err(
            InputError::usage("no session has written a handoff package yet")
                .with_hint("pass the package folder: `deploy-session handoff verify DIR`")
                .into(),
        ),
    }
}
