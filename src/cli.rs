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

/// Options every command takes (shown apart from each command's own).
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
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
    /// Wait this long for another deploy-session writing in this repo
    /// (e.g. 30s); by default a second writer exits 4 at once
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub lock_timeout: Option<std::time::Duration>,
    /// Mask the value of this environment variable everywhere, like the
    /// config's `secrets:` (repeatable)
    #[arg(long = "secret-env", global = true, value_name = "NAME")]
    pub secret_env: Vec<String>,
    /// Run as in CI: never prompt, no spinners, no colors (also CI=true)
    #[arg(long, global = true)]
    pub ci: bool,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    crate::protocol::Dur::parse(s).map(|d| d.0)
}

/// When to color output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Output formats for reports. Every command shares one vocabulary:
/// `human` (also spelled `table` or `text`), `json`, and `markdown` where
/// a command has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Tables and lines for people
    #[value(alias = "table", alias = "text")]
    Human,
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
    /// Run the start protocol: open (or resume) a session, validate the
    /// Development handoff, prepare the environment
    Start(RunArgs),
    /// Run the work protocol (Phase 7 preparation and the deployment);
    /// needs `start` complete
    Work(RunArgs),
    /// Run the end protocol (quality gates, Operations handoff package,
    /// archive); needs `work` complete
    End(EndArgs),
    /// Step through a protocol one action at a time, asking before each
    /// (needs a terminal; resumable; `start -i` is the same as `walk start`)
    Walk(WalkArgs),
    /// Print the brief an AI assistant needs: status, the next actions with
    /// the command that completes each, the files to load (read-only)
    Context(ContextArgs),
    /// Mark a manual action done
    Done(DoneArgs),
    /// Skip an action, with a reason (not approvals, not the tool's own steps)
    Skip(SkipArgs),
    /// Mark a manual action or an approval failed, with a reason
    Fail(ReasonArgs),
    /// Approve an approval action, or record a phase's approval in the
    /// master state (--phase N)
    Approve(ApproveArgs),
    /// Record what the Development Framework finished: a phase's status and
    /// deliverables in the master state (phases -1..6; 7 and 8 are the
    /// tool's), as a named person's statement
    Phase(PhaseArgs),
    /// Show the next actions and the exact command that completes each
    /// (read-only)
    Next(HumanOrJsonArgs),
    /// Show the TodoWrite task list (read-only)
    Todo(TodoArgs),
    /// Evaluate the quality gates from recorded evidence (read-only); exit 1
    /// when one neither passes nor is waived
    Gates(FormatArgs),
    /// Work with the Operations handoff package
    #[command(subcommand)]
    Handoff(HandoffCommand),
    /// Work with the audit trail
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Finished sessions and the deployment success rate (read-only)
    History(FormatArgs),
    /// Close the open session without finishing it (it is archived as
    /// aborted, its measured deployments still count)
    Abort(AbortArgs),
    /// Work with deploy-session.yaml
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions(CompletionsArgs),
    /// Print the man page (roff), e.g. `deploy-session man | man -l -`
    Man,
    /// Probe an HTTP endpoint like a `probe` action does (for scripts and
    /// canary analysis); exit 0 when healthy, 1 otherwise
    Probe(ProbeArgs),
    /// Write a CI pipeline that runs the protocols one job per stage, on
    /// GitHub Actions or GitLab CI, generated from this repo's protocols
    Export(ExportArgs),
    /// Merge the session state of parallel CI jobs (copies of .ai_context
    /// from their artifacts) into this repo's
    Merge(MergeArgs),
    /// Run a whole deployment session end to end on loopback: a broken
    /// canary that rolls back, a blue-green release, gates, handoff, audit
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
    /// The demo's HTTP service and router (used by the example's scripts)
    #[cfg(feature = "demo")]
    #[command(hide = true)]
    Serve(ServeArgs),
}

