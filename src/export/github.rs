//! A GitHub Actions workflow: one job per stage with `needs:` mirroring the
//! stage graph, the state passed as artifacts, approvals behind a GitHub
//! Environment with required reviewers, one deployment per ref at a time.

use super::{BIN_DIR, HISTORY_DIR, HistoryRole, INSTALL_JOB, Job, Options, header, stage_command};
use crate::protocol::ProtocolSet;
use anyhow::Result;
use serde_json::{Value, json};

// The current majors, as actionlint 1.17 knows them (Node 24; the Node 20
// ones — upload v5, download v5/v6 — are deprecated).
const CHECKOUT: &str = "actions/checkout@v6";
const UPLOAD: &str = "actions/upload-artifact@v7";
const DOWNLOAD: &str = "actions/download-artifact@v8";
const CACHE: &str = "actions/cache@v5";
const CACHE_RESTORE: &str = "actions/cache/restore@v5";
const CACHE_SAVE: &str = "actions/cache/save@v5";
/// History's cache key prefix: one entry per run (GitHub caches are
/// immutable), the newest restored by prefix.
const HISTORY_KEY: &str = "deploy-session-history-${{ github.ref_name }}-";
/// The artifact carrying the install job's binary.
const BIN_ARTIFACT: &str = "deploy-session-bin";
/// A job's ceiling: far above a stage's own timeouts, so a hung runner
/// does not hold the deployment lock for GitHub's default six hours.
const JOB_MINUTES: u32 = 60;

/// The workflow file's text.
pub fn render(set: &ProtocolSet, opts: &Options) -> Result<String> {
    let all = super::jobs_for(set, opts);
    let mut jobs_map = serde_json::Map::new();
    jobs_map.insert(INSTALL_JOB.into(), install_job(opts));
    for job in &all {
        jobs_map.insert(job.id.clone(), job_value(job, opts));
    }
    let workflow = json!({
        "name": "deploy-session",
        "on": { "workflow_dispatch": {} },

        "permissions": { "contents": "read" },
        "env": { "CI": "true" },
        "jobs": jobs_map,
    });
    let mut gated: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for j in all.iter().filter(|j| !j.approvals.is_empty()) {
        gated
            .entry(j.environment_or(&opts.environment))
            .or_default()
            .push(j.stage.as_str());
    }
    let mut notes = Vec::new();
    for (env, stages) in gated {
        notes.push(format!(
            "Create the GitHub Environment `{env}` with required reviewers (Settings → Environments): stage {} waits for it.",
            stages.join(", ")
        ));
    }
    notes.extend(super::blocking_notes(set, opts));
    Ok(format!(
        "{}\n{}",
        header(opts, &notes),
        serde_yaml::to_string(&workflow)?
    ))
}

