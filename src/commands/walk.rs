//! The operator's walkthrough (`deploy-session walk`): one action at a
//! time, a panel saying what it is, and a typed prompt by kind. It records
//! exactly what the non-interactive commands record (through the engine and
//! `settle`), so a walk can be interrupted and continued either way.

use crate::engine::{self, Outcome, RunOptions, report::Reporter};
use crate::error::{ExitStatus, InputError};
use crate::master_state::MasterState;
use crate::progress;
use crate::protocol::{Action, Kind, ProtocolName, ProtocolSet};
use crate::session::{Session, Store};
use crate::settings::Settings;
use crate::settle;
use crate::ui::{prompt, style};
use anyhow::{Context, Result};
use std::io::IsTerminal;

/// What the operator chose for one action.
enum Choice {
    Next,
    Quit,
    Failed,
}

/// Walks `protocol` (or the current one) from its first unfinished action.
pub fn walk(protocol: Option<ProtocolName>, s: &Settings) -> Result<ExitStatus> {
    if !std::io::stdin().is_terminal() {
        return Err(InputError::usage("`deploy-session walk` needs a terminal: it asks before every step")
            .with_hint("without one: `deploy-session start` runs what it can and stops (exit 3) where a person is needed; `deploy-session next` shows what waits; `done`, `skip` and `approve` complete it")
            .into());
    }
    MasterState::load_required(&s.paths)?;
    let (mut store, set, _) = s.open_store(None)?;
    let protocol = protocol
        .or_else(|| progress::current_protocol(&set, store.session()))
        .unwrap_or(ProtocolName::Start);
    crate::commands::run::open_or_check(&mut store, &set, protocol, s, false, false)?;
    let by = s.actor(None);
    let p = &s.printer;
    p.out(p.paint(
        style::HEAD,
        format!("walk through `{protocol}` — {}", set.get(protocol).title),
    ));
    p.out(p.paint(
        style::DIM,
        "quit at any prompt with q: everything so far is saved and the next walk resumes here",
    ));
    let mut notes: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    loop {
        let session = store.session().cloned().context("the session closed")?;
        let next = progress::frontier(set.get(protocol), &session)
            .first()
            .map(|a| a.id.clone());
        let Some(id) = next else {
            return finish(store, protocol, s);
        };
        if current.as_deref() != Some(&id) {
            notes.clear();
            current = Some(id.clone());
        }
        let a = set.action(&id).expect("frontier actions exist");
        let resume = format!("saved. `deploy-session walk {protocol}` resumes at {id}.");
        // Every settled step is already in the trail: a signal at a prompt
        // loses nothing, and says so.
        crate::signals::farewell(format!("\n{resume}\n"));
        panel(s, &set, a, &session);
        let step = match &a.kind {
            Kind::Manual => manual(store, s, a, &by, &mut notes),
            Kind::Approval(spec) => approval(store, s, a, &by, spec.phase, &spec.subject),
            _ => automated(store, s, a, &by),
        };
        let (choice, st) = match step {
            Err(e) if ctrl_c_at_a_prompt(&e) => {
                let mut store = s.open_store(None)?.0;
                save(&mut store)?;
                p.out(format!("\n{resume}"));
                return Ok(ExitStatus::Interrupted);
            }
            other => other?,
        };
        store = st;
        match choice {
            Choice::Next => {}
            Choice::Quit => {
                save(&mut store)?;
                p.out(resume);
                return Ok(ExitStatus::Waiting);
            }
            Choice::Failed => {
                save(&mut store)?;
                p.out(format!(
                    "`{protocol}` stops at {id}: `deploy-session next` shows what to do."
                ));
                return Ok(ExitStatus::Failure);
            }
        }
    }
}

/// Ctrl-C typed at a prompt: the terminal is in raw mode there, so it
/// arrives as a key and the prompt gives up with `Interrupted`.
fn ctrl_c_at_a_prompt(e: &anyhow::Error) -> bool {
    let interrupted = |io: &std::io::Error| io.kind() == std::io::ErrorKind::Interrupted;
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(interrupted)
            || cause
                .downcast_ref::<dialoguer::Error>()
                .is_some_and(|d| matches!(d, dialoguer::Error::IO(io) if interrupted(io)))
    })
}

fn save(store: &mut Store) -> Result<()> {
    store.sync_audit()?;
    store.snapshot()?;
    crate::context::refresh(store)
}

