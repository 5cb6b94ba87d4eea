//! Deployment strategies (kind `strategy`): blue-green, canary and rolling,
//! built from the user's commands and probes. While one runs, a background
//! prober samples the live URL — the measured downtime — and the deploy and
//! rollback durations are recorded as a deployment of the session.

use super::probe::{Prober, Samples, probe};
use crate::engine::process::Ending;
use crate::engine::{Engine, Step};
use crate::protocol::model::health_endpoints;
use crate::protocol::{
    Action, BlueGreenSpec, CanarySpec, ProbeSpec, RollingSpec, RollingTarget, StrategySpec,
    format_duration,
};
use crate::protocol::{DeploymentOutcome, KindName};
use crate::session::{ActionStatus, EventKind};
use anyhow::Result;
use serde_json::{Value, json};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How one step went.
enum Flow {
    Ok,
    Failed(String),
    Interrupted(String),
}

/// How the whole strategy went.
struct StrategyResult {
    outcome: DeploymentOutcome,
    deploy_ms: u64,
    rollback_ms: Option<u64>,
    message: String,
    live: Option<String>,
}

const DEFAULT_SAMPLE: Duration = Duration::from_millis(100);

/// One strategy execution: runs steps, keeps their record.
struct Run<'a> {
    engine: &'a Rc<Engine>,
    action: &'a Action,
    strategy: &'static str,
    attempt: u32,
    started: Instant,
    steps: Vec<Value>,
    /// Whether any step wrote to the action's log.
    logged: bool,
    /// `notify:`'s targets, told as the deployment starts, rolls back and ends.
    notifier: Option<crate::notify::Notifier>,
    /// The background prober's counts so far (when it samples a live URL).
    live: Option<std::rc::Rc<std::cell::Cell<Samples>>>,
}

