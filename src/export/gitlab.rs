//! A GitLab CI pipeline: one job per stage with `needs:` mirroring the
//! stage graph, the state passed as artifacts, a `when: manual` job per
//! approval (recorded as approved by whoever runs it) in the protected
//! `production` environment, a `resource_group` on deploying jobs so two
//! deployments never overlap, and `workflow: rules` so only the default
//! branch, tags and pipelines started by hand deploy.

use super::{
    ATTEMPT_DIR, BIN_DIR, HISTORY_DIR, HistoryRole, INSTALL_JOB, Job, Options, header,
    stage_command,
};
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
        "script": [
            format!("export DEPLOY_SESSION_ROOT=\"$PWD/{BIN_DIR}\""),
            format!("test -x {bin} || {{ {}; }}", opts.install),
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
fn run_then_save(command: String, id: &str, history: HistoryRole) -> Vec<String> {
    let mut lines = vec![format!("{command} || status=$?")];
    lines.extend(save(id));
    lines.push(super::keep_attempt());
    if history == HistoryRole::Saves {
        lines.push(super::save_history());
    }
    lines.push("exit ${status:-0}".into());
    lines
}

/// The cache history travels in, per ref: pulled by the first job, pushed
/// by the last.
fn history_cache(role: HistoryRole) -> Option<Value> {
    let policy = match role {
        HistoryRole::None => return None,
        HistoryRole::Restores => "pull",
        HistoryRole::Saves => "push",
    };
    Some(json!({
        "key": "deploy-session-history-$CI_COMMIT_REF_SLUG",
        "paths": [format!("{HISTORY_DIR}/")],
        "policy": policy,
    }))
}

fn stage_job(job: &Job, needs: &[String], opts: &Options) -> Value {
    let mut script = Vec::new();
    if job.history == HistoryRole::Restores {
        script.push(super::restore_history());
    }
    script.extend(restore(needs));
    script.push(super::join_attempt());
    script.extend(run_then_save(
        stage_command(job, "junit.xml", None, opts),
        &job.id,
        job.history,
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
    // A failed attempt waits for the job's re-run in the same pipeline.
    let mut caches = vec![json!({
        "key": "deploy-session-attempt-$CI_PIPELINE_ID-$CI_JOB_NAME",
        "paths": [format!("{ATTEMPT_DIR}/")],
        "policy": "pull-push",
        "when": "always",
    })];
    caches.extend(history_cache(job.history));
    v["cache"] = Value::Array(caches);
    // Declared outputs travel with the state (unpacked in place).
    if let Some(paths) = v["artifacts"]["paths"].as_array_mut() {
        paths.extend(job.produces.iter().map(|p| json!(p)));
    }
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
    script.extend(run_then_save(
        approvals.join(" && "),
        &id,
        HistoryRole::None,
    ));
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
