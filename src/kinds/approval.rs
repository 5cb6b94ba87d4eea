//! The `approval` kind: a named person approves; a phase's approval lives
//! in the master state. Every approval is recorded through `settle`.

use crate::engine::{Engine, Step};
use crate::master_state::MasterState;
use crate::protocol::{Action, ApprovalSpec, ApprovalVia};
use crate::session::ActionStatus;
use anyhow::Result;
use std::rc::Rc;

impl Engine {
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
                    ApprovalVia::MasterState,
                )?;
                let when = appr.at.map(|t| format!(" at {t}")).unwrap_or_default();
                let line = format!("Phase {n} approved by {by}{when} (master state)");
                return Ok(self.settled(a, ActionStatus::Completed, &line));
            }
        }
        if let Some(n) = spec.phase {
            let paths = self.paths();
            let master =
                MasterState::load(&paths.master_state(), &paths.shown(&paths.master_state()))?;
            if master.phase(n).is_some_and(|p| p.approved_unnamed()) {
                self.reporter.say(format!(
                    "    Phase {n} is marked approved in the master state, but names no one or no time: a named approval is needed"
                ));
            }
        }
        if let Some(decisions) = self.opts.decisions.clone()
            && let Some(d) = decisions.approval(&a.id)
        {
            let note = decisions.note(d.note.as_deref().unwrap_or("approved"));
            return self.grant(a, spec, &d.by, ApprovalVia::Decisions, Some(note));
        }
        if let Some((_, via)) = self.opts.approvals.iter().find(|(id, _)| *id == a.id) {
            let by = self
                .opts
                .approver
                .clone()
                .unwrap_or_else(|| self.store.borrow().ctx().actor.clone());
            return self.grant(a, spec, &by, *via, None);
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
                return self.grant(a, spec, &by, ApprovalVia::Prompt, None);
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
        via: ApprovalVia,
        note: Option<String>,
    ) -> Result<Step> {
        let paths = self.paths();
        crate::settle::approve(
            &mut self.store.borrow_mut(),
            paths,
            &a.id,
            by,
            note,
            spec.phase.map(crate::settle::PhaseApproval::of),
            via,
        )?;
        Ok(self.settled(
            a,
            ActionStatus::Completed,
            &format!("approved by {by} ({via})"),
        ))
    }
}
