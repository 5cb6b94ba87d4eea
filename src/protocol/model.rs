//! The protocol model: protocols, stages, actions and the kinds of action.
//!
//! The same `ActionSpec` shape is read from the built-in templates and from a
//! user's `add:` entries, so a user-added action is exactly as expressive as a
//! built-in one. `Action` is the resolved form the engine runs.

use super::gate::GateId;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// The three session protocols, in the order a session runs them.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Deserialize,
    Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolName {
    Start,
    Work,
    End,
}

impl ProtocolName {
    /// All protocols, in session order.
    pub const ALL: [ProtocolName; 3] = [ProtocolName::Start, ProtocolName::Work, ProtocolName::End];

    /// The protocol's word (`start`, `work`, `end`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolName::Start => "start",
            ProtocolName::Work => "work",
            ProtocolName::End => "end",
        }
    }

    /// Parses `start`, `work` or `end`.
    pub fn parse(s: &str) -> Option<ProtocolName> {
        ProtocolName::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for ProtocolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The seed's deployment status values, advanced by the engine as stages run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionStatus {
    HandoffProcessing,
    InfrastructureProvisioning,
    PipelineConfiguration,
    DeploymentExecuting,
    ValidationRunning,
    OperationsPreparation,
    ProductionReady,
    OperationsHandoffReady,
}

impl SessionStatus {
    /// Every status, in the seed's order.
    pub const ALL: [SessionStatus; 8] = [
        SessionStatus::HandoffProcessing,
        SessionStatus::InfrastructureProvisioning,
        SessionStatus::PipelineConfiguration,
        SessionStatus::DeploymentExecuting,
        SessionStatus::ValidationRunning,
        SessionStatus::OperationsPreparation,
        SessionStatus::ProductionReady,
        SessionStatus::OperationsHandoffReady,
    ];

    /// The seed's spelling (`HANDOFF_PROCESSING`).
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::HandoffProcessing => "HANDOFF_PROCESSING",
            SessionStatus::InfrastructureProvisioning => "INFRASTRUCTURE_PROVISIONING",
            SessionStatus::PipelineConfiguration => "PIPELINE_CONFIGURATION",
            SessionStatus::DeploymentExecuting => "DEPLOYMENT_EXECUTING",
            SessionStatus::ValidationRunning => "VALIDATION_RUNNING",
            SessionStatus::OperationsPreparation => "OPERATIONS_PREPARATION",
            SessionStatus::ProductionReady => "PRODUCTION_READY",
            SessionStatus::OperationsHandoffReady => "OPERATIONS_HANDOFF_READY",
        }
    }
}

impl fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The seed's TodoWrite task types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskType {
    HandoffValidation,
    ArtifactAnalysis,
    RequirementsProcessing,
    SecurityAssessment,
    IacGeneration,
    ResourceProvisioning,
    NetworkConfiguration,
    StorageOptimization,
    PipelineCreation,
    BuildOptimization,
    TestingIntegration,
    SecurityScanning,
    DeploymentValidation,
    StrategyExecution,
    MonitoringSetup,
    RollbackPreparation,
    OperationsSetup,
    BaselineEstablishment,
    DocumentationGeneration,
}

impl TaskType {
    /// The seed's spelling (`HANDOFF_VALIDATION`).
    pub fn as_str(self) -> String {
        serde_name(&self)
    }
}

/// The seed's six deployment agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Agent {
    CloudDevopsExpert,
    SecurityAuditor,
    PerformanceOptimizer,
    GcpAiArchitect,
    SystemArchitect,
    CloudOpsEngineer,
}

impl Agent {
    /// The seed's spelling (`cloud-devops-expert`).
    pub fn as_str(self) -> String {
        serde_name(&self)
    }
}

/// The name serde gives a unit enum value.
pub fn serde_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// A duration written as `500ms`, `30s`, `5m` or `1h 30m`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Default, schemars::JsonSchema,
)]
#[serde(into = "String")]
pub struct Dur(pub Duration);

