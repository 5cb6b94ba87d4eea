//! GitHub Actions: workflow commands (`::error`, `::notice`, `::group`) and
//! the markdown step summary. Used only when `GITHUB_ACTIONS=true`.

use super::stages_in_scope;
use crate::error::{InputError, InputErrors};
use crate::progress::NextAction;
use crate::protocol::Outcome;
use crate::protocol::Protocol;
use crate::redact::Redactor;
use crate::session::Session;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

pub use crate::ui::workflow::command;

/// `::error` annotations for an error: one per input error, on its file and
/// line when it has them, so the Actions UI points at the bad line.
pub fn error_annotations(err: &anyhow::Error) -> Vec<String> {
    let inputs: Vec<&InputError> = err
        .chain()
        .find_map(|c| {
            c.downcast_ref::<InputErrors>()
                .map(|all| all.0.iter().collect())
                .or_else(|| c.downcast_ref::<InputError>().map(|e| vec![e]))
        })
        .unwrap_or_default();
    if inputs.is_empty() {
        return vec![command(
            "error",
            &[("title", "deploy-session".into())],
            &format!("{err:#}"),
        )];
    }
    inputs.into_iter().map(input_annotation).collect()
}

fn input_annotation(e: &InputError) -> String {
    let mut props = vec![("title", "deploy-session".to_string())];
    if let Some(p) = &e.path {
        props.push(("file", p.display().to_string()));
    }
    if let Some(l) = e.line {
        props.push(("line", l.to_string()));
    }
    if let Some(c) = e.column {
        props.push(("col", c.to_string()));
    }
    let mut message = e.message.clone();
    if let Some(h) = &e.hint {
        message.push_str(&format!("\nhint: {h}"));
    }
    command("error", &props, &message)
}

/// `::error` lines for the actions of the run's stages that failed (a
/// failed gate step among them, its message naming the gates).
pub fn failure_errors(
    p: &Protocol,
    only: &[String],
    session: &Session,
    redactor: &Redactor,
) -> Vec<String> {
    stages_in_scope(p, only)
        .into_iter()
        .flat_map(|st| st.actions.iter())
        .filter_map(|a| {
            let rec = session.action(&a.id);
            (rec.status == crate::session::ActionStatus::Failed).then(|| {
                let why = rec.message.as_deref().unwrap_or("failed");
                command(
                    "error",
                    &[("title", format!("deploy-session: {} failed", a.id))],
                    &redactor.mask(&format!("{}: {why}", a.title)),
                )
            })
        })
        .collect()
}

/// `::notice` lines for the actions a person must complete.
pub fn waiting_notices(next: &[NextAction], redactor: &Redactor) -> Vec<String> {
    next.iter()
        .map(|n| {
            let why = n
                .message
                .as_deref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default();
            command(
                "notice",
                &[("title", format!("deploy-session: {} waits", n.id))],
                &redactor.mask(&format!(
                    "{}{why}\ncomplete it with: {}",
                    n.title, n.command
                )),
            )
        })
        .collect()
}

/// The markdown summary of a run for `$GITHUB_STEP_SUMMARY`.
pub fn step_summary(
    p: &Protocol,
    only: &[String],
    outcome: Outcome,
    session: &Session,
    next: &[NextAction],
    redactor: &Redactor,
) -> String {
    let cell = |s: &str| redactor.mask(s).replace('|', "\\|").replace('\n', " ");
    let mut md = format!(
        "### deploy-session `{}` — {}\n\nSession `{}` · outcome **{}**\n\n| action | title | status | time |\n|---|---|---|---|\n",
        p.name,
        cell(&p.title),
        session.id,
        outcome_word(outcome)
    );
    for stage in stages_in_scope(p, only) {
        for a in &stage.actions {
            let rec = session.action(&a.id);
            let time = rec
                .duration_ms
                .map(|ms| crate::protocol::format_duration(std::time::Duration::from_millis(ms)))
                .unwrap_or_default();
            let mut status = rec.status.word().to_string();
            if let Some(m) = rec.message.as_deref().or(rec.note.as_deref()) {
                status.push_str(&format!(": {m}"));
            }
            md.push_str(&format!(
                "| {} | {} | {} | {time} |\n",
                a.id,
                cell(&a.title),
                cell(&status)
            ));
        }
    }
    if !next.is_empty() {
        md.push_str("\n**Next**\n\n");
        for n in next {
            md.push_str(&format!(
                "- `{}` {} — `{}`\n",
                n.id,
                cell(&n.title),
                redactor.mask(&n.command)
            ));
        }
    }
    md
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Done => "done",
        Outcome::Failed => "failed",
        Outcome::Waiting => "waiting for a person",
        Outcome::Interrupted => "interrupted",
    }
}

/// Appends `markdown` to the step summary file (the runner owns the file
/// and reads it after the step; appending is its documented protocol).
pub fn append_summary(file: &Path, markdown: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .with_context(|| format!("cannot open $GITHUB_STEP_SUMMARY {}", file.display()))?;
    writeln!(f, "{markdown}").with_context(|| format!("cannot append to {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_escape_what_would_break_them() {
        assert_eq!(
            command(
                "error",
                &[("file", "a,b:c.yaml".into()), ("line", "3".into())],
                "50% bad\nnext"
            ),
            "::error file=a%2Cb%3Ac.yaml,line=3::50%25 bad%0Anext"
        );
        assert_eq!(command("notice", &[], "plain"), "::notice::plain");
    }

    #[test]
    fn input_errors_point_at_their_file_and_line() {
        let e = InputError::in_file(
            Path::new("deploy-session.yaml"),
            Some(4),
            "unknown key `rn`",
        )
        .at_column(Some(5))
        .with_hint("did you mean `run`?");
        let err = anyhow::Error::new(InputErrors(vec![e.clone(), e]));
        let lines = error_annotations(&err);
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            "::error title=deploy-session,file=deploy-session.yaml,line=4,col=5::unknown key `rn`%0Ahint: did you mean `run`?"
        );
        let plain = error_annotations(&anyhow::anyhow!("disk full"));
        assert_eq!(plain, ["::error title=deploy-session::disk full"]);
    }
}
