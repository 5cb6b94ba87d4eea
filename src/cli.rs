//! Command-line types. Only clap definitions live here: no logic. The doc
//! comments are the `--help` text.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Runs the Deployment Framework's phase-7 session protocols (start, work,
/// end) as resumable, auditable step pipelines.
///
/// It reads .ai_context/framework_progress.md, runs what can be run
/// (commands, checks, health probes, deployment strategies with rollback),
/// tracks what a person or an AI assistant must do by hand, and writes back
/// the todo list, the master state, the Operations handoff package and a
/// tamper-evident audit trail.
///
/// Exit codes: 0 done · 1 an action or gate failed · 2 usage or input error ·
/// 3 waiting for a human · 4 another session holds the lock · 130 interrupted.
#[derive(Debug, Parser)]
#[command(name = "deploy-session", version, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Repository to work in [default: the git work tree containing the
    /// current directory, else the current directory]
    #[arg(long, global = true, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// More detail: -v shows error causes and debug logs (RUST_LOG also works)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors and the data asked for
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// When to use colors (NO_COLOR is honoured under `auto`)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

/// When to color output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Output formats for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// A table for people
    Table,
    /// One JSON document (stable, documented shape)
    Json,
    /// Markdown, for pull requests and step summaries
    Markdown,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the master state, a commented config and the framework files
    /// (never overwrites an existing file without --force)
    Init(InitArgs),
    /// Show the pipeline that would run: every action with its kind, task
    /// type, agent and what it needs (changes nothing)
    Plan(PlanArgs),
    /// Show the phases from the master state and the session (read-only,
    /// never waits for the lock)
    Status(FormatArgs),
    /// Work with deploy-session.yaml
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions(CompletionsArgs),
}

/// `init` options.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Replace existing files, keeping each as <file>.bak first
    #[arg(long)]
    pub force: bool,
}

/// `plan` options.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Only this protocol [default: all three]
    #[arg(value_parser = ["start", "work", "end"])]
    pub protocol: Option<String>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// A `--format` option alone.
#[derive(Debug, Args)]
pub struct FormatArgs {
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate deploy-session.yaml: every error with file:line:column and a
    /// hint; exit 0 with a summary when valid, 2 otherwise
    Check(FormatArgs),
}

/// `completions` options.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate for
    pub shell: clap_complete::Shell,
}