impl Dur {
    /// Parses the friendly duration format.
    pub fn parse(s: &str) -> Result<Dur, String> {
        let d: jiff::SignedDuration = s.trim().parse().map_err(|_| {
            format!("{s:?} is not a duration; write it like 500ms, 30s, 5m or 1h 30m")
        })?;
        if d.is_negative() {
            return Err(format!("duration {s:?} is negative"));
        }
        Ok(Dur(d.unsigned_abs()))
    }
}

/// The friendly form when it reads back as the same duration, else the
/// exact one (`1550ms`, `1500us`): what is written reads back unchanged.
impl From<Dur> for String {
    fn from(d: Dur) -> String {
        let friendly = format_duration(d.0);
        if Dur::parse(&friendly) == Ok(d) {
            friendly
        } else if d.0.subsec_nanos().is_multiple_of(1_000_000) {
            format!("{}ms", d.0.as_millis())
        } else {
            format!("{}ns", d.0.as_nanos())
        }
    }
}

/// Formats a duration compactly (`250ms`, `1.5s`, `2m 05s`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        let tenths = ms / 100;
        if tenths.is_multiple_of(10) {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        }
    } else {
        let s = d.as_secs();
        format!("{}m {:02}s", s / 60, s % 60)
    }
}

/// In the config a duration is a wait, a limit or a period: zero is never
/// meant (a zero timeout would fail every command at once), so it is
/// refused there. (`--lock-timeout 0` on the command line stays valid: it
/// is the default, "do not wait".)
impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match Dur::parse(&s).map_err(serde::de::Error::custom)? {
            Dur(d) if d.is_zero() => Err(serde::de::Error::custom(format!(
                "duration {s:?} is zero; give a positive duration like 500ms or 30s"
            ))),
            ok => Ok(ok),
        }
    }
}

/// `notify:` in deploy-session.yaml: a webhook (POST of a JSON body) and/or
/// a command (the body on stdin) told when a deployment starts, rolls back
/// and finishes.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Attempts after the first failed one (default 3), with backoff.
    #[serde(default = "default_notify_retries")]
    pub retries: u32,
    /// Each attempt's limit (default 5s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Dur>,
}

fn default_notify_retries() -> u32 {
    3
}

impl NotifySpec {
    /// What makes it unusable, in words.
    pub fn problem(&self) -> Option<String> {
        match (&self.webhook, &self.command) {
            (None, None) => Some("`notify` needs a `webhook`, a `command`, or both".into()),
            (Some(u), _) if !(u.starts_with("http://") || u.starts_with("https://")) => Some(
                format!("notify webhook {u:?} is not an http:// or https:// URL"),
            ),
            _ => None,
        }
    }
}

/// A canary's wait after each weight change: one for all steps, or one per
/// step (the framework's "5 % for 5 minutes … 50 % for 20 minutes").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Pause {
    Every(Dur),
    PerStep(Vec<Dur>),
}

impl Pause {
    /// The wait after step `i` (0-based).
    pub fn at(&self, i: usize) -> Duration {
        match self {
            Pause::Every(d) => d.0,
            Pause::PerStep(list) => list.get(i).map_or(Duration::ZERO, |d| d.0),
        }
    }
}

impl<'de> Deserialize<'de> for Pause {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "`pause` is a duration (30s) or a list with one per step ([5m, 10m, 0s])",
            )
        })? {
            Raw::One(text) => Ok(Pause::Every(Dur::deserialize(
                serde::de::value::StrDeserializer::<D::Error>::new(&text),
            )?)),
            // In a per-step list a step may have no wait: `0s` is allowed.
            Raw::Many(list) => list
                .iter()
                .map(|t| Dur::parse(t))
                .collect::<Result<Vec<Dur>, String>>()
                .map(Pause::PerStep)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Built-in `check` kinds: files, master-state phase facts, git facts.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// Paths or globs (relative to the repo) that must exist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Paths or globs of which at least one must exist (a file a repo may
    /// name one way or another).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any_of: Vec<String>,
    /// Facts about a phase in the master state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PhaseCheck>,
    /// Facts about the git work tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitCheck>,
    /// Shown when the check fails: what to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// What must hold of a phase.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseCheck {
    pub number: i8,
    /// Required status word (`completed`, `ready`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `completed`: every deliverable of the phase must be completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliverables: Option<DeliverablesRule>,
    /// The phase must carry a recorded approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<bool>,
}

