//! The JSON documents the commands print with `--format json`, as types.
//! Each carries `schema_version`; its JSON Schema is generated from the type
//! (schemars) and checked in under `templates/schemas/`, and a test fails
//! when the two drift (`DEPLOY_SESSION_UPDATE_SCHEMAS=1 cargo test
//! documents` rewrites them).

use crate::gates::GateResult;
use crate::master_state::Phase;
use crate::progress::NextAction;
use crate::protocol::{KindName, Outcome, ProtocolName, ProtocolSet, SessionStatus};
use crate::session::history::HistoryEntry;
use crate::session::{
    ActionRecord, ActionStatus, ApprovalRecord, DeploymentRecord, GitFacts, ProtocolRecord,
    Session, WrittenFile,
};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// The documents' format version: always 1 until a field changes meaning.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SchemaVersion;

impl Serialize for SchemaVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(1)
    }
}

impl JsonSchema for SchemaVersion {
    fn schema_name() -> Cow<'static, str> {
        "SchemaVersion".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "const": 1 })
    }
}

/// `status --format json`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct StatusDoc {
    pub schema_version: SchemaVersion,
    pub master_state: MasterStateDoc,
    pub session: Option<SessionDoc>,
}

/// The master state's phases, as read.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct MasterStateDoc {
    pub path: String,
    pub phases: Vec<Phase>,
}

/// A session, with its actions in protocol order (`status`).
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct SessionDoc {
    pub id: String,
    pub opened_at: String,
    pub opened_by: String,
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<SessionStatus>,
    pub git: Option<GitFacts>,
    pub protocols: BTreeMap<ProtocolName, ProtocolRecord>,
    pub actions: Vec<ActionDoc>,
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub rolled_back: BTreeSet<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<WrittenFile>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub waivers: BTreeMap<String, ApprovalRecord>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deployments: Vec<DeploymentRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
}

/// One action of a session: what it is, and everything recorded about it.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ActionDoc {
    pub id: String,
    pub title: String,
    pub kind: KindName,
    #[serde(flatten)]
    pub record: ActionRecord,
}

impl SessionDoc {
    /// `session` with the actions of `set` in order (every action when the
    /// protocols are known, none otherwise).
    pub fn new(set: Option<&ProtocolSet>, session: &Session) -> SessionDoc {
        let actions = set
            .map(|set| {
                set.actions()
                    .map(|a| ActionDoc {
                        id: a.id.clone(),
                        title: a.title.clone(),
                        kind: a.kind.kind_name(),
                        record: session.action(&a.id),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let s = session.clone();
        SessionDoc {
            id: s.id,
            opened_at: s.opened_at,
            opened_by: s.opened_by,
            host: s.host,
            status: s.status,
            git: s.git,
            protocols: s.protocols,
            actions,
            rolled_back: s.rolled_back,
            files: s.files,
            warnings: s.warnings,
            waivers: s.waivers,
            deployments: s.deployments,
            closed_at: s.closed_at,
        }
    }
}

/// `next --format json`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct NextDoc {
    pub schema_version: SchemaVersion,
    pub session: Option<String>,
    pub protocol: Option<ProtocolName>,
    pub next: Vec<NextAction>,
    /// No session is open and Phase 7 is completed: the deployment is
    /// finished (`start --new-session` opens another).
    pub deployment_finished: bool,
}

/// `gates --format json`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct GatesDoc {
    pub schema_version: SchemaVersion,
    pub session: String,
    /// Every gate passes or is waived.
    pub passed: bool,
    pub gates: Vec<GateResult>,
}

/// `history --format json`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct HistoryDoc {
    pub schema_version: SchemaVersion,
    pub sessions: Vec<HistoryEntry>,
    pub reliability: ReliabilityDoc,
}

/// The deployment success rate over the history.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ReliabilityDoc {
    pub deployments: u64,
    pub succeeded: u64,
    pub sessions: u64,
    /// Percent succeeded; `null` before the first measured deployment.
    pub rate: Option<f64>,
    /// The same per environment, when deployments name environments.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, RateDoc>,
}

/// One environment's deployment success rate.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct RateDoc {
    pub deployments: u64,
    pub succeeded: u64,
    pub sessions: u64,
    pub rate: Option<f64>,
}

impl From<&crate::session::history::Reliability> for RateDoc {
    fn from(r: &crate::session::history::Reliability) -> RateDoc {
        RateDoc {
            deployments: r.deployments,
            succeeded: r.succeeded,
            sessions: r.sessions,
            rate: r.rate(),
        }
    }
}

