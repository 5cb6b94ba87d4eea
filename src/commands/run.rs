//! `deploy-session start | work | end`: run a protocol from its first
//! unfinished action.

use crate::cli::{EndArgs, RunArgs, RunFormat};
use crate::engine::{self, Outcome, RunOptions, report::Reporter};
use crate::error::{ExitStatus, InputError};
use crate::gates::GateId;
use crate::keep_until_exit;
use crate::progress::{self, NextAction};
use crate::protocol::ApprovalVia;
use crate::protocol::{Kind, ProtocolName, ProtocolSet};
use crate::session::{self, EventKind, Session, Store};
use crate::settings::Settings;
use crate::ui::style;
use anyhow::Result;
use std::sync::Arc;

/// What `end` adds to a run.
#[derive(Default)]
struct EndExtras {
    waivers: Vec<(GateId, String)>,
    commit: bool,
    tag: Option<String>,
    signer: Option<std::sync::Arc<crate::signing::Signer>>,
}

pub fn run(protocol: ProtocolName, args: &RunArgs, s: &Settings) -> Result<ExitStatus> {
    execute(protocol, args, EndExtras::default(), s)
}

/// `end`: waivers recorded first, the commit made last.
pub fn end(args: &EndArgs, s: &Settings) -> Result<ExitStatus> {
    let mut waivers = Vec::new();
    for g in &args.waive {
        let gate = GateId::parse(g).ok_or_else(|| {
            let all: Vec<&str> = GateId::ALL.iter().map(|g| g.as_str()).collect();
            InputError::usage(format!("--waive {g}: no such gate"))
                .with_hint(format!("gates: {}", all.join(", ")))
        })?;
        waivers.push((gate, args.reason.clone().unwrap_or_default()));
    }
    if args.commit && !args.run.dry_run {
        crate::git::commit_preflight(s.paths.root(), args.tag.as_deref())?;
    }
    // The key is read before anything runs: a missing or locked key is
    // refused with nothing written.
    let signer = match args.sign_with.as_ref().or(s.signing_key.as_ref()) {
        Some(path) if !args.run.dry_run => Some(std::sync::Arc::new(
            crate::signing::Signer::load(path).map_err(|e| {
                crate::error::InputError::for_flag(e, "--sign-with", &path.display().to_string())
            })?,
        )),
        _ => None,
    };
    execute(
        ProtocolName::End,
        &args.run,
        EndExtras {
            waivers,
            commit: args.commit,
            tag: args.tag.clone(),
            signer,
        },
        s,
    )
}

/// `--decisions FILE`, read and checked against the protocols (nothing
/// runs when it has a problem), with where it came from: the file at the
/// repo's HEAD commit, recorded by the CI identity.
fn decisions(
    args: &RunArgs,
    s: &Settings,
    set: &ProtocolSet,
) -> Result<Option<std::sync::Arc<crate::decisions::Decisions>>> {
    let Some(file) = &args.decisions else {
        return Ok(None);
    };
    let path = std::env::current_dir()?.join(file);
    let commit = crate::git::facts(s.paths.root()).and_then(|f| f.commit);
    let recorder = crate::decisions::ci_identity().unwrap_or_else(|| s.actor(None));
    let d = crate::decisions::Decisions::load(&path, file, set, commit.as_deref(), recorder)?;
    Ok(Some(std::sync::Arc::new(d)))
}