/// The only deliverables rule: all of them completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliverablesRule {
    Completed,
}

/// What must hold of the git work tree.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitCheck {
    /// The work tree has no uncommitted changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean: Option<bool>,
    /// HEAD is on this branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// This commit (any revision git understands) is reachable from HEAD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// A human gate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSpec {
    /// Exactly what the person is approving.
    pub subject: String,
    /// When set, the approval is the phase's: a phase already approved in the
    /// master state satisfies the gate, and approving records it there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<i8>,
    /// The built-in protocols' default gate where a team may put its own
    /// validation instead: a config that gives the action another kind
    /// replaces the approval (work.4.1).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replaceable: bool,
}

/// What an HTTP probe expects.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
}

/// An HTTP health probe.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    /// The URL to GET. Optional inside a strategy, which supplies it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default)]
    pub expect: Expect,
    /// Give up after this long in all (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Dur>,
    /// Wait between attempts (default 1s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Dur>,
    /// Successes in a row needed (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive: Option<u32>,
    /// Failed attempts tolerated before giving up (default: until timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
}

/// A field of a probe that can hold an impossible value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeField {
    /// `expect.status` (`--status`).
    Status,
    /// `consecutive` (`--consecutive`).
    Consecutive,
    /// `timeout` (`--timeout`).
    Timeout,
    /// `interval` (`--interval`).
    Interval,
}

impl ProbeSpec {
    /// What is impossible about this probe, field by field: one rule for
    /// the config and the `probe` command.
    pub fn problems(&self) -> Vec<(ProbeField, String)> {
        let mut out = Vec::new();
        if let Some(s) = self.expect.status
            && !(100..=599).contains(&s)
        {
            out.push((ProbeField::Status, format!("{s} is not an HTTP status")));
        }
        if self.consecutive == Some(0) {
            out.push((
                ProbeField::Consecutive,
                "`consecutive` must be at least 1".to_string(),
            ));
        }
        for (field, d) in [
            (ProbeField::Timeout, self.timeout),
            (ProbeField::Interval, self.interval),
        ] {
            if d.is_some_and(|d| d.0.is_zero()) {
                out.push((
                    field,
                    "a zero duration; give a positive one like 500ms or 30s".into(),
                ));
            }
        }
        out
    }
}

/// A deployment strategy executor, built from the user's commands and probes.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StrategySpec {
    BlueGreen(BlueGreenSpec),
    Canary(CanarySpec),
    Rolling(RollingSpec),
}

impl StrategySpec {
    /// `blue-green`, `canary` or `rolling`.
    pub fn name(&self) -> &'static str {
        match self {
            StrategySpec::BlueGreen(_) => "blue-green",
            StrategySpec::Canary(_) => "canary",
            StrategySpec::Rolling(_) => "rolling",
        }
    }
}

/// Blue-green: deploy to the idle slot, probe it, switch, probe live.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlueGreenSpec {
    /// Slot name → the slot's own base URL (probed before the switch).
    pub slots: BTreeMap<String, String>,
    /// Base URL users reach (behind the switch); probed and sampled.
    pub live_url: String,
    /// Path appended to base URLs for probes (default `/health`).
    #[serde(default = "default_health_path")]
    pub health_path: String,
    /// Several endpoints to probe (e.g. `[/health, /ready]`), each of which
    /// must answer; replaces `health_path` when given (the live sampler
    /// uses the first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_paths: Vec<String>,
    /// Deploys to `$DEPLOY_SESSION_SLOT`.
    pub deploy: String,
    /// Points live traffic at `$DEPLOY_SESSION_SLOT`.
    pub switch: String,
    /// Prints the live slot's name; without it the tool uses the slot it
    /// switched to last (or the first slot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default)]
    pub probe: ProbeSpec,
    /// How often the background prober samples the live URL (default 100ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_interval: Option<Dur>,
    /// Wait after the switch before `criteria` judge the window since it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criteria: Option<Criteria>,
}

