//! `deploy-session serve` (hidden): the demo's service and its router, so the
//! example needs nothing but this binary and a POSIX shell.
//!
//! A service answers `GET /health` with `ok <version>` (or 500 when started
//! `--unhealthy`) and any other path with its version. A router reads its
//! routes file — lines of `PORT WEIGHT` — on every request and forwards to a
//! backend by smooth weighted round-robin, so a switch is one atomic rename
//! of that file and traffic never stops.

use anyhow::Result;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How to serve.
#[derive(Debug, Clone)]
pub struct Options {
    pub port: u16,
    pub version: String,
    pub unhealthy: bool,
    /// How late every answer comes.
    pub delay: Duration,
    /// Route to the backends in this file instead of answering.
    pub routes: Option<PathBuf>,
    /// Exit when this process is gone (never outlive the demo).
    pub exit_with: Option<i32>,
    pub pid_file: Option<PathBuf>,
}

/// Serves until killed.
pub fn run(opts: &Options) -> Result<()> {
    let server = tiny_http::Server::http(("127.0.0.1", opts.port))
        .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{}: {e}", opts.port))?;
    if let Some(p) = &opts.pid_file {
        crate::fsio::write_atomic(p, std::process::id().to_string().as_bytes())?;
    }
    if let Some(pid) = opts.exit_with {
        std::thread::spawn(move || watch_parent(pid));
    }
    let router = opts.routes.clone().map(|f| Arc::new(Router::new(f)));
    let opts = Arc::new(opts.clone());
    for request in server.incoming_requests() {
        let router = router.clone();
        let opts = opts.clone();
        std::thread::spawn(move || {
            let path = request.url().to_string();
            if !opts.delay.is_zero() {
                std::thread::sleep(opts.delay);
            }
            let (status, body) = match &router {
                Some(r) => r.forward(&path),
                None => answer(&opts, &path),
            };
            let _ =
                request.respond(tiny_http::Response::from_string(body).with_status_code(status));
        });
    }
    Ok(())
}

fn answer(opts: &Options, path: &str) -> (u16, String) {
    let health = path == "/health" || path.starts_with("/health?");
    match (opts.unhealthy, health) {
        (false, true) => (200, format!("ok {}\n", opts.version)),
        (true, true) => (500, format!("unhealthy {}\n", opts.version)),
        (false, false) => (200, format!("{}\n", opts.version)),
        (true, false) => (500, format!("error from {}\n", opts.version)),
    }
}

fn watch_parent(pid: i32) {
    loop {
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
            std::process::exit(0);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Smooth weighted round-robin over the routes file's backends.
pub struct Router {
    file: PathBuf,
    state: Mutex<(String, HashMap<u16, i64>)>,
}

impl Router {
    pub fn new(file: PathBuf) -> Router {
        Router {
            file,
            state: Mutex::new((String::new(), HashMap::new())),
        }
    }

    /// The backend port for the next request, if any backend has weight.
    pub fn pick(&self) -> Option<u16> {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        let routes = parse_routes(&text);
        let total: i64 = routes.iter().map(|(_, w)| *w).sum();
        if total <= 0 {
            return None;
        }
        let mut guard = self.state.lock().ok()?;
        let (seen, current) = &mut *guard;
        if *seen != text {
            *seen = text;
            current.clear();
        }
        for (port, w) in &routes {
            *current.entry(*port).or_insert(0) += w;
        }
        let (best, _) = routes
            .iter()
            .max_by_key(|(port, _)| (current[port], std::cmp::Reverse(*port)))?;
        *current.get_mut(best)? -= total;
        Some(*best)
    }

    fn forward(&self, path: &str) -> (u16, String) {
        let Some(port) = self.pick() else {
            return (503, "no backend has weight\n".into());
        };
        let reply = crate::http::get(
            &format!("http://127.0.0.1:{port}{path}"),
            Duration::from_secs(2),
        );
        match reply.status {
            Some(s) => (s, reply.body),
            None => (
                502,
                format!("backend {port}: {}\n", reply.error.unwrap_or_default()),
            ),
        }
    }
}

/// `PORT WEIGHT` lines (blank lines and `#` comments ignored).
pub fn parse_routes(text: &str) -> Vec<(u16, i64)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((
                parts.next()?.parse().ok()?,
                parts.next().unwrap_or("100").parse().ok()?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Writes a routes file atomically (what the demo's switch scripts do).
    fn write_routes(file: &Path, routes: &[(u16, i64)]) -> anyhow::Result<()> {
        let text: String = routes.iter().map(|(p, w)| format!("{p} {w}\n")).collect();
        crate::fsio::write_atomic(file, text.as_bytes())
    }

    #[test]
    fn weighted_round_robin_interleaves_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("routes");
        write_routes(&file, &[(1, 90), (2, 10)]).unwrap();
        let r = Router::new(file.clone());
        let picks: Vec<u16> = (0..20).map(|_| r.pick().unwrap()).collect();
        assert_eq!(picks.iter().filter(|p| **p == 2).count(), 2, "{picks:?}");
        assert!(
            picks[..10].contains(&2),
            "the canary is reached within 10 requests: {picks:?}"
        );
        write_routes(&file, &[(1, 0), (2, 100)]).unwrap();
        assert!((0..5).all(|_| r.pick() == Some(2)));
        write_routes(&file, &[]).unwrap();
        assert_eq!(r.pick(), None);
    }

    #[test]
    fn routes_parse_leniently() {
        assert_eq!(
            parse_routes("# c\n18081 90\n\n18083 10\nbad line\n18084\n"),
            vec![(18081, 90), (18083, 10), (18084, 100)]
        );
    }
}