fn execute(
    protocol: ProtocolName,
    args: &RunArgs,
    extras: EndExtras,
    s: &Settings,
) -> Result<ExitStatus> {
    if args.dry_run {
        return dry_run(protocol, s, args.format);
    }
    // A missing or malformed master state is refused before anything is
    // written (no lock file, no session).
    crate::master_state::MasterState::load_required(&s.paths)?;
    let (mut store, set, config) = s.open_store(args.by.as_deref())?;
    // Refusals before anything is recorded leave nothing behind (the store,
    // dropped, takes its lock file with it).
    if protocol == ProtocolName::Start && store.session().is_none() {
        phase7_may_start(s, args.new_session)?;
    }
    let decisions = decisions(args, s, &set)?;
    let opts = RunOptions {
        rerun: args.rerun.clone(),
        approvals: approvals(args, s, &set)?,
        approver: args.by.clone(),
        interactive: s.interactive(),
        only_stages: args.stage.clone(),
        decisions,
    };
    check_ids(&set, protocol, &opts.rerun)?;
    check_stage_ids(&set, protocol, &args.stage)?;
    let p = s.printer.clone();
    let json_out = args.format == RunFormat::Json;
    let ci = CiReports {
        s,
        args,
        protocol,
        set: &set,
        redactor: s.redactor(&config),
    };
    open_or_check(&mut store, &set, protocol, s, json_out, args.new_session)?;
    if let Some(signer) = extras.signer.clone() {
        store.set_signer(signer);
    }
    check_stage_needs(&store, &set, protocol, &args.stage)?;
    let by = s.actor(args.by.as_deref());
    let mut waivers: Vec<(GateId, String, String)> = extras
        .waivers
        .iter()
        .map(|(g, r)| (*g, by.clone(), r.clone()))
        .collect();
    if let (ProtocolName::End, Some(d)) = (protocol, &opts.decisions) {
        waivers.extend(
            d.waivers()
                .map(|(g, w)| (g, w.by.clone(), d.note(&w.reason))),
        );
    }
    if !waivers.is_empty() {
        for (gate, by, reason) in &waivers {
            store.record_as(
                by,
                None,
                EventKind::GateWaived {
                    gate: gate.as_str().into(),
                    reason: reason.clone(),
                },
            )?;
            say(
                s,
                json_out,
                // Echoed as recorded: masked, and shown, never obeyed.
                ci.redactor.mask(&crate::ui::visible(&format!(
                    "waived gate {} ({by}): {reason}",
                    gate.as_str()
                ))),
            );
        }
        store.sync_audit()?;
    }
    // A complete `end` with the session still open was killed before it
    // closed the session: running it again finishes the closing.
    if let Some(sess) = store.session()
        && sess.protocol_done(protocol)
        && progress::protocol_complete(set.get(protocol), sess)
        && opts.rerun.is_empty()
        && protocol != ProtocolName::End
    {
        let next = next_protocol(protocol);
        say(
            s,
            json_out,
            format!(
                "{protocol} is already complete in session {}. {next}",
                sess.id
            ),
        );
        ci.write(Outcome::Done, sess, json_out)?;
        if json_out {
            super::print_json(s, &report_json(protocol, Outcome::Done, &set, sess));
        }
        store.settle_protocols()?;
        keep_until_exit(store.take_state());
        keep_until_exit(Arc::clone(&set));
        return Ok(ExitStatus::Success);
    }
    say(
        s,
        json_out,
        p.paint(
            style::HEAD,
            format!("{} — {}", protocol, set.get(protocol).title),
        ),
    );
    let reporter =
        Reporter::new(p.clone(), s.spinners() && !json_out, json_out).with_github_groups(s.github);
    let opened = store.session().cloned();
    let (outcome, mut store) = engine::run(
        store,
        protocol,
        opts,
        reporter,
        crate::kinds::Kinds::for_run(),
    )?;
    crate::context::refresh(&store)?;
    // `end` closes the session: report on the archived one.
    let sess = match store.session().cloned() {
        Some(x) => Some(x),
        None => closed_session(s, opened.as_ref()),
    };
    keep_until_exit(store.take_state());
    drop(store);
    keep_until_exit(Arc::clone(&set));
    if let Some(sess) = &sess {
        ci.write(outcome, sess, json_out)?;
    }
    let commit = if outcome == Outcome::Done && extras.commit {
        Some(commit(
            s,
            sess.as_ref(),
            extras.tag.as_deref(),
            &ci.redactor,
        )?)
    } else {
        None
    };
    match (&sess, json_out) {
        (Some(sess), true) => {
            let mut j = report_json(protocol, outcome, &set, sess);
            j.commit = commit.clone();
            super::print_json(s, &j);
        }
        (Some(sess), false) => print_summary(s, protocol, outcome, &set, sess),
        (None, _) => {}
    }
    if let (Some((oid, files)), false) = (&commit, json_out) {
        s.printer.out(format!(
            "committed {} ({} files){}",
            &oid[..12],
            files.len(),
            extras
                .tag
                .map(|t| format!(", tagged {t}"))
                .unwrap_or_default()
        ));
    }
    Ok(exit_status(outcome))
}

