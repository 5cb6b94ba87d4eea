//! `deploy-session completions SHELL`

use crate::cli::{Cli, CompletionsArgs};
use crate::error::ExitStatus;
use anyhow::Result;
use clap::CommandFactory;

pub fn run(args: &CompletionsArgs) -> Result<ExitStatus> {
    let mut cmd = Cli::command();
    // Generated into memory, then written: a reader that stops early
    // (`| head -1`) closes the pipe, which is not an error of ours.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "deploy-session", &mut script);
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), &script);
    Ok(ExitStatus::Success)
}