fn health(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

impl Run<'_> {
    fn note(&mut self, step: &str, ok: bool, took: Duration, detail: &str) {
        self.steps
            .push(json!({"step": step, "ok": ok, "ms": took.as_millis() as u64, "detail": detail}));
        let p = self.engine.reporter.printer();
        let mark = if ok {
            p.paint(crate::ui::style::OK, "▸")
        } else {
            p.paint(crate::ui::style::BAD, "▸")
        };
        let line = format!(
            "    {} {mark} {step}: {detail} ({})",
            self.action.id,
            format_duration(took)
        );
        if ok {
            self.engine.reporter.say(line);
        } else {
            self.engine.reporter.shout(line);
        }
    }

    /// Runs a user command as step `step`, with the strategy's variables.
    async fn command(
        &mut self,
        step: &str,
        command: &str,
        vars: &[(&str, String)],
    ) -> Result<Flow> {
        let mut all = vec![
            ("DEPLOY_SESSION_STRATEGY", self.strategy.to_string()),
            ("DEPLOY_SESSION_STEP", step.to_string()),
        ];
        all.extend(vars.iter().cloned());
        let spec = match self
            .engine
            .command_spec(self.action, command, self.attempt, &all, "")
        {
            Ok(s) => s,
            Err(why) => return Ok(Flow::Failed(why)),
        };
        let (_, shown) = self.engine.log_path(self.action, "");
        let r = self.engine.exec(self.action, &spec, None).await?;
        self.logged |= r.logged;
        let detail = if r.ok() {
            "ok".to_string()
        } else {
            let last = r
                .tail
                .last()
                .map(|l| format!("; last output: {l}"))
                .unwrap_or_default();
            format!(
                "`{command}`: {}{last} (log: {shown})",
                r.describe(spec.timeout)
            )
        };
        self.note(step, r.ok(), r.duration, &detail);
        Ok(match r.ending {
            Ending::Interrupted => Flow::Interrupted(step.into()),
            _ if r.ok() => Flow::Ok,
            _ => Flow::Failed(format!("{step}: {detail}")),
        })
    }

    /// Probes `url` as step `step`.
    async fn check(&mut self, step: &str, url: &str, spec: &ProbeSpec) -> Flow {
        let t = Instant::now();
        let out = probe(url, spec, self.engine.cancel.clone()).await;
        self.note(step, out.ok, t.elapsed(), &out.summary);
        if out.interrupted {
            Flow::Interrupted(step.into())
        } else if out.ok {
            Flow::Ok
        } else {
            Flow::Failed(format!("{step}: {}", out.summary))
        }
    }

    /// Probes every health endpoint of `base`, in order; the first that
    /// fails fails the step.
    async fn check_endpoints(
        &mut self,
        step: &str,
        base: &str,
        endpoints: &[&str],
        spec: &ProbeSpec,
    ) -> Flow {
        for path in endpoints {
            let name = if endpoints.len() == 1 {
                step.to_string()
            } else {
                format!("{step} {path}")
            };
            match self.check(&name, &health(base, path), spec).await {
                Flow::Ok => {}
                other => return other,
            }
        }
        Flow::Ok
    }

    fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn done(&self, live: Option<String>, what: String) -> StrategyResult {
        StrategyResult {
            outcome: DeploymentOutcome::Succeeded,
            deploy_ms: self.elapsed_ms(),
            rollback_ms: None,
            message: what,
            live,
        }
    }

    fn failed(&self, why: String) -> StrategyResult {
        StrategyResult {
            outcome: DeploymentOutcome::Failed,
            deploy_ms: self.elapsed_ms(),
            rollback_ms: None,
            message: format!("{why}; the live system was not touched"),
            live: None,
        }
    }

    fn interrupted(&self, step: String) -> StrategyResult {
        StrategyResult {
            outcome: DeploymentOutcome::Interrupted,
            deploy_ms: self.elapsed_ms(),
            rollback_ms: None,
            message: format!(
                "interrupted during `{step}`; check the live system, then run again to retry the deployment"
            ),
            live: None,
        }
    }

    /// The prober's counts now (zero without a live URL).
    fn live_counts(&self) -> Samples {
        self.live.as_ref().map(|c| c.get()).unwrap_or_default()
    }

    /// Judges the live samples taken since `since` against `min` (percent
    /// of good answers), recording the verdict as a step.
    fn judge_window(&mut self, min: Option<f64>, since: Samples, weight: u8) -> Flow {
        let Some(min) = min else {
            return Flow::Ok;
        };
        let now = self.live_counts();
        let (total, failed) = (now.total - since.total, now.failed - since.failed);
        let name = format!("success rate at {weight}%");
        if total == 0 {
            let why = format!(
                "{name}: no live sample in the step's window; lengthen `pause` or shorten `sample_interval`"
            );
            self.steps
                .push(json!({ "step": name, "ok": false, "samples": 0 }));
            return Flow::Failed(why);
        }
        let rate = 100.0 * (total - failed) as f64 / total as f64;
        let ok = rate >= min;
        self.steps.push(
            json!({ "step": name, "ok": ok, "samples": total, "failed": failed, "rate": rate }),
        );
        if ok {
            Flow::Ok
        } else {
            Flow::Failed(format!(
                "live success rate {rate:.1}% over {total} samples at {weight}%, below the {min}% minimum ({failed} failed; detected {} into the deployment)",
                format_duration(Duration::from_millis(self.elapsed_ms()))
            ))
        }
    }

    /// The deployment failed for `why`: its time so far, and the moment the
    /// rollback starts (the notify targets are told, without waiting).
    fn rollback_begins(&mut self, why: &str) -> (u64, Instant) {
        let deploy_ms = self.elapsed_ms();
        self.notify("rollback_started", None, Some(why.to_string()));
        (deploy_ms, Instant::now())
    }

    /// Hands a notification to the notifier, if `notify:` is configured.
    fn notify(&mut self, event: &str, outcome: Option<String>, message: Option<String>) {
        let session = self.engine.session_id();
        if let Some(n) = self.notifier.as_mut() {
            n.send(crate::notify::Notification {
                schema_version: 1,
                event: event.into(),
                session,
                action: self.action.id.clone(),
                strategy: self.strategy.into(),
                outcome,
                message,
                at: crate::clock::now_rfc3339(),
            });
        }
    }

    /// The result of a rollback that ran after `why`, started at `since`.
    fn rolled_back(
        &self,
        why: &str,
        deploy_ms: u64,
        since: Instant,
        problems: Vec<String>,
        live: Option<String>,
    ) -> StrategyResult {
        let rollback_ms = since.elapsed().as_millis() as u64;
        let took = format_duration(Duration::from_millis(rollback_ms));
        if problems.is_empty() {
            StrategyResult {
                outcome: DeploymentOutcome::RolledBack,
                deploy_ms,
                rollback_ms: Some(rollback_ms),
                message: format!("{why}; rolled back in {took}"),
                live,
            }
        } else {
            StrategyResult {
                outcome: DeploymentOutcome::RollbackFailed,
                deploy_ms,
                rollback_ms: Some(rollback_ms),
                message: format!(
                    "{why}; ROLLBACK FAILED after {took}: {}",
                    problems.join("; ")
                ),
                live,
            }
        }
    }

    async fn blue_green(&mut self, b: &BlueGreenSpec) -> Result<StrategyResult> {
        let slots: Vec<&String> = b.slots.keys().collect();
        let current = match self.current_slot(b).await? {
            Ok(c) => c,
            Err(r) => return Ok(r),
        };
        let idle = slots
            .iter()
            .find(|s| ***s != current)
            .map(|s| s.to_string())
            .unwrap_or_default();
        let vars = |to: &str, from: &str| {
            vec![
                ("DEPLOY_SESSION_SLOT", to.to_string()),
                ("DEPLOY_SESSION_SLOT_URL", b.slots[to].clone()),
                ("DEPLOY_SESSION_PREVIOUS_SLOT", from.to_string()),
                ("DEPLOY_SESSION_PREVIOUS_SLOT_URL", b.slots[from].clone()),
            ]
        };
        let forward = vars(&idle, &current);
        match self
            .command(&format!("deploy to {idle}"), &b.deploy, &forward)
            .await?
        {
            Flow::Ok => {}
            Flow::Failed(why) => return Ok(self.failed(why)),
            Flow::Interrupted(s) => return Ok(self.interrupted(s)),
        }
        match self
            .check_endpoints(
                &format!("probe {idle}"),
                &b.slots[&idle],
                &health_endpoints(&b.health_path, &b.health_paths),
                &b.probe,
            )
            .await
        {
            Flow::Ok => {}
            Flow::Failed(why) => return Ok(self.failed(why)),
            Flow::Interrupted(s) => return Ok(self.interrupted(s)),
        }
        let why = match self
            .command(&format!("switch to {idle}"), &b.switch, &forward)
            .await?
        {
            Flow::Ok => match self
                .check_endpoints(
                    "probe live",
                    &b.live_url,
                    &health_endpoints(&b.health_path, &b.health_paths),
                    &b.probe,
                )
                .await
            {
                Flow::Ok => return Ok(self.done(Some(idle.clone()), format!("{idle} is live"))),
                Flow::Failed(why) => why,
                Flow::Interrupted(s) => return Ok(self.interrupted(s)),
            },
            Flow::Failed(why) => why,
            Flow::Interrupted(s) => return Ok(self.interrupted(s)),
        };
        let (deploy_ms, since) = self.rollback_begins(&why);
        let mut problems = Vec::new();
        if let Flow::Failed(p) = self
            .command(
                &format!("switch back to {current}"),
                &b.switch,
                &vars(&current, &idle),
            )
            .await?
        {
            problems.push(p);
        }
        if let Flow::Failed(p) = self
            .check_endpoints(
                "probe live after rollback",
                &b.live_url,
                &health_endpoints(&b.health_path, &b.health_paths),
                &b.probe,
            )
            .await
        {
            problems.push(p);
        }
        Ok(self.rolled_back(&why, deploy_ms, since, problems, Some(current)))
    }

    /// The live slot: from `current`, else the slot this tool switched to
    /// last, else the first slot.
    async fn current_slot(&mut self, b: &BlueGreenSpec) -> Result<Result<String, StrategyResult>> {
        let first = b.slots.keys().next().cloned().unwrap_or_default();
        if let Some(cmd) = &b.current {
            let spec = match self
                .engine
                .command_spec(self.action, cmd, self.attempt, &[], "")
            {
                Ok(s) => s,
                Err(why) => return Ok(Err(self.failed(why))),
            };
            let r = self.engine.exec(self.action, &spec, None).await?;
            let printed = r
                .tail
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string())
                .unwrap_or_default();
            if !r.ok() || !b.slots.contains_key(&printed) {
                let known: Vec<&str> = b.slots.keys().map(String::as_str).collect();
                let why = format!(
                    "`current` ({cmd}) printed {printed:?}, not one of the slots {}",
                    known.join(", ")
                );
                return Ok(Err(self.failed(why)));
            }
            self.note("current slot", true, r.duration, &printed);
            return Ok(Ok(printed));
        }
        let tracked = {
            let store = self.engine.store.borrow();
            let here = store
                .session()
                .and_then(|s| s.deployments.iter().rev().find_map(|d| d.live.clone()));
            here.or_else(|| {
                crate::session::history::read_verified(&store.ctx().paths, &store.state)
                    .ok()?
                    .iter()
                    .rev()
                    .find_map(|h| h.live_slot.clone())
            })
        };
        Ok(Ok(tracked
            .filter(|s| b.slots.contains_key(s))
            .unwrap_or(first)))
    }

    async fn canary(&mut self, c: &CanarySpec) -> Result<StrategyResult> {
        let endpoints = health_endpoints(&c.health_path, &c.health_paths);
        if let Some(deploy) = &c.deploy {
            match self
                .command(
                    "deploy canary",
                    deploy,
                    &[("DEPLOY_SESSION_WEIGHT", "0".into())],
                )
                .await?
            {
                Flow::Ok => {}
                Flow::Failed(why) => return Ok(self.failed(why)),
                Flow::Interrupted(s) => return Ok(self.interrupted(s)),
            }
        }
        let mut previous = 0u8;
        let mut failure = None;
        for (i, &w) in c.steps.iter().enumerate() {
            let vars = [
                ("DEPLOY_SESSION_WEIGHT", w.to_string()),
                ("DEPLOY_SESSION_PREVIOUS_WEIGHT", previous.to_string()),
            ];
            let window = self.live_counts();
            let flow = match self
                .command(&format!("weight {w}%"), &c.set_weight, &vars)
                .await?
            {
                Flow::Ok => {
                    if let Some(p) = c.pause.as_ref().map(|p| p.at(i)) {
                        let mut cancel = self.engine.cancel.clone();
                        tokio::select! {
                            _ = tokio::time::sleep(p) => {}
                            _ = cancel.changed() => {}
                        }
                    }
                    match self
                        .check_endpoints(
                            &format!("probe at {w}%"),
                            &c.live_url,
                            &endpoints,
                            &c.probe,
                        )
                        .await
                    {
                        Flow::Ok => match (
                            self.judge_window(c.min_success_rate, window, w),
                            &c.analysis,
                        ) {
                            (Flow::Ok, Some(cmd)) => {
                                self.command(&format!("analysis at {w}%"), cmd, &vars)
                                    .await?
                            }
                            (judged, _) => judged,
                        },
                        other => other,
                    }
                }
                other => other,
            };
            previous = w;
            match flow {
                Flow::Ok => {}
                Flow::Failed(why) => {
                    failure = Some(format!("canary failed at {w}%: {why}"));
                    break;
                }
                Flow::Interrupted(s) => return Ok(self.interrupted(s)),
            }
        }
        let Some(why) = failure else {
            return Ok(self.done(None, "the canary carries 100% of traffic".into()));
        };
        let (deploy_ms, since) = self.rollback_begins(&why);
        let mut problems = Vec::new();
        let back = [
            ("DEPLOY_SESSION_WEIGHT", "0".to_string()),
            ("DEPLOY_SESSION_PREVIOUS_WEIGHT", previous.to_string()),
        ];
        if let Flow::Failed(p) = self.command("weight 0%", &c.set_weight, &back).await? {
            problems.push(p);
        }
        if let Some(rb) = &c.rollback
            && let Flow::Failed(p) = self.command("rollback", rb, &back).await?
        {
            problems.push(p);
        }
        if let Flow::Failed(p) = self
            .check_endpoints(
                "probe live after rollback",
                &c.live_url,
                &endpoints,
                &c.probe,
            )
            .await
        {
            problems.push(p);
        }
        Ok(self.rolled_back(&why, deploy_ms, since, problems, None))
    }

    async fn rolling(&mut self, r: &RollingSpec) -> Result<StrategyResult> {
        let mut finished: Vec<&RollingTarget> = Vec::new();
        let mut failure = None;
        'batches: for (i, batch) in r.targets.chunks(r.batch_size.max(1) as usize).enumerate() {
            let mut deployed: Vec<&RollingTarget> = Vec::new();
            for t in batch {
                let vars = target_vars(t, i + 1);
                match self
                    .command(&format!("deploy {}", t.name), &r.deploy, &vars)
                    .await?
                {
                    Flow::Ok => deployed.push(t),
                    Flow::Failed(why) => {
                        deployed.push(t);
                        finished.extend(deployed);
                        failure = Some(why);
                        break 'batches;
                    }
                    Flow::Interrupted(s) => return Ok(self.interrupted(s)),
                }
            }
            for t in batch {
                match self
                    .check_endpoints(
                        &format!("probe {}", t.name),
                        &t.url,
                        &health_endpoints(&r.health_path, &r.health_paths),
                        &r.probe,
                    )
                    .await
                {
                    Flow::Ok => {}
                    Flow::Failed(why) => {
                        finished.extend(deployed);
                        failure = Some(format!("batch {}: {why}", i + 1));
                        break 'batches;
                    }
                    Flow::Interrupted(s) => return Ok(self.interrupted(s)),
                }
            }
            finished.extend(deployed);
        }
        let Some(why) = failure else {
            return Ok(self.done(None, format!("{} targets updated", r.targets.len())));
        };
        let (deploy_ms, since) = self.rollback_begins(&why);
        let mut problems = Vec::new();
        for (i, t) in finished.iter().enumerate().rev() {
            if let Flow::Failed(p) = self
                .command(
                    &format!("roll back {}", t.name),
                    &r.rollback,
                    &target_vars(t, i + 1),
                )
                .await?
            {
                problems.push(p);
                continue;
            }
            if let Flow::Failed(p) = self
                .check_endpoints(
                    &format!("probe {} after rollback", t.name),
                    &t.url,
                    &health_endpoints(&r.health_path, &r.health_paths),
                    &r.probe,
                )
                .await
            {
                problems.push(p);
            }
        }
        Ok(self.rolled_back(&why, deploy_ms, since, problems, None))
    }
}