/// Phase 7's lifecycle: a completed Phase 7 is reopened only by an
/// explicit `--new-session`, and a blocked one never (its reason is the
/// team's to resolve in the master state).
fn phase7_may_start(s: &Settings, new_session: bool) -> Result<()> {
    use crate::master_state::{MasterState, PhaseStatus};
    let master = MasterState::load_required(&s.paths)?;
    let Some(p7) = master.phase(7) else {
        return Ok(());
    };
    let shown = s.paths.shown(&s.paths.master_state());
    let facts: Vec<String> = p7
        .facts
        .iter()
        .map(|(k, v)| format!("{k}: {}", crate::ui::visible(v)))
        .collect();
    let recorded = if facts.is_empty() {
        String::new()
    } else {
        format!(" ({})", facts.join(", "))
    };
    match p7.status {
        PhaseStatus::Completed if !new_session => Err(InputError::in_file(
            &shown,
            Some(p7.line),
            format!("Phase 7 is completed{recorded}: this deployment is finished"),
        )
        .with_hint("`deploy-session start --new-session` opens another deployment session (the finished one stays in history and the audit trail)")
        .into()),
        PhaseStatus::Blocked => Err(InputError::in_file(
            &shown,
            Some(p7.line),
            format!("Phase 7 is blocked{recorded}"),
        )
        .with_hint("resolve the block and record Phase 7 as ready in the master state, then run start")
        .into()),
        _ => Ok(()),
    }
}

/// Opens a session for `start` (saying so), or checks that `protocol`'s
/// prerequisite protocol is complete in the open one.
pub(crate) fn open_or_check(
    store: &mut Store,
    set: &ProtocolSet,
    protocol: ProtocolName,
    s: &Settings,
    json_out: bool,
    new_session: bool,
) -> Result<()> {
    let p = &s.printer;
    if store.session().is_none() {
        if protocol != ProtocolName::Start {
            return Err(InputError::usage("no deployment session is open")
                .with_hint("`deploy-session start` opens one")
                .into());
        }
        phase7_may_start(s, new_session)?;
        let git = crate::git::facts(s.paths.root());
        store.open_session(git.clone())?;
        let id = store.session().map(|s| s.id.clone()).unwrap_or_default();
        let git_text = match &git {
            Some(g) => format!(
                "git {}@{}{}",
                g.branch.as_deref().unwrap_or("(detached)"),
                g.commit
                    .as_deref()
                    .map_or("(no commits)", |c| &c[..12.min(c.len())]),
                if g.dirty {
                    ", uncommitted changes"
                } else {
                    ", clean"
                }
            ),
            None => "not a git repository: no commit is recorded".to_string(),
        };
        say(
            s,
            json_out,
            format!(
                "{} session {id} ({git_text})",
                p.paint(style::HEAD, "opened")
            ),
        );
    } else {
        require_prerequisite(store, set, protocol)?;
    }
    Ok(())
}

