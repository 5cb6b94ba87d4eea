//! `deploy-session probe URL`: one HTTP probe from the command line.

use crate::cli::{ProbeArgs, RunFormat};
use crate::error::{ExitStatus, InputError};
use crate::kinds::probe::probe;
use crate::protocol::{Dur, Expect, ProbeSpec};
use crate::settings::Settings;
use crate::ui::style;
use anyhow::Result;

pub fn run(args: &ProbeArgs, s: &Settings) -> Result<ExitStatus> {
    if !(args.url.starts_with("http://") || args.url.starts_with("https://")) {
        return Err(
            InputError::usage(format!("{:?} is not an http:// or https:// URL", args.url)).into(),
        );
    }
    let spec = ProbeSpec {
        url: Some(args.url.clone()),
        expect: Expect {
            status: Some(args.status),
            body_contains: args.body_contains.clone(),
        },
        timeout: Some(Dur(args.timeout)),
        interval: Some(Dur(args.interval)),
        consecutive: Some(args.consecutive),
        retries: args.retries,
    };
    if let Some((field, why)) = spec.problems().into_iter().next() {
        use crate::protocol::model::ProbeField;
        let (flag, value) = match field {
            ProbeField::Status => ("--status", args.status.to_string()),
            ProbeField::Consecutive => ("--consecutive", args.consecutive.to_string()),
            ProbeField::Timeout => ("--timeout", format!("{:?}", args.timeout)),
            ProbeField::Interval => ("--interval", format!("{:?}", args.interval)),
        };
        return Err(InputError::usage(format!("{flag} {value}: {why}")).into());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (_keep, cancel) = tokio::sync::watch::channel(false);
    let out = runtime.block_on(probe(&args.url, &spec, cancel));
    if args.format == RunFormat::Json {
        super::print_json(
            s,
            &crate::documents::ProbeDoc {
                schema_version: crate::documents::SchemaVersion,
                probe: out.clone(),
            },
        );
    } else {
        let p = &s.printer;
        let mark = if out.ok {
            p.paint(style::OK, "✓")
        } else {
            p.paint(style::BAD, "✗")
        };
        p.out(format!("{mark} {}", out.summary));
    }
    Ok(if out.ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}