/// Canary: raise the new version's traffic weight step by step.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanarySpec {
    pub live_url: String,
    #[serde(default = "default_health_path")]
    pub health_path: String,
    /// Several endpoints to probe (e.g. `[/health, /ready]`), each of which
    /// must answer; replaces `health_path` when given (the live sampler
    /// uses the first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_paths: Vec<String>,
    /// Deploys the canary before any traffic reaches it (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<String>,
    /// Weights in percent, rising, ending at 100.
    pub steps: Vec<u8>,
    /// Sets the canary's weight to `$DEPLOY_SESSION_WEIGHT`.
    pub set_weight: String,
    /// Wait after each weight change before judging it: one duration for
    /// every step, or a list with one per step (`[5m, 5m, 10m, 20m, 0s]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<Pause>,
    /// Extra judgement after each step (exit 0 = healthy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<String>,
    /// The live URL's least share of good answers (percent) over each
    /// step's window — from its weight change to its judgement — measured
    /// by the background prober; below it, the step fails and rolls back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_success_rate: Option<f64>,
    /// Runs after the weight is back at 0 on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<String>,
    #[serde(default)]
    pub probe: ProbeSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_interval: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criteria: Option<Criteria>,
}

/// Rolling: deploy targets batch by batch, probing each.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollingSpec {
    /// Target name → its base URL, in rollout order.
    pub targets: Vec<RollingTarget>,
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
    #[serde(default = "default_health_path")]
    pub health_path: String,
    /// Several endpoints to probe (e.g. `[/health, /ready]`), each of which
    /// must answer; replaces `health_path` when given (the live sampler
    /// uses the first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_paths: Vec<String>,
    /// Deploys to `$DEPLOY_SESSION_TARGET`.
    pub deploy: String,
    /// Restores `$DEPLOY_SESSION_TARGET` to the previous version.
    pub rollback: String,
    /// Sampled during the rollout, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_url: Option<String>,
    #[serde(default)]
    pub probe: ProbeSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_interval: Option<Dur>,
    /// Wait after each batch before `criteria` judge the window since the
    /// batch began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criteria: Option<Criteria>,
}

/// Traffic sent through the live URL for the whole strategy, at a fixed
/// rate (open loop: a slow answer does not slow the schedule), one fresh
/// connection per request. It replaces the prober's one-sample-per-interval.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    /// Requests per second (1 to 5000).
    pub rate: u32,
    /// Path requested on the live URL (default: the first health path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// What live traffic must show over each window — a canary step (from its
/// weight change to its judgement), the time after a blue-green switch, a
/// rolling batch. A criterion that fails rolls the deployment back.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Criteria {
    /// Least share of good answers, in percent (e.g. 99).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_success_rate: Option<f64>,
    /// Highest 95th-percentile latency (e.g. 2s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p95: Option<Dur>,
    /// Highest 99th-percentile latency (e.g. 200ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p99: Option<Dur>,
    /// Fewest requests a window needs for a verdict (default 1): with
    /// fewer, the window fails — no evidence is not a pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_requests: Option<u64>,
    /// The team's own measurements instead of the tool's traffic: a command
    /// whose last line is `{"requests": N, "failed": N, "p95_ms": X,
    /// "p99_ms": X}` for the window (`$DEPLOY_SESSION_WINDOW_MS` long).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
}

/// One rolling target.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollingTarget {
    pub name: String,
    pub url: String,
}

impl StrategySpec {
    /// The live URL traffic goes through, if the strategy has one.
    pub fn live_url(&self) -> Option<&str> {
        match self {
            StrategySpec::BlueGreen(b) => Some(&b.live_url),
            StrategySpec::Canary(c) => Some(&c.live_url),
            StrategySpec::Rolling(r) => r.live_url.as_deref(),
        }
    }

    /// The health endpoints probed on every URL.
    pub fn endpoints(&self) -> Vec<&str> {
        match self {
            StrategySpec::BlueGreen(b) => health_endpoints(&b.health_path, &b.health_paths),
            StrategySpec::Canary(c) => health_endpoints(&c.health_path, &c.health_paths),
            StrategySpec::Rolling(r) => health_endpoints(&r.health_path, &r.health_paths),
        }
    }

