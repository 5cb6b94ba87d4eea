//! The kinds of action and what each does when the engine reaches it:
//! `run` (a command), `check` (files, git, the master state), `probe` (HTTP
//! health), `strategy` (blue-green, canary, rolling), `approval`, `manual`
//! and `builtin` (the tool's own steps, from `closing`). Each implements
//! the engine's [`ActionKind`].

mod approval;
pub mod check;
pub mod probe;
mod run;
mod strategy;

use crate::closing::Closing;
use crate::engine::{ActionKind, Engine, KindTable, StepFuture};
use crate::protocol::{Action, Kind};
use std::rc::Rc;

/// The kinds for one run. The builtin steps share what they judged (the
/// gates' facts) across the run.
#[derive(Default)]
pub(crate) struct Kinds {
    builtin: Closing,
}

impl Kinds {
    /// The table a run hands to the engine.
    pub(crate) fn for_run() -> Rc<dyn KindTable> {
        Rc::new(Kinds::default())
    }
}

impl KindTable for Kinds {
    fn of(&self, kind: &Kind) -> &dyn ActionKind {
        match kind {
            Kind::Manual => &Manual,
            Kind::Run(_) => &Run,
            Kind::Check(_) => &Check,
            Kind::Approval(_) => &Approval,
            Kind::Probe(_) => &Probe,
            Kind::Strategy(_) => &Strategy,
            Kind::Builtin(_) => &self.builtin,
        }
    }
}

/// A person or an assistant completes it; the run waits for them.
struct Manual;
/// A command.
struct Run;
/// A check of files, git facts or the master state.
struct Check;
/// A named person's approval.
struct Approval;
/// An HTTP health probe.
struct Probe;
/// A deployment strategy with its rollback.
struct Strategy;

impl ActionKind for Manual {
    fn run<'a>(&'a self, engine: &'a Rc<Engine>, a: &'a Action) -> StepFuture<'a> {
        Box::pin(async move {
            engine.wait_for_person(a, "a manual action: a person or assistant completes it")
        })
    }
}

impl ActionKind for Run {
    fn run<'a>(&'a self, engine: &'a Rc<Engine>, a: &'a Action) -> StepFuture<'a> {
        Box::pin(async move {
            let Kind::Run(command) = &a.kind else {
                unreachable!("the table gives Run only run actions")
            };
            engine.run_command_action(a, command).await
        })
    }
}

impl ActionKind for Check {
    fn run<'a>(&'a self, engine: &'a Rc<Engine>, a: &'a Action) -> StepFuture<'a> {
        Box::pin(async move {
            let Kind::Check(spec) = &a.kind else {
                unreachable!("the table gives Check only check actions")
            };
            engine.check(a, spec).await
        })
    }
}

impl ActionKind for Approval {
    fn run<'a>(&'a self, engine: &'a Rc<Engine>, a: &'a Action) -> StepFuture<'a> {
        Box::pin(async move {
            let Kind::Approval(spec) = &a.kind else {
                unreachable!("the table gives Approval only approval actions")
            };
            engine.approval(a, spec).await
        })
    }
}

impl ActionKind for Probe {
    fn run<'a>(&'a self, engine: &'a Rc<Engine>, a: &'a Action) -> StepFuture<'a> {
        Box::pin(async move {
            let Kind::Probe(spec) = &a.kind else {
                unreachable!("the table gives Probe only probe actions")
            };
            engine.probe_action(a, spec).await
        })
    }
}

impl ActionKind for Strategy {
    fn run<'a>(&'a self, engine: &'a Rc<Engine>, a: &'a Action) -> StepFuture<'a> {
        Box::pin(async move {
            let Kind::Strategy(spec) = &a.kind else {
                unreachable!("the table gives Strategy only strategy actions")
            };
            engine.strategy_action(a, spec).await
        })
    }
}
