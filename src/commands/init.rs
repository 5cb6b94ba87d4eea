//! `deploy-session init`: the files a repo needs to start, never clobbering.

use crate::cli::InitArgs;
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

pub fn run(args: &InitArgs, s: &Settings) -> Result<ExitStatus> {
    let root = s.paths.root();
    let project = root.file_name().map_or_else(
        || "project".to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let ctx = minijinja::context! { project => project, date => crate::clock::today() };
    let env = crate::templating::environment();
    let p = &s.printer;
    for (rel, template) in FILES {
        let target = root.join(rel);
        let exists = target.exists();
        if exists && !args.force {
            p.info(format!(
                "kept     {rel} (it exists; --force replaces it, keeping a .bak)"
            ));
            continue;
        }
        let text = env
            .render_str(template, &ctx)
            .with_context(|| format!("cannot render the template for {rel}"))?;
        if exists {
            fsio::keep_backup(&target)?;
        }
        fsio::write_atomic(&target, text.as_bytes())?;
        let verb = if exists { "replaced" } else { "created " };
        let note = if exists {
            format!(" (previous kept as {rel}.bak)")
        } else {
            String::new()
        };
        p.info(format!("{verb} {rel}{note}"));
    }
    p.info(
        "next: `deploy-session status` to see the phases, `deploy-session plan` for the pipeline",
    );
    Ok(ExitStatus::Success)
}