/// Examples shown under each command's `--help` (and in the man page), by
/// the command's path.
const EXAMPLES: &[(&[&str], &[&str])] = &[
    (
        &[],
        &[
            "deploy-session init",
            "deploy-session start",
            "deploy-session next",
            "deploy-session done start.2.1 --note \"reviewed the artifacts\"",
            "deploy-session work && deploy-session end",
            "deploy-session demo",
        ],
    ),
    (
        &["init"],
        &[
            "deploy-session init",
            "deploy-session init --assistant claude",
        ],
    ),
    (
        &["plan"],
        &[
            "deploy-session plan work",
            "deploy-session plan --format json | jq -r '.actions[].id'",
        ],
    ),
    (
        &["status"],
        &[
            "deploy-session status",
            "deploy-session status --format json",
        ],
    ),
    (
        &["start"],
        &[
            "deploy-session start",
            "deploy-session start --dry-run",
            "deploy-session start --format json --junit reports/start.xml",
        ],
    ),
    (
        &["work"],
        &[
            "deploy-session work",
            "deploy-session work --stage work.2 --approve work.4.1",
        ],
    ),
    (
        &["end"],
        &[
            "deploy-session end",
            "deploy-session end --waive reliability --by \"Dana Reviewer <dana@example.com>\" --reason \"first release\" --commit",
        ],
    ),
    (
        &["walk"],
        &["deploy-session walk", "deploy-session walk end"],
    ),
    (
        &["context"],
        &[
            "deploy-session context",
            "deploy-session context --format json",
        ],
    ),
    (
        &["done"],
        &[
            "deploy-session done start.2.1 --note \"reviewed the artifacts\" --evidence notes/analysis.md",
        ],
    ),
    (
        &["skip"],
        &[
            "deploy-session skip start.2.4 --reason \"no performance budget for this service\"",
            "deploy-session skip start.1.3 --override --by \"Dana Reviewer <dana@example.com>\" --reason \"prompt kept elsewhere\"",
        ],
    ),
    (
        &["fail"],
        &["deploy-session fail start.2.3 --reason \"the scan found a critical CVE\""],
    ),
    (
        &["approve"],
        &[
            "deploy-session approve work.4.1 --by \"Dana Reviewer <dana@example.com>\"",
            "deploy-session approve --phase 6 --by \"Dana Reviewer <dana@example.com>\"",
        ],
    ),
    (
        &["phase"],
        &[
            "deploy-session phase 6 --status completed --all-deliverables --by \"Dana Reviewer <dana@example.com>\"",
            "deploy-session phase 6 --deliverable bdd_testing --deliverable security_testing=in_progress --by \"Dana Reviewer <dana@example.com>\"",
        ],
    ),
    (
        &["next"],
        &[
            "deploy-session next",
            "deploy-session next --format json | jq -r '.next[0].command'",
        ],
    ),
    (
        &["todo"],
        &[
            "deploy-session todo",
            "deploy-session todo --format todowrite --compact",
        ],
    ),
    (
        &["gates"],
        &[
            "deploy-session gates",
            "deploy-session gates --format markdown >> \"$GITHUB_STEP_SUMMARY\"",
        ],
    ),
    (
        &["handoff", "verify"],
        &[
            "deploy-session handoff verify",
            "deploy-session handoff verify .ai_context/handoff/SESSION --allowed-signers allowed_signers",
        ],
    ),
    (
        &["audit", "verify"],
        &[
            "deploy-session audit verify",
            "deploy-session audit verify --allowed-signers allowed_signers --format json",
        ],
    ),
    (
        &["audit", "log"],
        &[
            "deploy-session audit log",
            "deploy-session audit log --session SESSION --format markdown",
        ],
    ),
    (&["audit", "rebuild"], &["deploy-session audit rebuild"]),
    (
        &["history"],
        &[
            "deploy-session history",
            "deploy-session history --format json",
        ],
    ),
    (
        &["abort"],
        &["deploy-session abort --reason \"release cancelled\""],
    ),
    (
        &["config", "check"],
        &[
            "deploy-session config check",
            "deploy-session config check --format json",
        ],
    ),
    (
        &["completions"],
        &[
            "deploy-session completions bash > ~/.local/share/bash-completion/completions/deploy-session",
        ],
    ),
    (&["man"], &["deploy-session man | man -l -"]),
    (
        &["probe"],
        &["deploy-session probe http://127.0.0.1:8080/health --consecutive 3 --timeout 30s"],
    ),
    (
        &["export"],
        &[
            "deploy-session export github-actions",
            "deploy-session export gitlab-ci --check",
        ],
    ),
    (
        &["merge"],
        &["deploy-session merge artifacts/job-a artifacts/job-b"],
    ),
    (
        &["demo"],
        &[
            "deploy-session demo",
            "deploy-session demo --dir /tmp/ds-demo",
        ],
    ),
];

