//! `deploy-session completions SHELL`

use crate::cli::CompletionsArgs;
use crate::error::ExitStatus;
use anyhow::Result;

pub fn run(args: &CompletionsArgs) -> Result<ExitStatus> {
    let mut cmd = crate::cli::command();
    // Generated into memory, then written: a reader that stops early
    // (`| head -1`) closes the pipe, which is not an error of ours.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "deploy-session", &mut script);
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), &script);
    Ok(ExitStatus::Success)
}

/// `deploy-session man`: the man page, from the same definition as `--help`.
pub fn man() -> Result<ExitStatus> {
    let mut page = Vec::new();
    clap_mangen::Man::new(crate::cli::command()).render(&mut page)?;
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), &page);
    Ok(ExitStatus::Success)
}