/// `start`, `work` and `end` with `--format json`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct RunDoc {
    pub schema_version: SchemaVersion,
    pub command: ProtocolName,
    pub session: String,
    pub status: Option<SessionStatus>,
    pub outcome: Outcome,
    pub exit_code: i32,
    pub actions: Vec<RunActionDoc>,
    pub next: Vec<NextAction>,
    /// `end --commit`: the commit made and the files it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<(String, Vec<String>)>,
}

/// One action of a run's protocol, as the run left it.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct RunActionDoc {
    pub id: String,
    pub title: String,
    pub kind: KindName,
    pub status: ActionStatus,
    pub attempts: u32,
    pub duration_ms: Option<u64>,
    pub exit_code: Option<i32>,
    pub message: Option<String>,
    pub log: Option<String>,
}

/// `done`, `skip`, `fail` and `approve ID` with `--format json`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct SettleDoc {
    pub schema_version: SchemaVersion,
    pub action: String,
    pub status: ActionStatus,
    pub next: Vec<NextAction>,
}

/// `approve --phase N --format json`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct PhaseApprovalDoc {
    pub schema_version: SchemaVersion,
    pub phase: i8,
    pub by: String,
    /// Approval actions of the open session that this approval satisfied.
    pub approved_actions: Vec<String>,
}

/// `phase N --format json`: what a person stated about a phase.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct PhaseStatementDoc {
    pub schema_version: SchemaVersion,
    pub phase: i8,
    pub by: String,
    /// What was recorded, in words (`status completed; deliverables …`).
    pub recorded: String,
    /// Always `attested`: a person's word, never a check that passed.
    pub evidence: &'static str,
}

/// `todo --format json`: the list with where each item comes from.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct TodoDoc {
    pub schema_version: SchemaVersion,
    pub todos: Vec<crate::todo::TodoItem>,
}

/// `plan --format json`: the pipeline with config applied.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct PlanDoc {
    pub schema_version: SchemaVersion,
    pub protocols: Vec<PlanProtocol>,
    /// Every action of those protocols, in order.
    pub actions: Vec<PlanAction>,
}

/// One protocol of the plan.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct PlanProtocol {
    pub name: ProtocolName,
    pub title: String,
    pub requires: Option<ProtocolName>,
    pub stages: Vec<PlanStage>,
}

/// One stage of the plan, with its actions' ids.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct PlanStage {
    pub id: String,
    pub title: String,
    pub needs: Vec<String>,
    pub status: Option<SessionStatus>,
    pub actions: Vec<String>,
}

/// One action of the plan.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct PlanAction {
    pub id: String,
    pub protocol: ProtocolName,
    pub stage: String,
    pub title: String,
    pub active_form: String,
    pub task_type: String,
    pub agent: String,
    pub kind: String,
    pub summary: String,
    pub needs: Vec<String>,
    pub optional: bool,
    /// `builtin` or `config`.
    pub origin: crate::protocol::Origin,
    /// What the seed asks for.
    pub items: Vec<String>,
}

/// `config check --format json`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ConfigCheckDoc {
    pub schema_version: SchemaVersion,
    /// The config file read (`null`: none, the built-in protocols apply).
    pub file: Option<String>,
    pub valid: bool,
    pub summary: Option<String>,
    pub errors: Vec<LocatedError>,
}

/// An input error with where it is.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct LocatedError {
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    pub hint: Option<String>,
}

/// `probe --format json`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ProbeDoc {
    pub schema_version: SchemaVersion,
    pub probe: crate::kinds::probe::ProbeOutcome,
}

/// `audit verify --format json`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct AuditVerifyDoc {
    pub schema_version: SchemaVersion,
    pub path: String,
    pub ok: bool,
    pub events: u64,
    pub head: String,
    pub first_bad: Option<BadLine>,
    pub anchors: Vec<crate::anchors::AnchorCheck>,
    /// The last seq an anchor vouches for.
    pub anchored_to: u64,
    /// Events after it: they rest on the chain alone.
    pub unanchored: u64,
    /// `good`, `unsigned`, `not-checked` or `bad`.
    pub signature: &'static str,
}

/// The first line of the trail that does not verify.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct BadLine {
    pub line: u64,
    pub reason: String,
}

/// `audit log --format json`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct AuditLogDoc {
    pub schema_version: SchemaVersion,
    pub events: Vec<crate::audit::Event>,
}