/// The archived copy of a session that `end` just closed.
fn closed_session(s: &Settings, opened: Option<&Session>) -> Option<Session> {
    let id = &opened?.id;
    let text = std::fs::read_to_string(s.paths.archive(id).join("session.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Commits the session's files with a message that summarises it, masked
/// as a whole (a secret may only show once the recorded pieces are joined).
fn commit(
    s: &Settings,
    sess: Option<&Session>,
    tag: Option<&str>,
    redactor: &crate::redact::Redactor,
) -> Result<(String, Vec<String>)> {
    let entry = crate::session::history::read(&s.paths)?.pop();
    let id = sess.map(|x| x.id.clone()).unwrap_or_default();
    let mut msg = format!("deploy-session: deployment phase complete (session {id})\n\n");
    msg.push_str("Phase 7 completed and Phase 8 ready in .ai_context/framework_progress.md.\n");
    if let Some(e) = &entry {
        let d = |ms: Option<u64>| {
            ms.map_or("none".to_string(), |v| {
                crate::protocol::format_duration(std::time::Duration::from_millis(v))
            })
        };
        msg.push_str(&format!(
            "Deployments: {} ({} failed); last deploy {}; slowest rollback {}.\nSession took {}.\n",
            e.deployments,
            e.deployments_failed,
            d(e.deploy_ms),
            d(e.rollback_ms),
            d(Some(e.duration_ms))
        ));
    }
    if let Some(x) = sess {
        for (gate, w) in &x.waivers {
            msg.push_str(&format!(
                "Waived gate {gate} by {}: {}\n",
                w.by,
                w.note.as_deref().unwrap_or("")
            ));
        }
    }
    msg.push_str(&format!(
        "\nHandoff package: {}/\n",
        s.paths.shown(&s.paths.handoff(&id)).display()
    ));
    crate::git::commit_session(s.paths.root(), &redactor.mask(&msg), tag)
}

fn say(s: &Settings, to_stderr: bool, text: String) {
    if to_stderr {
        s.printer.info(text);
    } else if !s.printer.quiet() {
        s.printer.out(text);
    }
}

/// Maps a run's outcome to the documented exit code.
pub fn exit_status(outcome: Outcome) -> ExitStatus {
    match outcome {
        Outcome::Done => ExitStatus::Success,
        Outcome::Failed => ExitStatus::Failure,
        Outcome::Waiting => ExitStatus::Waiting,
        Outcome::Interrupted => ExitStatus::Interrupted,
    }
}

fn next_protocol(p: ProtocolName) -> &'static str {
    match p {
        ProtocolName::Start => "Next: `deploy-session work`",
        ProtocolName::Work => "Next: `deploy-session end`",
        ProtocolName::End => {
            "The deployment phase is complete; the Operations Framework takes over with the handoff package."
        }
    }
}

/// `--approve` ids and `DEPLOY_SESSION_APPROVE`, each checked.
fn approvals(
    args: &RunArgs,
    s: &Settings,
    set: &ProtocolSet,
) -> Result<Vec<(String, ApprovalVia)>> {
    let all = args
        .approve
        .iter()
        .map(|id| (id.trim().to_string(), ApprovalVia::Flag))
        .chain(
            s.approvals_from_env
                .iter()
                .map(|id| (id.clone(), ApprovalVia::Env)),
        );
    let mut out = Vec::new();
    for (id, via) in all {
        let a = super::find_action(set, &id)?;
        if !matches!(a.kind, Kind::Approval(_)) {
            let gates: Vec<String> = set
                .actions()
                .filter(|a| matches!(a.kind, Kind::Approval(_)))
                .map(|a| a.id.clone())
                .collect();
            return Err(InputError::usage(format!(
                "{id} is a {} action, not an approval",
                a.kind.name()
            ))
            .with_hint(format!("approval actions: {}", gates.join(", ")))
            .into());
        }
        out.push((id, via));
    }
    Ok(out)
}

fn check_ids(set: &ProtocolSet, protocol: ProtocolName, ids: &[String]) -> Result<()> {
    for id in ids {
        let a = super::find_action(set, id)
            .map_err(|e| crate::error::InputError::for_flag(e, "--rerun", id))?;
        if a.protocol != protocol {
            return Err(InputError::usage(format!(
                "--rerun {id}: it belongs to `{}`, not `{protocol}`",
                a.protocol
            ))
            .into());
        }
    }
    Ok(())
}

/// `--stage` ids must be stages of the protocol being run.
fn check_stage_ids(set: &ProtocolSet, protocol: ProtocolName, ids: &[String]) -> Result<()> {
    let p = set.get(protocol);
    for id in ids {
        if !p.stages.iter().any(|st| &st.id == id) {
            let all: Vec<&str> = p.stages.iter().map(|st| st.id.as_str()).collect();
            return Err(
                InputError::usage(format!("--stage {id}: `{protocol}` has no such stage"))
                    .with_hint(format!("its stages: {}", all.join(", ")))
                    .into(),
            );
        }
    }
    Ok(())
}

/// A `--stage` runs only when the stages it needs are complete.
fn check_stage_needs(
    store: &Store,
    set: &ProtocolSet,
    protocol: ProtocolName,
    ids: &[String],
) -> Result<()> {
    let p = set.get(protocol);
    let Some(session) = store.session() else {
        return Ok(());
    };
    for id in ids {
        let stage = p.stages.iter().find(|st| &st.id == id).expect("checked");
        let missing: Vec<&str> = stage
            .needs
            .iter()
            .filter(|n| !ids.contains(n) && !progress::stage_complete(p, n, session))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(InputError::usage(format!(
                "--stage {id} needs {} complete first",
                missing.join(" and ")
            ))
            .with_hint(format!(
                "run them first: deploy-session {protocol} --stage {}",
                missing.join(" --stage ")
            ))
            .into());
        }
    }
    Ok(())
}

/// The reports a run leaves for CI: `--junit`, and in GitHub Actions the
/// notices for waiting actions and the step summary.
struct CiReports<'a> {
    s: &'a Settings,
    args: &'a RunArgs,
    protocol: ProtocolName,
    set: &'a ProtocolSet,
    redactor: crate::redact::Redactor,
}