    /// `load:`, if given.
    pub fn load(&self) -> Option<&LoadSpec> {
        match self {
            StrategySpec::BlueGreen(b) => b.load.as_ref(),
            StrategySpec::Canary(c) => c.load.as_ref(),
            StrategySpec::Rolling(r) => r.load.as_ref(),
        }
    }

    /// How often the prober samples without `load:`.
    pub fn sample_interval(&self) -> Option<Dur> {
        match self {
            StrategySpec::BlueGreen(b) => b.sample_interval,
            StrategySpec::Canary(c) => c.sample_interval,
            StrategySpec::Rolling(r) => r.sample_interval,
        }
    }

    /// The criteria every window is judged by (a canary's top-level
    /// `min_success_rate` is shorthand for `criteria.min_success_rate`).
    pub fn criteria(&self) -> Option<Criteria> {
        match self {
            StrategySpec::BlueGreen(b) => b.criteria.clone(),
            StrategySpec::Rolling(r) => r.criteria.clone(),
            StrategySpec::Canary(c) => match (&c.criteria, c.min_success_rate) {
                (None, None) => None,
                (given, rate) => {
                    let mut all = given.clone().unwrap_or_default();
                    all.min_success_rate = all.min_success_rate.or(rate);
                    Some(all)
                }
            },
        }
    }
}

/// The endpoints a strategy probes: `health_paths`, else `health_path`.
pub fn health_endpoints<'a>(single: &'a str, several: &'a [String]) -> Vec<&'a str> {
    if several.is_empty() {
        vec![single]
    } else {
        several.iter().map(String::as_str).collect()
    }
}

fn default_health_path() -> String {
    "/health".into()
}

fn default_batch_size() -> u32 {
    1
}

/// Steps the tool itself performs (writing the context, the master state,
/// the handoff package, ...). They cannot be replaced by config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Builtin {
    DeploymentContext,
    Gates(Vec<GateId>),
    CompletionReport,
    Phase7Completed,
    Phase8Ready,
    HandoffPackage,
    ArchiveEvidence,
    StatusReport,
    OperationsReadiness,
    OperationsContext,
    AuditTrail,
}

impl Builtin {
    /// A short human description for plans and panels.
    pub fn describe(&self) -> String {
        match self {
            Builtin::DeploymentContext => {
                "writes .ai_context/deployment_context.md and sets Phase 7 in_progress".into()
            }
            Builtin::Gates(g) => format!(
                "evaluates gates: {}",
                g.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ")
            ),
            Builtin::CompletionReport => {
                "evaluates every gate and writes the completion report".into()
            }
            Builtin::Phase7Completed => "sets Phase 7 completed in the master state".into(),
            Builtin::Phase8Ready => "sets Phase 8 ready in the master state".into(),
            Builtin::HandoffPackage => "writes the handoff package and its manifest".into(),
            Builtin::ArchiveEvidence => "archives the session's logs, evidence and reports".into(),
            Builtin::StatusReport => "writes the production status report".into(),
            Builtin::OperationsReadiness => {
                "records operations readiness in the master state".into()
            }
            Builtin::OperationsContext => "writes .ai_context/operations_context.md".into(),
            Builtin::AuditTrail => "verifies the audit trail and seals the session".into(),
        }
    }
}

/// One action as written: in a template, a config `add:` entry, or (with
/// only kind and common fields) a config override of an existing action.
/// One flat shape, so every place reports unknown keys with their location.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Only in config `add:` entries: the action this one follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_type: Option<TaskType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<Agent>,
    /// Sub-items the seed lists under this step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<String>,
    /// Session status while this action runs (overrides the stage's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SessionStatus>,
    /// For manual actions: how a person completes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<StrategySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<Builtin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay: Option<Dur>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub produces: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
    /// The environment it acts on (declared under `environments:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

/// Keys that select an action's kind.
pub const KIND_KEYS: [&str; 6] = ["run", "check", "approval", "probe", "strategy", "builtin"];

/// Keys an override in `actions:` may set on an existing action.
pub const OVERRIDE_KEYS: [&str; 15] = [
    "run",
    "check",
    "approval",
    "probe",
    "strategy",
    "instructions",
    "timeout",
    "retries",
    "retry_delay",
    "env",
    "cwd",
    "produces",
    "rollback",
    "optional",
    "environment",
];

