//! Flags + environment → the settings a command runs with. Decided once,
//! here, so commands never look at raw flags or the environment themselves.
//!
//! The only environment read elsewhere is what belongs to the process, not
//! to a command: `PATH` (finding `sh` once), `GIT_AUTHOR_NAME`/`_EMAIL`
//! (read as git reads them), the values of the variables named as secrets
//! (by the redactor built here), `NO_COLOR`/`TERM` (by the output streams)
//! and the test-only clock pin `DEPLOY_SESSION_NOW`.

use crate::cli::GlobalArgs;
use crate::paths::RepoPaths;
use crate::protocol::{self, Config, ProtocolSet};
use crate::redact::Redactor;
use crate::session::{self, Store};
use crate::ui::Printer;
use anyhow::{Context, Result};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

/// What every command gets.
#[derive(Debug, Clone)]
pub struct Settings {
    pub paths: RepoPaths,
    pub printer: Printer,
    /// How long a writer waits for the lock.
    pub lock_timeout: Duration,
    /// Extra secret variables from `--secret-env`.
    pub secret_env: Vec<String>,
    /// Running in CI (`CI=true` or `--ci`): never prompt, never draw
    /// spinners, no colors.
    pub ci: bool,
    /// Running in a GitHub Actions job: workflow commands and the step
    /// summary.
    pub github: bool,
    /// The full command line, for the lock holder's description.
    pub command_line: String,
    /// Approval action ids from `DEPLOY_SESSION_APPROVE` (comma-separated).
    pub approvals_from_env: Vec<String>,
    /// The job summary file (`GITHUB_STEP_SUMMARY`), in a GitHub job.
    pub step_summary: Option<std::path::PathBuf>,
    /// `DEPLOY_SESSION_SIGNING_KEY`: the key `end` signs with.
    pub signing_key: Option<std::path::PathBuf>,
    /// `DEPLOY_SESSION_ALLOWED_SIGNERS`: whom verification trusts.
    pub allowed_signers: Option<std::path::PathBuf>,
    /// Who acts when `--by` does not say, worked out once.
    identity: std::sync::OnceLock<String>,
}

