//! Live traffic while a strategy runs: requests through the live URL on a
//! fixed schedule — the prober's one per `sample_interval`, or `load:`'s
//! rate — each recorded with its latency. Every window of the deployment (a
//! canary step, the time after a switch, a rolling batch) then has its
//! request count, failures and latency percentiles: the evidence the
//! criteria judge and the deployment record keeps.
//!
//! The schedule is open loop: request `k` is due at `start + k × period`
//! whatever the earlier ones took, so a slow backend shows as latency, not
//! as fewer requests. Workers are plain threads (the requests are
//! blocking), detached at the end: a request still in flight when the
//! strategy ends is not waited for.

use crate::http;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request's result.
#[derive(Debug, Clone, Copy)]
struct Sample {
    latency_us: u64,
    ok: bool,
}

/// What one window of traffic showed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Window {
    pub requests: u64,
    pub failed: u64,
    /// Latency percentiles (nearest rank) in microseconds; 0 without requests.
    pub p50_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
}

impl Window {
    /// The figures of `samples`.
    fn of(samples: &[Sample]) -> Window {
        let mut lat: Vec<u64> = samples.iter().map(|s| s.latency_us).collect();
        lat.sort_unstable();
        let rank = |p: u64| -> u64 {
            if lat.is_empty() {
                return 0;
            }
            let i = (p * lat.len() as u64).div_ceil(100).max(1) - 1;
            lat[i as usize]
        };
        Window {
            requests: samples.len() as u64,
            failed: samples.iter().filter(|s| !s.ok).count() as u64,
            p50_us: rank(50),
            p95_us: rank(95),
            p99_us: rank(99),
        }
    }

    /// Good answers in percent (100 without requests).
    pub fn success_rate(&self) -> f64 {
        if self.requests == 0 {
            return 100.0;
        }
        100.0 * (self.requests - self.failed) as f64 / self.requests as f64
    }

    /// `240 requests, 0 failed, p50 1.2ms p95 3.4ms p99 5.0ms`.
    pub fn describe(&self) -> String {
        format!(
            "{} requests, {} failed, p50 {} p95 {} p99 {}",
            self.requests,
            self.failed,
            ms(self.p50_us),
            ms(self.p95_us),
            ms(self.p99_us)
        )
    }
}

/// Microseconds as milliseconds with one decimal (`3.4ms`).
pub fn ms(us: u64) -> String {
    format!("{}.{}ms", us / 1000, (us % 1000) / 100)
}

struct Shared {
    stop: AtomicBool,
    next: AtomicU64,
    /// Requests sent and not yet recorded.
    in_flight: AtomicU64,
    samples: Mutex<Vec<Sample>>,
}

/// Requests to one URL on a fixed schedule, until stopped.
pub struct Traffic {
    shared: Arc<Shared>,
    period: Duration,
}

/// Each request's limit: a slower answer counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

impl Traffic {
    /// Starts one request every `period` to `url`, with enough workers for
    /// a second of latency at that rate.
    pub fn start(url: String, period: Duration) -> Traffic {
        let period = period.max(Duration::from_micros(200));
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            next: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            samples: Mutex::new(Vec::new()),
        });
        let per_second = (Duration::from_secs(1).as_micros() / period.as_micros()).max(1);
        let workers = per_second.clamp(2, 256);
        let started = Instant::now();
        for _ in 0..workers {
            let (shared, url) = (shared.clone(), url.clone());
            let spawned = std::thread::Builder::new()
                .name("traffic".into())
                .stack_size(256 * 1024)
                .spawn(move || work(&shared, &url, started, period));
            if spawned.is_err() {
                break;
            }
        }
        Traffic { shared, period }
    }

    /// The requests per second it sends.
    pub fn rate(&self) -> f64 {
        1.0 / self.period.as_secs_f64()
    }

    /// A mark: the window from here is what `since` reports.
    pub fn mark(&self) -> usize {
        self.shared.samples.lock().map_or(0, |s| s.len())
    }

    /// The requests answered since `mark`.
    pub fn since(&self, mark: usize) -> Window {
        match self.shared.samples.lock() {
            Ok(s) => Window::of(s.get(mark..).unwrap_or_default()),
            Err(_) => Window::default(),
        }
    }

    /// Stops sending, waits for the requests in flight (each ends within
    /// its timeout) so that every request sent is counted, and returns the
    /// whole run's figures. Blocking: call it off the scheduler's thread.
    pub fn stop(&self) -> Window {
        self.shared.stop.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + REQUEST_TIMEOUT + Duration::from_secs(1);
        while self.shared.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.since(0)
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

/// One worker: takes the next due request, waits for its time, sends it.
fn work(shared: &Shared, url: &str, started: Instant, period: Duration) {
    let stopped = || shared.stop.load(Ordering::SeqCst);
    while !stopped() {
        let k = shared.next.fetch_add(1, Ordering::SeqCst);
        let due = started + period.saturating_mul(k.min(u32::MAX as u64) as u32);
        loop {
            if stopped() {
                return;
            }
            let now = Instant::now();
            if now >= due {
                break;
            }
            std::thread::sleep((due - now).min(Duration::from_millis(50)));
        }
        // Counted in flight before the last look at `stop` (both SeqCst):
        // either `stop` waits for this request, or it is never sent.
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        if stopped() {
            shared.in_flight.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let reply = http::get_fresh(url, REQUEST_TIMEOUT);
        let ok = reply.status.is_some_and(|c| (200..400).contains(&c));
        let sample = Sample {
            latency_us: reply.latency.as_micros() as u64,
            ok,
        };
        if let Ok(mut s) = shared.samples.lock() {
            s.push(sample);
        }
        shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(lat: &[u64], failed: usize) -> Vec<Sample> {
        lat.iter()
            .enumerate()
            .map(|(i, &l)| Sample {
                latency_us: l,
                ok: i >= failed,
            })
            .collect()
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let lat: Vec<u64> = (1..=100).collect();
        let w = Window::of(&samples(&lat, 3));
        assert_eq!(
            (w.requests, w.failed, w.p50_us, w.p95_us, w.p99_us),
            (100, 3, 50, 95, 99)
        );
        assert!((w.success_rate() - 97.0).abs() < 1e-9);
        let one = Window::of(&samples(&[7], 0));
        assert_eq!((one.p50_us, one.p99_us), (7, 7));
        let none = Window::of(&[]);
        assert_eq!((none.requests, none.p99_us), (0, 0));
        assert_eq!(none.success_rate(), 100.0);
    }

    #[test]
    fn latency_is_shown_in_milliseconds() {
        assert_eq!(ms(3_456), "3.4ms");
        assert_eq!(ms(120), "0.1ms");
        assert_eq!(ms(2_000_000), "2000.0ms");
    }

    /// The schedule holds its rate against a loopback listener, and a
    /// refused connection counts as failed.
    #[test]
    fn sends_on_schedule_and_counts_failures() {
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let t = Traffic::start(
            format!("http://127.0.0.1:{refused}/"),
            Duration::from_millis(10),
        );
        std::thread::sleep(Duration::from_millis(300));
        let w = t.stop();
        assert!(
            (10..=40).contains(&w.requests),
            "about 30 requests in 300ms at 100/s: {w:?}"
        );
        assert_eq!(w.failed, w.requests, "{w:?}");
    }
}
