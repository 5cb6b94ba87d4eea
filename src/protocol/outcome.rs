//! How a protocol run ended: vocabulary the engine, the commands and the
//! reports share.

use serde::Serialize;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