/// The command line as `--help`, completions and the man page show it:
/// the derived definition with each command's examples.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    for (path, examples) in EXAMPLES {
        let text = format!("Examples:\n  {}", examples.join("\n  "));
        cmd = with_examples(cmd, path, text);
    }
    cmd
}

/// The parser for this command line: [`command`], or without the examples
/// when no help can be shown (no arguments, `-h`, `--help` or `help`
/// anywhere): attaching them to every subcommand costs a tenth of a quick
/// command's time.
pub fn parser_for(args: &[std::ffi::OsString]) -> clap::Command {
    let help_shown = args.len() <= 1
        || args[1..]
            .iter()
            .any(|a| matches!(a.to_str(), Some("-h" | "--help" | "help")));
    if help_shown {
        command()
    } else {
        use clap::CommandFactory;
        Cli::command()
    }
}

fn with_examples(cmd: clap::Command, path: &[&str], text: String) -> clap::Command {
    match path {
        [] => cmd.after_help(text),
        [first, rest @ ..] if cmd.find_subcommand(first).is_some() => {
            cmd.mut_subcommand(*first, |sub| with_examples(sub, rest, text))
        }
        // `demo` is absent from the build without the demo feature.
        _ => cmd,
    }
}

/// `export` options.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The CI system
    #[arg(value_enum)]
    pub target: ExportTarget,
    /// Where to write it [default: .github/workflows/deploy-session.yml or
    /// .gitlab-ci.yml]; `-` for stdout
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The shell command the one install job runs to put deploy-session in
    /// `$DEPLOY_SESSION_ROOT/bin` [default: `ci.install` in the config, else
    /// `cargo install --locked --git REPOSITORY --rev COMMIT` of this build]
    #[arg(long, value_name = "COMMAND")]
    pub install: Option<String>,
    /// The committed decisions file every stage passes to `--decisions`
    /// [default: `ci.decisions` in the config, else
    /// deploy-session.decisions.yaml when the repo has one]
    #[arg(long, value_name = "FILE")]
    pub decisions: Option<PathBuf>,
    /// The GitHub Environment (with required reviewers) approvals wait on
    #[arg(long, value_name = "NAME", default_value = "deploy-session-approval", value_parser = crate::protocol::environment_name)]
    pub environment: String,
    /// GitHub: the runner label; GitLab: the job image
    #[arg(long, value_name = "NAME")]
    pub runner: Option<String>,
    /// Replace the file if it exists (default: refuse; with `-` ignored)
    #[arg(long)]
    pub force: bool,
    /// Exit 1 if the file differs from what would be written (writes
    /// nothing): for a CI check that the pipeline is up to date
    #[arg(long, conflicts_with = "force")]
    pub check: bool,
}

/// CI systems `export` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportTarget {
    /// A GitHub Actions workflow
    GithubActions,
    /// A GitLab CI pipeline
    GitlabCi,
}

/// `merge` options.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Copies of another job's .ai_context folder (from its artifact)
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// The folders are earlier attempts of this same job (a re-run): one of
    /// this session is joined, so its events — a failed deployment — stay
    /// on the record; one of another session (an earlier pipeline) is left
    /// alone, saying so
    #[arg(long)]
    pub attempt: bool,
    /// `human` lines, or one `json` document
    #[arg(long, value_enum, default_value_t = RunFormat::Human)]
    pub format: RunFormat,
}

/// `probe` options.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The URL to GET
    pub url: String,
    /// Expected status
    #[arg(long, default_value_t = 200)]
    pub status: u16,
    /// Text the body must contain
    #[arg(long, value_name = "TEXT")]
    pub body_contains: Option<String>,
    /// Give up after this long
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Wait between attempts
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub interval: std::time::Duration,
    /// Good answers in a row needed
    #[arg(long, default_value_t = 1)]
    pub consecutive: u32,
    /// Failed attempts tolerated (default: keep trying until the timeout)
    #[arg(long)]
    pub retries: Option<u32>,
    #[arg(long, value_enum, default_value_t = RunFormat::Human)]
    pub format: RunFormat,
}