fn target_vars(t: &RollingTarget, batch: usize) -> Vec<(&'static str, String)> {
    vec![
        ("DEPLOY_SESSION_TARGET", t.name.clone()),
        ("DEPLOY_SESSION_TARGET_URL", t.url.clone()),
        ("DEPLOY_SESSION_BATCH", batch.to_string()),
    ]
}

impl Engine {
    /// The run's notifier, when the config has `notify:`.
    fn notifier(&self) -> Option<crate::notify::Notifier> {
        let store = self.store.borrow();
        let ctx = store.ctx();
        let spec = ctx.config.notify.clone()?;
        Some(crate::notify::Notifier::new(
            spec,
            ctx.redactor.clone(),
            ctx.paths.root().to_path_buf(),
        ))
    }

    /// Waits (up to 30 s, off the scheduler's thread) for the deployment's
    /// notifications and records how each went.
    async fn record_deliveries(
        &self,
        a: &Action,
        notifier: Option<crate::notify::Notifier>,
    ) -> Result<()> {
        let Some(n) = notifier else {
            return Ok(());
        };
        let Some(deliveries) = self
            .off_thread(move || n.finish(Duration::from_secs(30)))
            .await?
        else {
            return Ok(());
        };
        for d in deliveries {
            self.record(
                Some(&a.id),
                EventKind::NotificationSent {
                    notification: d.event,
                    target: d.target.into(),
                    attempts: d.attempts,
                    delivered: d.delivered,
                    error: d.error,
                },
            )?;
        }
        Ok(())
    }

