//! Notifications: the `notify:` webhook and/or command told when a
//! deployment starts, rolls back and finishes. Each is delivered on its own
//! thread, retried with backoff, so a slow or dead receiver never holds up a
//! deployment or its rollback; the run waits for them (bounded) only when
//! the strategy is over, and records each delivery in the audit trail.

use crate::protocol::model::NotifySpec;
use crate::redact::Redactor;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a receiver gets (README "Notifications"; schema
/// `templates/schemas/notification.schema.json`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Notification {
    /// Always 1.
    pub schema_version: u32,
    /// `deployment_started`, `rollback_started` or `deployment_finished`.
    pub event: String,
    pub session: String,
    pub action: String,
    /// `blue-green`, `canary` or `rolling`.
    pub strategy: String,
    /// For `deployment_finished`: `succeeded`, `failed`, `rolled_back` or
    /// `rollback_failed`.
    pub outcome: Option<String>,
    /// Why it rolled back, or how it ended (secrets masked).
    pub message: Option<String>,
    pub at: String,
}

/// How one delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub event: String,
    /// `webhook` or `command`.
    pub target: &'static str,
    pub attempts: u32,
    pub delivered: bool,
    pub error: Option<String>,
}

/// Sends notifications for one run and collects how they went. Each
/// target has one worker thread taking notifications in order, so a
/// receiver hears them in the order they happened, never interleaved.
pub struct Notifier {
    workers: Vec<Worker>,
    redactor: Redactor,
}

/// One target's queue and the thread working through it.
struct Worker {
    queue: std::sync::mpsc::Sender<(String, String)>,
    thread: JoinHandle<Vec<Delivery>>,
    target: &'static str,
}

/// The first retry's wait; each next one doubles it.
const BACKOFF: Duration = Duration::from_millis(200);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

impl Notifier {
    pub fn new(spec: NotifySpec, redactor: Redactor, root: PathBuf) -> Notifier {
        let timeout = spec.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
        let tries = spec.retries + 1;
        let mut workers = Vec::new();
        if let Some(url) = spec.webhook {
            workers.push(Worker::start("webhook", tries, move |_, body| {
                crate::http::post_json(&url, body, timeout)
            }));
        }
        if let Some(command) = spec.command {
            workers.push(Worker::start("command", tries, move |event, body| {
                run_command(&command, body, event, &root, timeout)
            }));
        }
        Notifier { workers, redactor }
    }

    /// Queues `n` for every target; returns at once.
    pub fn send(&mut self, n: Notification) {
        let body = self
            .redactor
            .mask(&serde_json::to_string(&n).unwrap_or_default());
        for w in &self.workers {
            // A worker that is gone has recorded why; nothing to add here.
            let _ = w.queue.send((n.event.clone(), body.clone()));
        }
    }

    /// Waits for the deliveries under way, up to `bound` in all; a target
    /// still trying then is reported as not delivered (its thread ends with
    /// the process).
    pub fn finish(self, bound: Duration) -> Vec<Delivery> {
        let deadline = Instant::now() + bound;
        let mut all = Vec::new();
        for w in self.workers {
            drop(w.queue);
            while !w.thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if w.thread.is_finished() {
                all.extend(w.thread.join().unwrap_or_default());
            } else {
                all.push(Delivery {
                    event: "(pending)".into(),
                    target: w.target,
                    attempts: 0,
                    delivered: false,
                    error: Some(format!("still trying after {}s; given up", bound.as_secs())),
                });
            }
        }
        all
    }
}

impl Worker {
    fn start(
        target: &'static str,
        tries: u32,
        send: impl Fn(&str, &str) -> Result<(), String> + Send + 'static,
    ) -> Worker {
        let (queue, inbox) = std::sync::mpsc::channel::<(String, String)>();
        let thread = std::thread::spawn(move || {
            inbox
                .iter()
                .map(|(event, body)| deliver(&event, target, tries, || send(&event, &body)))
                .collect()
        });
        Worker {
            queue,
            thread,
            target,
        }
    }
}

/// Tries `attempt` up to `tries` times with doubling waits between.
fn deliver(
    event: &str,
    target: &'static str,
    tries: u32,
    mut attempt: impl FnMut() -> Result<(), String>,
) -> Delivery {
    let mut error = None;
    for n in 1..=tries {
        match attempt() {
            Ok(()) => {
                return Delivery {
                    event: event.into(),
                    target,
                    attempts: n,
                    delivered: true,
                    error: None,
                };
            }
            Err(e) => error = Some(e),
        }
        if n < tries {
            std::thread::sleep(BACKOFF * 2u32.pow(n - 1));
        }
    }
    Delivery {
        event: event.into(),
        target,
        attempts: tries,
        delivered: false,
        error,
    }
}

/// Runs the notify command with the body on stdin; exit 0 is delivered.
fn run_command(
    command: &str,
    body: &str,
    event: &str,
    root: &std::path::Path,
    timeout: Duration,
) -> Result<(), String> {
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(root)
        .env("DEPLOY_SESSION_NOTIFICATION_EVENT", event)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start `{command}`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(body.as_bytes());
    }
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("`{command}` exited {status}")),
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`{command}` took longer than {}s",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_with_backoff_until_delivered_or_out_of_tries() {
        let mut calls = 0;
        let d = deliver("e", "webhook", 3, || {
            calls += 1;
            if calls < 2 {
                Err("down".into())
            } else {
                Ok(())
            }
        });
        assert_eq!((d.delivered, d.attempts), (true, 2));
        let d = deliver("e", "command", 2, || Err("down".into()));
        assert_eq!((d.delivered, d.attempts), (false, 2));
        assert_eq!(d.error.as_deref(), Some("down"));
    }
}