/// Every action is settled: the engine records the protocol's completion
/// (and `end` closes the session).
fn finish(store: Store, protocol: ProtocolName, s: &Settings) -> Result<ExitStatus> {
    let reporter = Reporter::new(s.printer.clone(), false, false);
    let (outcome, store) = engine::run(
        store,
        protocol,
        RunOptions::default(),
        reporter,
        crate::kinds::Kinds::for_run(),
    )?;
    crate::context::refresh(&store)?;
    let p = &s.printer;
    if outcome == Outcome::Done {
        p.out(format!(
            "{} `{protocol}` is complete.",
            p.paint(style::OK, "✓")
        ));
    }
    Ok(crate::commands::run::exit_status(outcome))
}

fn panel(s: &Settings, set: &ProtocolSet, a: &Action, session: &Session) {
    let p = &s.printer;
    let stage = set
        .get(a.protocol)
        .stages
        .iter()
        .find(|st| st.id == a.stage);
    let rule = "─".repeat(60usize.saturating_sub(a.id.len() + 4));
    p.out(format!(
        "\n{} {}",
        p.paint(style::HEAD, format!("── {}", a.id)),
        p.paint(style::DIM, rule)
    ));
    p.out(p.paint(style::HEAD, &a.title));
    for item in &a.items {
        p.out(format!("  · {item}"));
    }
    let row = |k: &str, v: String| p.out(format!("{} {v}", p.paint(style::DIM, format!("{k:<9}"))));
    row(
        "stage",
        stage
            .map(|st| format!("{} {}", st.id, st.title))
            .unwrap_or_default(),
    );
    row(
        "agent",
        format!(
            "{} · task type {} · kind {}",
            a.agent.as_str(),
            a.task_type.as_str(),
            a.kind.name()
        ),
    );
    let does = match &a.kind {
        Kind::Manual => a
            .instructions
            .clone()
            .unwrap_or_else(|| "a person or assistant does this and marks it done".into()),
        other => other.summary(),
    };
    row("does", does);
    let rec = session.action(&a.id);
    if rec.attempts > 0 || rec.message.is_some() {
        row(
            "so far",
            format!(
                "{}{}",
                rec.status.word(),
                rec.message.map(|m| format!(": {m}")).unwrap_or_default()
            ),
        );
    }
}

/// Asks until the answer is one of `keys` or its first letter. An empty
/// answer picks `default`, when there is one.
fn pick(question: &str, keys: &[&str], default: Option<&str>) -> Result<String> {
    loop {
        let answer = prompt::ask(question)?.trim().to_lowercase();
        let answer = match default {
            Some(d) if answer.is_empty() => d.to_string(),
            _ => answer,
        };
        if let Some(k) = keys
            .iter()
            .find(|k| **k == answer || k.starts_with(&answer) && answer.len() == 1)
        {
            return Ok(k.to_string());
        }
        anstream::eprintln!("please answer one of: {}", keys.join(", "));
    }
}

/// A reason that is not empty.
fn reason(question: &str) -> Result<String> {
    loop {
        let r = prompt::ask(question)?;
        if !r.trim().is_empty() {
            return Ok(r.trim().to_string());
        }
        anstream::eprintln!("a reason is needed: it is kept in the audit trail");
    }
}

fn automated(store: Store, s: &Settings, a: &Action, by: &str) -> Result<(Choice, Store)> {
    let validation = a.kind.is_validation();
    let keys: &[&str] = if validation {
        &["yes", "no", "quit"]
    } else {
        &["yes", "no", "skip", "quit"]
    };
    let question = if validation {
        "Run it now? [Y/n/quit]"
    } else {
        "Run it now? [Y/n/skip/quit]"
    };
    match pick(question, keys, Some("yes"))?.as_str() {
        "yes" => {
            let reporter = Reporter::new(s.printer.clone(), s.spinners(), false);
            let (outcome, store) = engine::run_single(
                store,
                a.id.clone(),
                RunOptions {
                    interactive: true,
                    ..RunOptions::default()
                },
                reporter,
                crate::kinds::Kinds::for_run(),
            )?;
            let choice = match outcome {
                Outcome::Done => Choice::Next,
                Outcome::Waiting | Outcome::Interrupted => Choice::Quit,
                Outcome::Failed => Choice::Failed,
            };
            Ok((choice, store))
        }
        "skip" => {
            let mut store = store;
            skip(&mut store, s, a, by)?;
            Ok((Choice::Next, store))
        }
        _ => Ok((Choice::Quit, store)),
    }
}

