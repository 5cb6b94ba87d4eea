//! The session and the events that change it. [`StateFile::apply`] is the
//! one reducer: the engine applies each event as it records it, and loading
//! replays the journal through the same function, so a resumed session is
//! exactly the session that was running.

use crate::audit::{Event, JournalPos};
use crate::protocol::{ApprovalVia, DeploymentOutcome, KindName, ProtocolName, SessionStatus};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Version of the state.json format.
pub const FORMAT_VERSION: u32 = 1;

/// Where an action stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    #[default]
    Pending,
    Running,
    Waiting,
    Completed,
    Skipped,
    Failed,
    Interrupted,
}

impl ActionStatus {
    /// Completed or skipped: nothing more to do.
    pub fn is_done(self) -> bool {
        matches!(self, ActionStatus::Completed | ActionStatus::Skipped)
    }

    /// The word used in reports.
    pub fn word(self) -> &'static str {
        match self {
            ActionStatus::Pending => "pending",
            ActionStatus::Running => "running",
            ActionStatus::Waiting => "waiting",
            ActionStatus::Completed => "completed",
            ActionStatus::Skipped => "skipped",
            ActionStatus::Failed => "failed",
            ActionStatus::Interrupted => "interrupted",
        }
    }
}

/// The git facts recorded when a session opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GitFacts {
    pub commit: Option<String>,
    pub branch: Option<String>,
    pub dirty: bool,
}

/// A child process recorded before it could outlive us.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProcessRecord {
    /// Also its process group id (children lead their own group).
    pub pid: i32,
    /// When it was spawned (Unix milliseconds): a process with this pid
    /// that started at another time is someone else's.
    pub spawned_at_ms: Option<u64>,
    pub boot_id: Option<String>,
}

/// One rollback command's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RollbackRecord {
    pub command: String,
    pub ok: bool,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A recorded human approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApprovalRecord {
    pub by: String,
    pub at: String,
    /// How the approval came.
    pub via: ApprovalVia,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Everything recorded about one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct ActionRecord {
    pub status: ActionStatus,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Who completed, skipped or failed it by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// The captured output, relative to the repo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// Why it failed, waits, or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollbacks: Vec<RollbackRecord>,
    /// Measurements (probe results, strategy timings, gate verdicts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<serde_json::Value>,
    /// A validation of the tool's own skipped by a named person
    /// (`skip --override`): shown as an override wherever it is reported.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overridden: bool,
}

/// When a protocol started and finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct ProtocolRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
}

/// A file the session wrote (context, master state, handoff, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WrittenFile {
    pub path: String,
    pub purpose: String,
    pub at: String,
}

/// One run of the deployment phase, from `start` to `end`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Session {
    pub id: String,
    pub opened_at: String,
    pub opened_by: String,
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SessionStatus>,
    /// `None` when the repo is not a git repository.
    pub git: Option<GitFacts>,
    #[serde(default)]
    pub protocols: BTreeMap<ProtocolName, ProtocolRecord>,
    #[serde(default)]
    pub actions: BTreeMap<String, ActionRecord>,
    /// Stages whose rollback has already run for their current failure.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub rolled_back: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<WrittenFile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Quality gates waived by a recorded decision: gate → waiver.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub waivers: BTreeMap<String, ApprovalRecord>,
    /// Deployments executed by a strategy in this session, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deployments: Vec<DeploymentRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
}

/// One measured deployment: what a strategy did and what it cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeploymentRecord {
    pub action: String,
    pub strategy: String,
    /// How it ended.
    pub outcome: DeploymentOutcome,
    pub deploy_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_ms: Option<u64>,
    /// Live-URL samples taken while it ran, and how many failed.
    pub samples: u64,
    pub failed_samples: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_interval_ms: Option<u64>,
    /// The slot live afterwards (blue-green), when the strategy tracks one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<String>,
    /// The live traffic's figures over the whole deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<crate::traffic::Window>,
    /// How long the failing window ran before a criterion failed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection_ms: Option<u64>,
    /// The environment deployed to, when the config names environments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    pub at: String,
}

impl DeploymentRecord {
    /// `canary → staging` (the environment when it has one).
    pub fn title(&self) -> String {
        match &self.environment {
            Some(env) => format!("{} → {env}", self.strategy),
            None => self.strategy.clone(),
        }
    }

