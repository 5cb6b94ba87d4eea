//! Errors the user can act on, and the one place they become exit codes.
//!
//! Commands return `anyhow::Result`; anything that is the user's input being
//! wrong is raised as an [`InputError`] (or several, as [`InputErrors`]) so the
//! top level can print its location and map it to exit code 2. Everything else
//! that goes wrong is exit code 1.

use std::fmt;
use std::path::{Path, PathBuf};

/// The documented exit codes (DESIGN §7). Scripts and CI depend on these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything asked for is done.
    Success = 0,
    /// An action or a quality gate failed.
    Failure = 1,
    /// Usage, configuration or input error: nothing was changed.
    Usage = 2,
    /// The run stopped at an action that needs a person (or an approval).
    Waiting = 3,
    /// Another process holds the session lock.
    Locked = 4,
    /// Interrupted by Ctrl-C or SIGTERM; state was saved.
    Interrupted = 130,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// 1-based line and column (in characters) of byte offset `at` in `text`:
/// where an editor puts the cursor for an error at that byte.
pub fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A problem with something the user wrote: a file, a flag, an id.
/// Carries where it is so an editor (or a person) can jump to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The file the problem is in, as it should be shown; `None` for flags.
    pub path: Option<PathBuf>,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl InputError {
    /// An error about a command-line value (no file).
    pub fn usage(message: impl Into<String>) -> Self {
        InputError {
            path: None,
            line: None,
            column: None,
            message: message.into(),
            hint: None,
        }
    }

    /// An error in a file, at an optional line.
    pub fn in_file(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        InputError {
            path: Some(path.to_path_buf()),
            line,
            column: None,
            message: message.into(),
            hint: None,
        }
    }

    /// Sets the column (1-based: a parser's column 0, "before the first
    /// character", is shown as column 1).
    pub fn at_column(mut self, column: Option<usize>) -> Self {
        self.column = column.map(|c| c.max(1));
        self
    }

    /// Names the flag whose value this error is about (`--rerun ID: …`),
    /// when `err` is an input error; other errors pass through unchanged.
    pub fn for_flag(err: anyhow::Error, flag: &str, value: &str) -> anyhow::Error {
        match err.downcast::<InputError>() {
            Ok(mut e) => {
                e.message = format!("{flag} {value}: {}", e.message);
                e.into()
            }
            Err(other) => other,
        }
    }

    /// Adds a hint saying what to do.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// `path:line:column` (as much as is known), or empty for flags.
    pub fn location(&self) -> String {
        let Some(path) = &self.path else {
            return String::new();
        };
        let mut s = path.display().to_string();
        if let Some(line) = self.line {
            s.push_str(&format!(":{line}"));
            if let Some(col) = self.column {
                s.push_str(&format!(":{col}"));
            }
        }
        s
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loc = self.location();
        if loc.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{loc}: {}", self.message)
        }
    }
}

impl std::error::Error for InputError {}

/// Every error found in one input (a config file reports all of them at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputErrors(pub Vec<InputError>);

impl fmt::Display for InputErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
            if let Some(h) = &e.hint {
                write!(f, "\n  hint: {h}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for InputErrors {}

/// Another deploy-session process holds the lock (exit 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedError {
    /// Who holds it, as recorded in the lock file.
    pub holder: String,
}

impl fmt::Display for LockedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "another deploy-session is working in this repo: {}",
            self.holder
        )
    }
}

impl std::error::Error for LockedError {}

/// Maps an error to its exit code by looking at its cause chain.
pub fn classify(err: &anyhow::Error) -> ExitStatus {
    for cause in err.chain() {
        if cause.is::<InputError>() || cause.is::<InputErrors>() {
            return ExitStatus::Usage;
        }
        if cause.is::<LockedError>() {
            return ExitStatus::Locked;
        }
    }
    ExitStatus::Failure
}

/// The hint of the first [`InputError`] in the chain, if any.
pub fn hint_of(err: &anyhow::Error) -> Option<String> {
    err.chain()
        .find_map(|c| c.downcast_ref::<InputError>())
        .and_then(|e| e.hint.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_formats_only_what_is_known() {
        let e = InputError::in_file(Path::new("a.yaml"), Some(3), "bad").at_column(Some(7));
        assert_eq!(e.to_string(), "a.yaml:3:7: bad");
        let e = InputError::in_file(Path::new("a.md"), None, "bad");
        assert_eq!(e.to_string(), "a.md: bad");
        assert_eq!(InputError::usage("no such id").to_string(), "no such id");
    }

    #[test]
    fn classification_looks_through_context() {
        let e = anyhow::Error::new(InputError::usage("x")).context("while loading");
        assert_eq!(classify(&e), ExitStatus::Usage);
        let e = anyhow::Error::new(LockedError {
            holder: "pid 1".into(),
        });
        assert_eq!(classify(&e), ExitStatus::Locked);
        assert_eq!(
            classify(&anyhow::anyhow!("disk on fire")),
            ExitStatus::Failure
        );
    }
}
