//! The engine: a scheduler. It runs a protocol from its first unfinished
//! action — stages by their `needs` graph, independent stages at the same
//! time, the actions of a stage in order — and leaves what an action *does*
//! to its kind, behind [`ActionKind`]. Every change is recorded through the
//! store (one journal line each), so a run killed at any point resumes
//! exactly. It knows nothing of gates, handoffs or the master state: those
//! are `kinds` and `closing`, above it.

mod exec;
pub mod process;
pub mod report;
mod spawn;

use crate::progress;
use crate::protocol::{Action, Kind, Protocol, ProtocolName, ProtocolSet, SessionStatus, Stage};
use crate::session::{ActionRecord, ActionStatus, EventKind, Store};
use anyhow::{Result, bail};
use report::Reporter;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How a run was asked for.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Re-run these actions even if they completed.
    pub rerun: Vec<String>,
    /// Approval actions approved up front (`--approve`, `DEPLOY_SESSION_APPROVE`).
    pub approvals: Vec<(String, crate::protocol::ApprovalVia)>,
    /// Who approves (`--by`).
    pub approver: Option<String>,
    /// Prompts are allowed (a terminal, not CI).
    pub interactive: bool,
    /// Run only these stages (`--stage`); empty = every stage.
    pub only_stages: Vec<String>,
    /// What a reviewed decisions file says people did (`--decisions`).
    pub decisions: Option<std::sync::Arc<crate::decisions::Decisions>>,
}

pub use crate::protocol::Outcome;

/// What an action's kind hands back to the scheduler.
pub(crate) type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<Step>> + 'a>>;

/// What one kind of action does when the scheduler reaches it (run, check,
/// probe, strategy, approval, manual, builtin — implemented in `kinds`).
pub(crate) trait ActionKind {
    /// Runs `a` (an action of this kind) to its next step, recording what
    /// happens through `engine`.
    fn run<'a>(&'a self, engine: &'a Rc<Engine>, a: &'a Action) -> StepFuture<'a>;
}

/// Which [`ActionKind`] runs each kind of action, for one run.
pub(crate) trait KindTable {
    /// The implementation of `kind`.
    fn of(&self, kind: &Kind) -> &dyn ActionKind;
}

/// The result of one action step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Done,
    Waiting,
    Failed,
    Interrupted,
}

/// Where each stage ended up in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StageState {
    Pending,
    Running,
    Done,
    Failed,
    Waiting,
    Interrupted,
}

/// The engine for one protocol run.
pub(crate) struct Engine {
    pub(crate) store: RefCell<Store>,
    /// The store's paths, kept here so a step need not copy them.
    paths: crate::paths::RepoPaths,
    pub(crate) set: Arc<ProtocolSet>,
    pub(crate) reporter: Reporter,
    pub(crate) opts: RunOptions,
    pub(crate) cancel: watch::Receiver<bool>,
    cancel_tx: watch::Sender<bool>,
    kinds: Rc<dyn KindTable>,
}

/// Runs `protocol` on an open store; returns how it ended.
pub(crate) fn run(
    store: Store,
    protocol: ProtocolName,
    opts: RunOptions,
    reporter: Reporter,
    kinds: Rc<dyn KindTable>,
) -> Result<(Outcome, Store)> {
    with_engine(store, opts, reporter, kinds, move |engine| async move {
        engine.run_protocol(protocol).await
    })
}

/// Runs one action (the operator's walkthrough steps through a protocol
/// this way): exactly as a protocol run would, including its stage's
/// rollback if it fails.
pub(crate) fn run_single(
    store: Store,
    id: String,
    opts: RunOptions,
    reporter: Reporter,
    kinds: Rc<dyn KindTable>,
) -> Result<(Outcome, Store)> {
    with_engine(store, opts, reporter, kinds, move |engine| async move {
        engine.run_one(&id).await
    })
}

