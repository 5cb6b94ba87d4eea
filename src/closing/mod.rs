//! The end protocol's business, and the steps deploy-session performs
//! itself (kind `builtin`): the start protocol's context step, then gates,
//! master-state transitions, the handoff package, the archive, the
//! operations context and the audit trail. Above the engine: it runs
//! through the engine's recording interface, never the other way round.

use crate::audit;
use crate::engine::{ActionKind, Engine, Step, StepFuture};
use crate::gates::{self, GateId, GateResult};
use crate::master_state::{MasterState, PhaseStatus, set_status};
use crate::paths::RepoPaths;
use crate::protocol::{Action, Builtin, Kind};
use crate::session::{ActionStatus, EventKind, Session};
use anyhow::{Context as _, Result, bail};
use std::rc::Rc;
use std::time::Instant;

/// What a builtin step reports: a message, and measurements to keep.
struct Done {
    message: String,
    metrics: Option<serde_json::Value>,
}

impl From<String> for Done {
    fn from(message: String) -> Done {
        Done {
            message,
            metrics: None,
        }
    }
}

/// The builtin kind for one run: the gates' facts (the history index and
/// the verified audit trail) are gathered once per run and shared by every
/// step that judges gates.
#[derive(Default)]
pub(crate) struct Closing {
    facts: std::cell::RefCell<Option<Rc<gates::Gathered>>>,
}

impl ActionKind for Closing {
    fn run<'a>(&'a self, engine: &'a Rc<Engine>, a: &'a Action) -> StepFuture<'a> {
        Box::pin(async move {
            let Kind::Builtin(b) = &a.kind else {
                unreachable!("the table gives Closing only builtin actions")
            };
            self.builtin(engine, a, b).await
        })
    }
}

impl Closing {
    pub(crate) async fn builtin(&self, e: &Rc<Engine>, a: &Action, b: &Builtin) -> Result<Step> {
        e.start_attempt(a, crate::protocol::KindName::Builtin)?;
        let started = Instant::now();
        let judges_gates = matches!(
            b,
            Builtin::Gates(_)
                | Builtin::CompletionReport
                | Builtin::HandoffPackage
                | Builtin::StatusReport
                | Builtin::OperationsContext
        );
        let gathered = if judges_gates {
            self.gather(e).await
        } else {
            Ok(())
        };
        let result = gathered.and_then(|()| match b {
            Builtin::DeploymentContext => self.deployment_context(e).map(Done::from),
            Builtin::Gates(list) => self.gate_step(e, list, false),
            Builtin::CompletionReport => self.gate_step(e, &[], true),
            Builtin::Phase7Completed => self.phase7_completed(e).map(Done::from),
            Builtin::Phase8Ready => self.phase8_ready(e).map(Done::from),
            Builtin::HandoffPackage => self.handoff_package(e).map(Done::from),
            Builtin::ArchiveEvidence => self.archive_evidence(e).map(Done::from),
            Builtin::StatusReport => self.status_report(e).map(Done::from),
            Builtin::OperationsReadiness => self.operations_readiness(e).map(Done::from),
            Builtin::OperationsContext => self.operations_context(e).map(Done::from),
            Builtin::AuditTrail => self.audit_trail(e).map(Done::from),
        });
        let took = Some(started.elapsed());
        match result {
            Ok(done) => e.finish(
                a,
                ActionStatus::Completed,
                None,
                took,
                Some(done.message),
                done.metrics,
            ),
            Err(err) => e.finish(
                a,
                ActionStatus::Failed,
                None,
                took,
                Some(format!("{err:#}")),
                None,
            ),
        }
    }

    fn session(&self, e: &Engine) -> Result<Session> {
        e.store
            .borrow()
            .session()
            .cloned()
            .context("no open session")
    }

    fn shown(&self, e: &Engine, p: &std::path::Path) -> String {
        e.paths().shown(p).display().to_string()
    }

    /// Loads the master state, applies `edit`, saves it, records the write.
    fn edit_master(
        &self,
        e: &Engine,
        purpose: &str,
        edit: impl FnOnce(&MasterState) -> Result<MasterState>,
    ) -> Result<MasterState> {
        let paths = e.paths();
        let path = paths.master_state();
        let master = MasterState::load(&path, &paths.shown(&path))?;
        let updated = edit(&master)?;
        let mut store = e.store.borrow_mut();
        let by = store.ctx().actor.clone();
        crate::settle::record_master_write(&mut store, paths, &updated, purpose, &by)?;
        Ok(updated)
    }

