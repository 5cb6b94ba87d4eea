//! Running a command for an action: its environment, folder, log and
//! process record. Used by the kinds that run commands and by the
//! scheduler's rollbacks.

use super::Engine;
use super::process::{self, CommandSpec};
use crate::protocol::Action;
use crate::session::EventKind;
use anyhow::Result;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

impl Engine {
    pub(crate) fn paths(&self) -> &crate::paths::RepoPaths {
        &self.paths
    }

    /// The environment every command of `a` gets: runtime facts as
    /// `DEPLOY_SESSION_*` variables (never pasted into the command text).
    pub(crate) fn command_env(&self, a: &Action, attempt: u32) -> Vec<(String, String)> {
        let paths = self.paths();
        let mut env: Vec<(String, String)> = a
            .common
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.extend([
            ("DEPLOY_SESSION_ID".into(), self.session_id()),
            ("DEPLOY_SESSION_ACTION".into(), a.id.clone()),
            ("DEPLOY_SESSION_PROTOCOL".into(), a.protocol.to_string()),
            (
                "DEPLOY_SESSION_REPO".into(),
                paths.root().display().to_string(),
            ),
            ("DEPLOY_SESSION_ATTEMPT".into(), attempt.to_string()),
        ]);
        if let Some(exe) = own_executable() {
            env.push(("DEPLOY_SESSION_BIN".into(), exe.to_string()));
        }
        env
    }

    /// The folder commands of `a` run in.
    pub(crate) fn command_cwd(&self, a: &Action) -> Result<PathBuf, String> {
        let paths = self.paths();
        let Some(cwd) = &a.common.cwd else {
            return Ok(paths.root().to_path_buf());
        };
        let rel = crate::paths::inside_repo(paths.root(), cwd)?;
        let dir = paths.root().join(&rel);
        if !dir.is_dir() {
            return Err(format!("its cwd {} does not exist", rel.display()));
        }
        Ok(dir)
    }

    /// The log file of `a` (and its repo-relative name).
    pub(crate) fn log_path(&self, a: &Action, suffix: &str) -> (PathBuf, String) {
        let paths = self.paths();
        let p = paths
            .logs(&self.session_id())
            .join(format!("{}{suffix}.log", a.id));
        let shown = paths.shown(&p).display().to_string();
        (p, shown)
    }

    /// Runs one command to completion, recording the spawn: as the start of
    /// `attempt` when given (one journal line instead of two), else as
    /// another process of the action.
    pub(crate) async fn exec(
        &self,
        a: &Action,
        spec: &CommandSpec,
        attempt: Option<u32>,
    ) -> Result<process::CommandResult> {
        let redactor = self.store.borrow().ctx().redactor.clone();
        let sink = self.reporter.sink(&a.id);
        let mut on_spawn = |p: crate::session::ProcessRecord| {
            let kind = match attempt {
                Some(attempt) => EventKind::ActionStarted {
                    attempt,
                    kind: crate::protocol::KindName::Run,
                    log: None,
                    process: Some(p),
                },
                None => EventKind::ProcessSpawned {
                    pid: p.pid,
                    spawned_at_ms: p.spawned_at_ms,
                    boot_id: p.boot_id,
                },
            };
            self.record(Some(&a.id), kind)
        };
        process::run(spec, &redactor, &sink, self.cancel.clone(), &mut on_spawn).await
    }

    /// How a command of `a` runs: in its folder, with its environment plus
    /// `vars`, its timeout, and its log (`suffix` picks the log file).
    pub(crate) fn command_spec(
        &self,
        a: &Action,
        command: &str,
        attempt: u32,
        vars: &[(&str, String)],
        suffix: &str,
    ) -> Result<CommandSpec, String> {
        let cwd = self.command_cwd(a)?;
        let mut env = self.command_env(a, attempt);
        env.extend(vars.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let (log, _) = self.log_path(a, suffix);
        Ok(CommandSpec {
            command: command.to_string(),
            cwd,
            env,
            timeout: a.common.timeout.map(|d| d.0),
            log: Some(log),
            log_header: format!(
                "# attempt {attempt} at {} — $ {command}",
                crate::clock::now_rfc3339()
            ),
        })
    }

    /// Runs `a`'s rollback command; returns whether it succeeded.
    pub(crate) async fn run_rollback(self: &Rc<Self>, a: &Action, command: &str) -> Result<bool> {
        self.reporter
            .say(format!("    rolling back {}: {command}", a.id));
        let vars = [("DEPLOY_SESSION_ROLLBACK_OF", a.id.clone())];
        let started = Instant::now();
        let (ok, code, message) = match self.command_spec(
            a,
            command,
            self.record_of(&a.id).attempts,
            &vars,
            ".rollback",
        ) {
            Err(why) => (false, None, Some(why)),
            Ok(spec) => match self.exec(a, &spec, None).await {
                Ok(r) => {
                    let (_, shown) = self.log_path(a, ".rollback");
                    (
                        r.ok(),
                        r.exit_code(),
                        (!r.ok()).then(|| format!("{} (log: {shown})", r.describe(spec.timeout))),
                    )
                }
                Err(e) => (false, None, Some(format!("{e:#}"))),
            },
        };
        self.record(
            Some(&a.id),
            EventKind::RollbackRan {
                of: a.id.clone(),
                command: command.to_string(),
                ok,
                exit_code: code,
                duration_ms: started.elapsed().as_millis() as u64,
                message: message.clone(),
            },
        )?;
        let p = self.reporter.printer();
        if ok {
            self.reporter.say(format!(
                "    {} rollback of {} done",
                p.paint(crate::ui::style::OK, "↺"),
                a.id
            ));
        } else {
            self.reporter.shout(format!(
                "    {} ROLLBACK OF {} FAILED: {}",
                p.paint(crate::ui::style::BAD, "✗"),
                a.id,
                message.unwrap_or_default()
            ));
        }
        Ok(ok)
    }
}

/// This program's path, looked up once.
fn own_executable() -> Option<&'static str> {
    static EXE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    EXE.get_or_init(|| {
        std::env::current_exe()
            .ok()
            .map(|p| p.display().to_string())
    })
    .as_deref()
}