impl ActionSpec {
    /// Names of the kind fields that are set.
    pub fn kind_names(&self) -> Vec<&'static str> {
        let set = [
            self.run.is_some(),
            self.check.is_some(),
            self.approval.is_some(),
            self.probe.is_some(),
            self.strategy.is_some(),
            self.builtin.is_some(),
        ];
        KIND_KEYS
            .iter()
            .zip(set)
            .filter_map(|(n, s)| s.then_some(*n))
            .collect()
    }

    /// The resolved kind (assumes at most one kind field is set).
    pub fn to_kind(&self) -> Kind {
        if let Some(c) = &self.run {
            Kind::Run(c.clone())
        } else if let Some(c) = &self.check {
            Kind::Check(c.clone())
        } else if let Some(a) = &self.approval {
            Kind::Approval(a.clone())
        } else if let Some(p) = &self.probe {
            Kind::Probe(p.clone())
        } else if let Some(s) = &self.strategy {
            Kind::Strategy(Box::new(s.clone()))
        } else if let Some(b) = &self.builtin {
            Kind::Builtin(b.clone())
        } else {
            Kind::Manual
        }
    }

    /// The fields any kind may carry.
    pub fn common(&self) -> Common {
        Common {
            timeout: self.timeout,
            retries: self.retries,
            retry_delay: self.retry_delay,
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            produces: self.produces.clone(),
            rollback: self.rollback.clone(),
            optional: self.optional,
            environment: self.environment.clone(),
        }
    }

    /// Applies an override: every field it sets replaces this one's.
    pub fn apply_override(&mut self, o: &ActionSpec) {
        if !o.kind_names().is_empty() && self.approval.as_ref().is_some_and(|a| a.replaceable) {
            self.approval = None;
        }
        macro_rules! take {
            ($($f:ident),*) => { $( if o.$f.is_some() { self.$f = o.$f.clone(); } )* };
        }
        take!(
            run,
            check,
            approval,
            probe,
            strategy,
            instructions,
            timeout,
            retries,
            retry_delay,
            cwd,
            rollback,
            optional,
            environment
        );
        if !o.env.is_empty() {
            self.env.extend(o.env.clone());
        }
        if !o.produces.is_empty() {
            self.produces.extend(o.produces.iter().cloned());
        }
    }
}

/// Fields any action may carry, whatever its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(default)]
pub struct Common {
    /// Per attempt, for `run` commands and strategy steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Dur>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_delay: Option<Dur>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Working folder, relative to the repo root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Files that must exist after the action; missing ones fail it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub produces: Vec<String>,
    /// Compensation, run in reverse order when a later action of the stage fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<String>,
    /// A failure (or a pending manual step) does not block the protocol.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
    /// The environment it acts on (`environments:` in the config).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

impl Common {
    /// Nothing set (the usual case: written as nothing).
    pub fn is_unset(&self) -> bool {
        *self == Common::default()
    }
}

/// `ci:` in deploy-session.yaml: what `export` writes into the pipelines.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CiSpec {
    /// The install job's command: puts deploy-session in
    /// `$DEPLOY_SESSION_ROOT/bin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<String>,
    /// The committed decisions file the stages pass to `--decisions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decisions: Option<String>,
}

/// An environment's name: letters, digits, `_`, `.` and `-`, starting with
/// a letter or digit, at most 64 — it becomes a CI environment's name, a
/// cache key, a concurrency group and an argument of exported commands, so
/// nothing in it may be read as shell or pipeline syntax.
pub fn environment_name(s: &str) -> Result<String, String> {
    let ok = s.len() <= 64
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "environment name {s:?}: use letters, digits, `_`, `.` and `-` (starting with a letter or digit, at most 64)"
        ))
    }
}

/// One entry of `environments:` in deploy-session.yaml: a place the
/// deployment goes (staging, production), and what must hold before it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSpec {
    /// The environment whose deployment, in the same session, must have
    /// succeeded (and met its criteria) before this one is deployed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote_from: Option<String>,
    /// Whether a named person must approve the promotion — an `approval`
    /// action with this `environment`, before its deployment (default:
    /// yes when `promote_from` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<bool>,
}