fn job_value(job: &Job, opts: &Options) -> Value {
    let checkout = if job.needs_history {
        // A `git: {commit}` check resolves commits the shallow clone lacks.
        json!({ "uses": CHECKOUT, "with": { "fetch-depth": 0 } })
    } else {
        json!({ "uses": CHECKOUT })
    };
    let mut steps = vec![
        checkout,
        json!({
            "name": "Fetch deploy-session (built once by the install job)",
            "uses": DOWNLOAD,
            "with": { "name": BIN_ARTIFACT, "path": format!("{BIN_DIR}/bin") },
        }),
        json!({
            "name": "Put deploy-session on PATH",
            "run": format!("chmod +x {BIN_DIR}/bin/deploy-session && echo \"$PWD/{BIN_DIR}/bin\" >> \"$GITHUB_PATH\""),
        }),
    ];
    if job.history == HistoryRole::Restores {
        steps.push(json!({
            "name": "Restore the history of earlier runs",
            "uses": CACHE_RESTORE,
            "with": {
                "path": HISTORY_DIR,
                "key": format!("{HISTORY_KEY}${{{{ github.run_id }}}}"),
                "restore-keys": HISTORY_KEY,
            },
        }));
        steps.push(json!({ "name": "Carry it into .ai_context", "run": super::restore_history() }));
    }
    steps.extend(restore_steps(job));
    // A re-run joins the failed attempt (its state artifact of this run),
    // so the failure stays on the record.
    steps.push(json!({
        "name": "Fetch an earlier attempt of this job",
        "if": "github.run_attempt != '1'",
        "continue-on-error": true,
        "uses": DOWNLOAD,
        "with": {
            "name": format!("deploy-session-state-{}", job.id),
            "path": "${{ runner.temp }}/deploy-session-attempt",
        },
    }));
    steps.push(json!({
        "name": "Join it",
        "if": "github.run_attempt != '1'",
        "run": "if [ -d \"$RUNNER_TEMP/deploy-session-attempt/deploy-session\" ]; then deploy-session merge --attempt \"$RUNNER_TEMP/deploy-session-attempt\"; fi",
    }));
    // The approval: the Environment's required reviewer who let this job
    // run, read from the REST API (an unprotected Environment, or no
    // reviewer's approval, fails the job with nothing recorded).
    let env = job.environment_or(&opts.environment);
    for a in &job.approvals {
        steps.push(json!({
            "name": format!("Record the approval of {a} by the Environment's reviewer"),
            "env": { "GITHUB_TOKEN": "${{ github.token }}" },
            "run": format!("deploy-session approve {a} --from-github-environment {env}"),
        }));
    }
    let mut plain = job.clone();
    plain.approvals.clear();
    let mut run = json!({
        "name": format!("Run {}", job.stage),
        "run": stage_command(&plain, "\"$RUNNER_TEMP/junit.xml\"", None, opts),
    });
    // The config's secrets reach the stage's commands by name.
    for name in &opts.secrets {
        run["env"][name] = json!(format!("${{{{ secrets.{name} }}}}"));
    }
    steps.push(run);
    if job.history == HistoryRole::Saves {
        steps.push(json!({
            "name": "Keep the history for the next run",
            "if": "success()",
            "run": super::save_history(),
        }));
        steps.push(json!({
            "name": "Save it",
            "if": "success()",
            "uses": CACHE_SAVE,
            "with": { "path": HISTORY_DIR, "key": format!("{HISTORY_KEY}${{{{ github.run_id }}}}") },
        }));
    }
    steps.push(upload(
        "Save the session state",
        format!("deploy-session-state-{}", job.id),
        ".ai_context/",
        "error",
    ));
    if !job.produces.is_empty() {
        // In one tar, so they unpack where they were (an artifact of a
        // single file would drop its folders).
        let tar = format!("deploy-session-files-{}.tar", job.id);
        steps.push(json!({
            "name": "Pack the files the stage produced",
            "if": "always()",
            "run": format!(
                "tar -cf \"$RUNNER_TEMP/{tar}\" --ignore-failed-read {} || true",
                job.produces.iter().map(|p| super::sh_quote(p)).collect::<Vec<_>>().join(" ")
            ),
        }));
        steps.push(upload(
            "Save them",
            format!("deploy-session-files-{}", job.id),
            &format!("${{{{ runner.temp }}}}/{tar}"),
            "warn",
        ));
    }
    steps.push(upload(
        "Upload the JUnit report",
        format!("junit-{}", job.id),
        "${{ runner.temp }}/junit.xml",
        "ignore",
    ));
    let mut v = json!({
        "name": format!("{} {}", job.stage, job.title),
        "runs-on": opts.runner.clone().unwrap_or_else(|| "ubuntu-latest".into()),
        "timeout-minutes": JOB_MINUTES,
    });
    // Jobs that change a target's infrastructure: one at a time per target
    // environment; a running one is never cancelled.
    if job.deploys {
        v["concurrency"] = json!({
            "group": format!("deploy-session-{}", job.environment_or("production")),
            "cancel-in-progress": false,
        });
    }
    let needs: Vec<&str> = std::iter::once(INSTALL_JOB)
        .chain(job.needs.iter().map(String::as_str))
        .collect();
    v["needs"] = json!(needs);
    if !job.approvals.is_empty() {
        v["environment"] = json!({ "name": job.environment_or(&opts.environment) });
        // Reading the Environment's protection and the run's approvals.
        v["permissions"] = json!({ "contents": "read", "actions": "read", "deployments": "read" });
    }
    v["steps"] = Value::Array(steps);
    v
}