/// `handoff verify --format json`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct HandoffVerifyDoc {
    pub schema_version: SchemaVersion,
    pub ok: bool,
    pub report: crate::handoff::verify::Report,
    pub signature: crate::signing::Verdict,
}

/// `merge --format json`: what each job's state brought.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct MergeDoc {
    pub schema_version: SchemaVersion,
    pub merged: Vec<crate::session::merge::Merged>,
}

/// `start|work|end --dry-run --format json`: what would run, nothing run.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct DryRunDoc {
    pub schema_version: SchemaVersion,
    pub protocol: ProtocolName,
    /// No session is open: `start` would open one.
    pub opens_session: bool,
    pub actions: Vec<DryRunAction>,
}

/// One action in a dry run.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct DryRunAction {
    pub id: String,
    pub stage: String,
    pub kind: String,
    pub summary: String,
    /// `already completed`, `would pass (…)`, `would wait for a person`, …
    pub verdict: String,
}

/// Every document and its schema's file stem under `templates/schemas/`.
#[cfg(test)]
pub(crate) fn schemas() -> Vec<(&'static str, Schema)> {
    // The documents are output: a field left out when empty is optional.
    let settings = schemars::generate::SchemaSettings::draft2020_12().for_serialize();
    let root =
        |f: fn(schemars::SchemaGenerator) -> schemars::Schema| f(settings.clone().into_generator());
    vec![
        ("status", root(|g| g.into_root_schema_for::<StatusDoc>())),
        ("next", root(|g| g.into_root_schema_for::<NextDoc>())),
        (
            "context",
            root(|g| g.into_root_schema_for::<crate::context::Brief>()),
        ),
        ("gates", root(|g| g.into_root_schema_for::<GatesDoc>())),
        ("history", root(|g| g.into_root_schema_for::<HistoryDoc>())),
        ("run", root(|g| g.into_root_schema_for::<RunDoc>())),
        ("settle", root(|g| g.into_root_schema_for::<SettleDoc>())),
        (
            "approve_phase",
            root(|g| g.into_root_schema_for::<PhaseApprovalDoc>()),
        ),
        (
            "phase_statement",
            root(|g| g.into_root_schema_for::<PhaseStatementDoc>()),
        ),
        ("todo", root(|g| g.into_root_schema_for::<TodoDoc>())),
        (
            "todowrite",
            root(|g| g.into_root_schema_for::<crate::todo::TodoWriteDoc>()),
        ),
        ("plan", root(|g| g.into_root_schema_for::<PlanDoc>())),
        (
            "config_check",
            root(|g| g.into_root_schema_for::<ConfigCheckDoc>()),
        ),
        ("probe", root(|g| g.into_root_schema_for::<ProbeDoc>())),
        (
            "audit_verify",
            root(|g| g.into_root_schema_for::<AuditVerifyDoc>()),
        ),
        (
            "audit_log",
            root(|g| g.into_root_schema_for::<AuditLogDoc>()),
        ),
        (
            "handoff_verify",
            root(|g| g.into_root_schema_for::<HandoffVerifyDoc>()),
        ),
        (
            "claude_tasks",
            root(|g| g.into_root_schema_for::<crate::todo::ClaudeTasksDoc>()),
        ),
        ("dry_run", root(|g| g.into_root_schema_for::<DryRunDoc>())),
        ("merge", root(|g| g.into_root_schema_for::<MergeDoc>())),
        (
            "notification",
            root(|g| g.into_root_schema_for::<crate::notify::Notification>()),
        ),
    ]
}

/// A schema as the checked-in file holds it.
#[cfg(test)]
pub(crate) fn schema_text(schema: &Schema) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in schemas are exactly what the types generate.
    #[test]
    fn checked_in_schemas_match_the_types() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/schemas");
        let update = std::env::var_os("DEPLOY_SESSION_UPDATE_SCHEMAS").is_some();
        let mut stale = Vec::new();
        for (name, schema) in schemas() {
            let path = dir.join(format!("{name}.schema.json"));
            let want = schema_text(&schema);
            if update {
                std::fs::write(&path, &want).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
                stale.push(path.display().to_string());
            }
        }
        assert!(
            stale.is_empty(),
            "schemas out of date with their types: {stale:?}\nregenerate: DEPLOY_SESSION_UPDATE_SCHEMAS=1 cargo test --lib documents"
        );
    }
}
