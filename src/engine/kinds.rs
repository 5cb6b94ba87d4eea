//! How each kind of action runs: commands (with retries, timeouts and
//! `produces`), rollbacks, checks and approvals.

use super::process::{self, CommandSpec};
use super::{Engine, Step, check};
use crate::master_state::MasterState;
use crate::protocol::{Action, ApprovalSpec, CheckSpec, format_duration};
use crate::session::{ActionStatus, EventKind};
use anyhow::Result;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

impl Engine {
    pub(crate) fn paths(&self) -> crate::paths::RepoPaths {
        self.store.borrow().ctx().paths.clone()
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
                    kind: "run".into(),
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

    pub(crate) async fn run_command_action(
        self: &Rc<Self>,
        a: &Action,
        command: &str,
    ) -> Result<Step> {
        let tries = 1 + a.common.retries.unwrap_or(0);
        let timeout = a.common.timeout.map(|d| d.0);
        let prior = self.record_of(&a.id).attempts;
        let (_, shown_log) = self.log_path(a, "");
        for n in 1..=tries {
            let attempt = prior + n;
            let spec = match self.command_spec(a, command, attempt, &[], "") {
                Ok(s) => s,
                Err(why) => {
                    return self.finish(a, ActionStatus::Failed, None, None, Some(why), None);
                }
            };
            self.reporter.started(a);
            let result = self.exec(a, &spec, Some(attempt)).await?;
            let code = result.exit_code();
            let log = result.logged.then(|| shown_log.clone());
            let log_note = |m: String| match &log {
                Some(l) => format!("{m} (log: {l})"),
                None => format!("{m} (no output)"),
            };
            if result.ending == process::Ending::Interrupted {
                let m = result.describe(timeout);
                return self.finish_logged(
                    a,
                    ActionStatus::Interrupted,
                    code,
                    Some(result.duration),
                    Some(m),
                    None,
                    log,
                );
            }
            if result.ok() {
                let (status, message) = match self.check_produces(a) {
                    Ok(()) => (ActionStatus::Completed, None),
                    Err(why) => (ActionStatus::Failed, Some(log_note(why))),
                };
                return self.finish_logged(
                    a,
                    status,
                    code,
                    Some(result.duration),
                    message,
                    None,
                    log,
                );
            }
            let last = result
                .tail
                .last()
                .map(|l| format!("; last output: {l}"))
                .unwrap_or_default();
            let message = log_note(format!("{}{last}", result.describe(timeout)));
            self.finish_logged(
                a,
                ActionStatus::Failed,
                code,
                Some(result.duration),
                Some(message),
                None,
                log,
            )?;
            if n < tries {
                let delay = a.common.retry_delay.map_or(Duration::from_secs(1), |d| d.0);
                self.reporter.say(format!(
                    "    retrying {} in {} (attempt {} of {tries})",
                    a.id,
                    format_duration(delay),
                    n + 1
                ));
                let mut cancel = self.cancel.clone();
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = cancel.changed() => {}
                }
                if self.cancelled() {
                    return self.finish(
                        a,
                        ActionStatus::Interrupted,
                        None,
                        None,
                        Some("interrupted before a retry".into()),
                        None,
                    );
                }
            }
        }
        Ok(Step::Failed)
    }

    fn check_produces(&self, a: &Action) -> Result<(), String> {
        if a.common.produces.is_empty() {
            return Ok(());
        }
        check::files_exist(self.paths().root(), &a.common.produces)
            .map(|_| ())
            .map_err(|why| format!("it did not produce what it promised: {why}"))
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

    pub(crate) fn check(&self, a: &Action, spec: &CheckSpec) -> Result<Step> {
        self.record(
            Some(&a.id),
            EventKind::ActionStarted {
                attempt: self.record_of(&a.id).attempts + 1,
                kind: "check".into(),
                log: None,
                process: None,
            },
        )?;
        let started = Instant::now();
        match check::evaluate(&self.paths(), spec) {
            Ok(evidence) => {
                let metrics = serde_json::json!({ "evidence": evidence });
                self.finish(
                    a,
                    ActionStatus::Completed,
                    None,
                    Some(started.elapsed()),
                    None,
                    Some(metrics),
                )
            }
            Err(why) => {
                let hint = spec
                    .hint
                    .as_deref()
                    .map(|h| format!(" — {h}"))
                    .unwrap_or_default();
                self.finish(
                    a,
                    ActionStatus::Failed,
                    None,
                    Some(started.elapsed()),
                    Some(format!("{why}{hint}")),
                    None,
                )
            }
        }
    }

    pub(crate) async fn approval(self: &Rc<Self>, a: &Action, spec: &ApprovalSpec) -> Result<Step> {
        if let Some(n) = spec.phase {
            let paths = self.paths();
            let master =
                MasterState::load(&paths.master_state(), &paths.shown(&paths.master_state()))?;
            if let Some(p) = master.phase(n).filter(|p| p.approved()) {
                let appr = p.approval.clone().expect("approved implies an approval");
                let by = appr
                    .by
                    .clone()
                    .unwrap_or_else(|| "an unnamed approver".into());
                crate::settle::record_approval(
                    &mut self.store.borrow_mut(),
                    &a.id,
                    &by,
                    appr.note.clone(),
                    Some(n),
                    "master_state",
                )?;
                let when = appr.at.map(|t| format!(" at {t}")).unwrap_or_default();
                let line = format!("Phase {n} approved by {by}{when} (master state)");
                return Ok(self.settled(a, ActionStatus::Completed, &line));
            }
        }
        if let Some((_, via)) = self.opts.approvals.iter().find(|(id, _)| *id == a.id) {
            let by = self
                .opts
                .approver
                .clone()
                .unwrap_or_else(|| self.store.borrow().ctx().actor.clone());
            return self.grant(a, spec, &by, via, None);
        }
        if self.opts.interactive {
            let subject = spec.subject.clone();
            let answer =
                tokio::task::spawn_blocking(move || crate::ui::prompt::confirm_typed(&subject))
                    .await??;
            if answer {
                let by = self
                    .opts
                    .approver
                    .clone()
                    .unwrap_or_else(|| self.store.borrow().ctx().actor.clone());
                return self.grant(a, spec, &by, "prompt", None);
            }
            self.reporter.say("    not approved; nothing was recorded");
        }
        self.wait_for_person(a, &format!("needs approval: {}", spec.subject))
    }

    /// Records an approval through the one settle path the commands use
    /// (writing a phase's approval into the master state first), then
    /// reports the action complete.
    pub(crate) fn grant(
        &self,
        a: &Action,
        spec: &ApprovalSpec,
        by: &str,
        via: &str,
        note: Option<String>,
    ) -> Result<Step> {
        let paths = self.paths();
        crate::settle::approve(
            &mut self.store.borrow_mut(),
            &paths,
            &a.id,
            by,
            note,
            spec.phase,
            via,
        )?;
        Ok(self.settled(
            a,
            ActionStatus::Completed,
            &format!("approved by {by} ({via})"),
        ))
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