    fn write_file(
        &self,
        e: &Engine,
        path: &std::path::Path,
        text: &str,
        purpose: &str,
    ) -> Result<()> {
        let masked = e.store.borrow().ctx().redactor.mask(text);
        crate::fsio::write_atomic(path, masked.as_bytes())?;
        e.record(
            None,
            EventKind::FileWritten {
                path: self.shown(e, path),
                purpose: purpose.into(),
                sha256: None,
            },
        )
    }

    /// start.1.6: Phase 7 in progress in the master state, and the
    /// assistant's context file written.
    fn deployment_context(&self, e: &Engine) -> Result<String> {
        let id = e.session_id();
        let updated = self.edit_master(e, "Phase 7 in_progress", |m| {
            let u = m.update_phase(7, |b| {
                // A new session after a completed one (`start --new-session`)
                // keeps the finished one's record beside it.
                if let Some(done_at) = b.remove("completed_at") {
                    if let Some(old) = b.get("session").cloned() {
                        b.insert("previous_session".into(), old);
                    }
                    b.insert("previous_completed_at".into(), done_at);
                }
                set_status(b, PhaseStatus::InProgress);
                b.insert("session".into(), id.clone().into());
            })?;
            Ok(with_bullets(
                u,
                &format!("Phase 7 (AI-First Deployment Preparation) — deploy-session {id}"),
            ))
        })?;
        let paths = e.paths();
        let text = {
            let store = e.store.borrow();
            crate::context::render(
                paths,
                &e.set,
                &store.ctx().config.gates,
                store.session(),
                Some(&updated),
                false,
            )?
        };
        self.write_file(e, &paths.deployment_context(), &text, "deployment context")?;
        Ok(format!(
            "Phase 7 is in_progress; wrote {}",
            self.shown(e, &paths.deployment_context())
        ))
    }

    /// Evaluates gates (all of them when `list` is empty).
    pub(crate) fn evaluate_gates(&self, e: &Engine, list: &[GateId]) -> Result<Vec<GateResult>> {
        let facts = self.facts(e)?;
        let thresholds = e.store.borrow().ctx().config.gates.clone();
        Ok(facts.judge(&e.set, &self.session(e)?, &thresholds, list))
    }

    /// The gates' facts, gathered before the first step of this run that
    /// judges gates (see [`Closing::gather`]).
    fn facts(&self, e: &Engine) -> Result<Rc<gates::Gathered>> {
        if let Some(f) = self.facts.borrow().as_ref() {
            return Ok(f.clone());
        }
        let state = e.store.borrow().state.clone();
        let gathered = Rc::new(gates::Gathered::read(e.paths(), &state, &[])?);
        *self.facts.borrow_mut() = Some(gathered.clone());
        Ok(gathered)
    }

    /// Reads the history index and verifies the audit trail on a blocking
    /// thread (they can be large), once per run.
    async fn gather(&self, e: &Engine) -> Result<()> {
        if self.facts.borrow().is_some() {
            return Ok(());
        }
        let paths = e.paths().clone();
        let state = e.store.borrow().state.clone();
        let gathered =
            tokio::task::spawn_blocking(move || gates::Gathered::read(&paths, &state, &[]))
                .await??;
        *self.facts.borrow_mut() = Some(Rc::new(gathered));
        Ok(())
    }

