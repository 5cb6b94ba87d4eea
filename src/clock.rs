//! The current time, pinnable for tests and snapshots with the hidden
//! `DEPLOY_SESSION_NOW` environment variable (an RFC 3339 timestamp).

use jiff::Timestamp;

/// Now (or the pinned time).
pub fn now() -> Timestamp {
    static PINNED: std::sync::OnceLock<Option<Timestamp>> = std::sync::OnceLock::new();
    PINNED
        .get_or_init(|| {
            std::env::var("DEPLOY_SESSION_NOW")
                .ok()
                .and_then(|s| s.parse().ok())
        })
        .unwrap_or_else(Timestamp::now)
}

/// Now as RFC 3339 with second precision (`2026-11-25T18:32:31Z`).
pub fn now_rfc3339() -> String {
    rfc3339(now())
}

/// A timestamp as RFC 3339 with second precision.
pub fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Today's date (UTC) as `YYYY-MM-DD`.
pub fn today() -> String {
    now().strftime("%Y-%m-%d").to_string()
}
