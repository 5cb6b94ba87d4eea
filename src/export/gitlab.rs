//! A GitLab CI pipeline: one job per stage with `needs:` mirroring the
//! stage graph, the state passed as artifacts, a `when: manual` job per
//! approval (recorded as approved by whoever runs it) in the protected
//! `production` environment, a `resource_group` on deploying jobs so two
//! deployments never overlap, and `workflow: rules` so only the default
//! branch, tags and pipelines started by hand deploy.

use super::{BIN_DIR, INSTALL_JOB, Job, Options, header, stage_command};
use crate::protocol::ProtocolSet;
use anyhow::Result;
use serde_json::{Value, json};

/// Where each job leaves its copy of `.ai_context` for the jobs after it.
const STATE_DIR: &str = ".deploy-session-state";
/// How long the state artifacts are kept (they carry the audit trail).
const ARTIFACTS_KEPT: &str = "30 days";
const RESOURCE_GROUP: &str = "deploy-session-$CI_COMMIT_REF_SLUG";

/// The job's environment (`production` unless the config names one), for
/// approval (`prepare`) and deploying (`start`) jobs, so GitLab's protected
/// environments can gate them.
fn environment(job: &Job, action: &str) -> Value {
    let name = job.environment_or("production");
    let tier = match name {
        "production" | "staging" | "testing" | "development" => name,
        _ => "other",
    };
    json!({ "name": name, "deployment_tier": tier, "action": action })
}

/// The pipeline file's text.
pub fn render(set: &ProtocolSet, opts: &Options) -> Result<String> {
    let all = super::jobs_for(set, opts);
    let mut stages = vec![json!("install")];
    let mut root = serde_json::Map::new();
    root.insert(INSTALL_JOB.into(), install_job(opts));
    for job in &all {
        stages.push(json!(job.id));
        let mut needs = job.needs.clone();
        if !job.approvals.is_empty() {
            let gate = format!("approve-{}", job.id);
            root.insert(gate.clone(), approval_job(job));
            needs = vec![gate];
        }
        root.insert(job.id.clone(), stage_job(job, &needs, opts));
    }
    let mut pipeline = json!({
        // A deployment runs from the default branch, a tag, or a pipeline
        // started by hand — never from every push to any branch.
        "workflow": {
            "rules": [
                { "if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH" },
                { "if": "$CI_COMMIT_TAG" },
                { "if": "$CI_PIPELINE_SOURCE == \"web\"" },
            ],
        },
        "stages": stages,
        "variables": { "CI": "true" },
        "default": {
            "image": opts.runner.clone().unwrap_or_else(|| "rust:1".into()),
            // The binary the install job built, handed on as an artifact.
            "before_script": [format!("export PATH=\"$PWD/{BIN_DIR}/bin:$PATH\"")],
        },
    });
    for (k, v) in root {
        pipeline[k] = v;
    }
    let mut notes = vec![
        "Approvals are manual jobs (approve-<stage>) in the `production` environment: whoever runs one is recorded as the approver. Protect that environment (Settings > CI/CD > Protected environments, with approval rules) so only the people who may approve can run them.".to_string(),
        "Pipelines run on the default branch, on tags, or when started by hand (workflow: rules); deploying jobs one at a time per ref (resource_group).".to_string(),
    ];
    notes.extend(super::blocking_notes(set, opts));
    Ok(format!(
        "{}\n{}",
        header(opts, &notes),
        serde_yaml::to_string(&pipeline)?
    ))
}

/// Restores the state of the jobs in `needs` (the first copied in, the
/// others merged).
fn restore(needs: &[String]) -> Vec<String> {
    needs
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if i == 0 {
                format!("mkdir -p .ai_context && cp -R {STATE_DIR}/{n}/. .ai_context/")
            } else {
                format!("deploy-session merge {STATE_DIR}/{n}")
            }
        })
        .collect()
}

fn save(id: &str) -> Vec<String> {
    vec![format!(
        "mkdir -p {STATE_DIR}/{id} && cp -R .ai_context/. {STATE_DIR}/{id}/"
    )]
}

/// Every job needs the install job's binary, and the state of `needs`.
fn needs_value(needs: &[String]) -> Value {
    Value::Array(
        std::iter::once(INSTALL_JOB)
            .chain(needs.iter().map(String::as_str))
            .map(|n| json!({ "job": n, "artifacts": true }))
            .collect(),
    )
}

/// The one job that installs deploy-session (from the cache when this
/// exact version was built before) and hands the binary to the others.
fn install_job(opts: &Options) -> Value {
    let bin = format!("{BIN_DIR}/bin/deploy-session");
    json!({
        "stage": "install",
        "needs": [],
        "variables": { "DEPLOY_SESSION_ROOT": format!("$CI_PROJECT_DIR/{BIN_DIR}") },
        "script": [
            format!("test -x {bin} || {}", opts.install),
            format!("test -x {bin} || {{ echo \"the install command did not put deploy-session in $DEPLOY_SESSION_ROOT/bin\"; exit 1; }}"),
            format!("{bin} --version"),
        ],
        "cache": { "key": format!("deploy-session-{}", opts.install_key), "paths": [format!("{BIN_DIR}/")] },
        "artifacts": { "expire_in": ARTIFACTS_KEPT, "paths": [bin] },
    })
}

/// The stage command, then the state saved whatever its exit (in the
/// script's own shell: an `after_script` runs in a new one, and local
/// runners such as gitlab-ci-local reset its work tree), then that exit.
fn run_then_save(command: String, id: &str) -> Vec<String> {
    let mut lines = vec![format!("{command} || status=$?")];
    lines.extend(save(id));
    lines.push("exit ${status:-0}".into());
    lines
}

fn stage_job(job: &Job, needs: &[String], opts: &Options) -> Value {
    let mut script = restore(needs);
    script.extend(run_then_save(
        stage_command(job, "junit.xml", None, opts),
        &job.id,
    ));
    let mut v = json!({
        "stage": job.id,
        "needs": needs_value(needs),
        "script": script,
        "artifacts": {
            "when": "always",
            "expire_in": ARTIFACTS_KEPT,
            "paths": [format!("{STATE_DIR}/{}/", job.id)],
            "reports": { "junit": "junit.xml" },
        },
    });
    // Deploying jobs: one at a time per ref (stages that may run side by
    // side in one pipeline stay parallel), in the protected environment.
    if job.deploys {
        v["resource_group"] = json!(RESOURCE_GROUP);
        v["environment"] = environment(job, "start");
    }
    v
}

/// The manual job that records the stage's approvals as given by the
/// person who runs it.
fn approval_job(job: &Job) -> Value {
    let id = format!("approve-{}", job.id);
    let mut script = restore(&job.needs);
    let approvals: Vec<String> = job
        .approvals
        .iter()
        .map(|a| format!(
            "deploy-session approve {a} --by \"$GITLAB_USER_NAME <$GITLAB_USER_EMAIL>\" --note \"pipeline $CI_PIPELINE_ID\""
        ))
        .collect();
    script.extend(run_then_save(approvals.join(" && "), &id));
    json!({
        "stage": job.id,
        "when": "manual",
        "allow_failure": false,
        "needs": needs_value(&job.needs),
        "script": script,
        // Protected environments apply their approval rules to this job.
        "environment": environment(job, "prepare"),
        "artifacts": {
            "when": "always",
            "expire_in": ARTIFACTS_KEPT,
            "paths": [format!("{STATE_DIR}/{id}/")],
        },
    })
}