/// `demo` options.
#[cfg(feature = "demo")]
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to create the demo repo (must be empty) [default: a new temp folder]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// What routes live traffic: the tool's own router, or nginx (the
    /// scripts of examples/nginx; nginx must be installed)
    #[arg(long, value_enum, default_value_t = DemoProxy::Builtin)]
    pub proxy: DemoProxy,
}

/// The demo's proxy.
#[cfg(feature = "demo")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoProxy {
    /// deploy-session's own loopback router
    Builtin,
    /// nginx in front of the services, reloaded gracefully on every change
    Nginx,
}

/// `serve` options.
#[cfg(feature = "demo")]
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[arg(long)]
    pub port: u16,
    /// The version the service reports
    #[arg(long, default_value = "v1")]
    pub version: String,
    /// Answer 500 (a broken release)
    #[arg(long)]
    pub unhealthy: bool,
    /// Answer every request this late (a slow release)
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub delay_ms: u64,
    /// Be a router: forward to the `PORT WEIGHT` lines of this file
    #[arg(long, value_name = "FILE")]
    pub routes: Option<PathBuf>,
    /// Exit when this process is gone
    #[arg(long, value_name = "PID")]
    pub exit_with: Option<i32>,
    /// Write the server's pid here once it listens
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
}

/// Options of `start`, `work` and `end`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Show what would run, in order, and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Run this action again even if it completed (repeatable)
    #[arg(long, value_name = "ID")]
    pub rerun: Vec<String>,
    /// Approve this approval action for this run (repeatable; also
    /// DEPLOY_SESSION_APPROVE=ID,ID)
    #[arg(long, value_name = "ID")]
    pub approve: Vec<String>,
    /// Who approves (default: git config user.name and user.email)
    #[arg(long, value_name = "NAME", value_parser = person)]
    pub by: Option<String>,
    /// `human` lines, or one `json` document on stdout at the end
    #[arg(long, value_enum, default_value_t = RunFormat::Human)]
    pub format: RunFormat,
    /// Walk through the protocol interactively (same as `walk`)
    #[arg(short, long, conflicts_with_all = ["dry_run", "format", "junit", "stage"])]
    pub interactive: bool,
    /// Also write a JUnit XML report: one testsuite per stage, one testcase
    /// per action
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Run only this stage (repeatable); the stages it needs must be
    /// complete. What the exported CI pipelines run, one job per stage
    #[arg(long, value_name = "ID")]
    pub stage: Vec<String>,
    /// `start` only: open a new deployment session although Phase 7 is
    /// completed (the finished session stays in history and the trail)
    #[arg(long)]
    pub new_session: bool,
    /// Record what a reviewed decisions file says people decided: the
    /// manual actions they did, the approvals they gave, the gates they
    /// waived (what exported CI pipelines pass)
    #[arg(long, value_name = "FILE", conflicts_with = "interactive")]
    pub decisions: Option<PathBuf>,
}

/// `walk` options.
#[derive(Debug, Args)]
pub struct WalkArgs {
    /// The protocol to walk [default: the one in progress, else start]
    #[arg(value_parser = ["start", "work", "end"])]
    pub protocol: Option<String>,
}

/// `context` options.
#[derive(Debug, Args)]
pub struct ContextArgs {
    #[arg(long, value_enum, default_value_t = ContextFormat::Markdown)]
    pub format: ContextFormat,
}

/// Formats of the assistant brief.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ContextFormat {
    /// The brief as written to .ai_context/deployment_context.md (it is
    /// the human form: also spelled `human`)
    #[value(alias = "human", alias = "table", alias = "text")]
    Markdown,
    /// The same facts as one JSON document
    Json,
}

/// `end` options.
#[derive(Debug, Args)]
pub struct EndArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Waive a quality gate for this session (repeatable; needs --reason;
    /// recorded with who and when)
    #[arg(long, value_name = "GATE", requires = "reason")]
    pub waive: Vec<String>,
    /// Why the gates given with --waive are waived
    #[arg(long, value_parser = non_blank, requires = "waive")]
    pub reason: Option<String>,
    /// Commit the session's .ai_context changes when `end` completes
    #[arg(long)]
    pub commit: bool,
    /// Tag that commit
    #[arg(long, value_name = "NAME", requires = "commit")]
    pub tag: Option<String>,
    /// Sign the session's seal and its handoff manifest with this SSH
    /// private key (OpenSSH format, no passphrase; default:
    /// $DEPLOY_SESSION_SIGNING_KEY)
    #[arg(long, value_name = "KEY")]
    pub sign_with: Option<PathBuf>,
}

