//! `deploy-session completions SHELL`

use crate::cli::{Cli, CompletionsArgs};
use crate::error::ExitStatus;
use anyhow::Result;
use clap::CommandFactory;

pub fn run(args: &CompletionsArgs) -> Result<ExitStatus> {
    let mut cmd = Cli::command();
    clap_complete::generate(
        args.shell,
        &mut cmd,
        "deploy-session",
        &mut std::io::stdout(),
    );
    Ok(ExitStatus::Success)
}
