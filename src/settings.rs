//! Flags + environment → the settings a command runs with. Decided once,
//! here, so commands never look at raw flags or the environment themselves.

use crate::cli::GlobalArgs;
use crate::paths::RepoPaths;
use crate::ui::Printer;
use anyhow::{Context, Result};

/// What every command gets.
#[derive(Debug, Clone)]
pub struct Settings {
    pub paths: RepoPaths,
    pub printer: Printer,
}

impl Settings {
    /// Resolves the repo and output settings.
    pub fn from_args(g: &GlobalArgs) -> Result<Settings> {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        if let Some(dir) = &g.repo
            && !cwd.join(dir).is_dir()
        {
            return Err(crate::error::InputError::usage(format!(
                "--repo {}: no such directory",
                dir.display()
            ))
            .into());
        }
        let paths = RepoPaths::discover(g.repo.as_deref(), &cwd);
        tracing::debug!(repo = %paths.root().display(), "repo resolved");
        Ok(Settings {
            paths,
            printer: Printer::new(g.color, g.quiet, g.verbose),
        })
    }
}
