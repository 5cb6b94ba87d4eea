//! `deploy-session handoff verify [DIR]`

use crate::cli::{HandoffVerifyArgs, RunFormat};
use crate::error::{ExitStatus, InputError};
use crate::handoff::verify;
use crate::settings::Settings;
use crate::ui::style;
use anyhow::Result;

pub fn verify(args: &HandoffVerifyArgs, s: &Settings) -> Result<ExitStatus> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => default_dir(s)?,
    };
    if !dir.is_dir() {
        return Err(InputError::usage(format!(
            "{}: no such handoff package folder",
            dir.display()
        ))
        .into());
    }
    let mut report = verify::verify(&dir);
    report.problems.extend(anchor_problems(s, &dir)?);
    let signature = signature_verdict(s, &dir, args.allowed_signers.as_deref())?;
    if signature.failed() {
        report.problems.push(verify::Problem {
            kind: "bad-signature",
            path: crate::handoff::ENVELOPE.into(),
            detail: signature.describe(),
        });
    }
    let ok = report.problems.is_empty();
    if args.format == RunFormat::Json {
        super::print_json(
            s,
            &crate::documents::HandoffVerifyDoc {
                schema_version: crate::documents::SchemaVersion,
                ok,
                report: report.clone(),
                signature: signature.clone(),
            },
        );
    } else {
        let p = &s.printer;
        let shown = s
            .paths
            .shown(&std::path::absolute(&dir).unwrap_or(dir.clone()))
            .display()
            .to_string();
        if ok {
            let mark = match signature {
                crate::signing::Verdict::Good { .. } => p.paint(style::OK, "✓"),
                _ => p.paint(style::WAIT, "!"),
            };
            p.out(format!(
                "{mark} {shown}: {} files match the manifest; {}",
                report.files_ok,
                signature.describe()
            ));
        } else {
            for pr in &report.problems {
                p.out(format!(
                    "{} {}: {} — {}",
                    p.paint(style::BAD, "✗"),
                    pr.kind,
                    pr.path,
                    pr.detail
                ));
            }
            p.out(format!(
                "{shown}: {} problem(s), {} files intact",
                report.problems.len(),
                report.files_ok
            ));
        }
    }
    Ok(if ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

/// The package's signature: its DSSE envelope checked against the allowed
/// signers (`unsigned` when it has none).
fn signature_verdict(
    s: &Settings,
    dir: &std::path::Path,
    flag: Option<&std::path::Path>,
) -> Result<crate::signing::Verdict> {
    let Ok(bytes) = std::fs::read(dir.join(crate::handoff::ENVELOPE)) else {
        return Ok(crate::signing::Verdict::Unsigned);
    };
    let manifest = std::fs::read(dir.join("manifest.json")).unwrap_or_default();
    let allowed = s.allowed_signers(flag)?;
    Ok(
        match serde_json::from_slice::<crate::signing::Envelope>(&bytes) {
            Ok(envelope) => envelope.verify(&manifest, &allowed),
            Err(e) => crate::signing::Verdict::Bad {
                why: format!("{} is not a DSSE envelope: {e}", crate::handoff::ENVELOPE),
            },
        },
    )
}

/// What the repo's record says of a package inside it: the folder must be
/// the real one (no link on the way), and its manifest the one whose digest
/// the audit trail recorded when the package was written. A package copied
/// out of the repo has no such anchor; only its signature vouches for it.
fn anchor_problems(s: &Settings, dir: &std::path::Path) -> Result<Vec<verify::Problem>> {
    let absolute = std::path::absolute(dir)?;
    let root = s.paths.root();
    let Ok(rel) = absolute.strip_prefix(root) else {
        return Ok(Vec::new());
    };
    let shown = rel.display().to_string();
    let mut at = root.to_path_buf();
    for part in rel.components() {
        at.push(part);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Ok(vec![verify::Problem {
                kind: "link-outside",
                path: s.paths.shown(&at).display().to_string(),
                detail: "the package folder is reached through a link: not the package the session wrote".into(),
            }]);
        }
    }
    let Ok(bytes) = std::fs::read(absolute.join("manifest.json")) else {
        return Ok(Vec::new());
    };
    let (_, index) = crate::anchors::index_trail(&s.paths)?;
    let sha = crate::digest::sha256_hex(&bytes);
    Ok(index
        .manifest_recorded(&shown, &sha)
        .err()
        .map(|why| verify::Problem {
            kind: "not-anchored",
            path: "manifest.json".into(),
            detail: why,
        })
        .into_iter()
        .collect())
}

/// The open session's package when it has written one, else the last
/// finished session's (a new session open does not hide the last package).
fn default_dir(s: &Settings) -> Result<std::path::PathBuf> {
    let state = crate::session::read_only(&s.paths)?;
    let open = state
        .session
        .map(|x| x.id)
        .filter(|id| s.paths.handoff(id).is_dir());
    let id = match open {
        Some(id) => Some(id),
        None => crate::session::history::read(&s.paths)?
            .pop()
            .map(|h| h.session),
    };
    match id {
        Some(id) => Ok(s.paths.handoff(&id)),
        None => Err(
            InputError::usage("no session has written a handoff package yet")
                .with_hint("pass the package folder: `deploy-session handoff verify DIR`")
                .into(),
        ),
    }
}
