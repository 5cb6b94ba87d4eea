//! `deploy-session next`: what to do now, and the exact command for each.
//! Read-only: never takes the lock.

use crate::cli::{HumanOrJsonArgs, RunFormat};
use crate::error::ExitStatus;
use crate::progress;
use crate::settings::Settings;
use anyhow::Result;

pub fn run(args: &HumanOrJsonArgs, s: &Settings) -> Result<ExitStatus> {
    let (state, set, _) = s.read_state_and_protocols()?;
    let sess = state.session.as_ref();
    let master = crate::master_state::MasterState::load(
        &s.paths.master_state(),
        &s.paths.shown(&s.paths.master_state()),
    )
    .ok();
    let finished = crate::context::deployment_finished(sess, master.as_ref());
    let next = if finished {
        Vec::new()
    } else {
        progress::next_actions(&set, sess)
    };
    let protocol = progress::current_protocol(&set, sess);
    if args.format == RunFormat::Json {
        super::print_json(
            s,
            &crate::documents::NextDoc {
                schema_version: crate::documents::SchemaVersion,
                session: sess.map(|x| x.id.clone()),
                protocol,
                next,
                deployment_finished: finished,
            },
        );
        return Ok(ExitStatus::Success);
    }
    let p = &s.printer;
    match (sess, protocol) {
        (None, _) if finished => p.out(format!(
            "The deployment is finished: no session is open and Phase 7 is completed.\n  hand off to Operations: {}\n  another deployment session: deploy-session start --new-session",
            crate::context::TRANSITION_COMMAND
        )),
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
