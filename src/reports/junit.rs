//! JUnit XML for a run, written with quick-junit (the crate cargo-nextest
//! uses): one testsuite per stage, one testcase per action.

use super::{log_tail, stages_in_scope};
use crate::paths::RepoPaths;
use crate::protocol::Protocol;
use crate::redact::Redactor;
use crate::session::{ActionStatus, Session};
use anyhow::{Context, Result};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::path::Path;
use std::time::Duration;

/// How many lines of a failed action's output go into its `<failure>`.
const LOG_TAIL_LINES: usize = 40;

/// Renders the report of `p` (only the stages `only` names, when any).
pub fn render(
    p: &Protocol,
    only: &[String],
    session: &Session,
    paths: &RepoPaths,
    redactor: &Redactor,
) -> Result<String> {
    let mut report = Report::new(format!("deploy-session {}", p.name));
    for stage in stages_in_scope(p, only) {
        let mut suite = TestSuite::new(format!("{} {}", stage.id, redactor.mask(&stage.title)));
        let mut total = Duration::ZERO;
        for a in &stage.actions {
            let rec = session.action(&a.id);
            let case = case(a, &rec, paths, redactor);
            total += Duration::from_millis(rec.duration_ms.unwrap_or(0));
            suite.add_test_case(case);
        }
        suite.set_time(total);
        report.add_test_suite(suite);
    }
    report.to_string().context("cannot render the JUnit report")
}

fn case(
    a: &crate::protocol::Action,
    rec: &crate::session::ActionRecord,
    paths: &RepoPaths,
    redactor: &Redactor,
) -> TestCase {
    let reason = rec.message.clone().or_else(|| rec.note.clone());
    let status = match rec.status {
        ActionStatus::Completed => TestCaseStatus::success(),
        ActionStatus::Failed | ActionStatus::Interrupted => {
            let kind = if rec.status == ActionStatus::Failed {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            };
            let mut s = TestCaseStatus::non_success(kind);
            s.set_message(redactor.mask(reason.as_deref().unwrap_or(rec.status.word())));
            s.set_type(rec.status.word());
            if let Some(tail) = log_tail(paths, rec, LOG_TAIL_LINES) {
                s.set_description(redactor.mask(&tail));
            }
            s
        }
        other => {
            let why = match other {
                ActionStatus::Skipped => format!("skipped: {}", reason.unwrap_or_default()),
                ActionStatus::Waiting => format!(
                    "waiting for a person: {}",
                    reason.unwrap_or_else(|| a.kind.summary())
                ),
                _ => "not run yet in this session".to_string(),
            };
            let mut s = TestCaseStatus::skipped();
            s.set_message(redactor.mask(&why));
            s
        }
    };
    let mut case = TestCase::new(format!("{} {}", a.id, redactor.mask(&a.title)), status);
    case.set_classname(format!("deploy-session.{}", a.stage));
    if let Some(ms) = rec.duration_ms {
        case.set_time(Duration::from_millis(ms));
    }
    case
}

/// Writes the report to `file` atomically.
pub fn write(file: &Path, xml: &str) -> Result<()> {
    crate::fsio::write_atomic(file, xml.as_bytes())
        .with_context(|| format!("cannot write the JUnit report {}", file.display()))
}