impl CiReports<'_> {
    fn write(&self, outcome: Outcome, sess: &Session, json_out: bool) -> Result<()> {
        use crate::reports::{github, junit};
        let p = self.set.get(self.protocol);
        let only = &self.args.stage;
        if let Some(file) = &self.args.junit {
            let xml = junit::render(p, only, sess, &self.s.paths, &self.redactor)?;
            junit::write(file, &xml)?;
        }
        if !self.s.github {
            return Ok(());
        }
        let next = if outcome == Outcome::Waiting {
            progress::next_actions(self.set, Some(sess))
        } else {
            Vec::new()
        };
        for line in github::waiting_notices(&next, &self.redactor) {
            say(self.s, json_out, line);
        }
        for line in github::failure_errors(p, only, sess, &self.redactor) {
            say(self.s, json_out, line);
        }
        if let Some(file) = &self.s.step_summary {
            let md = github::step_summary(p, only, outcome, sess, &next, &self.redactor);
            github::append_summary(file, &md)?;
        }
        Ok(())
    }
}

/// `work` needs `start` complete, `end` needs `work`: says what is missing.
fn require_prerequisite(store: &Store, set: &ProtocolSet, protocol: ProtocolName) -> Result<()> {
    let Some(req) = set.get(protocol).requires else {
        return Ok(());
    };
    let Some(session) = store.session() else {
        return Ok(());
    };
    let missing: Vec<String> = set
        .get(req)
        .actions()
        .filter(|a| !a.optional() && !session.status_of(&a.id).is_done())
        .map(|a| format!("{} ({})", a.id, session.status_of(&a.id).word()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = missing.iter().take(8).map(String::as_str).collect();
    let more = if missing.len() > 8 {
        format!(" and {} more", missing.len() - 8)
    } else {
        String::new()
    };
    Err(InputError::usage(format!(
        "`{protocol}` runs after `{req}` is complete; not done yet: {}{more}",
        shown.join(", ")
    ))
    .with_hint(format!(
        "`deploy-session next` shows how to complete them; `deploy-session {req}` continues"
    ))
    .into())
}

fn print_summary(
    s: &Settings,
    protocol: ProtocolName,
    outcome: Outcome,
    set: &ProtocolSet,
    sess: &Session,
) {
    let p = &s.printer;
    match outcome {
        Outcome::Done => p.out(format!(
            "\n{} {protocol} complete (session {}). {}",
            p.paint(style::OK, "✓"),
            sess.id,
            next_protocol(protocol)
        )),
        Outcome::Waiting if p.quiet() => {
            // -q: the outcome in one line, the ids that wait.
            let ids: Vec<String> = progress::next_actions(set, Some(sess)).into_iter().map(|n| n.id).collect();
            p.out(format!("{} waiting for a person (exit 3): {}", p.paint(style::WAIT, "…"), ids.join(", ")));
        }
        Outcome::Waiting => {
            p.out(format!("\n{} waiting for a person (exit 3). To continue:", p.paint(style::WAIT, "…")));
            print_next(s, &progress::next_actions(set, Some(sess)));
            p.out(format!("then run `deploy-session {protocol}` again."));
        }
        Outcome::Failed => {
            p.out(format!("\n{} {protocol} failed (exit 1):", p.paint(style::BAD, "✗")));
            for a in set.get(protocol).actions() {
                let rec = sess.action(&a.id);
                if rec.status == session::ActionStatus::Failed {
                    let shown = |t: &str| crate::ui::visible(t).into_owned();
                    p.out(format!("  {} {}: {}", a.id, shown(&a.title), shown(&rec.message.unwrap_or_default())));
                }
            }
            let failed = |a: &&crate::protocol::Action| sess.status_of(&a.id) == session::ActionStatus::Failed;
            let actions: Vec<_> = set.get(protocol).actions().filter(failed).collect();
            let skip = if actions.iter().any(|a| !a.kind.is_validation() && !matches!(a.kind, Kind::Approval(_))) {
                " (`deploy-session skip ID --reason ...` passes one by)"
            } else if actions.iter().any(|a| matches!(a.kind, Kind::Check(_))) {
                " (a validation of deploy-session's is passed by only as a named override: `deploy-session skip ID --override --by NAME --reason ...`)"
            } else {
                ""
            };
            p.out(format!("Fix the cause, then run `deploy-session {protocol}` again: failed automated steps run again{skip}."));
        }
        Outcome::Interrupted => p.out(format!(
            "\n{} interrupted; the state is saved. `deploy-session {protocol}` resumes at the interrupted action.",
            p.paint(style::WAIT, "⏹")
        )),
    }
}

/// Prints next actions with their commands.
pub fn print_next(s: &Settings, next: &[NextAction]) {
    let p = &s.printer;
    for n in next {
        let msg = n
            .message
            .as_deref()
            .map(|m| format!(" — {m}"))
            .unwrap_or_default();
        p.out(format!(
            "  {} {} [{}]{}",
            p.paint(style::HEAD, &n.id),
            crate::ui::visible(&n.title),
            n.kind,
            p.paint(style::DIM, crate::ui::visible(&msg))
        ));
        p.out(format!("      {}", n.command));
        if n.for_person {
            p.out("      (a person's decision: they run it with their own name)");
        }
        if let Some(alt) = &n.alternative {
            p.out(format!("      or: {alt}"));
        }
    }
}

/// The documented JSON shape of a run (`schema_version` 1).
pub fn report_json(
    protocol: ProtocolName,
    outcome: Outcome,
    set: &ProtocolSet,
    sess: &Session,
) -> crate::documents::RunDoc {
    let actions = set
        .get(protocol)
        .actions()
        .map(|a| {
            let r = sess.action(&a.id);
            crate::documents::RunActionDoc {
                id: a.id.clone(),
                title: a.title.clone(),
                kind: a.kind.kind_name(),
                status: r.status,
                attempts: r.attempts,
                duration_ms: r.duration_ms,
                exit_code: r.exit_code,
                message: r.message,
                log: r.log,
            }
        })
        .collect();
    crate::documents::RunDoc {
        schema_version: crate::documents::SchemaVersion,
        command: protocol,
        session: sess.id.clone(),
        status: sess.status,
        outcome,
        exit_code: exit_status(outcome).code(),
        actions,
        next: progress::next_actions(set, Some(sess)),
        commit: None,
    }
}

/// What the real run would do with a pending action, as far as can be
/// known without running anything: a phase approval already in the master
/// state is taken, a check is evaluated (it only reads), the rest runs or
/// waits.
fn dry_verdict(
    s: &Settings,
    kind: &crate::protocol::Kind,
    master: Option<&crate::master_state::MasterState>,
) -> String {
    use crate::protocol::Kind;
    match kind {
        Kind::Approval(spec) => {
            let recorded = spec
                .phase
                .and_then(|n| master?.phase(n))
                .filter(|p| p.approved())
                .and_then(|p| p.approval.as_ref()?.by.clone());
            match recorded {
                Some(by) => {
                    format!("would take the approval recorded in the master state (by {by})")
                }
                None => "would wait for a person".to_string(),
            }
        }
        Kind::Check(spec) => match crate::kinds::check::evaluate(&s.paths, spec) {
            Ok(evidence) => format!("would pass ({evidence})"),
            Err(why) => format!("would fail ({why})"),
        },
        k if k.needs_human() => "would wait for a person".to_string(),
        _ => "would run".to_string(),
    }
}

/// `--dry-run`: what would run, in order, from the current state.
fn dry_run(protocol: ProtocolName, s: &Settings, format: RunFormat) -> Result<ExitStatus> {
    let (state, set, _) = s.read_state_and_protocols()?;
    let sess = state.session.as_ref();
    let master = crate::master_state::MasterState::load(
        &s.paths.master_state(),
        &s.paths.shown(&s.paths.master_state()),
    )
    .ok();
    let verdict = |a: &crate::protocol::Action| {
        let status = sess.map_or(session::ActionStatus::Pending, |x| x.status_of(&a.id));
        if status.is_done() {
            format!("already {}", status.word())
        } else {
            dry_verdict(s, &a.kind, master.as_ref())
        }
    };
    let opens_session = sess.is_none() && protocol == ProtocolName::Start;
    if format == RunFormat::Json {
        let actions = set
            .get(protocol)
            .actions()
            .map(|a| crate::documents::DryRunAction {
                id: a.id.clone(),
                stage: a.stage.clone(),
                kind: a.kind.name().to_string(),
                summary: a.kind.summary(),
                verdict: verdict(a),
            })
            .collect();
        let doc = crate::documents::DryRunDoc {
            schema_version: crate::documents::SchemaVersion,
            protocol,
            opens_session,
            actions,
        };
        super::print_json(s, &doc);
        return Ok(ExitStatus::Success);
    }
    let p = &s.printer;
    p.out(format!(
        "dry run of `{protocol}` — nothing is run or written"
    ));
    if opens_session {
        p.out("  would open a new session");
    }
    for stage in &set.get(protocol).stages {
        let needs = if stage.needs.is_empty() {
            String::new()
        } else {
            format!(" (after {})", stage.needs.join(", "))
        };
        p.out(format!("{} {}{needs}", stage.id, stage.title));
        for a in &stage.actions {
            p.out(format!(
                "  {:<10} {}: {}",
                a.id,
                verdict(a),
                a.kind.summary()
            ));
        }
    }
    Ok(ExitStatus::Success)
}
