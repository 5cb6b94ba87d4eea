//! Deployment strategies (kind `strategy`): blue-green, canary and rolling,
//! built from the user's commands and probes. While one runs, live traffic
//! goes through the live URL (`traffic`) — the measured downtime and
//! latency — each window of it is judged by the strategy's `criteria`, and
//! the deploy, detection and rollback times are recorded as a deployment
//! of the session.

use super::probe::{Samples, probe};
use crate::engine::process::Ending;
use crate::engine::{Engine, Step};
use crate::protocol::model::health_endpoints;
use crate::protocol::{
    Action, BlueGreenSpec, CanarySpec, Criteria, ProbeSpec, RollingSpec, RollingTarget,
    StrategySpec, format_duration,
};
use crate::protocol::{DeploymentOutcome, KindName};
use crate::session::{ActionStatus, EventKind};
use crate::traffic::{Traffic, Window};
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
    /// Live traffic through the live URL (when the strategy has one).
    traffic: Option<Traffic>,
    /// What every window of traffic must show.
    criteria: Option<Criteria>,
    /// How long the failing window ran before its verdict.
    detected: Option<Duration>,
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

    /// Where the next window of traffic starts.
    fn mark(&self) -> (usize, Instant) {
        (
            self.traffic.as_ref().map_or(0, Traffic::mark),
            Instant::now(),
        )
    }

    /// Waits `d` (cut short by a signal; the caller sees it at its next step).
    async fn wait(&self, d: Option<Duration>) {
        if let Some(d) = d.filter(|d| !d.is_zero()) {
            let mut cancel = self.engine.cancel.clone();
            tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = cancel.changed() => {}
            }
        }
    }

    /// Records the window of traffic since `from` as step `label` and judges
    /// it by the criteria — from the tool's traffic, or from the team's
    /// metrics command when `criteria.metrics` is set.
    async fn judge(
        &mut self,
        label: &str,
        from: (usize, Instant),
        vars: &[(&str, String)],
    ) -> Result<Flow> {
        let (mark, began) = from;
        let criteria = self.criteria.clone();
        let measured = match criteria.as_ref().and_then(|c| c.metrics.clone()) {
            Some(cmd) => match self.metrics(label, &cmd, began, vars).await? {
                Ok(w) => Some((w, "metrics command")),
                Err(flow) => return Ok(flow),
            },
            None => self
                .traffic
                .as_ref()
                .map(|t| (t.since(mark), "live traffic")),
        };
        let Some((window, source)) = measured else {
            return Ok(Flow::Ok);
        };
        let problems = criteria
            .as_ref()
            .map(|c| criteria_problems(c, &window))
            .unwrap_or_default();
        let ok = problems.is_empty();
        let verdict = match (&criteria, ok) {
            (None, _) => String::new(),
            (Some(_), true) => " — criteria met".into(),
            (Some(_), false) => format!(" — {}", problems.join("; ")),
        };
        self.note(
            &format!("traffic {label}"),
            ok,
            began.elapsed(),
            &format!("{}{verdict}", window.describe()),
        );
        if let Some(Value::Object(step)) = self.steps.last_mut() {
            step.insert("source".into(), json!(source));
            step.insert("window".into(), json!(window));
        }
        if ok {
            return Ok(Flow::Ok);
        }
        self.detected = Some(began.elapsed());
        Ok(Flow::Failed(format!(
            "{} over {} {label} (detected {} after the window began)",
            problems.join("; "),
            window.describe(),
            format_duration(began.elapsed())
        )))
    }

    /// Runs the team's metrics command for the window begun at `began`; its
    /// last line is the window's figures as JSON.
    async fn metrics(
        &mut self,
        label: &str,
        cmd: &str,
        began: Instant,
        vars: &[(&str, String)],
    ) -> Result<Result<Window, Flow>> {
        let mut all = vec![(
            "DEPLOY_SESSION_WINDOW_MS",
            began.elapsed().as_millis().to_string(),
        )];
        all.extend(vars.iter().cloned());
        let spec = match self
            .engine
            .command_spec(self.action, cmd, self.attempt, &all, "")
        {
            Ok(s) => s,
            Err(why) => return Ok(Err(Flow::Failed(why))),
        };
        let r = self.engine.exec(self.action, &spec, None).await?;
        self.logged |= r.logged;
        if matches!(r.ending, Ending::Interrupted) {
            return Ok(Err(Flow::Interrupted(format!("metrics {label}"))));
        }
        let last = r
            .tail
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .cloned()
            .unwrap_or_default();
        match (r.ok(), parse_metrics(&last)) {
            (true, Ok(w)) => Ok(Ok(w)),
            (false, _) => Ok(Err(Flow::Failed(format!(
                "metrics {label}: `{cmd}` {}",
                r.describe(spec.timeout)
            )))),
            (true, Err(why)) => Ok(Err(Flow::Failed(format!(
                "metrics {label}: `{cmd}` printed {last:?}: {why}"
            )))),
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
        let switched = self.mark();
        let mut flow = self
            .command(&format!("switch to {idle}"), &b.switch, &forward)
            .await?;
        if let Flow::Ok = flow {
            flow = self
                .check_endpoints(
                    "probe live",
                    &b.live_url,
                    &health_endpoints(&b.health_path, &b.health_paths),
                    &b.probe,
                )
                .await;
        }
        if let Flow::Ok = flow {
            self.wait(b.pause.map(|d| d.0)).await;
            flow = self
                .judge(&format!("after the switch to {idle}"), switched, &forward)
                .await?;
        }
        let why = match flow {
            Flow::Ok => return Ok(self.done(Some(idle.clone()), format!("{idle} is live"))),
            Flow::Failed(why) => {
                self.detected.get_or_insert(switched.1.elapsed());
                why
            }
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
            let window = self.mark();
            let mut flow = self
                .command(&format!("weight {w}%"), &c.set_weight, &vars)
                .await?;
            if let Flow::Ok = flow {
                self.wait(c.pause.as_ref().map(|p| p.at(i))).await;
                flow = self
                    .check_endpoints(&format!("probe at {w}%"), &c.live_url, &endpoints, &c.probe)
                    .await;
            }
            if let Flow::Ok = flow {
                flow = self.judge(&format!("at {w}%"), window, &vars).await?;
            }
            if let (Flow::Ok, Some(cmd)) = (&flow, &c.analysis) {
                flow = self
                    .command(&format!("analysis at {w}%"), cmd, &vars)
                    .await?;
            }
            previous = w;
            match flow {
                Flow::Ok => {}
                Flow::Failed(why) => {
                    self.detected.get_or_insert(window.1.elapsed());
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
        let mut window = self.mark();
        'batches: for (i, batch) in r.targets.chunks(r.batch_size.max(1) as usize).enumerate() {
            window = self.mark();
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
            let mut flow = Flow::Ok;
            for t in batch {
                flow = self
                    .check_endpoints(
                        &format!("probe {}", t.name),
                        &t.url,
                        &health_endpoints(&r.health_path, &r.health_paths),
                        &r.probe,
                    )
                    .await;
                if !matches!(flow, Flow::Ok) {
                    break;
                }
            }
            if let Flow::Ok = flow {
                self.wait(r.pause.map(|d| d.0)).await;
                let batch_vars = [("DEPLOY_SESSION_BATCH", (i + 1).to_string())];
                flow = self
                    .judge(&format!("during batch {}", i + 1), window, &batch_vars)
                    .await?;
            }
            match flow {
                Flow::Ok => {}
                Flow::Failed(why) => {
                    finished.extend(deployed);
                    failure = Some(format!("batch {}: {why}", i + 1));
                    break 'batches;
                }
                Flow::Interrupted(s) => return Ok(self.interrupted(s)),
            }
            finished.extend(deployed);
        }
        let Some(why) = failure else {
            return Ok(self.done(None, format!("{} targets updated", r.targets.len())));
        };
        self.detected.get_or_insert(window.1.elapsed());
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

/// What in `w` breaks the criteria `c`, in words (none: they are met).
fn criteria_problems(c: &Criteria, w: &Window) -> Vec<String> {
    let need = c.min_requests.unwrap_or(1).max(1);
    if w.requests < need {
        return vec![format!(
            "{} requests in the window, fewer than the {need} a verdict needs (lengthen `pause` or raise `load.rate`)",
            w.requests
        )];
    }
    let mut out = Vec::new();
    if let Some(min) = c.min_success_rate
        && w.success_rate() < min
    {
        out.push(format!(
            "success rate {:.1}% is below the {min}% minimum",
            w.success_rate()
        ));
    }
    for (name, limit, seen) in [("p95", c.max_p95, w.p95_us), ("p99", c.max_p99, w.p99_us)] {
        if let Some(limit) = limit
            && seen > limit.0.as_micros() as u64
        {
            out.push(format!(
                "{name} latency {} is above the {} maximum",
                crate::traffic::ms(seen),
                format_duration(limit.0)
            ));
        }
    }
    out
}

/// A metrics command's line: `{"requests": N, "failed": N, "p50_ms": X,
/// "p95_ms": X, "p99_ms": X}` (`failed` and the percentiles optional).
fn parse_metrics(line: &str) -> Result<Window, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Line {
        requests: u64,
        #[serde(default)]
        failed: u64,
        #[serde(default)]
        p50_ms: f64,
        #[serde(default)]
        p95_ms: f64,
        #[serde(default)]
        p99_ms: f64,
    }
    let l: Line = serde_json::from_str(line.trim()).map_err(|e| {
        format!("expected {{\"requests\": N, \"failed\": N, \"p95_ms\": X, \"p99_ms\": X}} ({e})")
    })?;
    if l.failed > l.requests {
        return Err(format!(
            "`failed` {} is more than `requests` {}",
            l.failed, l.requests
        ));
    }
    let us = |v: f64| -> Result<u64, String> {
        if v.is_finite() && v >= 0.0 {
            Ok((v * 1000.0).round() as u64)
        } else {
            Err(format!("latency {v} is not a number of milliseconds"))
        }
    };
    Ok(Window {
        requests: l.requests,
        failed: l.failed,
        p50_us: us(l.p50_ms)?,
        p95_us: us(l.p95_ms)?,
        p99_us: us(l.p99_ms)?,
    })
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

    /// Why `a` may not deploy to its environment now, if so: the
    /// environment it is promoted from has no successful deployment in this
    /// session, or the promotion's named approval is not recorded.
    fn promotion_problem(&self, a: &Action) -> Option<String> {
        let env = a.common.environment.as_deref()?;
        let store = self.store.borrow();
        let spec = store.ctx().config.environments.get(env)?.clone();
        let session = store.session()?;
        if let Some(from) = &spec.promote_from {
            let last = session
                .deployments
                .iter()
                .rev()
                .find(|d| d.environment.as_deref() == Some(from.as_str()));
            match last {
                None => {
                    return Some(format!(
                        "{env} is promoted from {from}, and no deployment to {from} was measured in this session"
                    ));
                }
                Some(d) if !d.succeeded() => {
                    return Some(format!(
                        "{env} is promoted from {from}, whose last deployment ({}) {}",
                        d.action,
                        d.outcome.as_str().replace('_', " ")
                    ));
                }
                Some(_) => {}
            }
        }
        if spec.needs_approval() {
            let gates: Vec<&Action> = self
                .set
                .actions()
                .filter(|x| {
                    matches!(x.kind, crate::protocol::Kind::Approval(_))
                        && x.common.environment.as_deref() == Some(env)
                })
                .collect();
            let approved = gates.iter().any(|x| {
                session.actions.get(&x.id).is_some_and(|r| {
                    r.status == ActionStatus::Completed && r.approval.is_some() && !r.overridden
                })
            });
            if !approved {
                let ids: Vec<&str> = gates.iter().map(|x| x.id.as_str()).collect();
                return Some(format!(
                    "deploying to {env} needs a named approval ({}), and none is recorded (a skipped approval is not one)",
                    ids.join(", ")
                ));
            }
        }
        None
    }

    /// Kind `strategy`.
    pub(crate) async fn strategy_action(
        self: &Rc<Self>,
        a: &Action,
        s: &StrategySpec,
    ) -> Result<Step> {
        let (_, shown_log) = self.log_path(a, "");
        let attempt = self.start_attempt(a, KindName::Strategy)?;
        if let Some(why) = self.promotion_problem(a) {
            let message = format!("{why}; nothing was deployed");
            let metrics = json!({ "evidence": message, "environment": a.common.environment });
            return self.finish(
                a,
                ActionStatus::Failed,
                None,
                None,
                Some(message),
                Some(metrics),
            );
        }
        let traffic = s.live_url().map(|base| {
            let path = s
                .load()
                .and_then(|l| l.path.as_deref())
                .unwrap_or(s.endpoints()[0]);
            let period = match s.load() {
                Some(l) => Duration::from_secs_f64(1.0 / f64::from(l.rate.max(1))),
                None => s.sample_interval().map_or(DEFAULT_SAMPLE, |d| d.0),
            };
            Traffic::start(health(base, path), period)
        });
        let mut run = Run {
            engine: self,
            action: a,
            strategy: s.name(),
            attempt,
            started: Instant::now(),
            steps: Vec::new(),
            logged: false,
            notifier: self.notifier(),
            traffic,
            criteria: s.criteria(),
            detected: None,
        };
        run.notify("deployment_started", None, None);
        let result = match s {
            StrategySpec::BlueGreen(b) => run.blue_green(b).await,
            StrategySpec::Canary(c) => run.canary(c).await,
            StrategySpec::Rolling(r) => run.rolling(r).await,
        };
        let total = match run.traffic.take() {
            Some(t) => tokio::task::spawn_blocking(move || (t.stop(), t.rate()))
                .await
                .ok(),
            None => None,
        };
        let samples = total.map_or_else(Samples::default, |(w, rate)| Samples {
            total: w.requests,
            failed: w.failed,
            interval_ms: (1000.0 / rate).round() as u64,
        });
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
                    traffic: total.map(|(w, _)| w),
                    detection_ms: run.detected.map(|d| d.as_millis() as u64),
                    environment: a.common.environment.clone(),
                },
            )?;
        }
        let metrics = json!({
            "strategy": s.name(), "outcome": r.outcome, "deploy_ms": r.deploy_ms, "rollback_ms": r.rollback_ms,
            "environment": a.common.environment, "samples": samples, "traffic": total.map(|(w, _)| w), "detection_ms": run.detected.map(|d| d.as_millis() as u64), "live": r.live, "steps": run.steps,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Dur;

    fn window(requests: u64, failed: u64, p95_ms: u64, p99_ms: u64) -> Window {
        Window {
            requests,
            failed,
            p50_us: 1000,
            p95_us: p95_ms * 1000,
            p99_us: p99_ms * 1000,
        }
    }

    #[test]
    fn criteria_name_every_breach_and_need_evidence() {
        let c = Criteria {
            min_success_rate: Some(99.0),
            max_p95: Some(Dur(Duration::from_millis(200))),
            max_p99: Some(Dur(Duration::from_secs(1))),
            min_requests: Some(10),
            metrics: None,
        };
        assert!(criteria_problems(&c, &window(100, 1, 200, 1000)).is_empty());
        let all = criteria_problems(&c, &window(100, 2, 201, 1001));
        assert_eq!(all.len(), 3, "{all:?}");
        assert!(all[0].contains("success rate 98.0% is below the 99% minimum"));
        assert!(all[1].contains("p95 latency 201.0ms is above the 200ms maximum"));
        assert!(all[2].contains("p99 latency 1001.0ms is above the 1s maximum"));
        let few = criteria_problems(&c, &window(9, 0, 1, 1));
        assert!(few[0].contains("9 requests in the window, fewer than the 10"));
        // Without min_requests, an empty window still fails: no evidence.
        let none = Criteria {
            min_requests: None,
            ..c
        };
        assert_eq!(criteria_problems(&none, &window(0, 0, 0, 0)).len(), 1);
    }

    #[test]
    fn a_metrics_line_is_read_or_refused_by_name() {
        let w = parse_metrics(r#"{"requests": 200, "failed": 3, "p95_ms": 12.5, "p99_ms": 40}"#)
            .unwrap();
        assert_eq!(
            (w.requests, w.failed, w.p95_us, w.p99_us),
            (200, 3, 12_500, 40_000)
        );
        assert!(parse_metrics("ok").unwrap_err().contains("expected"));
        assert!(
            parse_metrics(r#"{"requests": 1, "failed": 2}"#)
                .unwrap_err()
                .contains("more than `requests`")
        );
        assert!(parse_metrics(r#"{"requests": 1, "p99_ms": -1}"#).is_err());
        assert!(parse_metrics(r#"{"requests": 1, "latency": 3}"#).is_err());
    }
}
