//! The seed's quality gates: their ids, what each means, and the thresholds
//! a repo may set. Evaluation from recorded evidence lives with the end
//! protocol; this module is the vocabulary everything else shares.

use crate::audit::Verification;
pub use crate::protocol::gate::{GateId, GateThresholds, requirement};
use crate::protocol::model::{Kind, format_duration};
use crate::protocol::{Action, ProtocolSet};
use crate::session::history::{HistoryEntry, Reliability};
use crate::session::{ActionRecord, ActionStatus, ApprovalRecord, DeploymentRecord, Session};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A gate's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Machine evidence: an exit code, a check, a probe, a measured
    /// deployment or rollback, a verified trail.
    Pass,
    /// People's word only (a `done` with a note, an approval), for a gate
    /// whose config accepts it; the evidence names who.
    Attested,
    Fail,
    NoEvidence,
    /// Not passing, but waived by a recorded decision.
    Waived,
}

impl Verdict {
    /// Pass, attested or waived: the gate does not hold `end` back.
    pub fn acceptable(self) -> bool {
        matches!(self, Verdict::Pass | Verdict::Attested | Verdict::Waived)
    }

    /// The word shown in reports.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Attested => "attested",
            Verdict::Fail => "fail",
            Verdict::NoEvidence => "no-evidence",
            Verdict::Waived => "waived",
        }
    }

    /// How bad it is, when two judgements of one gate are combined.
    fn rank(self) -> u8 {
        match self {
            Verdict::Fail => 3,
            Verdict::NoEvidence => 2,
            Verdict::Attested => 1,
            Verdict::Pass | Verdict::Waived => 0,
        }
    }
}

