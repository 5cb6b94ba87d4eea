//! HTTP health probes (kind `probe`, and the checks inside strategies).

use crate::engine::{Engine, Step};
use crate::http;
use crate::protocol::{Action, ProbeSpec, format_duration};
use crate::session::ActionStatus;
use anyhow::Result;
use serde::Serialize;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// One probe attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Attempt {
    /// Milliseconds since the probe began.
    pub at_ms: u64,
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// How a probe ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ProbeOutcome {
    pub url: String,
    pub ok: bool,
    pub interrupted: bool,
    /// One line: what was seen (on success) or what went wrong.
    pub summary: String,
    pub attempts: Vec<Attempt>,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// What is wrong with a reply, if anything.
fn judge(spec: &ProbeSpec, reply: &http::Reply) -> Option<String> {
    let want = spec.expect.status.unwrap_or(200);
    match reply.status {
        None => Some(reply.error.clone().unwrap_or_else(|| "no response".into())),
        Some(s) if s != want => Some(format!("status {s}, expected {want}")),
        Some(_) => match &spec.expect.body_contains {
            Some(needle) if !reply.body.contains(needle.as_str()) => {
                Some(format!("the body does not contain {needle:?}"))
            }
            _ => None,
        },
    }
}

/// GETs `url` until `consecutive` good answers in a row, or gives up after
/// `timeout` (or `retries` failed attempts).
pub async fn probe(url: &str, spec: &ProbeSpec, mut cancel: watch::Receiver<bool>) -> ProbeOutcome {
    let timeout = spec.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
    let interval = spec.interval.map_or(DEFAULT_INTERVAL, |d| d.0);
    let need = spec.consecutive.unwrap_or(1).max(1);
    let started = Instant::now();
    let mut out = ProbeOutcome {
        url: url.to_string(),
        ok: false,
        interrupted: false,
        summary: String::new(),
        attempts: Vec::new(),
    };
    let (mut streak, mut failures) = (0u32, 0u32);
    loop {
        let remaining = timeout
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(100));
        let u = url.to_string();
        let reply = crate::engine::off_thread(&cancel, move || {
            http::get(&u, remaining.min(Duration::from_secs(10)))
        })
        .await;
        let reply = match reply {
            Ok(Some(reply)) => reply,
            Ok(None) => return interrupted(out),
            Err(e) => http::Reply {
                status: None,
                body: String::new(),
                latency: Duration::ZERO,
                error: Some(format!("{e:#}")),
            },
        };
        let problem = judge(spec, &reply);
        out.attempts.push(Attempt {
            at_ms: started.elapsed().as_millis() as u64,
            status: reply.status,
            latency_ms: reply.latency.as_millis() as u64,
            ok: problem.is_none(),
            problem: problem.clone(),
        });
        match problem {
            None => {
                streak += 1;
                if streak >= need {
                    let n = out.attempts.len() as u64;
                    let avg = out.attempts.iter().map(|a| a.latency_ms).sum::<u64>() / n.max(1);
                    out.ok = true;
                    out.summary = format!(
                        "{streak} good answer{} in a row from {url} ({n} attempt{}, {avg}ms average)",
                        if streak == 1 { "" } else { "s" },
                        if n == 1 { "" } else { "s" }
                    );
                    return out;
                }
            }
            Some(why) => {
                streak = 0;
                failures += 1;
                if spec.retries.is_some_and(|r| failures > r) {
                    out.summary = format!(
                        "GET {url}: {why} ({failures} failed attempts; retries: {})",
                        spec.retries.unwrap_or(0)
                    );
                    return out;
                }
                out.summary = format!("GET {url}: {why}");
            }
        }
        if started.elapsed() + interval >= timeout {
            let last = if streak > 0 {
                format!("GET {url}: only {streak} of {need} good answers in a row")
            } else {
                out.summary.clone()
            };
            out.summary = format!(
                "{last} — gave up after {} ({} attempts)",
                format_duration(timeout),
                out.attempts.len()
            );
            return out;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = cancel.changed() => {}
        }
        if *cancel.borrow() {
            return interrupted(out);
        }
    }
}

fn interrupted(mut out: ProbeOutcome) -> ProbeOutcome {
    out.interrupted = true;
    out.summary = format!("probe of {} interrupted", out.url);
    out
}

/// Live-URL requests sent while a strategy ran (see `traffic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, schemars::JsonSchema)]
pub struct Samples {
    pub total: u64,
    pub failed: u64,
    pub interval_ms: u64,
}

impl Engine {
    /// Kind `probe`.
    pub(crate) async fn probe_action(
        self: &Rc<Self>,
        a: &Action,
        spec: &ProbeSpec,
    ) -> Result<Step> {
        let url = spec.url.clone().unwrap_or_default();
        self.start_attempt(a, crate::protocol::KindName::Probe)?;
        let started = Instant::now();
        let out = probe(&url, spec, self.cancel.clone()).await;
        let metrics = serde_json::json!({ "evidence": out.summary, "url": out.url, "attempts": out.attempts });
        let status = if out.interrupted {
            ActionStatus::Interrupted
        } else if out.ok {
            ActionStatus::Completed
        } else {
            ActionStatus::Failed
        };
        let message = (!out.ok).then(|| out.summary.clone());
        self.finish(
            a,
            status,
            None,
            Some(started.elapsed()),
            message,
            Some(metrics),
        )
    }
}
