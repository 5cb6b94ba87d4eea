//! The assistant's brief, `.ai_context/deployment_context.md`: phase and
//! session status, the next actions with the commands that complete them,
//! the rules, and the files to load. Short enough to paste: no history.

use crate::master_state::MasterState;
use crate::paths::RepoPaths;
use crate::progress;
use crate::protocol::ProtocolSet;
use crate::session::{ActionStatus, Session};
use anyhow::{Context as _, Result};
use serde::Serialize;

/// The seed's Deployment → Operations transition command.
pub const TRANSITION_COMMAND: &str = "Load operations/ai_system_prompt_v3.7.md and begin Operations Framework Phase 8 (AI-Autonomous Observability Operations) with complete Deployment Framework handoff validation";

const TEMPLATE: &str = include_str!("../templates/context/deployment_context.md");

/// The facts of the brief; `context --format json` prints them as they are.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Brief {
    pub schema_version: u32,
    pub project: String,
    pub generated_at: String,
    pub phases: Vec<PhaseFact>,
    pub session: Option<SessionFact>,
    pub next: Vec<progress::NextAction>,
    pub rules: Vec<&'static str>,
    pub files: Vec<&'static str>,
    /// The Operations transition command, once the phase is complete.
    pub transition: Option<&'static str>,
    /// No session is open and Phase 7 is completed.
    pub deployment_finished: bool,
    /// The open session's gates by verdict class (reliability and
    /// audit_trail excepted: `gates` judges those).
    pub gates: Option<String>,
    /// Once `end` is what remains: the gates a person must decide on
    /// (neither passing nor waived), never steps for an assistant.
    pub decisions: Vec<GateDecision>,
    /// The one command that waives them all, identity left for the person.
    pub decision_command: Option<String>,
}

/// A gate awaiting a person's decision.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct GateDecision {
    pub gate: String,
    pub verdict: String,
    pub reason: String,
}

/// No session is open and the master state records Phase 7 completed: what
/// comes next is the Operations handoff, not another `start`.
pub fn deployment_finished(session: Option<&Session>, master: Option<&MasterState>) -> bool {
    session.is_none()
        && master
            .and_then(|m| m.phase(7))
            .is_some_and(|p| p.status == crate::master_state::PhaseStatus::Completed)
}

/// One phase from the master state.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PhaseFact {
    pub number: i8,
    pub status: String,
    pub approved: bool,
}

/// Where the open session stands.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SessionFact {
    pub id: String,
    pub status: String,
    /// The protocol in progress; none when all three are complete.
    pub protocol: Option<String>,
    pub done: usize,
    pub total: usize,
    pub waiting: usize,
    pub failed: usize,
}

/// The one-task rule and the others an assistant must keep.
const RULES: [&str; 5] = [
    "One task at a time: exactly one item of the TodoWrite list (`deploy-session todo --format todowrite --compact`) is `in_progress`. Finish it, skip it or fail it (with a reason) before the next.",
    "Never hand-edit the master state or anything under `.ai_context/deploy-session/`: the tool writes them and audits every change, and refuses a state file edited behind its back.",
    "Decisions are a person's: approvals (`approve`), recording a finished phase (`phase`), waivers (`end --waive`) and overrides (`skip --override`) carry the person's own `--by`. Show the command and ask; never run one with a name you made up.",
    "Attach evidence when completing manual work: `--evidence path/to/file`.",
    "When the repo's own framework files say otherwise (hand-edit Phase 7, write this file), this file and `deploy-session next` win: the tool owns Phase 7, Phase 8 and this file.",
];

/// The rules, as one text (for checks of the commands they name).
#[cfg(test)]
pub fn rules_text() -> String {
    RULES.join("\n")
}

/// The startup guide under the seed's name, or the framework's newer one.
const STARTUP_GUIDES: [&str; 2] = [
    "deployment/AI_ASSISTANT_STARTUP_DEPLOYMENT.md",
    "deployment/AI_ASSISTANT_STARTUP.md",
];

/// The files an assistant loads, as this repo names them.
fn files_to_load(paths: &RepoPaths) -> Vec<&'static str> {
    let guide = STARTUP_GUIDES
        .iter()
        .find(|g| paths.root().join(g).is_file())
        .unwrap_or(&STARTUP_GUIDES[0]);
    vec!["deployment/ai_system_prompt_v3.7.md", guide]
}