/// Runs blocking work (files, git, HTTP, a prompt) on a blocking thread and
/// gives it up when the run is interrupted: a step stuck opening a FIFO or
/// waiting on a silent server still lets the run stop in order, record
/// `interrupted` and release the lock. `None` means interrupted; the
/// abandoned thread ends with the process (the runtime does not wait).
pub(crate) async fn off_thread<T: Send + 'static>(
    cancel: &watch::Receiver<bool>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<Option<T>> {
    let mut cancel = cancel.clone();
    if *cancel.borrow_and_update() {
        return Ok(None);
    }
    let task = tokio::task::spawn_blocking(work);
    tokio::select! {
        done = task => Ok(Some(done?)),
        _ = cancel.wait_for(|stop| *stop) => Ok(None),
    }
}

/// Sets up the runtime, the engine and the signal watch around `work`, and
/// saves the state whatever happens.
fn with_engine<F, Fut>(
    store: Store,
    opts: RunOptions,
    reporter: Reporter,
    kinds: Rc<dyn KindTable>,
    work: F,
) -> Result<(Outcome, Store)>
where
    F: FnOnce(Rc<Engine>) -> Fut,
    Fut: std::future::Future<Output = Result<Outcome>>,
{
    let _claim = crate::signals::Claim::take();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (cancel_tx, cancel) = watch::channel(false);
    let set = store.ctx().protocols.clone();
    let paths = store.ctx().paths.clone();
    let engine = Rc::new(Engine {
        store: RefCell::new(store),
        paths,
        set,
        reporter,
        opts,
        cancel,
        cancel_tx,
        kinds,
    });
    let local = tokio::task::LocalSet::new();
    let result = local.block_on(&runtime, {
        let engine = engine.clone();
        async move {
            let guard = engine.clone();
            tokio::task::spawn_local(async move { guard.watch_signals().await });
            work(engine).await
        }
    });
    drop(local);
    // Work given up by `off_thread` may still block; it must not hold the exit.
    runtime.shutdown_background();
    let engine =
        Rc::try_unwrap(engine).map_err(|_| anyhow::anyhow!("engine still in use after the run"))?;
    let mut store = engine.store.into_inner();
    // Whatever happened, the state reached so far is saved.
    let saved = store.snapshot();
    let outcome = result?;
    saved?;
    Ok((outcome, store))
}

