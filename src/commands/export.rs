//! `deploy-session export github-actions | gitlab-ci`: writes the pipeline
//! (see `crate::export`). Refuses to replace a different file without
//! --force; `--check` only compares, for a CI step that fails when the
//! committed pipeline is stale.

use crate::cli::{ExportArgs, ExportTarget};
use crate::error::{ExitStatus, InputError};
use crate::export::{self, Options};
use crate::settings::Settings;
use anyhow::Result;
use std::path::PathBuf;

/// The install job's command and its cache key: `--install`, else
/// `ci.install`, else the pinned `cargo install` of this build — refused,
/// saying what to configure, when this build cannot name its source.
fn install(args: &ExportArgs, config: &crate::protocol::Config) -> Result<(String, String)> {
    if let Some(cmd) = args.install.clone().or_else(|| config.ci.install.clone()) {
        let key = crate::audit::hex(&sha2::Digest::finalize(sha2::Digest::chain_update(
            <sha2::Sha256 as sha2::Digest>::new(),
            cmd.as_bytes(),
        )));
        return Ok((cmd, format!("{}-{}", env!("CARGO_PKG_VERSION"), &key[..16])));
    }
    match export::pinned_install() {
        Ok(pinned) => Ok(pinned),
        Err(why) => Err(InputError::usage(format!(
            "cannot pin the install of deploy-session in the pipeline: {why}"
        ))
        .with_hint(
            "name a command that puts deploy-session in $DEPLOY_SESSION_ROOT/bin: --install 'cargo install --locked --git URL --rev COMMIT --root \"$DEPLOY_SESSION_ROOT\" deploy-session', or `ci: {install: ...}` in deploy-session.yaml",
        )
        .into()),
    }
}

/// The decisions file the stages pass, and the actions it settles: checked
/// now, so a broken file fails the export, not the pipeline.
fn decisions(
    args: &ExportArgs,
    config: &crate::protocol::Config,
    set: &crate::protocol::ProtocolSet,
    s: &Settings,
) -> Result<(Option<String>, Vec<String>)> {
    let default = std::path::Path::new(crate::decisions::DEFAULT_FILE);
    let file: PathBuf = match args
        .decisions
        .clone()
        .or_else(|| config.ci.decisions.clone().map(PathBuf::from))
    {
        Some(f) => f,
        None if s.paths.root().join(default).is_file() => default.to_path_buf(),
        None => return Ok((None, Vec::new())),
    };
    let d = crate::decisions::Decisions::load(
        &s.paths.root().join(&file),
        &file,
        set,
        None,
        String::new(),
    )?;
    Ok((Some(file.display().to_string()), d.settled()))
}

pub fn run(args: &ExportArgs, s: &Settings) -> Result<ExitStatus> {
    let (set, config) = crate::protocol::load(&s.paths)?;
    let (name, default) = match args.target {
        ExportTarget::GithubActions => ("github-actions", ".github/workflows/deploy-session.yml"),
        ExportTarget::GitlabCi => ("gitlab-ci", ".gitlab-ci.yml"),
    };
    let (install, install_key) = install(args, &config)?;
    let (decisions, decided) = decisions(args, &config, &set, s)?;
    let opts = Options {
        install,
        install_key,
        decisions,
        decided,
        secrets: config.secrets.clone(),
        environment: args.environment.clone(),
        runner: args.runner.clone(),
        regenerate: format!("deploy-session export {name}"),
    };
    let text = match args.target {
        ExportTarget::GithubActions => export::github::render(&set, &opts)?,
        ExportTarget::GitlabCi => export::gitlab::render(&set, &opts)?,
    };
    let p = &s.printer;
    if args.output.as_deref() == Some(std::path::Path::new("-")) {
        p.out(text.trim_end());
        return Ok(ExitStatus::Success);
    }
    let target: PathBuf = match &args.output {
        Some(o) => std::env::current_dir()?.join(o),
        None => s.paths.root().join(default),
    };
    let shown = s.paths.shown(&target).display().to_string();
    let current = std::fs::read_to_string(&target).ok();
    let same = current.as_deref() == Some(text.as_str());
    if args.check {
        if same {
            p.info(format!("{shown} is up to date"));
            return Ok(ExitStatus::Success);
        }
        p.info(format!(
            "{shown} is {}: run `deploy-session export {name}{}` and commit it",
            if current.is_some() {
                "stale"
            } else {
                "missing"
            },
            args.output
                .as_ref()
                .map(|o| format!(" --output {}", o.display()))
                .unwrap_or_default()
        ));
        return Ok(ExitStatus::Failure);
    }
    if same {
        p.info(format!("{shown} is up to date"));
        return Ok(ExitStatus::Success);
    }
    if current.is_some() && !args.force {
        return Err(InputError::usage(format!(
            "{shown} exists and differs from what would be written"
        ))
        .with_hint("--force replaces it (keeping a .bak); --check shows whether it is stale")
        .into());
    }
    crate::fsio::keep_backup(&target)?;
    crate::fsio::write_atomic(&target, text.as_bytes())?;
    p.info(format!(
        "wrote {shown}: an install job and {} jobs, one per stage",
        export::jobs(&set).len()
    ));
    for line in text.lines().take_while(|l| l.starts_with('#')).skip(2) {
        p.info(line.trim_start_matches("# "));
    }
    Ok(ExitStatus::Success)
}
