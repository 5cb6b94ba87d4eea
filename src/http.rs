//! HTTP GET for probes and the live-URL prober (ureq, blocking: callers run
//! it on tokio's blocking pool). Loopback hosts never go through a proxy
//! from the environment.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Longest body kept for `body_contains` checks.
const BODY_LIMIT: usize = 64 * 1024;

/// One request's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// `None` when no response came (refused, timed out, bad URL).
    pub status: Option<u16>,
    pub body: String,
    pub latency: Duration,
    pub error: Option<String>,
}

/// How a request connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pooling {
    /// Keep-alive connections are reused (probes, notifications).
    Reuse,
    /// A new connection per request, as many clients do: a proxy's graceful
    /// reload closes idle kept-alive connections, and a request sent on one
    /// at that moment would fail for the client's sake, not the service's.
    Fresh,
}

fn agent(direct: bool, pooling: Pooling) -> &'static ureq::Agent {
    static AGENTS: [OnceLock<ureq::Agent>; 4] = [const { OnceLock::new() }; 4];
    let slot = usize::from(direct) * 2 + usize::from(pooling == Pooling::Fresh);
    AGENTS[slot].get_or_init(|| {
        let mut b = ureq::Agent::config_builder().http_status_as_error(false);
        if direct {
            b = b.proxy(None);
        }
        if pooling == Pooling::Fresh {
            b = b.max_idle_connections(0).max_idle_connections_per_host(0);
        }
        ureq::Agent::new_with_config(b.build())
    })
}

fn is_loopback(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let name = if host.starts_with('[') {
        host.split(']')
            .next()
            .unwrap_or(host)
            .trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or(host)
    };
    name == "localhost" || name == "::1" || name.starts_with("127.")
}

/// GETs `url`, giving up after `timeout`.
pub fn get(url: &str, timeout: Duration) -> Reply {
    get_with(url, timeout, Pooling::Reuse)
}

/// GETs `url` on a new connection (live traffic during a deployment).
pub fn get_fresh(url: &str, timeout: Duration) -> Reply {
    get_with(url, timeout, Pooling::Fresh)
}

fn get_with(url: &str, timeout: Duration, pooling: Pooling) -> Reply {
    let started = Instant::now();
    let result = agent(is_loopback(url), pooling)
        .get(url)
        .config()
        .timeout_global(Some(timeout))
        .build()
        .call();
    match result {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let body = resp
                .body_mut()
                .with_config()
                .limit(BODY_LIMIT as u64)
                .read_to_string()
                .unwrap_or_default();
            Reply {
                status: Some(status),
                body,
                latency: started.elapsed(),
                error: None,
            }
        }
        Err(e) => Reply {
            status: None,
            body: String::new(),
            latency: started.elapsed(),
            error: Some(describe(&e)),
        },
    }
}

/// GETs `url` with `headers` and reads a JSON answer; anything but a 2xx
/// answer with JSON is an error naming the status.
pub fn get_json(
    url: &str,
    headers: &[(&str, String)],
    timeout: Duration,
) -> Result<serde_json::Value, String> {
    let mut req = agent(is_loopback(url), Pooling::Reuse)
        .get(url)
        .config()
        .timeout_global(Some(timeout))
        .build();
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    match req.call() {
        Ok(mut resp) if resp.status().is_success() => resp
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT as u64 * 16)
            .read_to_string()
            .map_err(|e| e.to_string())
            .and_then(|t| {
                serde_json::from_str(&t).map_err(|e| format!("the answer is not JSON: {e}"))
            }),
        Ok(resp) => Err(format!("answered {}", resp.status().as_u16())),
        Err(e) => Err(describe(&e)),
    }
}

/// POSTs a JSON `body` to `url`; a 2xx answer is delivered.
pub fn post_json(url: &str, body: &str, timeout: Duration) -> Result<(), String> {
    let result = agent(is_loopback(url), Pooling::Reuse)
        .post(url)
        .config()
        .timeout_global(Some(timeout))
        .build()
        .header("content-type", "application/json")
        .send(body);
    match result {
        Ok(resp) if resp.status().is_success() => Ok(()),
        Ok(resp) => Err(format!("answered {}", resp.status().as_u16())),
        Err(e) => Err(describe(&e)),
    }
}

/// The failure in a probe's words, from the error's type (never its text).
fn describe(e: &ureq::Error) -> String {
    use std::io::ErrorKind;
    match e {
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::Io(io) if io.kind() == ErrorKind::ConnectionRefused => {
            "connection refused".into()
        }
        ureq::Error::Io(io) if matches!(io.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
            "timed out".into()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        for u in [
            "http://127.0.0.1:8080/x",
            "http://localhost/",
            "http://[::1]:9/",
            "https://user@127.0.0.2/",
        ] {
            assert!(is_loopback(u), "{u}");
        }
        for u in [
            "http://example.com/",
            "http://10.0.0.1:80/",
            "http://127example.org/",
        ] {
            assert!(!is_loopback(u), "{u}");
        }
    }

    #[test]
    fn refused_connections_are_named() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let r = get(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(2));
        assert_eq!(r.status, None);
        assert_eq!(r.error.as_deref(), Some("connection refused"));
    }
}