/// `handoff` subcommands.
#[derive(Debug, Subcommand)]
pub enum HandoffCommand {
    /// Check a handoff package against its manifest; exit 1 naming every
    /// missing, extra or altered file
    Verify(HandoffVerifyArgs),
}

/// `handoff verify` options.
#[derive(Debug, Args)]
pub struct HandoffVerifyArgs {
    /// The package folder [default: the open or the last finished session's]
    pub dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = RunFormat::Human)]
    pub format: RunFormat,
    /// Check signatures against this allowed_signers file (as `ssh-keygen
    /// -Y verify -f` reads it; default: $DEPLOY_SESSION_ALLOWED_SIGNERS)
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
}

/// `audit verify` options.
#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    #[arg(long, value_enum, default_value_t = RunFormat::Human)]
    pub format: RunFormat,
    /// Check the sessions' seals against this allowed_signers file (as
    /// `ssh-keygen -Y verify -f` reads it; default:
    /// $DEPLOY_SESSION_ALLOWED_SIGNERS)
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify every line, the hash chain, every anchor and every seal's
    /// signature; exit 1 naming the first bad line or the anchor that
    /// disagrees
    Verify(AuditVerifyArgs),
    /// Show the events
    Log(AuditLogArgs),
    /// Write state.json, todos.json and the history index again from the
    /// audit trail (after a view was edited; the old state.json is kept)
    Rebuild,
}

/// `audit log` options.
#[derive(Debug, Args)]
pub struct AuditLogArgs {
    /// Only this session's events
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
}

/// `abort` options.
#[derive(Debug, Args)]
pub struct AbortArgs {
    /// Why the session is abandoned
    #[arg(long, value_parser = non_blank, required = true)]
    pub reason: String,
    /// Who decided (default: git identity)
    #[arg(long, value_name = "NAME", value_parser = person)]
    pub by: Option<String>,
}

/// Output of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunFormat {
    /// Lines for people
    #[value(alias = "table", alias = "text")]
    Human,
    /// One JSON document (stable, documented shape)
    Json,
}

/// `done` options.
#[derive(Debug, Args)]
pub struct DoneArgs {
    /// The action's id (see `deploy-session next`)
    pub id: String,
    /// What was done
    #[arg(long, value_parser = recorded_text)]
    pub note: Option<String>,
    /// Files that prove it (inside the repo; repeatable)
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub evidence: Vec<String>,
    /// Who did it (default: git config user.name and user.email)
    #[arg(long, value_name = "NAME", value_parser = person)]
    pub by: Option<String>,
    /// `human` lines, or one `json` document
    #[arg(long, value_enum, default_value_t = RunFormat::Human)]
    pub format: RunFormat,
}

/// A reason is recorded as evidence of a decision: blank is none, and a
/// printed command's blank (`<why>`) is not one either.
fn non_blank(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        Err("a reason must say why: it is recorded in the audit trail".into())
    } else {
        recorded_text(text)
    }
}

/// A note or reason as given: refused when it is still the blank a printed
/// command left to fill in (`<what was done>`, `<why>`), which would be
/// recorded as the note.
fn recorded_text(text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.starts_with('<') && t.ends_with('>') && !t.contains('@') {
        return Err(format!(
            "{text:?} is the blank of a printed command: say what was done (or why) in your own words"
        ));
    }
    Ok(text.to_string())
}

/// `skip` options.
#[derive(Debug, Args)]
pub struct SkipArgs {
    #[command(flatten)]
    pub reason: ReasonArgs,
    /// Skip one of the tool's own validations (a check or a built-in
    /// step): needs --by, is recorded as an override and shown as one in
    /// status, gates and the handoff package
    #[arg(long = "override", requires = "by")]
    pub override_validation: bool,
}

/// `skip` and `fail` options.
#[derive(Debug, Args)]
pub struct ReasonArgs {
    /// The action's id
    pub id: String,
    /// Why (recorded in the audit trail)
    #[arg(long, value_parser = non_blank, required = true)]
    pub reason: String,
    /// Who decided (default: git config user.name and user.email)
    #[arg(long, value_name = "NAME", value_parser = person)]
    pub by: Option<String>,
    /// `human` lines, or one `json` document
    #[arg(long, value_enum, default_value_t = RunFormat::Human)]
    pub format: RunFormat,
}

