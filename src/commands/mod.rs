//! One file per command; [`dispatch`] is the only place that matches on them.

mod completions;
mod config;
mod init;
mod plan;
mod status;

use crate::cli::{Command, ConfigCommand};
use crate::error::ExitStatus;
use crate::settings::Settings;
use anyhow::Result;

/// Runs a parsed command.
pub fn dispatch(command: Command, settings: &Settings) -> Result<ExitStatus> {
    match command {
        Command::Init(a) => init::run(&a, settings),
        Command::Plan(a) => plan::run(&a, settings),
        Command::Status(a) => status::run(&a, settings),
        Command::Config(ConfigCommand::Check(a)) => config::check(&a, settings),
        Command::Completions(a) => completions::run(&a),
    }
}

/// Prints a JSON document on stdout.
pub(crate) fn print_json(settings: &Settings, value: &serde_json::Value) {
    settings
        .printer
        .out(serde_json::to_string_pretty(value).unwrap_or_default());
}