impl Engine {
    async fn watch_signals(&self) {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            crate::signals::handlers_changed();
            return;
        };
        // tokio's handlers now stand before ours.
        crate::signals::handlers_changed();
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        let _ = self.cancel_tx.send(true);
    }

    pub(crate) fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// [`off_thread`] with this run's cancellation.
    pub(crate) async fn off_thread<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Option<T>> {
        off_thread(&self.cancel, work).await
    }

    pub(crate) fn record(&self, action: Option<&str>, kind: EventKind) -> Result<()> {
        self.store.borrow_mut().record(action, kind)
    }

    pub(crate) fn record_of(&self, id: &str) -> ActionRecord {
        self.store
            .borrow()
            .session()
            .map(|s| s.action(id))
            .unwrap_or_default()
    }

    pub(crate) fn status_of(&self, id: &str) -> ActionStatus {
        self.store
            .borrow()
            .session()
            .map_or(ActionStatus::Pending, |s| s.status_of(id))
    }

    pub(crate) fn session_id(&self) -> String {
        self.store
            .borrow()
            .session()
            .map(|s| s.id.clone())
            .unwrap_or_default()
    }

    fn set_status(&self, status: SessionStatus) -> Result<()> {
        let current = self.store.borrow().session().and_then(|s| s.status);
        if current != Some(status) {
            self.record(None, EventKind::StatusChanged { status })?;
        }
        Ok(())
    }

    async fn run_protocol(self: &Rc<Self>, name: ProtocolName) -> Result<Outcome> {
        self.reconcile()?;
        let set = self.set.clone();
        let p = set.get(name);
        for id in &self.opts.rerun {
            self.record(
                Some(id),
                EventKind::ActionReset {
                    reason: "--rerun".into(),
                },
            )?;
        }
        let started = self
            .store
            .borrow()
            .session()
            .and_then(|s| s.protocols.get(&name).and_then(|r| r.started_at.clone()));
        if started.is_none() {
            self.record(None, EventKind::ProtocolStarted { protocol: name })?;
        }
        let outcome = self.run_stages(p).await?;
        let complete = self
            .store
            .borrow()
            .session()
            .is_some_and(|s| progress::protocol_complete(p, s));
        if complete {
            let recorded = self
                .store
                .borrow()
                .session()
                .is_some_and(|s| s.protocol_done(name));
            if !recorded {
                self.record(None, EventKind::ProtocolCompleted { protocol: name })?;
            }
            // The status the protocol ends in, even if people did its last steps.
            let last_stage = p.stages.iter().rev().find_map(|s| s.status);
            if let Some(status) = p.completes_with.or(last_stage) {
                self.set_status(status)?;
            }
            if name == ProtocolName::End {
                let entry = crate::session::archive::close(
                    &mut self.store.borrow_mut(),
                    "completed",
                    None,
                )?;
                self.reporter
                    .say(format!("  session {} closed and archived", entry.session));
            }
            return Ok(Outcome::Done);
        }
        Ok(outcome)
    }

    async fn run_one(self: &Rc<Self>, id: &str) -> Result<Outcome> {
        self.reconcile()?;
        let set = self.set.clone();
        let Some(a) = set.action(id) else {
            bail!("unknown action {id}");
        };
        let p = set.get(a.protocol);
        let stage = p
            .stages
            .iter()
            .find(|s| s.id == a.stage)
            .expect("an action's stage exists");
        let index = stage.actions.iter().position(|x| x.id == a.id).unwrap_or(0);
        let started = self.store.borrow().session().and_then(|s| {
            s.protocols
                .get(&a.protocol)
                .and_then(|r| r.started_at.clone())
        });
        if started.is_none() {
            self.record(
                None,
                EventKind::ProtocolStarted {
                    protocol: a.protocol,
                },
            )?;
        }
        if let Some(status) = a.status.or(stage.status) {
            self.set_status(status)?;
        }
        Ok(match self.run_action(a).await? {
            Step::Done => Outcome::Done,
            Step::Waiting => Outcome::Waiting,
            Step::Interrupted => Outcome::Interrupted,
            Step::Failed => {
                if !a.optional() {
                    self.rollback_stage(stage, index).await?;
                }
                Outcome::Failed
            }
        })
    }

    /// Actions left running by a killed deploy-session: reap what they left
    /// behind and mark them interrupted, so they run again.
    fn reconcile(&self) -> Result<()> {
        let running: Vec<(String, ActionRecord)> = self
            .store
            .borrow()
            .session()
            .map(|s| {
                s.actions
                    .iter()
                    .filter(|(_, r)| r.status == ActionStatus::Running)
                    .map(|(id, r)| (id.clone(), r.clone()))
                    .collect()
            })
            .unwrap_or_default();
        for (id, rec) in running {
            if let Some(proc) = &rec.process {
                let signalled = process::reap_orphan(proc);
                self.record(
                    Some(&id),
                    EventKind::ProcessReaped {
                        pid: proc.pid,
                        signalled,
                    },
                )?;
            }
            self.record(
                Some(&id),
                EventKind::ActionFinished {
                    status: ActionStatus::Interrupted,
                    exit_code: None,
                    duration_ms: None,
                    message: Some(
                        "deploy-session stopped while this action ran; it runs again".into(),
                    ),
                    metrics: None,
                    log: None,
                },
            )?;
        }
        Ok(())
    }

    async fn run_stages(self: &Rc<Self>, p: &Protocol) -> Result<Outcome> {
        let index = |id: &str| p.stages.iter().position(|s| s.id == id);
        let mut states: Vec<StageState> = {
            let store = self.store.borrow();
            let session = store.session();
            p.stages
                .iter()
                .map(|s| match session {
                    Some(sess) if progress::stage_complete(p, &s.id, sess) => StageState::Done,
                    _ => StageState::Pending,
                })
                .collect()
        };
        let mut tasks = JoinSet::new();
        let mut first_error = None;
        loop {
            let may_start = first_error.is_none() && !self.cancelled();
            for (i, stage) in p.stages.iter().enumerate() {
                let ready = stage
                    .needs
                    .iter()
                    .all(|n| index(n).is_some_and(|j| states[j] == StageState::Done));
                if may_start && states[i] == StageState::Pending && ready && self.selected(stage) {
                    states[i] = StageState::Running;
                    let me = self.clone();
                    let stage = stage.clone();
                    tasks.spawn_local(async move { (i, me.run_stage(&stage).await) });
                }
            }
            match tasks.join_next().await {
                None => break,
                Some(Ok((i, Ok(state)))) => states[i] = state,
                Some(Ok((i, Err(e)))) => {
                    states[i] = StageState::Failed;
                    let _ = self.cancel_tx.send(true);
                    first_error.get_or_insert(e);
                }
                Some(Err(e)) => bail!("a stage task failed: {e}"),
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let states: Vec<StageState> = p
            .stages
            .iter()
            .zip(states)
            .filter(|(stage, _)| self.selected(stage))
            .map(|(_, state)| state)
            .collect();
        Ok(if states.contains(&StageState::Failed) {
            Outcome::Failed
        } else if states.contains(&StageState::Interrupted) || self.cancelled() {
            Outcome::Interrupted
        } else if states.iter().all(|s| *s == StageState::Done) {
            Outcome::Done
        } else {
            Outcome::Waiting
        })
    }

    /// Whether `--stage` lets this stage run.
    fn selected(&self, stage: &Stage) -> bool {
        self.opts.only_stages.is_empty() || self.opts.only_stages.contains(&stage.id)
    }

    async fn run_stage(self: &Rc<Self>, stage: &Stage) -> Result<StageState> {
        if let Some(state) = self.revisit_rolled_back(stage)? {
            return Ok(state);
        }
        if let Some(status) = stage.status {
            self.set_status(status)?;
        }
        self.reporter.stage(stage);
        for (i, a) in stage.actions.iter().enumerate() {
            if self.cancelled() {
                return Ok(StageState::Interrupted);
            }
            if self.status_of(&a.id).is_done() {
                continue;
            }
            if let Some(status) = a.status {
                self.set_status(status)?;
            }
            match self.run_action(a).await? {
                Step::Done => {}
                Step::Waiting if a.optional() => {}
                Step::Waiting => return Ok(StageState::Waiting),
                Step::Failed if a.optional() => {}
                Step::Failed => {
                    self.rollback_stage(stage, i).await?;
                    return Ok(StageState::Failed);
                }
                Step::Interrupted => return Ok(StageState::Interrupted),
            }
        }
        Ok(StageState::Done)
    }

    /// A stage rolled back by an earlier run runs again from scratch —
    /// unless a person failed one of its actions, which stays their call.
    fn revisit_rolled_back(&self, stage: &Stage) -> Result<Option<StageState>> {
        let rolled_back = self
            .store
            .borrow()
            .session()
            .is_some_and(|s| s.rolled_back.contains(&stage.id));
        if !rolled_back {
            return Ok(None);
        }
        let person_failed = stage
            .actions
            .iter()
            .find(|a| a.kind.needs_human() && self.status_of(&a.id) == ActionStatus::Failed);
        if let Some(a) = person_failed {
            let rec = self.record_of(&a.id);
            self.reporter
                .finished(a, ActionStatus::Failed, None, Some(&person_failure(&rec)));
            return Ok(Some(StageState::Failed));
        }
        for a in &stage.actions {
            let rec = self.record_of(&a.id);
            let undone =
                rec.status == ActionStatus::Completed && rec.rollbacks.iter().any(|r| r.ok);
            if undone || matches!(rec.status, ActionStatus::Failed | ActionStatus::Interrupted) {
                self.record(
                    Some(&a.id),
                    EventKind::ActionReset {
                        reason: format!("stage {} was rolled back; running it again", stage.id),
                    },
                )?;
            }
        }
        Ok(None)
    }

    async fn run_action(self: &Rc<Self>, a: &Action) -> Result<Step> {
        let rec = self.record_of(&a.id);
        if a.kind.needs_human() && rec.status == ActionStatus::Failed {
            self.reporter
                .finished(a, ActionStatus::Failed, None, Some(&person_failure(&rec)));
            return Ok(Step::Failed);
        }
        let kinds = self.kinds.clone();
        kinds.of(&a.kind).run(self, a).await
    }

    /// Records the end of an action and prints it.
    pub(crate) fn finish(
        &self,
        a: &Action,
        status: ActionStatus,
        exit_code: Option<i32>,
        duration: Option<Duration>,
        message: Option<String>,
        metrics: Option<serde_json::Value>,
    ) -> Result<Step> {
        self.finish_logged(a, status, exit_code, duration, message, metrics, None)
    }

    /// [`Engine::finish`], naming the log the action wrote.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn finish_logged(
        &self,
        a: &Action,
        status: ActionStatus,
        exit_code: Option<i32>,
        duration: Option<Duration>,
        message: Option<String>,
        metrics: Option<serde_json::Value>,
        log: Option<String>,
    ) -> Result<Step> {
        self.record(
            Some(&a.id),
            EventKind::ActionFinished {
                status,
                exit_code,
                duration_ms: duration.map(|d| d.as_millis() as u64),
                message: message.clone(),
                metrics,
                log,
            },
        )?;
        self.reporter
            .finished(a, status, duration, message.as_deref());
        Ok(match status {
            ActionStatus::Completed | ActionStatus::Skipped => Step::Done,
            ActionStatus::Interrupted => Step::Interrupted,
            ActionStatus::Waiting | ActionStatus::Pending | ActionStatus::Running => Step::Waiting,
            ActionStatus::Failed => Step::Failed,
        })
    }

    /// Records that the next attempt of `a` (of `kind`, run in-process:
    /// no log, no process) started, and shows it running. Returns the
    /// attempt's number.
    pub(crate) fn start_attempt(&self, a: &Action, kind: crate::protocol::KindName) -> Result<u32> {
        let attempt = self.record_of(&a.id).attempts + 1;
        self.record(
            Some(&a.id),
            EventKind::ActionStarted {
                attempt,
                kind,
                log: None,
                process: None,
            },
        )?;
        self.reporter.started(a);
        Ok(attempt)
    }

    /// Reports an action a person settled (through `settle`) in this run.
    pub(crate) fn settled(&self, a: &Action, status: ActionStatus, line: &str) -> Step {
        self.reporter.finished(a, status, None, Some(line));
        Step::Done
    }

    pub(crate) fn wait_for_person(&self, a: &Action, reason: &str) -> Result<Step> {
        if self.status_of(&a.id) != ActionStatus::Waiting {
            self.record(
                Some(&a.id),
                EventKind::ActionWaiting {
                    reason: reason.to_string(),
                },
            )?;
        }
        let detail = if a.optional() {
            "optional, waiting for a person"
        } else {
            "waiting for a person"
        };
        self.reporter
            .finished(a, ActionStatus::Waiting, None, Some(detail));
        Ok(Step::Waiting)
    }

    /// Runs the stage's rollbacks for a failure at action `failed`: that
    /// action's and those of the completed actions before it, newest first.
    async fn rollback_stage(self: &Rc<Self>, stage: &Stage, failed: usize) -> Result<()> {
        let mut all_ok = true;
        let mut any = false;
        for a in stage.actions[..=failed].iter().rev() {
            let Some(cmd) = &a.common.rollback else {
                continue;
            };
            let eligible = a.id == stage.actions[failed].id
                || self.status_of(&a.id) == ActionStatus::Completed;
            if !eligible {
                continue;
            }
            any = true;
            all_ok &= self.run_rollback(a, cmd).await?;
        }
        if any {
            self.record(
                None,
                EventKind::StageRolledBack {
                    stage: stage.id.clone(),
                    ok: all_ok,
                },
            )?;
        }
        Ok(())
    }
}

fn person_failure(rec: &ActionRecord) -> String {
    format!(
        "failed by {}{} (`deploy-session done` or `--rerun` it once resolved)",
        rec.by.as_deref().unwrap_or("a person"),
        rec.note
            .as_deref()
            .map(|n| format!(": {n}"))
            .unwrap_or_default()
    )
}
