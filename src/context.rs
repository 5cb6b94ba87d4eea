//! The assistant's brief, `.ai_context/deployment_context.md`: phase and
//! session status, the next actions with the commands that complete them,
//! the rules, and the files to load. Short enough to paste: no history.

use crate::master_state::MasterState;
use crate::paths::RepoPaths;
use crate::progress;
use crate::protocol::ProtocolSet;
use crate::session::{ActionStatus, Session};
use anyhow::{Context as _, Result};
use minijinja::context;

/// The seed's Deployment → Operations transition command.
pub const TRANSITION_COMMAND: &str = "Load operations/ai_system_prompt_v3.7.md and begin Operations Framework Phase 8 (AI-Autonomous Observability Operations) with complete Deployment Framework handoff validation";

const TEMPLATE: &str = include_str!("../templates/context/deployment_context.md");

/// Renders the brief. `finished` adds the Operations transition command.
pub fn render(
    paths: &RepoPaths,
    set: &ProtocolSet,
    session: Option<&Session>,
    master: Option<&MasterState>,
    finished: bool,
) -> Result<String> {
    let project = paths
        .root()
        .file_name()
        .map_or_else(|| "project".into(), |n| n.to_string_lossy().into_owned());
    let phases: Vec<_> = master
        .map(|m| {
            [6, 7, 8]
                .into_iter()
                .filter_map(|n| m.phase(n))
                .map(|p| context! { number => p.number, status => p.status.word(), approved => p.approved() })
                .collect()
        })
        .unwrap_or_default();
    let count = |st: ActionStatus| {
        session.map_or(0, |s| {
            set.actions().filter(|a| s.status_of(&a.id) == st).count()
        })
    };
    let done = session.map_or(0, |s| {
        set.actions()
            .filter(|a| s.status_of(&a.id).is_done())
            .count()
    });
    let env = crate::templating::environment();
    env.render_str(
        TEMPLATE,
        context! {
            project,
            now => crate::clock::now_rfc3339(),
            phases,
            session => session.map(|s| context! { id => s.id.clone(), status => s.status.map(|x| x.as_str()) }),
            protocol => progress::current_protocol(set, session).map(|p| p.as_str()),
            done,
            total => set.actions().count(),
            waiting => count(ActionStatus::Waiting),
            failed => count(ActionStatus::Failed),
            next => minijinja::value::Serde(progress::next_actions(set, session)),
            transition => finished.then_some(TRANSITION_COMMAND),
        },
    )
    .context("cannot render the deployment context")
}

/// Rewrites the context file if the session has written it before, so an
/// assistant never reads a stale "next".
pub fn refresh(store: &crate::session::Store) -> Result<()> {
    let paths = &store.ctx().paths;
    if !paths.deployment_context().exists() {
        return Ok(());
    }
    let master = MasterState::load(&paths.master_state(), &paths.shown(&paths.master_state())).ok();
    let finished = store.session().is_none()
        && crate::history::read(paths)?
            .last()
            .is_some_and(|h| h.outcome == "completed");
    let text = render(
        paths,
        &store.ctx().protocols,
        store.session(),
        master.as_ref(),
        finished,
    )?;
    crate::fsio::write_atomic(
        &paths.deployment_context(),
        store.ctx().redactor.mask(&text).as_bytes(),
    )
}
