//! `deploy-session next`: what to do now, and the exact command for each.
//! Read-only: never takes the lock.

use crate::cli::{FormatArgs, ReportFormat};
use crate::error::ExitStatus;
use crate::progress;
use crate::session;
use crate::settings::Settings;
use anyhow::Result;

pub fn run(args: &FormatArgs, s: &Settings) -> Result<ExitStatus> {
    let (set, _) = crate::protocol::load(&s.paths)?;
    let state = session::read_only(&s.paths)?;
    let sess = state.session.as_ref();
    let next = progress::next_actions(&set, sess);
    let protocol = progress::current_protocol(&set, sess);
    if args.format == ReportFormat::Json {
        super::print_json(
            s,
            &crate::documents::NextDoc {
                schema_version: crate::documents::SchemaVersion,
                session: sess.map(|x| x.id.clone()),
                protocol,
                next,
            },
        );
        return Ok(ExitStatus::Success);
    }
    let p = &s.printer;
    match (sess, protocol) {
        (None, _) => p.out("No deployment session is open.\n  deploy-session start"),
        (Some(x), None) => p.out(format!("Every protocol of session {} is complete.", x.id)),
        (Some(x), Some(pr)) => {
            p.out(format!("Session {} — {pr}:", x.id));
            if next.is_empty() {
                p.out(format!("  deploy-session {pr}"));
            }
            super::run::print_next(s, &next);
        }
    }
    Ok(ExitStatus::Success)
}
