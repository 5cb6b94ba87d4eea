//! `deploy-session abort --reason`: close a session that will not finish.

use crate::cli::AbortArgs;
use crate::error::{ExitStatus, InputError};
use crate::settings::Settings;
use anyhow::Result;

pub fn run(args: &AbortArgs, s: &Settings) -> Result<ExitStatus> {
    let (mut store, _, _) = s.open_store(args.by.as_deref())?;
    if store.session().is_none() {
        return Err(InputError::usage("no deployment session is open").into());
    }
    let entry = crate::session::archive::close(&mut store, "aborted", Some(args.reason.clone()))?;
    store.snapshot()?;
    crate::context::refresh(&store)?;
    s.printer.out(format!(
        "session {} aborted and archived in {}",
        entry.session,
        s.paths.shown(&s.paths.archive(&entry.session)).display()
    ));
    Ok(ExitStatus::Success)
}