    /// end.1.*: the listed gates must pass or be waived. `report` also
    /// writes the completion report into the session's archive folder.
    fn gate_step(&self, e: &Engine, list: &[GateId], report: bool) -> Result<Done> {
        let results = self.evaluate_gates(e, list)?;
        let metrics = serde_json::json!({ "gates": results });
        if report {
            // The shape of `gates --format json` (its schema), for every gate.
            let every = self.evaluate_gates(e, &[])?;
            let doc = serde_json::json!({
                "schema_version": 1,
                "session": e.session_id(),
                "passed": every.iter().all(|g| g.verdict.acceptable()),
                "gates": every,
            });
            let dir = e.paths().archive(&e.session_id()).join("reports");
            let mut json = serde_json::to_string_pretty(&doc)?;
            json.push('\n');
            self.write_file(e, &dir.join("gates.json"), &json, "gate report")?;
            self.write_file(
                e,
                &dir.join("completion_report.md"),
                &completion_report(&self.session(e)?, &results),
                "completion report",
            )?;
        }
        for g in &results {
            e.reporter.say(gate_line(g));
        }
        let blocking: Vec<String> = gates::undecided(&results)
            .iter()
            .map(|g| format!("{} ({})", g.id.as_str(), g.verdict.word()))
            .collect();
        if !blocking.is_empty() {
            // One round of decisions: every gate `end` will judge, not only
            // this step's, with one command that waives them all.
            let every = self.evaluate_gates(e, &[])?;
            let later: Vec<&GateResult> = every
                .iter()
                .filter(|g| !results.iter().any(|r| r.id == g.id))
                .collect();
            if !later.is_empty() {
                e.reporter.say("    judged by later steps of end:");
                for g in &later {
                    e.reporter.say(gate_line(g));
                }
            }
            let undecided = gates::undecided(&every);
            bail!(
                "gates not passing: {}; {} gate{} in all need{} a person's decision before `end` can finish ({}) — fix the cause and run `deploy-session end` again, or a person waives them at once with their own name and reason: `{}`",
                blocking.join(", "),
                undecided.len(),
                if undecided.len() == 1 { "" } else { "s" },
                if undecided.len() == 1 { "s" } else { "" },
                undecided
                    .iter()
                    .map(|g| g.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                gates::waive_command(&undecided)
            );
        }
        let n = results.len();
        let waived = results
            .iter()
            .filter(|g| g.verdict == gates::Verdict::Waived)
            .count();
        Ok(Done {
            message: format!(
                "{n} gate{} acceptable ({waived} waived): {}{}",
                if n == 1 { "" } else { "s" },
                gates::summary(&results),
                if results
                    .iter()
                    .any(|g| g.verdict == gates::Verdict::Attested)
                {
                    " — attested gates rest on people's word only"
                } else {
                    ""
                }
            ),
            metrics: Some(metrics),
        })
    }

    /// end.2.1: Phase 7 completed, with the session and the time.
    fn phase7_completed(&self, e: &Engine) -> Result<String> {
        let id = e.session_id();
        let now = crate::clock::now_rfc3339();
        self.edit_master(e, "Phase 7 completed", |m| {
            let u = m.update_phase(7, |b| {
                set_status(b, PhaseStatus::Completed);
                b.insert("session".into(), id.clone().into());
                b.insert("completed_at".into(), now.clone().into());
                if let Some(serde_json::Value::Object(d)) = b.get_mut("deliverables") {
                    for v in d.values_mut() {
                        *v = "complete".into();
                    }
                }
            })?;
            Ok(with_bullets(
                u,
                "Phase 8 (Production Deployment & Operations) — ready for the Operations Framework",
            ))
        })?;
        Ok(format!("Phase 7 completed at {now} (session {id})"))
    }

    /// end.2.2: Phase 8 ready.
    fn phase8_ready(&self, e: &Engine) -> Result<String> {
        self.edit_master(e, "Phase 8 ready", |m| {
            Ok(m.update_phase(8, |b| set_status(b, PhaseStatus::Ready))?)
        })?;
        Ok("Phase 8 is ready".into())
    }

    /// end.2.3: the handoff package.
    fn handoff_package(&self, e: &Engine) -> Result<String> {
        let results = self.evaluate_gates(e, &[])?;
        let session = self.session(e)?;
        let (secrets, redactor, head) = {
            let store = e.store.borrow();
            (
                store.ctx().config.secrets.clone(),
                store.ctx().redactor.clone(),
                store.state.journal.clone(),
            )
        };
        let (dir, manifest_sha256) = crate::handoff::write(
            e.paths(),
            &e.set,
            &session,
            &results,
            &secrets,
            &redactor,
            &head,
        )?;
        let signer = e.store.borrow().ctx().signer.clone();
        if let Some(signer) = signer {
            let manifest = std::fs::read(dir.join("manifest.json"))?;
            let envelope = crate::signing::Envelope::sign(&signer, &manifest)?;
            let mut bytes = serde_json::to_vec_pretty(&envelope)?;
            bytes.push(b'\n');
            crate::fsio::write_atomic(&dir.join(crate::handoff::ENVELOPE), &bytes)?;
        }
        let shown = self.shown(e, &dir);
        e.record(
            None,
            EventKind::FileWritten {
                path: shown.clone(),
                purpose: crate::handoff::HANDOFF_PURPOSE.into(),
                sha256: Some(manifest_sha256),
            },
        )?;
        let report = crate::handoff::verify::verify(&dir);
        if !report.problems.is_empty() {
            bail!("the handoff package does not verify: {:?}", report.problems);
        }
        Ok(format!(
            "wrote {shown} ({} files, manifest verified)",
            report.files_ok
        ))
    }

    /// end.3.1: logs, evidence and the todo list into the archive folder.
    fn archive_evidence(&self, e: &Engine) -> Result<String> {
        let paths = e.paths();
        let session = self.session(e)?;
        let dir = paths.archive(&session.id);
        std::fs::create_dir_all(&dir)?;
        let logs = paths.logs(&session.id);
        if logs.exists() {
            let target = dir.join("logs");
            if target.exists() {
                std::fs::remove_dir_all(&target)?;
            }
            std::fs::rename(&logs, &target)
                .with_context(|| format!("cannot move {} into the archive", logs.display()))?;
        }
        let mut copied = 0;
        for rec in session.actions.values() {
            for item in &rec.evidence {
                // Checked again: the file may have changed since `done`.
                if let Some(why) =
                    crate::settle::evidence_problem(paths.root(), std::path::Path::new(item))
                {
                    bail!("evidence {item}: {why}; not copied into the archive");
                }
                let from = paths.root().join(item);
                let to = dir.join("evidence").join(item);
                if let Some(p) = to.parent() {
                    std::fs::create_dir_all(p)?;
                }
                std::fs::copy(&from, &to)
                    .with_context(|| format!("cannot copy evidence {item}"))?;
                copied += 1;
            }
        }
        if paths.todos().exists() {
            std::fs::copy(paths.todos(), dir.join("todos.json"))?;
        }
        crate::fsio::sync_dir(&dir)?;
        e.record(
            None,
            EventKind::FileWritten {
                path: self.shown(e, &dir),
                purpose: "session archive".into(),
                sha256: None,
            },
        )?;
        Ok(format!(
            "archived logs, {} and the todo list in {}",
            crate::ui::count(copied as u64, "evidence file", "evidence files"),
            self.shown(e, &dir)
        ))
    }

    /// end.3.2: the production status report.
    fn status_report(&self, e: &Engine) -> Result<String> {
        let session = self.session(e)?;
        let results = self.evaluate_gates(e, &[])?;
        let path = e.paths().archive(&session.id).join("status_report.md");
        self.write_file(
            e,
            &path,
            &status_report(&e.set, &session, &results),
            "production status report",
        )?;
        Ok(format!("wrote {}", self.shown(e, &path)))
    }

    /// end.3.3: operations readiness confirmed in the master state.
    fn operations_readiness(&self, e: &Engine) -> Result<String> {
        let session = self.session(e)?;
        let handoff = self.shown(e, &e.paths().handoff(&session.id));
        let now = crate::clock::now_rfc3339();
        self.edit_master(e, "operations readiness", |m| {
            Ok(m.update_phase(8, |b| {
                b.insert(
                    "operations_readiness".into(),
                    serde_json::json!({"confirmed_at": now, "session": session.id, "handoff": format!("{handoff}/")}),
                );
            })?)
        })?;
        Ok(format!(
            "operations readiness confirmed in the master state (handoff {handoff}/)"
        ))
    }

    /// end.3.4: `.ai_context/operations_context.md` and the transition command.
    fn operations_context(&self, e: &Engine) -> Result<String> {
        let session = self.session(e)?;
        let results = self.evaluate_gates(e, &[])?;
        let paths = e.paths();
        let text = operations_context(paths, &session, &results);
        self.write_file(e, &paths.operations_context(), &text, "operations context")?;
        Ok(format!(
            "wrote {}; transition: \"{}\"",
            self.shown(e, &paths.operations_context()),
            crate::context::TRANSITION_COMMAND
        ))
    }

    /// end.3.5: the audit trail verified, made durable, and the session's
    /// events kept with its archive.
    fn audit_trail(&self, e: &Engine) -> Result<String> {
        let paths = e.paths();
        e.store.borrow().sync_audit()?;
        // The gates verified the whole trail earlier in this run: pick up
        // where that verification got to (the line it stood on re-read).
        let reached = self
            .facts
            .borrow()
            .as_ref()
            .and_then(|f| f.audit.reached())
            .filter(|p| p.seq > 0);
        let v = match reached {
            Some(point) => audit::verify_after(&paths.audit(), &point)?,
            None => audit::verify(&paths.audit())?,
        };
        if let Some((line, why)) = &v.first_bad {
            bail!("the audit trail breaks at line {line}: {why}");
        }
        let id = e.session_id();
        let text = std::fs::read_to_string(paths.audit())?;
        let mine: String = text
            .lines()
            .filter(|l| l.contains(&format!("\"session\":\"{id}\"")))
            .map(|l| format!("{l}\n"))
            .collect();
        let dir = paths.archive(&id);
        crate::fsio::write_atomic(&dir.join("audit.jsonl"), mine.as_bytes())?;
        Ok(format!(
            "{} events verified (head {}); this session's events kept in {}",
            v.events,
            &v.head[..16],
            self.shown(e, &dir.join("audit.jsonl"))
        ))
    }
}

/// Sets the Last Update / Active Phase bullets when the file has them.
fn with_bullets(m: MasterState, active: &str) -> MasterState {
    let m = m
        .set_bullet("Last Update", &crate::clock::today())
        .unwrap_or(m);
    m.set_bullet("Active Phase", active)
        .unwrap_or_else(|| m.clone())
}

fn gate_lines(results: &[GateResult]) -> String {
    let rows: Vec<Vec<String>> = results.iter().map(GateResult::row).collect();
    crate::ui::markdown_table(&crate::gates::TABLE_HEADER, &rows)
}

fn completion_report(s: &Session, results: &[GateResult]) -> String {
    let deployments: String = s
        .deployments
        .iter()
        .map(|d| format!("- {} {}: {}\n", d.action, d.title(), d.summary()))
        .collect();
    format!(
        "# Deployment completion report — session {}\n\nOpened {} by {}.\n\n## Deployments\n\n{}\n## Quality gates\n\nBy evidence: {}. `pass` rests on machine evidence (exit codes, checks, probes, measurements); `attested` on people's notes only.\n\n{}",
        s.id,
        s.opened_at,
        s.opened_by,
        if deployments.is_empty() {
            "None measured.\n".into()
        } else {
            deployments
        },
        gates::summary(results),
        gate_lines(results)
    )
}

fn status_report(
    set: &crate::protocol::ProtocolSet,
    s: &Session,
    results: &[GateResult],
) -> String {
    let count = |st: ActionStatus| set.actions().filter(|a| s.status_of(&a.id) == st).count();
    let live = s.deployments.iter().rev().find(|d| d.succeeded());
    format!(
        "# Production status — session {}\n\nStatus: **{}**.\n\n- Actions: {} completed, {} skipped, {} failed\n- Live: {}\n- Gates: {} acceptable of {}\n\n## Gates\n\n{}",
        s.id,
        s.status.map_or("HANDOFF_PROCESSING", |x| x.as_str()),
        count(ActionStatus::Completed),
        count(ActionStatus::Skipped),
        count(ActionStatus::Failed),
        live.map_or("no measured deployment".to_string(), |d| format!(
            "{} deployment by {} at {}",
            d.strategy, d.action, d.at
        )),
        results.iter().filter(|g| g.verdict.acceptable()).count(),
        results.len(),
        gate_lines(results)
    )
}

fn operations_context(paths: &RepoPaths, s: &Session, results: &[GateResult]) -> String {
    let risks: Vec<String> = results
        .iter()
        .filter(|g| g.verdict == gates::Verdict::Waived)
        .map(|g| {
            format!(
                "- `{}` waived: {} (not met: {})",
                g.id.as_str(),
                g.waiver
                    .as_ref()
                    .and_then(|w| w.note.clone())
                    .unwrap_or_default(),
                g.reason
            )
        })
        .collect();
    let live = s.deployments.iter().rev().find(|d| d.succeeded());
    format!(
        "# Operations context\n\nWhat the Operations Framework (Phase 8) inherits from deployment session `{}`.\n\n\
         ## System\n\n- {}\n- Commit: {}\n- Handoff package: `{}/` (verify with `deploy-session handoff verify`)\n\n\
         ## Monitoring\n\nSee `03-monitoring-configuration.md` and `05-performance-baseline.md` in the handoff package.\n\n\
         ## Open risks\n\n{}\n\n## Transition\n\n> {}\n",
        s.id,
        live.map_or(
            "no deployment was measured by a strategy".to_string(),
            |d| format!(
                "live through a {} deployment ({} ms)",
                d.strategy, d.deploy_ms
            )
        ),
        s.git
            .as_ref()
            .and_then(|g| g.commit.clone())
            .unwrap_or_else(|| "not recorded".into()),
        paths.shown(&paths.handoff(&s.id)).display(),
        if risks.is_empty() {
            "- none: every quality gate passed".to_string()
        } else {
            risks.join("\n")
        },
        crate::context::TRANSITION_COMMAND
    )
}

/// One gate in `end`'s table.
fn gate_line(g: &GateResult) -> String {
    format!(
        "    {} {:<24} {}{}",
        if g.verdict.acceptable() { "✓" } else { "✗" },
        g.id.as_str(),
        g.verdict.word(),
        if g.reason.is_empty() {
            String::new()
        } else {
            format!(" — {}", g.reason)
        }
    )
}