/// The one job that installs deploy-session (from the cache when this
/// exact version was built before) and hands the binary to the others.
fn install_job(opts: &Options) -> Value {
    let bin = format!("{BIN_DIR}/bin/deploy-session");
    json!({
        "name": "Install deploy-session",
        "runs-on": opts.runner.clone().unwrap_or_else(|| "ubuntu-latest".into()),
        "timeout-minutes": JOB_MINUTES,
        "steps": [
            { "uses": CHECKOUT },
            {
                "id": "cache",
                "uses": CACHE,
                "with": { "path": BIN_DIR, "key": format!("deploy-session-{}", opts.install_key) },
            },
            {
                "name": "Install deploy-session",
                "if": "steps.cache.outputs.cache-hit != 'true'",
                "env": { "DEPLOY_SESSION_ROOT": format!("${{{{ github.workspace }}}}/{BIN_DIR}") },
                "run": opts.install,
            },
            {
                "name": "Check the binary",
                "run": format!("test -x {bin} || {{ echo \"::error::the install command did not put deploy-session in {BIN_DIR}/bin\"; exit 1; }}\n{bin} --version"),
            },
            upload("Hand the binary to the other jobs", BIN_ARTIFACT.into(), &bin, "error"),
        ],
    })
}

/// A step uploading `path` as artifact `name`, even when the stage failed
/// (hidden files included: `.ai_context` is one).
fn upload(step: &str, name: String, path: &str, if_missing: &str) -> Value {
    json!({
        "name": step,
        "if": "always()",
        "uses": UPLOAD,
        "with": {
            "name": name,
            "path": path,
            "include-hidden-files": true,
            "if-no-files-found": if_missing,
            "overwrite": true,
        },
    })
}

/// Downloads the state of the first job needed into `.ai_context`, and
/// merges the others' into it.
fn restore_steps(job: &Job) -> Vec<Value> {
    let mut steps = Vec::new();
    if !job.needs.is_empty() {
        // Declared outputs of earlier stages, in place.
        steps.push(json!({
            "name": "Fetch the files earlier stages produced",
            "uses": DOWNLOAD,
            "with": {
                "pattern": "deploy-session-files-*",
                "merge-multiple": true,
                "path": "${{ runner.temp }}/deploy-session-files",
            },
        }));
        steps.push(json!({
            "name": "Put them in place",
            "run": "for t in \"$RUNNER_TEMP\"/deploy-session-files/*.tar; do if [ -f \"$t\" ]; then tar -xf \"$t\"; fi; done",
        }));
    }
    for (i, need) in job.needs.iter().enumerate() {
        let artifact = format!("deploy-session-state-{need}");
        if i == 0 {
            steps.push(json!({
                "name": format!("Restore the session state of {need}"),
                "uses": DOWNLOAD,
                "with": { "name": artifact, "path": ".ai_context" },
            }));
            continue;
        }
        steps.push(json!({
            "name": format!("Fetch the session state of {need}"),
            "uses": DOWNLOAD,
            "with": { "name": artifact, "path": format!("${{{{ runner.temp }}}}/deploy-session-state/{need}") },
        }));
        steps.push(json!({
            "name": format!("Merge the session state of {need}"),
            "run": format!("deploy-session merge \"$RUNNER_TEMP/deploy-session-state/{need}\""),
        }));
    }
    steps
}