/// `approve` options.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The approval action's id
    #[arg(required_unless_present = "phase", conflicts_with = "phase")]
    pub id: Option<String>,
    /// Record the approval of this phase (-1..8) in the master state
    #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(i8).range(-1..=8))]
    pub phase: Option<i8>,
    /// Who approves (default: git config user.name and user.email)
    #[arg(long, value_name = "NAME", value_parser = person)]
    pub by: Option<String>,
    /// A note kept with the approval
    #[arg(long, value_parser = recorded_text)]
    pub note: Option<String>,
    /// With --phase: replace an approval (or rejection) the phase already
    /// records; the old one is kept in the audit trail
    #[arg(long, requires = "phase")]
    pub replace: bool,
    /// In a GitHub Actions job behind this Environment: check through the
    /// REST API (GITHUB_TOKEN) that it has required reviewers, and record
    /// the reviewer who approved this run (refused, nothing recorded,
    /// otherwise)
    #[arg(long, value_name = "NAME", requires = "id", conflicts_with_all = ["by", "phase"], value_parser = crate::protocol::environment_name)]
    pub from_github_environment: Option<String>,
    /// `human` lines, or one `json` document
    #[arg(long, value_enum, default_value_t = RunFormat::Human)]
    pub format: RunFormat,
}

/// `phase` options.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["status", "deliverable", "all_deliverables"])))]
pub struct PhaseArgs {
    /// The phase (-1..6)
    #[arg(allow_negative_numbers = true, value_parser = clap::value_parser!(i8).range(-1..=8))]
    pub number: i8,
    /// The phase's status: not_started, in_progress, blocked, completed
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    /// A deliverable finished (`NAME`) or at a status (`NAME=STATUS`);
    /// repeatable
    #[arg(long, value_name = "NAME[=STATUS]")]
    pub deliverable: Vec<String>,
    /// Every deliverable the phase lists is completed
    #[arg(long)]
    pub all_deliverables: bool,
    /// Who states it (required: this is a person's word, not a check)
    #[arg(long, value_name = "NAME", required = true, value_parser = person)]
    pub by: String,
    /// A note kept with the statement in the audit trail
    #[arg(long, value_parser = recorded_text)]
    pub note: Option<String>,
    /// `human` lines, or one `json` document
    #[arg(long, value_enum, default_value_t = RunFormat::Human)]
    pub format: RunFormat,
}

/// `todo` options.
#[derive(Debug, Args)]
pub struct TodoArgs {
    #[arg(long, value_enum, default_value_t = TodoFormat::Human)]
    pub format: TodoFormat,
    /// With `--format todowrite`: the stage under way item by item and one
    /// item per other stage or protocol (≤ 2 KB; what an assistant mirrors)
    #[arg(long)]
    pub compact: bool,
}

/// Formats of the todo list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TodoFormat {
    /// A table for people
    #[value(alias = "table", alias = "text")]
    Human,
    /// todos.json's shape (TodoWrite's fields plus id, task_type, agent, protocol)
    Json,
    /// Exactly what TodoWrite takes: {"todos":[{content,status,activeForm}]}
    Todowrite,
    /// TaskCreate-shaped objects: {"tasks":[{subject,description,activeForm,metadata}]}
    ClaudeTasks,
    Markdown,
}

/// `init` options.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Replace existing files, keeping each as <file>.bak first
    #[arg(long)]
    pub force: bool,
    /// Also write this assistant's integration (slash commands); never
    /// overwrites those files, even with --force
    #[arg(long, value_enum, value_name = "NAME")]
    pub assistant: Option<Assistant>,
}

/// AI assistants `init` can integrate with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Assistant {
    /// Claude Code: .claude/commands/deploy-*.md
    Claude,
}

/// `plan` options.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Only this protocol [default: all three]
    #[arg(value_parser = ["start", "work", "end"])]
    pub protocol: Option<String>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
}

/// A `--format` option alone.
#[derive(Debug, Args)]
pub struct FormatArgs {
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
}

