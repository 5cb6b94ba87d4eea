//! `deploy-session config check`

use crate::cli::{HumanOrJsonArgs, RunFormat};
use crate::error::{ExitStatus, InputError};
use crate::protocol;
use crate::settings::Settings;
use anyhow::Result;

pub fn check(args: &HumanOrJsonArgs, s: &Settings) -> Result<ExitStatus> {
    let result = protocol::load(&s.paths);
    let file = s
        .paths
        .config_candidates()
        .first()
        .map(|f| s.paths.shown(f));
    if args.format == RunFormat::Json {
        let (valid, errors, summary) = match &result {
            Ok((_, cfg)) => (true, Vec::new(), Some(cfg.summary())),
            Err(e) => (false, e.0.iter().map(error_json).collect(), None),
        };
        super::print_json(
            s,
            &crate::documents::ConfigCheckDoc {
                schema_version: crate::documents::SchemaVersion,
                file: file.map(|f| f.display().to_string()),
                valid,
                summary,
                errors,
            },
        );
        return Ok(if valid {
            ExitStatus::Success
        } else {
            ExitStatus::Usage
        });
    }
    match result {
        Ok((set, cfg)) => {
            let shown = file.map_or_else(
                || "no config file (deploy-session.yaml or .ai_context/deploy-session.yaml); the built-in protocols apply".to_string(),
                |f| format!("{}: OK", f.display()),
            );
            let actions = set.actions().count();
            s.printer.out(format!(
                "{shown} — {}; {actions} actions in all",
                cfg.summary()
            ));
            Ok(ExitStatus::Success)
        }
        Err(e) => {
            for err in &e.0 {
                s.printer.error(err, err.hint.as_deref());
            }
            let n = e.0.len();
            s.printer.info(format!(
                "{n} error{} found; nothing was run or written",
                if n == 1 { "" } else { "s" }
            ));
            Ok(ExitStatus::Usage)
        }
    }
}

fn error_json(e: &InputError) -> crate::documents::LocatedError {
    crate::documents::LocatedError {
        file: e.path.as_ref().map(|p| p.display().to_string()),
        line: e.line,
        column: e.column,
        message: e.message.clone(),
        hint: e.hint.clone(),
    }
}