/// Whether this process runs in a GitHub Actions job (`GITHUB_ACTIONS=true`).
pub fn github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// CI mode: `--ci`, or `CI` set to anything but empty, `false` or `0`.
pub fn ci_mode(g: &GlobalArgs) -> bool {
    g.ci || std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The printer the flags ask for: in CI, `--color auto` means plain text.
pub fn printer(g: &GlobalArgs) -> Printer {
    let color = match g.color {
        crate::cli::ColorChoice::Auto if ci_mode(g) => crate::cli::ColorChoice::Never,
        other => other,
    };
    Printer::new(color, g.quiet, g.verbose)
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
        let ci = ci_mode(g);
        // args_os: an argument that is not UTF-8 is shown, never a panic.
        let args: Vec<String> = std::env::args_os()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let command_line = format!("deploy-session {}", args.join(" "));
        Ok(Settings {
            paths,
            printer: printer(g),
            lock_timeout: g.lock_timeout.unwrap_or(Duration::ZERO),
            secret_env: g.secret_env.clone(),
            ci,
            github: github_actions(),
            command_line,
            approvals_from_env: std::env::var("DEPLOY_SESSION_APPROVE")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            step_summary: env_path("GITHUB_STEP_SUMMARY"),
            signing_key: env_path("DEPLOY_SESSION_SIGNING_KEY"),
            allowed_signers: env_path("DEPLOY_SESSION_ALLOWED_SIGNERS"),
            identity: std::sync::OnceLock::new(),
        })
    }

    /// The allowed signers to verify with: `flag`, else the environment;
    /// an empty list when neither is given (signatures are then reported
    /// as not checked).
    pub fn allowed_signers(
        &self,
        flag: Option<&std::path::Path>,
    ) -> Result<crate::signing::AllowedSigners> {
        match flag.or(self.allowed_signers.as_deref()) {
            Some(path) => crate::signing::AllowedSigners::load(path),
            None => Ok(crate::signing::AllowedSigners::default()),
        }
    }

    /// Prompts may be shown: a terminal on both ends and not CI.
    pub fn interactive(&self) -> bool {
        !self.ci && std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
    }

    /// Spinners may be drawn.
    pub fn spinners(&self) -> bool {
        self.interactive()
            && std::io::stderr().is_terminal()
            && !self.printer.quiet()
            && self.printer.stderr_color()
    }

    /// Who acts: `--by`, else git identity, else the OS user on this host.
    pub fn actor(&self, by: Option<&str>) -> String {
        if let Some(b) = by.filter(|b| !b.trim().is_empty()) {
            return b.trim().to_string();
        }
        self.identity
            .get_or_init(|| {
                crate::git::identity(self.paths.root()).unwrap_or_else(|| {
                    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
                    format!("{user}@{}", session::hostname())
                })
            })
            .clone()
    }

    /// The secrets' masker: config `secrets:` plus `--secret-env`.
    pub fn redactor(&self, config: &Config) -> Redactor {
        Redactor::from_env(config.secrets.iter().chain(self.secret_env.iter()))
    }

    /// What a command that writes nothing reads: the state the trail
    /// gives, and the protocols under the seal it carries (a set it has to
    /// parse is not kept: only writers keep the cache).
    pub fn read_state_and_protocols(&self) -> Result<(session::StateFile, ProtocolSet, Config)> {
        let state = session::read_only(&self.paths)?;
        let loaded = protocol::load_sealed(&self.paths, state.protocols.as_ref())?;
        Ok((state, loaded.set, loaded.config))
    }

    /// Opens the store for writing (takes the lock) and loads the
    /// protocols, from the cache the trail vouches for when it is this
    /// config's; a set parsed afresh is kept as the cache.
    pub fn open_store(&self, by: Option<&str>) -> Result<(Store, Arc<ProtocolSet>, Arc<Config>)> {
        let (mut store, (set, config, fresh)) = Store::open_with(
            &self.paths,
            self.lock_timeout,
            &self.command_line,
            |state| {
                let loaded = protocol::load_sealed(&self.paths, state.protocols.as_ref())?;
                let (ctx, set, config) = self.context(loaded.set, loaded.config, by);
                Ok((ctx, (set, config, loaded.fresh)))
            },
        )?;
        if let Some(fresh) = fresh {
            store.keep_protocols(fresh);
        }
        store.add_view(Box::new(crate::todo::TodoFile));
        Ok((store, set, config))
    }

    /// Takes the lock and writes the views again from the audit trail
    /// (`audit rebuild`); returns the store and the old state.json's backup.
    pub fn rebuild_store(&self) -> Result<(Store, Option<std::path::PathBuf>)> {
        let (ctx, _, _) = self.store_context(None)?;
        let (mut store, backup) = Store::rebuild(ctx, self.lock_timeout, &self.command_line)?;
        store.add_view(Box::new(crate::todo::TodoFile));
        store.refresh_views()?;
        Ok((store, backup))
    }

    /// Takes the writers' lock with the built-in protocols and no config
    /// (`init --force`, which may be replacing a config that does not
    /// load), so what it writes is recorded in the audit trail.
    pub fn open_store_builtin(&self) -> Result<Store> {
        let config = Config::default();
        let ctx = session::Context {
            paths: self.paths.clone(),
            protocols: Arc::new(protocol::builtin()?),
            config: Arc::new(config.clone()),
            redactor: self.redactor(&config),
            actor: self.actor(None),
            signer: None,
        };
        Store::open(ctx, self.lock_timeout, &self.command_line)
    }

    fn store_context(
        &self,
        by: Option<&str>,
    ) -> Result<(session::Context, Arc<ProtocolSet>, Arc<Config>)> {
        let (set, config) = protocol::load(&self.paths)?;
        Ok(self.context(set, config, by))
    }

    fn context(
        &self,
        set: ProtocolSet,
        config: Config,
        by: Option<&str>,
    ) -> (session::Context, Arc<ProtocolSet>, Arc<Config>) {
        let set = Arc::new(set);
        let config = Arc::new(config);
        let ctx = session::Context {
            paths: self.paths.clone(),
            protocols: set.clone(),
            config: config.clone(),
            redactor: self.redactor(&config),
            actor: self.actor(by),
            signer: None,
        };
        (ctx, set, config)
    }
}

/// A path from the environment (unset or empty: none).
fn env_path(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os(name)
        .filter(|f| !f.is_empty())
        .map(std::path::PathBuf::from)
}
