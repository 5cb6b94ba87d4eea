//! What a run prints: a line per stage and per finished action, child
//! output prefixed by its action id, and — on terminals only — a spinner
//! with elapsed time for actions still running. In `--format json` runs all
//! of it goes to stderr so stdout holds only the JSON document.

use super::process::LineSink;
use crate::protocol::{Action, Stage};
use crate::session::ActionStatus;
use crate::ui::{Printer, style};
use indicatif::ProgressBar;
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

/// Prints run progress.
pub struct Reporter {
    printer: Printer,
    to_stderr: bool,
    spinners: RefCell<HashMap<String, ProgressBar>>,
    /// GitHub Actions: each action's output is held back and printed as
    /// one `::group::` when it finishes (stages running at the same time
    /// would interleave the groups otherwise).
    groups: Option<RefCell<HashMap<String, Vec<String>>>>,
}

impl Reporter {
    /// `spinners`: draw spinners (terminal, not CI, not quiet);
    /// `to_stderr`: keep stdout for a JSON document.
    pub fn new(printer: Printer, spinners: bool, to_stderr: bool) -> Reporter {
        let printer = if spinners {
            printer.with_progress()
        } else {
            printer
        };
        Reporter {
            printer,
            to_stderr,
            spinners: RefCell::new(HashMap::new()),
            groups: None,
        }
    }

    /// Groups each action's output as a GitHub Actions log group.
    pub fn with_github_groups(mut self, on: bool) -> Reporter {
        self.groups = on.then(|| RefCell::new(HashMap::new()));
        self
    }

    /// The printer (for colors).
    pub fn printer(&self) -> &Printer {
        &self.printer
    }

    /// A progress line (silenced by -q).
    pub fn say(&self, text: impl AsRef<str>) {
        if self.printer.quiet() {
            return;
        }
        self.emit(text.as_ref());
    }

    /// A line that -q does not silence (failures, what is pending).
    pub fn shout(&self, text: impl AsRef<str>) {
        self.emit(text.as_ref());
    }

    fn emit(&self, text: &str) {
        self.printer.progress_line(text, self.to_stderr);
    }

    /// A stage begins.
    pub fn stage(&self, stage: &Stage) {
        let p = &self.printer;
        self.say(p.paint(style::HEAD, format!("{} {}", stage.id, stage.title)));
    }

    /// An action begins running (spinner on terminals).
    pub fn started(&self, a: &Action) {
        if let Some(bar) = self.printer.spinner(format!("{} {}", a.id, a.title)) {
            self.spinners.borrow_mut().insert(a.id.clone(), bar);
        }
    }

    /// An action ended (or stopped to wait).
    pub fn finished(
        &self,
        a: &Action,
        status: ActionStatus,
        duration: Option<Duration>,
        detail: Option<&str>,
    ) {
        if let Some(bar) = self.spinners.borrow_mut().remove(&a.id) {
            bar.finish_and_clear();
        }
        let p = &self.printer;
        let (mark, st) = match status {
            ActionStatus::Completed => ("✓", style::OK),
            ActionStatus::Skipped => ("↷", style::DIM),
            ActionStatus::Waiting => ("…", style::WAIT),
            ActionStatus::Interrupted => ("⏹", style::WAIT),
            _ => ("✗", style::BAD),
        };
        let time = duration
            .map(|d| {
                p.paint(
                    style::DIM,
                    format!(" ({})", crate::protocol::format_duration(d)),
                )
            })
            .unwrap_or_default();
        // A detail can carry recorded text (a person's failure reason).
        let detail = detail
            .map(|d| format!(" — {}", crate::ui::visible(d)))
            .unwrap_or_default();
        let line = format!(
            "  {} {} {}{time}{detail}",
            p.paint(st, mark),
            a.id,
            crate::ui::visible(&a.title)
        );
        if let Some(groups) = &self.groups {
            let lines = groups.borrow_mut().remove(&a.id).unwrap_or_default();
            let head = crate::ui::workflow::command("group", &[], line.trim_start());
            let mut block = head;
            for l in lines {
                block.push('\n');
                block.push_str(&l);
            }
            block.push_str("\n::endgroup::");
            self.shout(block);
            return;
        }
        if matches!(status, ActionStatus::Failed | ActionStatus::Interrupted) {
            self.shout(line);
        } else {
            self.say(line);
        }
    }

    /// A sink that prefixes child output with the action's id.
    pub fn sink<'a>(&'a self, id: &'a str) -> ActionSink<'a> {
        ActionSink { reporter: self, id }
    }
}

/// Child output of one action.
pub struct ActionSink<'a> {
    reporter: &'a Reporter,
    id: &'a str,
}

impl LineSink for ActionSink<'_> {
    fn line(&self, text: &str) {
        if let Some(groups) = &self.reporter.groups {
            let mut g = groups.borrow_mut();
            g.entry(self.id.to_string())
                .or_default()
                .push(text.to_string());
            return;
        }
        let p = &self.reporter.printer;
        self.reporter.say(format!(
            "    {} {text}",
            p.paint(style::DIM, format!("{} │", self.id))
        ));
    }
}