impl EnvironmentSpec {
    /// Whether deploying here needs a named approval first.
    pub fn needs_approval(&self) -> bool {
        self.approval.unwrap_or(self.promote_from.is_some())
    }
}

/// How an action completes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Manual,
    Run(String),
    Check(CheckSpec),
    Approval(ApprovalSpec),
    Probe(ProbeSpec),
    Strategy(Box<StrategySpec>),
    Builtin(Builtin),
}

impl Kind {
    /// "a `check` action", "an `approval` action".
    pub fn described(&self) -> String {
        let name = self.name();
        let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} `{name}` action")
    }

    /// The tool's own validations (checks and built-in steps): `skip` passes
    /// them by only as a recorded override.
    pub fn is_validation(&self) -> bool {
        matches!(self, Kind::Check(_) | Kind::Builtin(_))
    }

    /// The kind's recorded name.
    pub fn kind_name(&self) -> super::KindName {
        use super::KindName as K;
        match self {
            Kind::Manual => K::Manual,
            Kind::Run(_) => K::Run,
            Kind::Check(_) => K::Check,
            Kind::Approval(_) => K::Approval,
            Kind::Probe(_) => K::Probe,
            Kind::Strategy(_) => K::Strategy,
            Kind::Builtin(_) => K::Builtin,
        }
    }

    /// `manual`, `run`, `check`, `approval`, `probe`, `strategy` or `builtin`.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Manual => "manual",
            Kind::Run(_) => "run",
            Kind::Check(_) => "check",
            Kind::Approval(_) => "approval",
            Kind::Probe(_) => "probe",
            Kind::Strategy(_) => "strategy",
            Kind::Builtin(_) => "builtin",
        }
    }

    /// Whether a person (or assistant) completes it.
    pub fn needs_human(&self) -> bool {
        matches!(self, Kind::Manual | Kind::Approval(_))
    }

    /// One line saying what the action does, for plans and panels.
    pub fn summary(&self) -> String {
        match self {
            Kind::Manual => "manual".into(),
            Kind::Run(cmd) => format!("run: {cmd}"),
            Kind::Check(c) => format!("check: {}", describe_check(c)),
            Kind::Approval(a) => match a.phase {
                Some(n) => format!("approval (Phase {n})"),
                None if a.replaceable => {
                    "approval by a named person (the default; give it a run or check in the config to replace it)".into()
                }
                None => "approval".into(),
            },
            Kind::Probe(p) => format!("probe: GET {}", p.url.as_deref().unwrap_or("?")),
            Kind::Strategy(s) => format!("strategy: {}", s.name()),
            Kind::Builtin(b) => format!("builtin: {}", b.describe()),
        }
    }
}

fn describe_check(c: &CheckSpec) -> String {
    let mut parts = Vec::new();
    if !c.files.is_empty() {
        parts.push(format!("files exist: {}", c.files.join(", ")));
    }
    if !c.any_of.is_empty() {
        parts.push(format!("one of these exists: {}", c.any_of.join(", ")));
    }
    if let Some(p) = &c.phase {
        let mut facts = Vec::new();
        if let Some(s) = &p.status {
            facts.push(s.clone());
        }
        if p.deliverables.is_some() {
            facts.push("all deliverables completed".into());
        }
        if p.approved == Some(true) {
            facts.push("approved".into());
        }
        parts.push(format!("Phase {} {}", p.number, facts.join(", ")));
    }
    if let Some(g) = &c.git {
        let mut facts = Vec::new();
        if g.clean == Some(true) {
            facts.push("clean".to_string());
        }
        if let Some(b) = &g.branch {
            facts.push(format!("on {b}"));
        }
        if let Some(c) = &g.commit {
            facts.push(format!("contains {c}"));
        }
        parts.push(format!("git {}", facts.join(", ")));
    }
    parts.join("; ")
}

/// Where an action came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    BuiltIn,
    /// Added or changed by the config file.
    Config,
}