    /// One line for people: how it ended and what it cost, and the live
    /// traffic's figures (`live after 490ms; 63 requests, 0 failed, p95
    /// 3.2ms p99 4.0ms`).
    pub fn summary(&self) -> String {
        let ms = |v: u64| crate::protocol::format_duration(std::time::Duration::from_millis(v));
        let ended = match self.outcome {
            crate::protocol::DeploymentOutcome::Succeeded => {
                format!("live after {}", ms(self.deploy_ms))
            }
            other => format!(
                "{} after {}{}; rollback took {}",
                other.as_str().replace('_', " "),
                ms(self.deploy_ms),
                self.detection_ms
                    .map(|v| format!(" (detected in {})", ms(v)))
                    .unwrap_or_default(),
                self.rollback_ms.map(ms).unwrap_or_else(|| "—".into())
            ),
        };
        let traffic = match self.traffic {
            Some(t) => format!(
                "{} requests, {} failed, p95 {} p99 {}",
                t.requests,
                t.failed,
                crate::traffic::ms(t.p95_us),
                crate::traffic::ms(t.p99_us)
            ),
            None => format!(
                "{} of {} live samples failed",
                self.failed_samples, self.samples
            ),
        };
        format!("{ended}; {traffic}")
    }
}

impl ActionRecord {
    /// The status as reports show it: an override says so.
    pub fn status_shown(&self) -> &'static str {
        if self.overridden {
            "skipped (override)"
        } else {
            self.status.word()
        }
    }
}

impl Session {
    /// Validations of the tool's own skipped by override: `(id, by, reason)`.
    pub fn overrides(&self) -> Vec<(&str, &str, &str)> {
        self.actions
            .iter()
            .filter(|(_, a)| a.overridden)
            .map(|(id, a)| {
                (
                    id.as_str(),
                    a.by.as_deref().unwrap_or("someone"),
                    a.note.as_deref().unwrap_or(""),
                )
            })
            .collect()
    }
}

impl DeploymentRecord {
    /// Whether the new version went live and stayed.
    pub fn succeeded(&self) -> bool {
        self.outcome == DeploymentOutcome::Succeeded
    }
}

impl Session {
    /// The record of `id` (default pending when never touched).
    pub fn action(&self, id: &str) -> ActionRecord {
        self.actions.get(id).cloned().unwrap_or_default()
    }

    /// The status of `id`.
    pub fn status_of(&self, id: &str) -> ActionStatus {
        self.actions
            .get(id)
            .map_or(ActionStatus::Pending, |a| a.status)
    }

    /// Whether `protocol` has completed.
    pub fn protocol_done(&self, protocol: ProtocolName) -> bool {
        self.protocols
            .get(&protocol)
            .is_some_and(|p| p.completed_at.is_some())
    }
}

/// `.ai_context/deploy-session/state.json`: the snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StateFile {
    pub format_version: u32,
    /// Incremented by every write; a write based on an older one is refused.
    pub serial: u64,
    /// How far into the audit trail this snapshot reaches.
    pub journal: JournalPos,
    /// The open session, if any.
    pub session: Option<Session>,
    /// How many sessions the trail has sealed, and the last seal: the
    /// history index must hold exactly these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<Sealed>,
    /// The protocol cache the trail's newest `protocol_resolved` line
    /// vouches for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocols: Option<crate::protocol::ProtocolSeal>,
}

/// The trail's last `session_closed` line with a history entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Sealed {
    /// Sessions sealed so far (lines the history index must have).
    pub sessions: u64,
    pub seq: u64,
    pub hash: String,
}

impl Default for StateFile {
    fn default() -> Self {
        StateFile {
            format_version: FORMAT_VERSION,
            serial: 0,
            journal: JournalPos::default(),
            session: None,
            sealed: None,
            protocols: None,
        }
    }
}

