//! The steps deploy-session performs itself (kind `builtin`).

use super::{Engine, Step};
use crate::master_state::{MasterState, PhaseStatus, set_status};
use crate::protocol::{Action, Builtin};
use crate::session::{ActionStatus, EventKind};
use anyhow::Result;
use std::rc::Rc;
use std::time::Instant;

impl Engine {
    pub(crate) async fn builtin(self: &Rc<Self>, a: &Action, b: &Builtin) -> Result<Step> {
        let attempt = self.record_of(&a.id).attempts + 1;
        self.record(
            Some(&a.id),
            EventKind::ActionStarted {
                attempt,
                kind: "builtin".into(),
                log: None,
            },
        )?;
        let started = Instant::now();
        let result = match b {
            Builtin::DeploymentContext => self.deployment_context(),
            other => Err(anyhow::anyhow!(
                "the builtin step `{}` is not available in this build",
                crate::protocol::serde_name(other)
            )),
        };
        match result {
            Ok(message) => self.finish(
                a,
                ActionStatus::Completed,
                None,
                Some(started.elapsed()),
                Some(message),
                None,
            ),
            Err(e) => self.finish(
                a,
                ActionStatus::Failed,
                None,
                Some(started.elapsed()),
                Some(format!("{e:#}")),
                None,
            ),
        }
    }

    /// start.1.6: Phase 7 in progress in the master state, and the
    /// assistant's context file written.
    fn deployment_context(&self) -> Result<String> {
        let paths = self.store.borrow().ctx().paths.clone();
        let id = self.session_id();
        let path = paths.master_state();
        let shown = paths.shown(&path);
        let master = MasterState::load(&path, &shown)?;
        let mut updated = master.update_phase(7, |m| {
            set_status(m, PhaseStatus::InProgress);
            m.insert("session".into(), id.clone().into());
        })?;
        let today = crate::clock::today();
        if let Some(u) = updated.set_bullet("Last Update", &today) {
            updated = u;
        }
        let active = format!("Phase 7 (AI-First Deployment Preparation) — deploy-session {id}");
        if let Some(u) = updated.set_bullet("Active Phase", &active) {
            updated = u;
        }
        updated.save(&path)?;
        self.record(
            None,
            EventKind::FileWritten {
                path: shown.display().to_string(),
                purpose: "Phase 7 in_progress".into(),
            },
        )?;
        let store = self.store.borrow();
        let text =
            crate::context::render(&paths, &self.set, store.session(), Some(&updated), false)?;
        drop(store);
        crate::fsio::write_atomic(&paths.deployment_context(), text.as_bytes())?;
        let ctx_shown = paths
            .shown(&paths.deployment_context())
            .display()
            .to_string();
        self.record(
            None,
            EventKind::FileWritten {
                path: ctx_shown.clone(),
                purpose: "deployment context".into(),
            },
        )?;
        Ok(format!("Phase 7 is in_progress; wrote {ctx_shown}"))
    }
}
