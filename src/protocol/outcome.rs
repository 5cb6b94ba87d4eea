//! Outcomes and names the engine, the kinds, the record and the reports
//! share: how a run ended, how a deployment ended, how an approval came,
//! which kind an action is. Recorded as their snake_case words.

use serde::Serialize;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every selected stage completed.
    Done,
    /// An action failed (its stage was rolled back where it could be).
    Failed,
    /// Something waits for a person.
    Waiting,
    /// A signal stopped the run; it resumes where it stopped.
    Interrupted,
}

/// How one measured deployment (a strategy) ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentOutcome {
    /// The new version went live and stayed.
    Succeeded,
    /// It failed before the live system was touched.
    Failed,
    /// A signal stopped it.
    Interrupted,
    /// It failed and the rollback restored the previous version.
    RolledBack,
    /// It failed and so did the rollback: a person must look.
    RollbackFailed,
}

impl DeploymentOutcome {
    /// The word as recorded (`rolled_back`).
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentOutcome::Succeeded => "succeeded",
            DeploymentOutcome::Failed => "failed",
            DeploymentOutcome::Interrupted => "interrupted",
            DeploymentOutcome::RolledBack => "rolled_back",
            DeploymentOutcome::RollbackFailed => "rollback_failed",
        }
    }
}

impl std::fmt::Display for DeploymentOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an approval (or a gate waiver) reached the record.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalVia {
    /// `deploy-session approve`.
    Command,
    /// `--approve ID` on a run.
    Flag,
    /// `DEPLOY_SESSION_APPROVE` on a run.
    Env,
    /// Typed `yes` at a run's prompt.
    Prompt,
    /// The operator's walkthrough.
    Walk,
    /// Already recorded in the master state (a phase's approval).
    MasterState,
    /// `end --waive GATE --reason`.
    Waiver,
    /// A reviewed decisions file (`--decisions FILE`, in CI).
    Decisions,
    /// A required reviewer of a protected CI environment, read from the CI
    /// system's API (`approve ID --from-github-environment NAME`).
    CiEnvironment,
}

impl std::fmt::Display for ApprovalVia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ApprovalVia::Command => "command",
            ApprovalVia::Flag => "flag",
            ApprovalVia::Env => "env",
            ApprovalVia::Prompt => "prompt",
            ApprovalVia::Walk => "walk",
            ApprovalVia::MasterState => "master_state",
            ApprovalVia::Waiver => "waiver",
            ApprovalVia::Decisions => "decisions file",
            ApprovalVia::CiEnvironment => "CI environment reviewer",
        })
    }
}

/// The kind of an action, as recorded when it starts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum KindName {
    /// Completed by a person or an assistant.
    Manual,
    /// A command.
    Run,
    /// Files, git facts or the master state.
    Check,
    /// A named person's approval.
    Approval,
    /// An HTTP health probe.
    Probe,
    /// A deployment strategy.
    Strategy,
    /// One of the tool's own steps.
    Builtin,
}