/// Every change to a session, as recorded in the audit trail (`event` is
/// the variant's name, `detail` its fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "event", content = "detail", rename_all = "snake_case")]
pub enum EventKind {
    SessionOpened {
        host: String,
        pid: u32,
        tool_version: String,
        git: Option<GitFacts>,
    },
    ProtocolStarted {
        protocol: ProtocolName,
    },
    ProtocolCompleted {
        protocol: ProtocolName,
    },
    StatusChanged {
        status: SessionStatus,
    },
    ActionStarted {
        attempt: u32,
        kind: KindName,
        #[serde(default)]
        log: Option<String>,
        /// For a command: the process, recorded as it is spawned.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        process: Option<ProcessRecord>,
    },
    ProcessSpawned {
        pid: i32,
        spawned_at_ms: Option<u64>,
        boot_id: Option<String>,
    },
    ProcessReaped {
        pid: i32,
        signalled: bool,
    },
    /// A `notify:` target was told of a deployment event (or could not be).
    NotificationSent {
        notification: String,
        target: String,
        attempts: u32,
        delivered: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    ActionWaiting {
        reason: String,
    },
    ActionFinished {
        status: ActionStatus,
        #[serde(default)]
        exit_code: Option<i32>,
        #[serde(default)]
        duration_ms: Option<u64>,
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        metrics: Option<serde_json::Value>,
        /// The captured output, when the command printed any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log: Option<String>,
    },
    /// Done, skipped or failed by a person (the event's actor).
    ActionResolved {
        status: ActionStatus,
        #[serde(default)]
        note: Option<String>,
        #[serde(default)]
        evidence: Vec<String>,
        /// One of the tool's own validations skipped (`skip --override`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        overridden: bool,
    },
    ActionReset {
        reason: String,
    },
    ApprovalGranted {
        via: ApprovalVia,
        #[serde(default)]
        note: Option<String>,
        #[serde(default)]
        phase: Option<i8>,
    },
    RollbackRan {
        of: String,
        command: String,
        ok: bool,
        #[serde(default)]
        exit_code: Option<i32>,
        duration_ms: u64,
        #[serde(default)]
        message: Option<String>,
    },
    StageRolledBack {
        stage: String,
        ok: bool,
    },
    FileWritten {
        path: String,
        purpose: String,
        /// The digest of what was written, where it anchors something (the
        /// handoff manifest).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
    },
    GateWaived {
        gate: String,
        reason: String,
    },
    AuditQuarantined {
        bytes: u64,
        file: String,
    },
    DeploymentRecorded {
        strategy: String,
        outcome: DeploymentOutcome,
        deploy_ms: u64,
        #[serde(default)]
        rollback_ms: Option<u64>,
        samples: u64,
        failed_samples: u64,
        #[serde(default)]
        sample_interval_ms: Option<u64>,
        #[serde(default)]
        live: Option<String>,
        /// The whole deployment's live traffic: requests, failures, latency.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        traffic: Option<crate::traffic::Window>,
        /// How long the failing window ran before a criterion failed it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detection_ms: Option<u64>,
        /// The environment deployed to (`environments:` in the config).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        environment: Option<String>,
    },
    SessionClosed {
        outcome: String,
        #[serde(default)]
        reason: Option<String>,
        /// The history entry this close adds, exactly (the index is a view
        /// of these), and its 0-based line in the index.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        history: Option<crate::session::history::HistoryEntry>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        position: Option<u64>,
    },
    /// Another job's lines, kept verbatim in `joined/<file>`: they follow
    /// the line `after_seq`/`after_hash` of that job's trail and end at
    /// `head` (see `session::joins`).
    TrailJoined {
        from: String,
        file: String,
        after_seq: u64,
        after_hash: String,
        events: u64,
        head: String,
    },
    /// A key holder's signature over the line that closed the session (its
    /// seq and hash, so every line before it): `signing::seal_message`.
    SessionSealed {
        seq: u64,
        head: String,
        /// The signing key's fingerprint.
        key: String,
        /// The armored sshsig.
        signature: String,
    },
    /// state.json was written: its serial and the SHA-256 of its bytes. A
    /// reader checks the file against the first of these after the
    /// position the file records, so an edited view is caught.
    SnapshotTaken {
        serial: u64,
        sha256: String,
    },
    /// A writer resolved the config afresh and kept the result as the
    /// protocol cache: the config's digest, the build, the cache's digest.
    /// The newest one is the only cache any command reads.
    ProtocolResolved(crate::protocol::ProtocolSeal),
    /// The master state was rewritten (in a session or not): the event's
    /// actor is who, `why` the command, `sha256` the bytes written.
    MasterStateWritten {
        why: String,
        sha256: String,
    },
    /// Another job's events were appended (`merge`): they forked from this
    /// trail after `fork_seq`; `head` is the other trail's last hash, so
    /// its original chain can still be checked against its artifact.
    SessionMerged {
        from: String,
        events: u64,
        fork_seq: u64,
        head: String,
    },
}

impl EventKind {
    /// The event's name and its detail as JSON text, without building a JSON
    /// tree (the journal's hot path).
    pub fn encode(&self) -> (String, String) {
        let text = serde_json::to_string(self).unwrap_or_default();
        // Adjacently tagged: {"event":"<name>","detail":<detail>}
        let rest = text.strip_prefix("{\"event\":\"").unwrap_or("");
        let (name, rest) = rest.split_once('"').unwrap_or(("", ""));
        let detail = rest
            .strip_prefix(",\"detail\":")
            .and_then(|d| d.strip_suffix('}'))
            .unwrap_or("null");
        (name.to_string(), detail.to_string())
    }

