//! `deploy-session context`: the assistant's brief on stdout. Read-only;
//! `start.1.6` writes the same text to `.ai_context/deployment_context.md`.

use crate::cli::{ContextArgs, ContextFormat};
use crate::error::ExitStatus;
use crate::master_state::MasterState;
use crate::settings::Settings;
use anyhow::Result;

pub fn run(args: &ContextArgs, s: &Settings) -> Result<ExitStatus> {
    let (state, set, config) = s.read_state_and_protocols()?;
    let session = state.session.as_ref();
    let master = MasterState::load_required(&s.paths)?;
    let finished = crate::context::finished(&s.paths, session)?;
    let redactor = s.redactor(&config);
    let brief = crate::context::brief(
        &s.paths,
        &set,
        &config.gates,
        session,
        Some(&master),
        finished,
    );
    match args.format {
        ContextFormat::Markdown => {
            let text = crate::context::render_brief(&brief)?;
            s.printer.out(redactor.mask(text.trim_end()));
        }
        ContextFormat::Json => {
            let mut v = serde_json::to_value(&brief)?;
            redactor.mask_json(&mut v);
            super::print_json(s, &v);
        }
    }
    Ok(ExitStatus::Success)
}
