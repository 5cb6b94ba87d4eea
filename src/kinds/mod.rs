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
            if let Some(decisions) = engine.opts.decisions.clone()
                && let Some(d) = decisions.action(&a.id)
            {
                // Evidence the file names is held to the `done --evidence`
                // rule: regular files inside the repo, reached without links.
                let root = engine.paths().root().to_path_buf();
                let evidence = crate::settle::check_evidence(&root, &root, &d.evidence, None)
                    .map_err(|e| {
                        let mut e = e;
                        e.message =
                            format!("{}: {}: evidence {}", decisions.source, a.id, e.message);
                        e
                    })?;
                crate::settle::done(
                    &mut engine.store.borrow_mut(),
                    &a.id,
                    &d.by,
                    Some(decisions.note(&d.note)),
                    evidence,
                )?;
                let line = crate::ui::visible(&format!("done by {} ({})", d.by, decisions.source))
                    .into_owned();
                return Ok(engine.settled(a, crate::session::ActionStatus::Completed, &line));
            }
            engine.wait_for_person(a, "a manual action: a person or assistant completes it")
        })
    }
}

/// `impl ActionKind for $kind`: unpacks the action's spec of variant
/// `Kind::$variant` and runs `$body` with it.
macro_rules! action_kind {
    ($kind:ident, $variant:ident, |$engine:ident, $a:ident, $spec:ident| $body:expr) => {
        impl ActionKind for $kind {
            fn run<'a>(&'a self, $engine: &'a Rc<Engine>, $a: &'a Action) -> StepFuture<'a> {
                Box::pin(async move {
                    let Kind::$variant($spec) = &$a.kind else {
                        unreachable!(concat!(
                            "the table gives ",
                            stringify!($kind),
                            " only its own kind"
                        ))
                    };
                    $body
                })
            }
        }
    };
}

action_kind!(Run, Run, |engine, a, command| engine
    .run_command_action(a, command)
    .await);
action_kind!(Check, Check, |engine, a, spec| engine.check(a, spec).await);
action_kind!(Approval, Approval, |engine, a, spec| engine
    .approval(a, spec)
    .await);
action_kind!(Probe, Probe, |engine, a, spec| engine
    .probe_action(a, spec)
    .await);
action_kind!(Strategy, Strategy, |engine, a, spec| engine
    .strategy_action(a, spec)
    .await);
