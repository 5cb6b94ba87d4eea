//! `deploy-session merge DIR...`: joins the state of CI jobs that ran
//! stages in parallel (see `session::merge`).

use crate::cli::MergeArgs;
use crate::error::{ExitStatus, InputError};
use crate::settings::Settings;
use anyhow::Result;

/// The session a copied `.ai_context` holds, if it holds one.
fn session_of(dir: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("deploy-session/state.json")).ok()?;
    let state: serde_json::Value = serde_json::from_str(&text).ok()?;
    state["session"]["id"].as_str().map(String::from)
}

pub fn run(args: &MergeArgs, s: &Settings) -> Result<ExitStatus> {
    let (mut store, _, _) = s.open_store(None)?;
    if store.session().is_none() {
        return Err(InputError::usage("no deployment session is open here to merge into")
            .with_hint("restore the state of one of the jobs first (its .ai_context), then merge the others into it")
            .into());
    }
    let cwd = std::env::current_dir()?;
    let mut all = Vec::new();
    let ours = store.session().map(|x| x.id.clone()).unwrap_or_default();
    for dir in &args.dirs {
        let dir = cwd.join(dir);
        if args.attempt
            && let Some(theirs) = session_of(&dir)
            && theirs != ours
        {
            s.printer.info(format!(
                "{}: an attempt of session {theirs}, not of this one ({ours}); left alone",
                dir.display()
            ));
            continue;
        }
        let merged = crate::session::merge::merge(&mut store, &dir)?;
        all.push(merged.clone());
        let files = if merged.files.is_empty() {
            String::new()
        } else {
            format!(" and {}", merged.files.join(", "))
        };
        s.printer.info(format!(
            "merged {} events{files} from {}",
            merged.events,
            merged.from.display()
        ));
    }
    store.snapshot()?;
    crate::context::refresh(&store)?;
    if args.format == crate::cli::RunFormat::Json {
        super::print_json(
            s,
            &crate::documents::MergeDoc {
                schema_version: crate::documents::SchemaVersion,
                merged: all,
            },
        );
    }
    Ok(ExitStatus::Success)
}