/// The gates by verdict class, naming each (`pass: a, b · attested: c`).
pub fn by_class(results: &[GateResult]) -> String {
    CLASSES
        .iter()
        .filter_map(|v| {
            let ids: Vec<&str> = results
                .iter()
                .filter(|g| g.verdict == *v)
                .map(|g| g.id.as_str())
                .collect();
            (!ids.is_empty()).then(|| format!("{}: {}", v.word(), ids.join(", ")))
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

const CLASSES: [Verdict; 5] = [
    Verdict::Pass,
    Verdict::Attested,
    Verdict::Waived,
    Verdict::NoEvidence,
    Verdict::Fail,
];

/// How many gates have each verdict, in one line (`3 pass · 9 attested`).
/// Gates a person must decide on: neither passing nor waived.
pub fn undecided(results: &[GateResult]) -> Vec<&GateResult> {
    results.iter().filter(|g| !g.verdict.acceptable()).collect()
}

/// The one command that waives `gates` at once. The person's identity and
/// reason are left for the person to give (a placeholder is refused), so an
/// assistant can show it but never run it as printed.
pub fn waive_command(gates: &[&GateResult]) -> String {
    let mut cmd = String::from("deploy-session end");
    for g in gates {
        cmd.push_str(&format!(" --waive {}", g.id.as_str()));
    }
    cmd.push_str(&format!(
        r#" --by "{}" --reason "<why each is acceptable>""#,
        crate::progress::PERSON
    ));
    cmd
}

pub fn summary(results: &[GateResult]) -> String {
    CLASSES
        .iter()
        .filter_map(|v| {
            let n = results.iter().filter(|g| g.verdict == *v).count();
            (n > 0).then(|| format!("{n} {}", v.word()))
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// One gate's evaluation and the evidence behind it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct GateResult {
    pub id: GateId,
    pub group: &'static str,
    /// The seed's wording, with this repo's thresholds.
    pub requirement: String,
    pub verdict: Verdict,
    /// What was found, one fact a line.
    pub evidence: Vec<String>,
    /// Why it is not a pass (empty when it is).
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiver: Option<ApprovalRecord>,
}

/// The columns of a gate table.
pub const TABLE_HEADER: [&str; 4] = ["group", "gate", "verdict", "evidence"];

impl GateResult {
    /// The evidence, why it is not a pass, and the waiver, in one cell.
    pub fn explanation(&self) -> String {
        let mut why = self.evidence.join("; ");
        if !self.reason.is_empty() {
            why = if why.is_empty() {
                self.reason.clone()
            } else {
                format!("{why} — {}", self.reason)
            };
        }
        if let Some(w) = &self.waiver {
            why.push_str(&format!(
                " [waived by {} at {}: {}]",
                w.by,
                w.at,
                w.note.as_deref().unwrap_or("")
            ));
        }
        why
    }

    /// One row of a gate table (see [`TABLE_HEADER`]).
    pub fn row(&self) -> Vec<String> {
        vec![
            self.group.to_string(),
            self.id.as_str().to_string(),
            self.verdict.word().to_string(),
            // Waiver reasons and notes are recorded text: shown, not obeyed.
            crate::ui::visible(&self.explanation()).into_owned(),
        ]
    }
}

/// Everything gates are judged on.
pub struct Facts<'a> {
    pub set: &'a ProtocolSet,
    pub session: &'a Session,
    pub thresholds: &'a GateThresholds,
    pub history: &'a [HistoryEntry],
    pub audit: &'a Verification,
}

/// The facts gates are judged from beyond the session: the history index
/// and the audit trail's verification. Reading them is the expensive part,
/// so a run gathers them once and judges as often as it needs.
#[derive(Debug)]
pub struct Gathered {
    /// Earlier sessions, from the history index.
    pub history: Vec<HistoryEntry>,
    /// The audit trail's verification (an empty one when not asked for).
    pub audit: Verification,
}

impl Gathered {
    /// Reads the history and, when `list` has the audit gate (or is empty:
    /// every gate), verifies the audit trail.
    pub fn read(
        paths: &crate::paths::RepoPaths,
        state: &crate::session::StateFile,
        list: &[GateId],
    ) -> anyhow::Result<Gathered> {
        let history = crate::session::history::read_verified(paths, state)?;
        let needs_audit = list.is_empty() || list.contains(&GateId::AuditTrail);
        let audit = if needs_audit {
            crate::audit::verify(&paths.audit())?
        } else {
            Verification {
                path: paths.audit(),
                events: 0,
                first_bad: None,
                head: crate::audit::GENESIS.into(),
                offset: 0,
            }
        };
        Ok(Gathered { history, audit })
    }

    /// Evaluates `list` (every gate when empty) for `session`.
    pub fn judge(
        &self,
        set: &ProtocolSet,
        session: &Session,
        thresholds: &GateThresholds,
        list: &[GateId],
    ) -> Vec<GateResult> {
        let facts = Facts {
            set,
            session,
            thresholds,
            history: &self.history,
            audit: &self.audit,
        };
        evaluate(&facts, list)
    }
}

/// The gates judged from the session alone (no history, no trail pass):
/// what the hot-path readers (`status`, `context`) show, with the verdict
/// class of each; reliability and audit_trail are `gates`'s to judge.
pub fn session_only(
    set: &ProtocolSet,
    session: &Session,
    thresholds: &GateThresholds,
) -> Vec<GateResult> {
    let list: Vec<GateId> = GateId::ALL
        .into_iter()
        .filter(|g| !matches!(g, GateId::Reliability | GateId::AuditTrail))
        .collect();
    without_trail(Vec::new()).judge(set, session, thresholds, &list)
}

/// Every gate but the audit trail's, judged with `history` as read (not
/// verified against the trail): the decisions `context` lists once `end`
/// remains. `end` judges them again from verified facts.
pub fn with_history(
    set: &ProtocolSet,
    session: &Session,
    thresholds: &GateThresholds,
    history: Vec<crate::session::history::HistoryEntry>,
) -> Vec<GateResult> {
    let list: Vec<GateId> = GateId::ALL
        .into_iter()
        .filter(|g| *g != GateId::AuditTrail)
        .collect();
    without_trail(history).judge(set, session, thresholds, &list)
}

fn without_trail(history: Vec<crate::session::history::HistoryEntry>) -> Gathered {
    Gathered {
        history,
        audit: Verification {
            path: Default::default(),
            events: 0,
            first_bad: None,
            head: crate::audit::GENESIS.into(),
            offset: 0,
        },
    }
}

/// Gathers the facts for `list` and evaluates it (every gate when empty).
pub fn judge(
    paths: &crate::paths::RepoPaths,
    set: &ProtocolSet,
    state: &crate::session::StateFile,
    thresholds: &GateThresholds,
    list: &[GateId],
) -> anyhow::Result<Vec<GateResult>> {
    let session = state
        .session
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no open session to judge"))?;
    Ok(Gathered::read(paths, state, list)?.judge(set, session, thresholds, list))
}

/// Evaluates `gates` (every gate when empty).
pub fn evaluate(f: &Facts, gates: &[GateId]) -> Vec<GateResult> {
    let chosen: &[GateId] = if gates.is_empty() {
        &GateId::ALL
    } else {
        gates
    };
    chosen.iter().map(|g| evaluate_one(f, *g)).collect()
}

fn evaluate_one(f: &Facts, gate: GateId) -> GateResult {
    let (verdict, evidence, reason) = match gate {
        GateId::Reliability => reliability(f),
        GateId::DeploymentTime => deployment_time(f),
        GateId::ZeroDataLoss => zero_data_loss(f),
        GateId::RollbackTime => rollback_time(f),
        GateId::RealTimeValidation => measured_with(from_actions(f, gate), real_time(f)),
        GateId::RollbackCapability => rollback_capability(f),
        GateId::AuditTrail => audit_trail(f),
        _ => from_actions(f, gate),
    };
    let (verdict, reason) = if verdict == Verdict::Attested
        && f.thresholds.needs_machine_evidence(gate)
    {
        let why = "only people's word backs it; this gate needs machine evidence (a run, check, probe or measurement; `gates.machine_evidence` in the config)";
        let reason = if reason.is_empty() {
            why.to_string()
        } else {
            format!("{reason}; {why}")
        };
        (Verdict::NoEvidence, reason)
    } else {
        (verdict, reason)
    };
    let waiver = f.session.waivers.get(gate.as_str()).cloned();
    let verdict = if verdict != Verdict::Pass && waiver.is_some() {
        Verdict::Waived
    } else {
        verdict
    };
    GateResult {
        id: gate,
        group: gate.group(),
        requirement: requirement(gate, f.thresholds),
        verdict,
        evidence,
        reason,
        waiver,
    }
}

type Judgement = (Verdict, Vec<String>, String);

/// Both must pass; the worse verdict wins, evidence and reasons add up.
fn combine(a: Judgement, b: Judgement) -> Judgement {
    let verdict = if a.0.rank() >= b.0.rank() { a.0 } else { b.0 };
    let reasons: Vec<String> = [a.2, b.2].into_iter().filter(|r| !r.is_empty()).collect();
    (verdict, [a.1, b.1].concat(), reasons.join("; "))
}

/// A measured gate with people's steps beside the measurement: the
/// measurement decides the class (notes add to the evidence, they do not
/// lower a measured pass to `attested`).
fn measured_with(actions: Judgement, measured: Judgement) -> Judgement {
    let actions = if measured.0 == Verdict::Pass && actions.0 == Verdict::Attested {
        (Verdict::Pass, actions.1, actions.2)
    } else {
        actions
    };
    combine(actions, measured)
}

/// Evidence from the completion of the gate's source actions.
fn from_actions(f: &Facts, gate: GateId) -> Judgement {
    let mut evidence = Vec::new();
    let mut failed = Vec::new();
    let mut missing = Vec::new();
    let mut attested = false;
    for id in f.thresholds.sources(gate) {
        let Some(a) = f.set.action(&id) else {
            missing.push(format!("{id} is not an action of these protocols"));
            continue;
        };
        let rec = f.session.action(&id);
        match rec.status {
            ActionStatus::Completed => {
                attested |= !machine_evidence(&a.kind);
                evidence.push(describe(a, &rec));
            }
            ActionStatus::Failed => failed.push(format!(
                "{id} failed: {}",
                rec.message.as_deref().unwrap_or("no message")
            )),
            _ if a.optional() => {}
            ActionStatus::Skipped => missing.push(format!(
                "{id} was {} ({})",
                rec.status_shown(),
                rec.note.as_deref().unwrap_or("no reason")
            )),
            other => missing.push(format!("{id} is {}", other.word())),
        }
    }
    if !failed.is_empty() {
        (Verdict::Fail, evidence, failed.join("; "))
    } else if !missing.is_empty() {
        (Verdict::NoEvidence, evidence, missing.join("; "))
    } else if evidence.is_empty() {
        (
            Verdict::NoEvidence,
            evidence,
            "no evidence actions are configured for this gate".into(),
        )
    } else if attested {
        (Verdict::Attested, evidence, String::new())
    } else {
        (Verdict::Pass, evidence, String::new())
    }
}

/// Whether completing an action of this kind is machine evidence (the tool
/// ran or checked something) rather than a person's word.
fn machine_evidence(kind: &Kind) -> bool {
    !matches!(kind, Kind::Manual | Kind::Approval(_))
}

/// One line saying how an action was completed.
pub fn describe(a: &Action, rec: &ActionRecord) -> String {
    let took = rec
        .duration_ms
        .map(|ms| format!(" in {}", format_duration(Duration::from_millis(ms))))
        .unwrap_or_default();
    match &a.kind {
        Kind::Manual => {
            let by = rec.by.as_deref().unwrap_or("someone");
            let note = rec
                .note
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_else(|| " (no note)".into());
            let ev = if rec.evidence.is_empty() {
                String::new()
            } else {
                format!(" [evidence: {}]", rec.evidence.join(", "))
            };
            format!("{} done by {by}{note}{ev}", a.id)
        }
        Kind::Run(cmd) => format!(
            "{} ran `{cmd}`: exit {}{took}",
            a.id,
            rec.exit_code.unwrap_or(0)
        ),
        Kind::Check(_) | Kind::Probe(_) => {
            let what = rec
                .metrics
                .as_ref()
                .and_then(|m| m["evidence"].as_str())
                .unwrap_or("passed");
            format!("{} {}: {what}{took}", a.id, a.kind.name())
        }
        Kind::Strategy(s) => format!("{} {} deployment succeeded{took}", a.id, s.name()),
        Kind::Approval(_) => match &rec.approval {
            Some(ap) => format!("{} approved by {} at {}", a.id, ap.by, ap.at),
            None => format!("{} approved", a.id),
        },
        Kind::Builtin(_) => format!("{} done by deploy-session{took}", a.id),
    }
}

fn live<'a>(f: &Facts<'a>) -> Option<&'a DeploymentRecord> {
    f.session.deployments.iter().rev().find(|d| d.succeeded())
}

/// Reliability over every deployment — or, when deployments name
/// environments, per environment, the gate taking the worst verdict (a
/// healthy staging does not vouch for production).
fn reliability(f: &Facts) -> Judgement {
    let per_env = Reliability::per_environment(f.history, Some(f.session));
    if per_env.is_empty() {
        return reliability_of(f, &Reliability::of(f.history, Some(f.session)), "");
    }
    let rank = |v: Verdict| match v {
        Verdict::Fail => 2,
        Verdict::NoEvidence => 1,
        _ => 0,
    };
    let (mut worst, mut evidence, mut reasons) = (Verdict::Pass, Vec::new(), Vec::new());
    for (env, r) in &per_env {
        let (v, ev, why) = reliability_of(f, r, &format!("{env}: "));
        evidence.extend(ev);
        if !why.is_empty() {
            reasons.push(format!("{env}: {why}"));
        }
        if rank(v) > rank(worst) {
            worst = v;
        }
    }
    (worst, evidence, reasons.join("; "))
}

/// Judges one success rate; `label` prefixes its evidence.
fn reliability_of(f: &Facts, r: &Reliability, label: &str) -> Judgement {
    let min = f.thresholds.reliability_min();
    let need = f.thresholds.reliability_min_deployments() as u64;
    let Some(rate) = r.rate() else {
        return (
            Verdict::NoEvidence,
            vec![],
            "no deployment has been measured (a `strategy` action measures them)".into(),
        );
    };
    let evidence = vec![format!(
        "{label}{rate:.2}% of {} succeeded ({} failed) across {}",
        crate::ui::count(r.deployments, "deployment", "deployments"),
        r.deployments - r.succeeded,
        crate::ui::count(r.sessions, "session", "sessions")
    )];
    if r.deployments < need {
        let why = format!(
            "{} measured deployments are too few to state a rate; {need} are needed (gates.reliability_min_deployments)",
            r.deployments
        );
        return (Verdict::NoEvidence, evidence, why);
    }
    if rate + 1e-9 < min {
        return (
            Verdict::Fail,
            evidence,
            format!("{rate:.2}% is below {min}%"),
        );
    }
    (Verdict::Pass, evidence, String::new())
}

fn deployment_time(f: &Facts) -> Judgement {
    let max = f.thresholds.deployment_time_max();
    let Some(d) = live(f) else {
        return (
            Verdict::NoEvidence,
            vec![],
            "no successful deployment was measured in this session".into(),
        );
    };
    let took = Duration::from_millis(d.deploy_ms);
    let evidence = vec![format!(
        "{} {} deployment took {}",
        d.action,
        d.title(),
        format_duration(took)
    )];
    under(took, max, evidence)
}

/// Pass when `took` is under `max`.
fn under(took: Duration, max: Duration, evidence: Vec<String>) -> Judgement {
    if took >= max {
        let why = format!(
            "{} is not under {}",
            format_duration(took),
            format_duration(max)
        );
        return (Verdict::Fail, evidence, why);
    }
    (Verdict::Pass, evidence, String::new())
}

/// Zero data loss needs a data check: a check or run the team names in
/// `gates.sources.zero_data_loss` (live samples measure availability, not
/// data).
fn zero_data_loss(f: &Facts) -> Judgement {
    if f.thresholds.sources(GateId::ZeroDataLoss).is_empty() {
        return (
            Verdict::NoEvidence,
            vec![],
            "no data check: name a check or run action that verifies the data in gates.sources.zero_data_loss".into(),
        );
    }
    from_actions(f, GateId::ZeroDataLoss)
}

fn rollback_time(f: &Facts) -> Judgement {
    let max = f.thresholds.rollback_time_max();
    let here = f
        .session
        .deployments
        .iter()
        .filter_map(|d| d.rollback_ms)
        .max();
    let (ms, whence) = match here {
        Some(ms) => (ms, "in this session".to_string()),
        None => match f
            .history
            .iter()
            .rev()
            .find_map(|h| h.rollback_ms.map(|ms| (ms, h.session.clone())))
        {
            Some((ms, s)) => (ms, format!("in session {s}")),
            None => {
                return (
                    Verdict::NoEvidence,
                    vec![],
                    "no rollback has been measured yet (a failed strategy step measures one)"
                        .into(),
                );
            }
        },
    };
    let took = Duration::from_millis(ms);
    let evidence = vec![format!(
        "slowest measured rollback {whence}: {}",
        format_duration(took)
    )];
    under(took, max, evidence)
}

fn real_time(f: &Facts) -> Judgement {
    match live(f) {
        Some(d) if d.samples > 0 => {
            let every = d
                .sample_interval_ms
                .map(|ms| format!(" every {}", format_duration(Duration::from_millis(ms))))
                .unwrap_or_default();
            let measured = match d.traffic {
                Some(t) => format!(
                    "the live URL answered {} requests{every} during the {} deployment: {} failed, p50 {} p95 {} p99 {}",
                    t.requests,
                    d.title(),
                    t.failed,
                    crate::traffic::ms(t.p50_us),
                    crate::traffic::ms(t.p95_us),
                    crate::traffic::ms(t.p99_us)
                ),
                None => format!(
                    "the live URL was sampled {} times{every} during the deployment",
                    d.samples
                ),
            };
            (Verdict::Pass, vec![measured], String::new())
        }
        _ => (
            Verdict::NoEvidence,
            vec![],
            "the live URL was not sampled during a successful deployment".into(),
        ),
    }
}

/// Rollback capability needs a rollback that was exercised: a real one (a
/// strategy rolled back, a compensation command ran), or a drill — a
/// machine-run action among the gate's sources. A configured rollback that
/// never ran is not evidence.
fn rollback_capability(f: &Facts) -> Judgement {
    let mut evidence = Vec::new();
    if let Some(d) = f
        .session
        .deployments
        .iter()
        .find(|d| d.rollback_ms.is_some())
    {
        evidence.push(format!(
            "{} {} deployment rolled back in {}",
            d.action,
            d.strategy,
            format_duration(Duration::from_millis(d.rollback_ms.unwrap_or(0)))
        ));
    }
    let ran: Vec<String> = f
        .session
        .actions
        .iter()
        .flat_map(|(id, a)| {
            a.rollbacks
                .iter()
                .filter(|r| r.ok)
                .map(move |r| format!("rollback of {id} ran `{}`", r.command))
        })
        .collect();
    evidence.extend(ran);
    let drill = from_actions(f, GateId::RollbackCapability);
    match drill.0 {
        _ if !evidence.is_empty() => {
            evidence.extend(drill.1);
            (Verdict::Pass, evidence, String::new())
        }
        Verdict::Pass | Verdict::Fail => drill,
        _ => (
            Verdict::NoEvidence,
            drill.1,
            "no rollback was exercised: a drill action run by the tool, or a real rollback, is the evidence".into(),
        ),
    }
}

fn audit_trail(f: &Facts) -> Judgement {
    let v = f.audit;
    match &v.first_bad {
        Some((line, why)) => (
            Verdict::Fail,
            vec![],
            format!("the audit trail breaks at line {line}: {why}"),
        ),
        None if v.events == 0 => (
            Verdict::NoEvidence,
            vec![],
            "the audit trail is empty".into(),
        ),
        None => (
            Verdict::Pass,
            vec![format!(
                "{} events verified, chain intact (head {})",
                v.events,
                &v.head[..16]
            )],
            String::new(),
        ),
    }
}

#[cfg(test)]
mod evaluation_tests {
    use super::*;
    use crate::protocol::model::Dur;
    use crate::session::{ActionRecord, ActionStatus, DeploymentRecord};
    use std::collections::BTreeMap;

    fn session() -> Session {
        serde_json::from_value(serde_json::json!({
            "id": "S", "opened_at": "2026-11-25T12:00:00Z", "opened_by": "a", "host": "h", "git": null
        }))
        .unwrap()
    }

    fn complete(s: &mut Session, ids: &[&str]) {
        for id in ids {
            s.actions.insert(
                id.to_string(),
                ActionRecord {
                    status: ActionStatus::Completed,
                    by: Some("ann".into()),
                    ..Default::default()
                },
            );
        }
    }

    fn deployment(
        outcome: crate::protocol::DeploymentOutcome,
        deploy_ms: u64,
        rollback_ms: Option<u64>,
        samples: u64,
        failed: u64,
    ) -> DeploymentRecord {
        DeploymentRecord {
            action: "work.4.2".into(),
            strategy: "blue-green".into(),
            outcome,
            deploy_ms,
            rollback_ms,
            samples,
            failed_samples: failed,
            sample_interval_ms: Some(50),
            live: None,
            traffic: None,
            detection_ms: None,
            environment: None,
            at: "t".into(),
        }
    }

    fn verdicts(
        s: &Session,
        t: &GateThresholds,
        history: &[HistoryEntry],
    ) -> BTreeMap<GateId, Verdict> {
        let set = crate::protocol::builtin().unwrap();
        let audit = Verification {
            path: "a".into(),
            events: 3,
            first_bad: None,
            head: "h".repeat(64),
            offset: 0,
        };
        let f = Facts {
            set: &set,
            session: s,
            thresholds: t,
            history,
            audit: &audit,
        };
        evaluate(&f, &[])
            .into_iter()
            .map(|g| (g.id, g.verdict))
            .collect()
    }

    #[test]
    fn nothing_recorded_is_never_a_pass() {
        let v = verdicts(&session(), &GateThresholds::default(), &[]);
        for (gate, verdict) in &v {
            if *gate == GateId::AuditTrail {
                continue;
            }
            assert_eq!(*verdict, Verdict::NoEvidence, "{gate:?}");
        }
    }

    #[test]
    fn measured_deployments_decide_the_zero_downtime_gates() {
        let mut s = session();
        complete(&mut s, &["work.4.4", "work.4.5"]);
        s.deployments = vec![
            deployment(
                crate::protocol::DeploymentOutcome::RolledBack,
                900,
                Some(400),
                20,
                3,
            ),
            deployment(
                crate::protocol::DeploymentOutcome::Succeeded,
                1200,
                None,
                40,
                0,
            ),
        ];
        let v = verdicts(&s, &GateThresholds::default(), &[]);
        assert_eq!(v[&GateId::DeploymentTime], Verdict::Pass);
        assert_eq!(
            v[&GateId::ZeroDataLoss],
            Verdict::NoEvidence,
            "live samples measure availability; data needs a data check"
        );
        assert_eq!(v[&GateId::RollbackTime], Verdict::Pass);
        assert_eq!(
            v[&GateId::RollbackCapability],
            Verdict::Pass,
            "a rollback was exercised"
        );
        assert_eq!(
            v[&GateId::RealTimeValidation],
            Verdict::Pass,
            "the measurement decides; work.4.5's note adds to it"
        );
        assert_eq!(
            v[&GateId::Reliability],
            Verdict::NoEvidence,
            "2 deployments are too few"
        );
        let strict = GateThresholds {
            deployment_time_max: Some(Dur(Duration::from_millis(1000))),
            rollback_time_max: Some(Dur(Duration::from_millis(300))),
            ..Default::default()
        };
        let v = verdicts(&s, &strict, &[]);
        assert_eq!(v[&GateId::DeploymentTime], Verdict::Fail);
        assert_eq!(v[&GateId::RollbackTime], Verdict::Fail);
        // A person's note is not a data check, even when named as one.
        let mut sourced = GateThresholds::default();
        sourced
            .sources
            .insert(GateId::ZeroDataLoss, vec!["work.4.5".into()]);
        assert_eq!(
            verdicts(&s, &sourced, &[])[&GateId::ZeroDataLoss],
            Verdict::NoEvidence
        );
        // Without a rollback that ran, capability is not shown.
        s.deployments.remove(0);
        assert_eq!(
            verdicts(&s, &GateThresholds::default(), &[])[&GateId::RollbackCapability],
            Verdict::NoEvidence
        );
    }

    #[test]
    fn requirements_read_the_configured_thresholds() {
        let t = GateThresholds {
            deployment_time_max: Some(Dur(Duration::from_secs(90))),
            rollback_time_max: Some(Dur(Duration::from_secs(180))),
            reliability_min: Some(95.5),
            ..Default::default()
        };
        assert!(requirement(GateId::Reliability, &t).starts_with("95.5%"));
        assert_eq!(
            requirement(GateId::DeploymentTime, &t),
            "<90 second deployment execution time"
        );
        assert_eq!(
            requirement(GateId::RollbackTime, &t),
            "<3 minute rollback if issues are detected"
        );
        let d = GateThresholds::default();
        assert!(requirement(GateId::Reliability, &d).starts_with("99.9%"));
        assert_eq!(
            requirement(GateId::DeploymentTime, &d),
            "<5 minute deployment execution time"
        );
    }

    #[test]
    fn peoples_word_is_attested_and_measured_gates_need_machines() {
        let mut s = session();
        complete(&mut s, &["work.3.4", "work.4.5"]);
        let v = verdicts(&s, &GateThresholds::default(), &[]);
        assert_eq!(v[&GateId::SecurityScanning], Verdict::Attested);
        assert!(Verdict::Attested.acceptable());
        assert_eq!(v[&GateId::RealTimeValidation], Verdict::NoEvidence);
        // The config decides which gates need machine evidence.
        let strict = GateThresholds {
            machine_evidence: Some(vec![GateId::SecurityScanning]),
            ..Default::default()
        };
        assert_eq!(
            verdicts(&s, &strict, &[])[&GateId::SecurityScanning],
            Verdict::NoEvidence
        );
    }

    #[test]
    fn reliability_needs_enough_deployments_and_the_rate() {
        let entry = |n: u64, failed: u64| HistoryEntry {
            session: "old".into(),
            opened_at: "t".into(),
            closed_at: "t".into(),
            outcome: "completed".into(),
            duration_ms: 1,
            deployments: n,
            deployments_failed: failed,
            deploy_ms: None,
            rollback_ms: None,
            strategy: None,
            git_commit: None,
            live_slot: None,
            environments: Default::default(),
            seal: None,
        };
        let s = session();
        let t = GateThresholds {
            reliability_min: Some(90.0),
            ..Default::default()
        };
        // Per environment: the worst verdict decides. Staging's 10 good
        // deployments do not vouch for production's 2 failed of 10.
        let per_env = |staging: (u64, u64), production: (u64, u64)| {
            let mut e = entry(staging.0 + production.0, staging.1 + production.1);
            for (name, (n, failed)) in [("staging", staging), ("production", production)] {
                e.environments.insert(
                    name.into(),
                    crate::session::history::Tally {
                        deployments: n,
                        failed,
                    },
                );
            }
            e
        };
        let judged = |h: HistoryEntry| {
            let facts_history = [h];
            verdicts(&s, &t, &facts_history)[&GateId::Reliability]
        };
        assert_eq!(judged(per_env((10, 0), (10, 0))), Verdict::Pass);
        assert_eq!(
            judged(per_env((10, 0), (10, 2))),
            Verdict::Fail,
            "80% in production fails, though 90% overall would pass"
        );
        assert_eq!(judged(per_env((10, 0), (3, 0))), Verdict::NoEvidence);
        assert_eq!(
            verdicts(&s, &t, &[entry(9, 0)])[&GateId::Reliability],
            Verdict::NoEvidence
        );
        assert_eq!(
            verdicts(&s, &t, &[entry(10, 0)])[&GateId::Reliability],
            Verdict::Pass
        );
        assert_eq!(
            verdicts(&s, &t, &[entry(10, 2)])[&GateId::Reliability],
            Verdict::Fail
        );
    }

    #[test]
    fn sources_decide_and_waivers_are_recorded_decisions() {
        let mut s = session();
        complete(&mut s, &["work.3.4"]);
        assert_eq!(
            verdicts(&s, &GateThresholds::default(), &[])[&GateId::SecurityScanning],
            Verdict::Attested,
            "a person's completion: attested, not pass"
        );
        s.actions.get_mut("work.3.4").unwrap().status = ActionStatus::Failed;
        assert_eq!(
            verdicts(&s, &GateThresholds::default(), &[])[&GateId::SecurityScanning],
            Verdict::Fail
        );
        s.actions.get_mut("work.3.4").unwrap().status = ActionStatus::Skipped;
        assert_eq!(
            verdicts(&s, &GateThresholds::default(), &[])[&GateId::SecurityScanning],
            Verdict::NoEvidence
        );
        s.waivers.insert(
            "security_scanning".into(),
            crate::session::ApprovalRecord {
                by: "ann".into(),
                at: "t".into(),
                via: crate::protocol::ApprovalVia::Waiver,
                note: Some("scanner down".into()),
            },
        );
        assert_eq!(
            verdicts(&s, &GateThresholds::default(), &[])[&GateId::SecurityScanning],
            Verdict::Waived
        );
        let custom = GateThresholds {
            sources: [(GateId::SecurityScanning, vec!["start.2.1".to_string()])].into(),
            ..Default::default()
        };
        complete(&mut s, &["start.2.1"]);
        s.waivers.clear();
        assert_eq!(
            verdicts(&s, &custom, &[])[&GateId::SecurityScanning],
            Verdict::Attested
        );
    }

    #[test]
    fn a_broken_audit_trail_fails_its_gate() {
        let set = crate::protocol::builtin().unwrap();
        let s = session();
        let audit = Verification {
            path: "a".into(),
            events: 2,
            first_bad: Some((3, "edited".into())),
            head: "h".repeat(64),
            offset: 0,
        };
        let t = GateThresholds::default();
        let f = Facts {
            set: &set,
            session: &s,
            thresholds: &t,
            history: &[],
            audit: &audit,
        };
        let r = evaluate(&f, &[GateId::AuditTrail]);
        assert_eq!(r[0].verdict, Verdict::Fail);
        assert!(r[0].reason.contains("line 3"));
    }
}