fn manual(
    mut store: Store,
    s: &Settings,
    a: &Action,
    by: &str,
    notes: &mut Vec<String>,
) -> Result<(Choice, Store)> {
    loop {
        match pick(
            "[d]one / [s]kip / [f]ail / [n]ote / [q]uit",
            &["done", "skip", "fail", "note", "quit"],
            None,
        )?
        .as_str()
        {
            "note" => {
                let n = prompt::ask("Note")?;
                if !n.trim().is_empty() {
                    notes.push(n.trim().to_string());
                    s.printer
                        .out("noted; it is recorded when the action is settled");
                }
            }
            "done" => {
                let evidence = evidence(s)?;
                let note = (!notes.is_empty()).then(|| notes.join("; "));
                settle::done(&mut store, &a.id, by, note, evidence)?;
                s.printer
                    .out(format!("{} {} done", s.printer.paint(style::OK, "✓"), a.id));
                return Ok((Choice::Next, store));
            }
            "skip" => {
                skip(&mut store, s, a, by)?;
                return Ok((Choice::Next, store));
            }
            "fail" => {
                settle::fail(&mut store, &a.id, by, &reason("What failed?")?)?;
                return Ok((Choice::Failed, store));
            }
            _ => return Ok((Choice::Quit, store)),
        }
    }
}

/// Skips `a` with a reason the operator must give.
fn skip(store: &mut Store, s: &Settings, a: &Action, by: &str) -> Result<()> {
    let why = reason("Why skip it?")?;
    settle::skip(store, &a.id, by, &why, false)?;
    s.printer.out(format!(
        "{} {} skipped: {why}",
        s.printer.paint(style::DIM, "↷"),
        a.id
    ));
    Ok(())
}

/// Evidence files, asked until every one exists inside the repo.
fn evidence(s: &Settings) -> Result<Vec<String>> {
    let cwd = std::env::current_dir()?;
    loop {
        let answer = prompt::ask("Evidence files (space separated; Enter for none)")?;
        let paths: Vec<String> = answer.split_whitespace().map(String::from).collect();
        match settle::check_evidence(s.paths.root(), &cwd, &paths, None) {
            Ok(ok) => return Ok(ok),
            Err(e) => s.printer.info(e.message),
        }
    }
}

fn approval(
    mut store: Store,
    s: &Settings,
    a: &Action,
    by: &str,
    phase: Option<i8>,
    subject: &str,
) -> Result<(Choice, Store)> {
    let already = phase.is_some_and(|n| {
        MasterState::load(&s.paths.master_state(), &s.paths.master_state())
            .ok()
            .and_then(|m| m.phase(n).map(|p| p.approved()))
            .unwrap_or(false)
    });
    if already {
        s.printer.out("already approved in the master state");
        let reporter = Reporter::new(s.printer.clone(), false, false);
        let (outcome, store) = engine::run_single(
            store,
            a.id.clone(),
            RunOptions::default(),
            reporter,
            crate::kinds::Kinds::for_run(),
        )?;
        return Ok((
            if outcome == Outcome::Done {
                Choice::Next
            } else {
                Choice::Quit
            },
            store,
        ));
    }
    let p = &s.printer;
    p.out(format!(
        "{} {subject}",
        p.paint(style::WAIT, "You are approving:")
    ));
    p.out(format!(
        "recorded as approved by {by}{}",
        phase
            .map(|n| format!(", in Phase {n}'s block of the master state"))
            .unwrap_or_default()
    ));
    let answer = prompt::ask("Type `yes` to approve (anything else declines)")?;
    if answer.trim().eq_ignore_ascii_case("yes") {
        settle::approve(
            &mut store,
            &s.paths,
            &a.id,
            by,
            None,
            phase.map(settle::PhaseApproval::of),
            crate::protocol::ApprovalVia::Walk,
        )?;
        p.out(format!("{} {} approved", p.paint(style::OK, "✓"), a.id));
        return Ok((Choice::Next, store));
    }
    p.out("not approved; nothing was recorded");
    Ok((Choice::Quit, store))
}