/// Gathers the brief. `finished` adds the Operations transition command.
pub fn brief(
    paths: &RepoPaths,
    set: &ProtocolSet,
    thresholds: &crate::protocol::gate::GateThresholds,
    session: Option<&Session>,
    master: Option<&MasterState>,
    finished: bool,
) -> Brief {
    let project = paths
        .root()
        .file_name()
        .map_or_else(|| "project".into(), |n| n.to_string_lossy().into_owned());
    let phases = master
        .map(|m| {
            [6, 7, 8]
                .into_iter()
                .filter_map(|n| m.phase(n))
                .map(|p| PhaseFact {
                    number: p.number,
                    status: p.status.word().to_string(),
                    approved: p.approved(),
                })
                .collect()
        })
        .unwrap_or_default();
    let session_fact = session.map(|s| {
        let count = |st: ActionStatus| set.actions().filter(|a| s.status_of(&a.id) == st).count();
        SessionFact {
            id: s.id.clone(),
            status: s
                .status
                .map_or("HANDOFF_PROCESSING", |x| x.as_str())
                .to_string(),
            protocol: progress::current_protocol(set, Some(s)).map(|p| p.as_str().to_string()),
            done: set
                .actions()
                .filter(|a| s.status_of(&a.id).is_done())
                .count(),
            total: set.actions().count(),
            waiting: count(ActionStatus::Waiting),
            failed: count(ActionStatus::Failed),
        }
    });
    let judged = pending_decisions(paths, set, thresholds, session);
    let decisions: Vec<&crate::gates::GateResult> = judged.iter().collect();
    Brief {
        schema_version: 1,
        project,
        generated_at: crate::clock::now_rfc3339(),
        phases,
        session: session_fact,
        next: if deployment_finished(session, master) {
            Vec::new()
        } else {
            progress::next_actions(set, session)
        },
        rules: RULES.to_vec(),
        files: files_to_load(paths),
        transition: finished.then_some(TRANSITION_COMMAND),
        deployment_finished: deployment_finished(session, master),
        gates: session
            .map(|x| crate::gates::by_class(&crate::gates::session_only(set, x, thresholds))),
        decisions: decisions
            .iter()
            .map(|g| GateDecision {
                gate: g.id.as_str().to_string(),
                verdict: g.verdict.word().to_string(),
                reason: g.reason.clone(),
            })
            .collect(),
        decision_command: (!decisions.is_empty()).then(|| crate::gates::waive_command(&decisions)),
    }
}

/// Once only `end` remains, the gates the session's own records leave for
/// a person to decide on.
fn pending_decisions(
    paths: &RepoPaths,
    set: &ProtocolSet,
    thresholds: &crate::protocol::gate::GateThresholds,
    session: Option<&Session>,
) -> Vec<crate::gates::GateResult> {
    let Some(s) = session else {
        return Vec::new();
    };
    if progress::current_protocol(set, Some(s)) != Some(crate::protocol::ProtocolName::End) {
        return Vec::new();
    }
    // An unreadable history judges as none: `end` reads it verified and
    // says what is wrong with it.
    let history = crate::session::history::read(paths).unwrap_or_default();
    crate::gates::with_history(set, s, thresholds, history)
        .into_iter()
        .filter(|g| !g.verdict.acceptable())
        .collect()
}

/// Renders the brief as markdown.
pub fn render(
    paths: &RepoPaths,
    set: &ProtocolSet,
    thresholds: &crate::protocol::gate::GateThresholds,
    session: Option<&Session>,
    master: Option<&MasterState>,
    finished: bool,
) -> Result<String> {
    render_brief(&brief(paths, set, thresholds, session, master, finished))
}

/// Renders a gathered brief as markdown.
pub fn render_brief(brief: &Brief) -> Result<String> {
    crate::templating::environment()
        .render_str(TEMPLATE, minijinja::value::Serde(brief))
        .context("cannot render the deployment context")
}

/// Whether the last archived session completed (and none is open): the
/// brief then carries the Operations transition command.
pub fn finished(paths: &RepoPaths, session: Option<&Session>) -> Result<bool> {
    Ok(session.is_none()
        && crate::session::history::read(paths)?
            .last()
            .is_some_and(|h| h.outcome == "completed"))
}

/// Rewrites the context file if the session has written it before, so an
/// assistant never reads a stale "next".
pub fn refresh(store: &crate::session::Store) -> Result<()> {
    let paths = &store.ctx().paths;
    if !paths.deployment_context().exists() {
        return Ok(());
    }
    let master = MasterState::load(&paths.master_state(), &paths.shown(&paths.master_state())).ok();
    let finished = finished(paths, store.session())?;
    let text = render(
        paths,
        &store.ctx().protocols,
        &store.ctx().config.gates,
        store.session(),
        master.as_ref(),
        finished,
    )?;
    crate::fsio::write_atomic(
        &paths.deployment_context(),
        store.ctx().redactor.mask(&text).as_bytes(),
    )
}