    /// Kind `strategy`.
    pub(crate) async fn strategy_action(
        self: &Rc<Self>,
        a: &Action,
        s: &StrategySpec,
    ) -> Result<Step> {
        let (_, shown_log) = self.log_path(a, "");
        let attempt = self.start_attempt(a, KindName::Strategy)?;
        let (live, interval) = match s {
            StrategySpec::BlueGreen(b) => (
                Some(health(
                    &b.live_url,
                    health_endpoints(&b.health_path, &b.health_paths)[0],
                )),
                b.sample_interval,
            ),
            StrategySpec::Canary(c) => (
                Some(health(
                    &c.live_url,
                    health_endpoints(&c.health_path, &c.health_paths)[0],
                )),
                c.sample_interval,
            ),
            StrategySpec::Rolling(r) => (
                r.live_url
                    .as_ref()
                    .map(|u| health(u, health_endpoints(&r.health_path, &r.health_paths)[0])),
                r.sample_interval,
            ),
        };
        let interval = interval.map_or(DEFAULT_SAMPLE, |d| d.0);
        let prober = live.map(|u| Prober::start(u, interval));
        let mut run = Run {
            engine: self,
            action: a,
            strategy: s.name(),
            attempt,
            started: Instant::now(),
            steps: Vec::new(),
            logged: false,
            notifier: self.notifier(),
            live: prober.as_ref().map(Prober::counts),
        };
        run.notify("deployment_started", None, None);
        let result = match s {
            StrategySpec::BlueGreen(b) => run.blue_green(b).await,
            StrategySpec::Canary(c) => run.canary(c).await,
            StrategySpec::Rolling(r) => run.rolling(r).await,
        };
        let samples = match prober {
            Some(p) => p.finish().await,
            None => Samples::default(),
        };
        let r = result?;
        if r.outcome != DeploymentOutcome::Interrupted {
            run.notify(
                "deployment_finished",
                Some(r.outcome.as_str().to_string()),
                Some(r.message.clone()),
            );
        }
        self.record_deliveries(a, run.notifier.take()).await?;
        let sampled = if samples.total > 0 {
            format!(
                "; {} of {} live samples failed",
                samples.failed, samples.total
            )
        } else {
            String::new()
        };
        if r.outcome != DeploymentOutcome::Interrupted {
            self.record(
                Some(&a.id),
                EventKind::DeploymentRecorded {
                    strategy: s.name().into(),
                    outcome: r.outcome,
                    deploy_ms: r.deploy_ms,
                    rollback_ms: r.rollback_ms,
                    samples: samples.total,
                    failed_samples: samples.failed,
                    sample_interval_ms: (samples.total > 0).then_some(samples.interval_ms),
                    live: r.live.clone(),
                },
            )?;
        }
        let metrics = json!({
            "strategy": s.name(), "outcome": r.outcome, "deploy_ms": r.deploy_ms, "rollback_ms": r.rollback_ms,
            "samples": samples, "live": r.live, "steps": run.steps,
            "evidence": format!("{} {} in {}{sampled}", s.name(), r.outcome.as_str().replace('_', " "), format_duration(Duration::from_millis(r.deploy_ms))),
        });
        let status = match r.outcome {
            DeploymentOutcome::Succeeded => ActionStatus::Completed,
            DeploymentOutcome::Interrupted => ActionStatus::Interrupted,
            DeploymentOutcome::Failed
            | DeploymentOutcome::RolledBack
            | DeploymentOutcome::RollbackFailed => ActionStatus::Failed,
        };
        let message = format!("{}{sampled}", r.message);
        let log = run.logged.then_some(shown_log);
        self.finish_logged(
            a,
            status,
            None,
            Some(run.started.elapsed()),
            Some(message),
            Some(metrics),
            log,
        )
    }
}
