//! `deploy-session init`: the files a repo needs to start, never clobbering.

use crate::cli::{Assistant, InitArgs};
use crate::error::ExitStatus;
use crate::fsio;
use crate::settings::Settings;
use anyhow::{Context, Result};

/// (path in the repo, template text)
const FILES: [(&str, &str); 4] = [
    (
        ".ai_context/framework_progress.md",
        include_str!("../../templates/init/framework_progress.md"),
    ),
    (
        "deploy-session.yaml",
        include_str!("../../templates/init/deploy-session.yaml"),
    ),
    (
        "deployment/ai_system_prompt_v3.7.md",
        include_str!("../../templates/init/ai_system_prompt_v3.7.md"),
    ),
    (
        "deployment/AI_ASSISTANT_STARTUP_DEPLOYMENT.md",
        include_str!("../../templates/init/AI_ASSISTANT_STARTUP_DEPLOYMENT.md"),
    ),
];

/// The framework's repository renamed the startup guide the seed calls
/// `AI_ASSISTANT_STARTUP_DEPLOYMENT.md`: where a repo has the new name, a
/// second guide would contradict it.
fn renamed_in_this_repo(root: &std::path::Path, rel: &str) -> Option<&'static str> {
    const RENAMED: &str = "deployment/AI_ASSISTANT_STARTUP.md";
    (rel == "deployment/AI_ASSISTANT_STARTUP_DEPLOYMENT.md"
        && !root.join(rel).exists()
        && root.join(RENAMED).is_file())
    .then_some(RENAMED)
}

pub fn run(args: &InitArgs, s: &Settings) -> Result<ExitStatus> {
    let root = s.paths.root();
    let project = root.file_name().map_or_else(
        || "project".to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let ctx = minijinja::context! { project => project, date => crate::clock::today() };
    let env = crate::templating::environment();
    let p = &s.printer;
    // Replacing files takes the writers' lock and is refused mid-session:
    // `init --force` in the middle of a `start` would pull the master state
    // and the config out from under it.
    let mut store = if args.force {
        let store = s.open_store_builtin()?;
        if let Some(open) = store.session() {
            return Err(crate::error::InputError::usage(format!(
                "--force: session {} is open; its master state and config are in use",
                open.id
            ))
            .with_hint("finish it (`deploy-session end`) or close it (`deploy-session abort --reason ...`) first")
            .into());
        }
        Some(store)
    } else {
        None
    };
    for (rel, template) in FILES {
        let target = root.join(rel);
        if let Some(theirs) = renamed_in_this_repo(root, rel) {
            p.out(format!(
                "kept     {theirs} (the framework's startup guide under its newer name; start.1.4 accepts it, so {rel} is not added)"
            ));
            continue;
        }
        if store.is_some() {
            // What a killed `init --force` left of this file.
            fsio::remove_stale_temps_of(&target);
        }
        let exists = target.exists();
        if exists && !args.force {
            p.out(format!(
                "kept     {rel} (it exists; --force replaces it, keeping a numbered .bak)"
            ));
            continue;
        }
        let text = env
            .render_str(template, &ctx)
            .with_context(|| format!("cannot render the template for {rel}"))?;
        let backup = exists
            .then(|| fsio::keep_numbered_backup(&target))
            .transpose()?;
        fsio::write_atomic(&target, text.as_bytes())?;
        // A replacement is recorded (who, what, where the old one went):
        // the trail holds every master-state and config write.
        if let (Some(store), Some(old)) = (store.as_mut(), &backup) {
            let why = format!(
                "init --force replaced {rel}; the previous one is kept as {}",
                s.paths.shown(old).display()
            );
            let sha256 = crate::digest::sha256_hex(text.as_bytes());
            store.record_anywhere(crate::session::EventKind::MasterStateWritten { why, sha256 })?;
        }
        let verb = if exists { "replaced" } else { "created " };
        let note = backup
            .map(|b| format!(" (previous kept as {})", s.paths.shown(&b).display()))
            .unwrap_or_default();
        p.out(format!("{verb} {rel}{note}"));
    }
    if let Some(assistant) = args.assistant {
        write_assistant_files(root, assistant, s)?;
    }
    let person = crate::progress::PERSON;
    p.info(format!(
        "next: once the Development Framework has finished Phase 6, a person records it, and the approver approves it (each with their own name)\n  \
         deploy-session phase 6 --status completed --all-deliverables --by \"{person}\"\n  \
         deploy-session approve --phase 6 --by \"{person}\"\n\
         then `deploy-session start`; `deploy-session status` shows the phases, `deploy-session plan` the pipeline"
    ));
    Ok(ExitStatus::Success)
}

/// Claude Code's slash commands: (file name, text).
const CLAUDE_COMMANDS: [(&str, &str); 5] = [
    (
        "deploy-start.md",
        include_str!("../../templates/assistant/claude/deploy-start.md"),
    ),
    (
        "deploy-next.md",
        include_str!("../../templates/assistant/claude/deploy-next.md"),
    ),
    (
        "deploy-done.md",
        include_str!("../../templates/assistant/claude/deploy-done.md"),
    ),
    (
        "deploy-status.md",
        include_str!("../../templates/assistant/claude/deploy-status.md"),
    ),
    (
        "deploy-end.md",
        include_str!("../../templates/assistant/claude/deploy-end.md"),
    ),
];

/// An assistant's integration files. They are the user's to edit once
/// written, so they are never replaced, not even with --force.
fn write_assistant_files(root: &std::path::Path, assistant: Assistant, s: &Settings) -> Result<()> {
    let (dir, files) = match assistant {
        Assistant::Claude => (".claude/commands", CLAUDE_COMMANDS),
    };
    for (name, text) in files {
        let rel = format!("{dir}/{name}");
        let target = root.join(&rel);
        if target.exists() {
            s.printer.out(format!(
                "kept     {rel} (it exists; assistant files are never replaced)"
            ));
            continue;
        }
        fsio::write_atomic(&target, text.as_bytes())?;
        s.printer.out(format!("created  {rel}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `deploy-session …` the framework files, the slash commands and
    /// the context rules name is a command the tool has, with flags it
    /// takes: they claim nothing it does not do. A reference to a command
    /// without its required values (`deploy-session end --waive`) counts.
    #[test]
    fn the_commands_the_assistant_files_name_exist() {
        let texts = FILES
            .iter()
            .chain(CLAUDE_COMMANDS.iter())
            .map(|(name, text)| (name.to_string(), text.to_string()))
            .chain([("context rules".to_string(), crate::context::rules_text())]);
        let mut checked = 0;
        for (name, text) in texts {
            for span in text.split('`').skip(1).step_by(2) {
                let Some(args) = span.strip_prefix("deploy-session ") else {
                    continue;
                };
                let filled = args
                    .replace("<id>", "start.2.1")
                    .replace("<note>", "reviewed the artifacts")
                    .replace(" ID ", " start.2.1 ")
                    .replace("<their name and email>", "Dana Reviewer <dana@example.com>");
                let mut words = vec!["deploy-session".to_string()];
                words.extend(shell_words::split(&filled).unwrap());
                match crate::cli::command().try_get_matches_from(&words) {
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            clap::error::ErrorKind::MissingRequiredArgument
                                | clap::error::ErrorKind::InvalidValue
                        ) => {}
                    Err(e) => panic!("{name}: `{span}`: {e}"),
                }
                checked += 1;
            }
        }
        assert!(checked >= 30, "{checked}");
    }
}