/// A resolved action, ready to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub id: String,
    pub protocol: ProtocolName,
    pub stage: String,
    pub title: String,
    pub active: String,
    pub task_type: TaskType,
    pub agent: Agent,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SessionStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Common::is_unset")]
    pub common: Common,
    pub origin: Origin,
}

impl Action {
    /// Whether the action may fail or stay pending without blocking.
    pub fn optional(&self) -> bool {
        self.common.optional == Some(true)
    }
}

/// An ordered list of actions; stages run by the `needs` graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub id: String,
    pub title: String,
    pub status: Option<SessionStatus>,
    pub needs: Vec<String>,
    pub actions: Vec<Action>,
}

/// One of the three session protocols, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Protocol {
    pub name: ProtocolName,
    pub title: String,
    pub requires: Option<ProtocolName>,
    pub completes_with: Option<SessionStatus>,
    pub stages: Vec<Stage>,
}

impl Protocol {
    /// Every action, in order.
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.stages.iter().flat_map(|s| s.actions.iter())
    }

    /// The ids that must be done before `action` may start: the previous
    /// action of its stage, or the last action of each stage its stage needs.
    pub fn action_needs(&self, action: &Action) -> Vec<String> {
        let Some(stage) = self.stages.iter().find(|s| s.id == action.stage) else {
            return Vec::new();
        };
        let pos = stage.actions.iter().position(|a| a.id == action.id);
        match pos {
            Some(i) if i > 0 => vec![stage.actions[i - 1].id.clone()],
            _ => stage
                .needs
                .iter()
                .filter_map(|n| self.stages.iter().find(|s| &s.id == n))
                .filter_map(|s| s.actions.last().map(|a| a.id.clone()))
                .collect(),
        }
    }
}

/// The three protocols as they apply in a repo (built-ins + config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtocolSet {
    pub protocols: Vec<Protocol>,
}

impl ProtocolSet {
    /// The protocol called `name`.
    pub fn get(&self, name: ProtocolName) -> &Protocol {
        self.protocols
            .iter()
            .find(|p| p.name == name)
            .expect("a protocol set always holds start, work and end")
    }

    /// Every action of every protocol, in session order.
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.protocols.iter().flat_map(|p| p.actions())
    }

    /// The action with this id.
    pub fn action(&self, id: &str) -> Option<&Action> {
        self.actions().find(|a| a.id == id)
    }

    /// Up to three known ids closest to `id`, for "did you mean".
    pub fn suggest(&self, id: &str) -> Vec<String> {
        let mut scored: Vec<(f64, String)> = self
            .actions()
            .map(|a| (strsim::jaro_winkler(id, &a.id), a.id.clone()))
            .filter(|(s, _)| *s > 0.75)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().take(3).map(|(_, id)| id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_is_one_for_all_or_one_per_step() {
        let all: Pause = serde_yaml::from_str("30s").unwrap();
        assert_eq!(all.at(0), Duration::from_secs(30));
        assert_eq!(all.at(4), Duration::from_secs(30));
        let each: Pause = serde_yaml::from_str("[5m, 0s]").unwrap();
        assert_eq!(each.at(0), Duration::from_secs(300));
        assert_eq!(each.at(1), Duration::ZERO);
        assert!(
            serde_yaml::from_str::<Pause>("0s").is_err(),
            "a single pause of 0s"
        );
    }

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(Dur::parse("500ms").unwrap().0, Duration::from_millis(500));
        assert_eq!(Dur::parse("5m").unwrap().0, Duration::from_secs(300));
        assert_eq!(Dur::parse("1h 30m").unwrap().0, Duration::from_secs(5400));
        assert!(Dur::parse("5 bananas").is_err());
        assert!(Dur::parse("-5s").is_err());
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m 05s");
    }

    #[test]
    fn names_match_the_seed() {
        assert_eq!(TaskType::HandoffValidation.as_str(), "HANDOFF_VALIDATION");
        assert_eq!(Agent::GcpAiArchitect.as_str(), "gcp-ai-architect");
        assert_eq!(
            SessionStatus::OperationsHandoffReady.as_str(),
            "OPERATIONS_HANDOFF_READY"
        );
    }
}