    /// The event's name and detail, as written in the audit trail.
    pub fn split(&self) -> (String, serde_json::Value) {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        let name = v["event"].as_str().unwrap_or_default().to_string();
        let detail = v
            .get_mut("detail")
            .map(serde_json::Value::take)
            .unwrap_or_default();
        (name, detail)
    }

    /// Reads an audit line back; `None` for events this version doesn't know.
    pub fn from_event(e: &Event) -> Option<EventKind> {
        serde_json::from_value(serde_json::json!({"event": e.event, "detail": e.detail})).ok()
    }
}

impl StateFile {
    /// Applies one recorded event.
    pub fn apply(&mut self, e: &Event, kind: &EventKind) {
        if let EventKind::SessionClosed {
            history: Some(_),
            position: Some(position),
            ..
        } = kind
        {
            self.sealed = Some(Sealed {
                sessions: position + 1,
                seq: e.seq,
                hash: e.hash.clone(),
            });
        }
        if let EventKind::ProtocolResolved(seal) = kind {
            self.protocols = Some(seal.clone());
            return;
        }
        if let EventKind::SessionOpened { host, git, .. } = kind {
            self.session = Some(Session {
                id: e.session.clone(),
                opened_at: e.ts.clone(),
                opened_by: e.actor.clone(),
                host: host.clone(),
                status: None,
                git: git.clone(),
                protocols: BTreeMap::new(),
                actions: BTreeMap::new(),
                rolled_back: BTreeSet::new(),
                files: Vec::new(),
                warnings: Vec::new(),
                waivers: BTreeMap::new(),
                deployments: Vec::new(),
                closed_at: None,
            });
            return;
        }
        let Some(s) = self.session.as_mut().filter(|s| s.id == e.session) else {
            return;
        };
        apply_to_session(s, e, kind);
        if matches!(kind, EventKind::SessionClosed { .. }) {
            self.session = None;
        }
    }
}

fn apply_to_session(s: &mut Session, e: &Event, kind: &EventKind) {
    let ts = e.ts.clone();
    let id = e.action.clone().unwrap_or_default();
    match kind {
        EventKind::SessionOpened { .. } => {}
        EventKind::ProtocolStarted { protocol } => {
            let p = s.protocols.entry(*protocol).or_default();
            p.started_at.get_or_insert(ts);
        }
        EventKind::ProtocolCompleted { protocol } => {
            s.protocols.entry(*protocol).or_default().completed_at = Some(ts);
        }
        EventKind::StatusChanged { status } => s.status = Some(*status),
        EventKind::ActionStarted {
            attempt,
            log,
            process,
            ..
        } => {
            let a = s.actions.entry(id).or_default();
            a.process = process.clone();
            a.status = ActionStatus::Running;
            a.attempts = *attempt;
            a.started_at = Some(ts);
            a.ended_at = None;
            a.duration_ms = None;
            a.exit_code = None;
            a.message = None;
            if log.is_some() {
                a.log = log.clone();
            }
        }
        EventKind::ProcessSpawned {
            pid,
            spawned_at_ms,
            boot_id,
        } => {
            s.actions.entry(id).or_default().process = Some(ProcessRecord {
                pid: *pid,
                spawned_at_ms: *spawned_at_ms,
                boot_id: boot_id.clone(),
            });
        }
        EventKind::ProcessReaped { .. } => {
            s.actions.entry(id).or_default().process = None;
        }
        EventKind::NotificationSent { .. } => {}
        EventKind::ActionWaiting { reason } => {
            let a = s.actions.entry(id).or_default();
            a.status = ActionStatus::Waiting;
            a.message = Some(reason.clone());
        }
        EventKind::ActionFinished {
            status,
            exit_code,
            duration_ms,
            message,
            metrics,
            log,
        } => {
            let a = s.actions.entry(id).or_default();
            if log.is_some() {
                a.log = log.clone();
            }
            a.status = *status;
            a.ended_at = Some(ts);
            a.exit_code = *exit_code;
            a.duration_ms = *duration_ms;
            a.message = message.clone();
            if metrics.is_some() {
                a.metrics = metrics.clone();
            }
            a.process = None;
        }
        EventKind::ActionResolved {
            status,
            note,
            evidence,
            overridden,
        } => {
            let a = s.actions.entry(id).or_default();
            a.status = *status;
            a.overridden = *overridden;
            a.ended_at = Some(ts);
            a.by = Some(e.actor.clone());
            a.note = note.clone();
            a.evidence = evidence.clone();
            a.message = if status.is_done() && *status == ActionStatus::Completed {
                None
            } else {
                note.clone()
            };
        }
        EventKind::ActionReset { .. } => {
            let a = s.actions.entry(id.clone()).or_default();
            a.status = ActionStatus::Pending;
            a.message = None;
            a.exit_code = None;
            a.ended_at = None;
            a.duration_ms = None;
            if let Some((stage, _)) = id.rsplit_once('.') {
                s.rolled_back.remove(stage);
            }
        }
        EventKind::ApprovalGranted { via, note, .. } => {
            s.actions.entry(id).or_default().approval = Some(ApprovalRecord {
                by: e.actor.clone(),
                at: ts,
                via: *via,
                note: note.clone(),
            });
        }
        EventKind::RollbackRan {
            of,
            command,
            ok,
            exit_code,
            duration_ms,
            message,
        } => {
            s.actions
                .entry(of.clone())
                .or_default()
                .rollbacks
                .push(RollbackRecord {
                    command: command.clone(),
                    ok: *ok,
                    exit_code: *exit_code,
                    duration_ms: *duration_ms,
                    at: ts,
                    message: message.clone(),
                });
        }
        EventKind::StageRolledBack { stage, .. } => {
            s.rolled_back.insert(stage.clone());
        }
        EventKind::FileWritten { path, purpose, .. } => s.files.push(WrittenFile {
            path: path.clone(),
            purpose: purpose.clone(),
            at: ts,
        }),
        EventKind::GateWaived { gate, reason } => {
            s.waivers.insert(
                gate.clone(),
                ApprovalRecord {
                    by: e.actor.clone(),
                    at: ts,
                    via: ApprovalVia::Waiver,
                    note: Some(reason.clone()),
                },
            );
        }
        EventKind::AuditQuarantined { bytes, file } => s.warnings.push(format!(
            "{bytes} bytes of a torn audit line were moved to {file}"
        )),
        EventKind::DeploymentRecorded {
            strategy,
            outcome,
            deploy_ms,
            rollback_ms,
            samples,
            failed_samples,
            sample_interval_ms,
            live,
            traffic,
            detection_ms,
            environment,
        } => s.deployments.push(DeploymentRecord {
            action: id,
            strategy: strategy.clone(),
            outcome: *outcome,
            deploy_ms: *deploy_ms,
            rollback_ms: *rollback_ms,
            samples: *samples,
            failed_samples: *failed_samples,
            sample_interval_ms: *sample_interval_ms,
            live: live.clone(),
            traffic: *traffic,
            detection_ms: *detection_ms,
            environment: environment.clone(),
            at: ts,
        }),
        EventKind::SessionClosed { .. } => s.closed_at = Some(ts),
        EventKind::SessionMerged { .. }
        | EventKind::TrailJoined { .. }
        | EventKind::SessionSealed { .. }
        | EventKind::SnapshotTaken { .. }
        | EventKind::ProtocolResolved(_)
        | EventKind::MasterStateWritten { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: Option<&str>, kind: &EventKind) -> Event {
        let (name, detail) = kind.split();
        Event {
            seq: 1,
            ts: "2026-11-25T12:00:00Z".into(),
            session: "S".into(),
            event: name,
            action: action.map(String::from),
            actor: "ann".into(),
            detail,
            prev: String::new(),
            hash: String::new(),
        }
    }

    fn replay(kinds: &[(Option<&str>, EventKind)]) -> StateFile {
        let mut st = StateFile::default();
        for (a, k) in kinds {
            let e = event(*a, k);
            // Round-trip through the audit form, as a replay would.
            let back = EventKind::from_event(&e).expect("event reads back");
            assert_eq!(&back, k);
            st.apply(&e, &back);
        }
        st
    }

    #[test]
    fn events_drive_an_action_through_its_life() {
        let st = replay(&[
            (
                None,
                EventKind::SessionOpened {
                    host: "h".into(),
                    pid: 1,
                    tool_version: "0".into(),
                    git: None,
                },
            ),
            (
                Some("start.3.1"),
                EventKind::ActionStarted {
                    attempt: 1,
                    kind: KindName::Run,
                    log: Some("l".into()),
                    process: None,
                },
            ),
            (
                Some("start.3.1"),
                EventKind::ProcessSpawned {
                    pid: 42,
                    spawned_at_ms: Some(7),
                    boot_id: None,
                },
            ),
            (
                Some("start.3.1"),
                EventKind::ActionFinished {
                    status: ActionStatus::Failed,
                    exit_code: Some(2),
                    duration_ms: Some(5),
                    message: Some("exit 2".into()),
                    metrics: None,
                    log: None,
                },
            ),
            (
                Some("start.3.1"),
                EventKind::RollbackRan {
                    of: "start.3.1".into(),
                    command: "undo".into(),
                    ok: true,
                    exit_code: Some(0),
                    duration_ms: 1,
                    message: None,
                },
            ),
            (
                Some("start.3.1"),
                EventKind::ActionReset {
                    reason: "--rerun".into(),
                },
            ),
        ]);
        let s = st.session.unwrap();
        let a = s.action("start.3.1");
        assert_eq!(a.status, ActionStatus::Pending);
        assert_eq!(a.attempts, 1);
        assert_eq!(a.rollbacks.len(), 1);
        assert_eq!(a.process, None);
        assert_eq!(a.log.as_deref(), Some("l"));
    }

    #[test]
    fn fast_encoding_matches_the_json_tree() {
        let kinds = [
            EventKind::ActionFinished {
                status: ActionStatus::Failed,
                exit_code: Some(2),
                duration_ms: Some(5),
                message: Some("quote \" and \\ back".into()),
                metrics: Some(serde_json::json!({"a": [1, {"b": null}]})),
                log: None,
            },
            EventKind::ProtocolStarted {
                protocol: ProtocolName::Work,
            },
            EventKind::SessionClosed {
                outcome: "completed".into(),
                reason: None,
                history: None,
                position: None,
            },
        ];
        for k in kinds {
            let (name, detail) = k.encode();
            let (want_name, want_detail) = k.split();
            assert_eq!(name, want_name);
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&detail).unwrap(),
                want_detail
            );
        }
    }