/// `--format human|json`, for commands with no markdown form.
#[derive(Debug, Args)]
pub struct HumanOrJsonArgs {
    #[arg(long, value_enum, default_value_t = RunFormat::Human)]
    pub format: RunFormat,
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate deploy-session.yaml: every error with file:line:column and a
    /// hint; exit 0 with a summary when valid, 2 otherwise
    Check(HumanOrJsonArgs),
}

/// `completions` options.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate for
    pub shell: clap_complete::Shell,
}

/// A person's name as `--by` takes it: refused when it is the placeholder
/// a printed command left for the person to fill in (`<Name <email>>`,
/// `NAME <EMAIL>`), which would otherwise be stored as the approver.
pub fn person(value: &str) -> Result<String, String> {
    // A name is shown on terminals and in files an assistant reads: control
    // and bidi characters have no place in one.
    if value
        .chars()
        .any(|c| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
    {
        return Err(format!(
            "{:?} holds control or bidi characters; a person's name cannot",
            value
        ));
    }
    if looks_like_placeholder(value) {
        return Err(format!(
            "{value:?} is a placeholder, not a person: give your own name (and email), e.g. \"Dana Reviewer <dana@example.com>\""
        ));
    }
    Ok(value.to_string())
}

/// Whether `value` is a template's placeholder rather than a name.
pub fn looks_like_placeholder(value: &str) -> bool {
    let t = value.trim();
    let wrapped = t.starts_with('<') && t.ends_with('>');
    // A real address in angle brackets has an `@`; `<email>`, `<name>` do not.
    let bracketed_word = t
        .split('<')
        .skip(1)
        .filter_map(|part| part.split('>').next())
        .any(|inside| !inside.contains('@'));
    let shouted = t
        .split(|c: char| !c.is_ascii_alphabetic() && c != '_')
        .any(|w| matches!(w, "NAME" | "EMAIL" | "YOUR_NAME" | "APPROVER"));
    wrapped || bracketed_word || shouted
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command a person can run shows examples in its `--help`, and
    /// every example is a valid command line.
    #[test]
    fn every_command_has_examples_that_parse() {
        fn walk(cmd: &clap::Command, path: &mut Vec<String>, seen: &mut usize) {
            let subs: Vec<&clap::Command> = cmd
                .get_subcommands()
                .filter(|c| !c.is_hide_set() && c.get_name() != "help")
                .collect();
            if subs.is_empty() || !path.is_empty() && cmd.get_after_help().is_some() {
                let help = cmd
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                assert!(help.starts_with("Examples:"), "{path:?} has no examples");
                *seen += 1;
            }
            for sub in subs {
                path.push(sub.get_name().to_string());
                walk(sub, path, seen);
                path.pop();
            }
        }
        let cmd = command();
        let mut seen = 0;
        walk(&cmd, &mut Vec::new(), &mut seen);
        assert!(seen >= 28, "{seen}");
        for (_, examples) in EXAMPLES {
            for example in *examples {
                let line = [" | ", " > ", " >> ", " && "]
                    .iter()
                    .fold(*example, |l, sep| l.split(sep).next().unwrap());
                let words = shell_words::split(line).unwrap();
                assert_eq!(words[0], "deploy-session", "{example}");
                if cfg!(not(feature = "demo")) && words[1] == "demo" {
                    continue;
                }
                if let Err(e) = command().try_get_matches_from(&words) {
                    panic!("{example}: {e}");
                }
            }
        }
    }

    #[test]
    fn placeholders_are_told_from_names() {
        for placeholder in [
            "<Name <email>>",
            "<name>",
            "NAME <EMAIL>",
            "Dana <email>",
            "YOUR_NAME",
            " <approver> ",
        ] {
            assert!(looks_like_placeholder(placeholder), "{placeholder}");
            assert!(person(placeholder).is_err(), "{placeholder}");
        }
        for hostile in [
            "Dana \u{1b}]0;x\u{7} <d@x.io>",
            "Dana\u{202E}evE",
            "Dana\nRules",
        ] {
            assert!(person(hostile).is_err(), "{hostile:?}");
        }
        for name in [
            "Dana Reviewer <dana@example.com>",
            "dana",
            "Ops Bot <ops+ci@example.org>",
            "Name Surname",
            "O'Brien <ob@x.io>",
        ] {
            assert!(!looks_like_placeholder(name), "{name}");
            assert_eq!(person(name).unwrap(), name);
        }
    }
}
