//! The `run` kind: a command, with retries, a timeout and `produces`.

use crate::engine::process;
use crate::engine::{Engine, Step};
use crate::protocol::{Action, format_duration};
use crate::session::ActionStatus;
use anyhow::Result;
use std::rc::Rc;
use std::time::Duration;

impl Engine {
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
        super::check::files_exist(self.paths().root(), &a.common.produces)
            .map(|_| ())
            .map_err(|why| format!("it did not produce what it promised: {why}"))
    }
}