    #[test]
    fn a_closed_session_leaves_no_open_session() {
        let st = replay(&[
            (
                None,
                EventKind::SessionOpened {
                    host: "h".into(),
                    pid: 1,
                    tool_version: "0".into(),
                    git: None,
                },
            ),
            (
                None,
                EventKind::SessionClosed {
                    outcome: "completed".into(),
                    reason: None,
                    history: None,
                    position: None,
                },
            ),
        ]);
        assert!(st.session.is_none());
    }

    #[test]
    fn people_resolve_actions_with_notes_and_evidence() {
        let st = replay(&[
            (
                None,
                EventKind::SessionOpened {
                    host: "h".into(),
                    pid: 1,
                    tool_version: "0".into(),
                    git: None,
                },
            ),
            (
                Some("start.2.1"),
                EventKind::ActionWaiting {
                    reason: "manual".into(),
                },
            ),
            (
                Some("start.2.1"),
                EventKind::ActionResolved {
                    status: ActionStatus::Completed,
                    note: Some("n".into()),
                    evidence: vec!["e.md".into()],
                    overridden: false,
                },
            ),
        ]);
        let a = st.session.unwrap().action("start.2.1");
        assert_eq!(a.status, ActionStatus::Completed);
        assert_eq!(a.by.as_deref(), Some("ann"));
        assert_eq!(a.evidence, ["e.md"]);
        assert_eq!(a.message, None);
    }
}
