//! Where a session stands and what comes next, with the exact command that
//! moves it on. One computation shared by `next`, the exit-3 summary, the
//! assistant's context file and `walk`.

use crate::protocol::{Action, Kind, Protocol, ProtocolName, ProtocolSet};
use crate::session::{ActionStatus, Session};
use serde::Serialize;

/// An action that can be worked on now, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct NextAction {
    pub id: String,
    pub title: String,
    pub kind: String,
    pub status: String,
    /// Why it is waiting or failed, when it is.
    pub message: Option<String>,
    /// The command that completes (or runs) it.
    pub command: String,
    /// A second way, when there is one (skip, CI flag).
    pub alternative: Option<String>,
    /// A decision for a person (an approval): the command leaves their
    /// identity for them to give; an assistant shows it and asks.
    pub for_person: bool,
}

/// The protocol to work on: the first one not yet complete.
pub fn current_protocol(set: &ProtocolSet, session: Option<&Session>) -> Option<ProtocolName> {
    let session = session?;
    ProtocolName::ALL
        .into_iter()
        .find(|p| !protocol_complete(set.get(*p), session))
}

/// Whether every non-optional action of `p` is done.
/// The seed's status the session has reached by its settled actions,
/// however they were settled (runs, `done`, `skip`): the status of the
/// first action still open in the protocol under way, or the status the
/// last complete protocol ends in.
pub fn settled_status(
    set: &crate::protocol::ProtocolSet,
    session: &Session,
) -> Option<crate::protocol::SessionStatus> {
    let mut reached = None;
    for p in &set.protocols {
        if protocol_complete(p, session) {
            reached = p
                .completes_with
                .or(p.stages.iter().rev().find_map(|s| s.status))
                .or(reached);
            continue;
        }
        let started = p
            .actions()
            .any(|a| session.status_of(&a.id) != ActionStatus::Pending);
        if !started {
            return reached;
        }
        let open = p.stages.iter().find_map(|st| {
            st.actions
                .iter()
                .find(|a| !a.optional() && !session.status_of(&a.id).is_done())
                .map(|a| a.status.or(st.status))
        });
        return open.flatten().or(reached);
    }
    reached
}

pub fn protocol_complete(p: &Protocol, session: &Session) -> bool {
    p.actions()
        .all(|a| a.optional() || session.status_of(&a.id).is_done())
}

/// Whether stage `id` of `p` is finished (every non-optional action done).
pub fn stage_complete(p: &Protocol, stage_id: &str, session: &Session) -> bool {
    p.stages.iter().find(|s| s.id == stage_id).is_some_and(|s| {
        s.actions
            .iter()
            .all(|a| a.optional() || session.status_of(&a.id).is_done())
    })
}

/// The actions that can be worked on now: in each stage whose needs are
/// met, the first action not done.
pub fn frontier<'a>(p: &'a Protocol, session: &Session) -> Vec<&'a Action> {
    p.stages
        .iter()
        .filter(|s| s.needs.iter().all(|n| stage_complete(p, n, session)))
        .filter_map(|s| {
            s.actions
                .iter()
                .find(|a| !session.status_of(&a.id).is_done() && !a.optional())
        })
        .collect()
}

/// Where a printed command leaves the person's identity for them to give
/// (`--by` refuses it as given).
pub const PERSON: &str = "<your name and email>";

/// The command that completes `a` (or runs it, for automated kinds).
pub fn completion(a: &Action, status: ActionStatus) -> (String, Option<String>) {
    match &a.kind {
        Kind::Manual => (
            format!("deploy-session done {} --note \"<what was done>\"", a.id),
            Some(format!("deploy-session skip {} --reason \"<why>\"", a.id)),
        ),
        Kind::Approval(spec) => (
            match spec.phase {
                Some(n) => format!("deploy-session approve --phase {n} --by \"{PERSON}\""),
                None => format!("deploy-session approve {} --by \"{PERSON}\"", a.id),
            },
            Some(format!(
                "deploy-session {} --approve {} (in CI)",
                a.protocol, a.id
            )),
        ),
        _ if status == ActionStatus::Failed => (
            format!("deploy-session {}", a.protocol),
            Some(format!("deploy-session skip {} --reason \"<why>\"", a.id)),
        ),
        _ => (format!("deploy-session {}", a.protocol), None),
    }
}

/// What to do next, in order.
pub fn next_actions(set: &ProtocolSet, session: Option<&Session>) -> Vec<NextAction> {
    let Some(session) = session else {
        // No session yet: opening one is what comes next (a finished
        // deployment is the caller's to tell apart).
        return vec![protocol_step(
            ProtocolName::Start,
            "open a deployment session and run the start protocol",
        )];
    };
    let Some(name) = current_protocol(set, Some(session)) else {
        return Vec::new();
    };
    let p = set.get(name);
    if let Some(req) = p
        .requires
        .filter(|r| !protocol_complete(set.get(*r), session))
    {
        return vec![protocol_step(req, &format!("finish the {req} protocol"))];
    }
    frontier(p, session)
        .into_iter()
        .map(|a| {
            let rec = session.action(&a.id);
            let (command, alternative) = completion(a, rec.status);
            NextAction {
                id: a.id.clone(),
                title: a.title.clone(),
                kind: a.kind.name().into(),
                status: rec.status.word().into(),
                message: rec.message,
                command,
                alternative,
                for_person: matches!(a.kind, crate::protocol::Kind::Approval(_)),
            }
        })
        .collect()
}

/// A next step that is a whole protocol run.
fn protocol_step(name: ProtocolName, title: &str) -> NextAction {
    NextAction {
        id: name.to_string(),
        title: title.to_string(),
        kind: "protocol".into(),
        status: "pending".into(),
        message: None,
        command: format!("deploy-session {name}"),
        alternative: None,
        for_person: false,
    }
}
