//! The library's public face: what the benchmark and the fuzz targets
//! drive. Everything else is crate-private (`pub(crate)`), so dead code
//! shows and the modules can change shape without breaking a caller.

use crate::audit::{Event, JournalPos, Writer};
use crate::paths::RepoPaths;
use crate::protocol::KindName;
use crate::session::history::{self, HistoryEntry};
use crate::session::{ActionStatus, EventKind};
use anyhow::Result;
use std::path::Path;

/// Appends `sessions` finished sessions of `per_session` events each to the
/// audit trail of the repo at `root`, with their history entries and
/// archive folders: a long-lived repo, for measuring the readers on it.
/// Returns the number of events in the trail.
pub fn write_archived_sessions(root: &Path, sessions: usize, per_session: usize) -> Result<u64> {
    let paths = RepoPaths::new(root.to_path_buf());
    let mut w = Writer::open(&paths.audit(), JournalPos::default())?;
    let event = |session: &str, action: Option<&str>, kind: EventKind| {
        let (name, detail) = kind.split();
        Event {
            seq: 0,
            ts: "2026-11-25T12:00:00Z".into(),
            session: session.into(),
            event: name,
            action: action.map(String::from),
            actor: "bench <bench@example.com>".into(),
            detail,
            prev: String::new(),
            hash: String::new(),
        }
    };
    for (sealed, s) in (0..sessions).enumerate() {
        let id = format!("20260101T000000Z-{s:04x}");
        w.append(event(
            &id,
            None,
            EventKind::SessionOpened {
                host: "h".into(),
                pid: 1,
                tool_version: "0".into(),
                git: None,
            },
        ))?;
        for i in 0..per_session.saturating_sub(2) / 2 {
            let a = format!("start.3.{}", i + 1);
            let started = EventKind::ActionStarted {
                attempt: 1,
                kind: KindName::Run,
                log: None,
                process: None,
            };
            w.append(event(&id, Some(&a), started))?;
            let done = EventKind::ActionFinished {
                status: ActionStatus::Completed,
                exit_code: Some(0),
                duration_ms: Some(3),
                message: None,
                metrics: None,
                log: None,
            };
            w.append(event(&id, Some(&a), done))?;
        }
        let mut entry = archived_entry(&id);
        let closed = EventKind::SessionClosed {
            outcome: "completed".into(),
            reason: None,
            history: Some(entry.clone()),
            position: Some(sealed as u64),
        };
        let offset = w.pos().offset;
        let line = w.append(event(&id, None, closed))?;
        entry.seal = Some(history::Seal {
            seq: line.seq,
            offset,
            hash: line.hash,
        });
        history::append(&paths, &entry)?;
        let archive = paths.archive(&id);
        std::fs::create_dir_all(&archive)?;
        std::fs::write(archive.join("session.json"), "{}")?;
    }
    Ok(w.pos().seq)
}

fn archived_entry(id: &str) -> HistoryEntry {
    HistoryEntry {
        session: id.to_string(),
        opened_at: "2026-01-01T00:00:00Z".into(),
        closed_at: "2026-01-01T00:10:00Z".into(),
        outcome: "completed".into(),
        duration_ms: 600_000,
        deployments: 1,
        deployments_failed: 0,
        deploy_ms: Some(1200),
        rollback_ms: None,
        strategy: Some("blue-green".into()),
        git_commit: None,
        live_slot: Some("blue".into()),
        environments: Default::default(),
        seal: None,
    }
}

/// The master state's promise on any bytes: they parse, or fail with an
/// error; whatever parses and has a Phase 7 block can be set in progress,
/// written, and read back with only that change. `Err` names the broken
/// promise.
pub fn master_state_round_trip(data: &[u8]) -> Result<(), String> {
    use crate::master_state::{MasterState, PhaseStatus, set_status};
    let path = Path::new("framework_progress.md");
    let Ok(state) = MasterState::parse(path, data) else {
        return Ok(());
    };
    if state.phase(7).is_none() {
        return Ok(());
    }
    let updated = state
        .update_phase(7, |m| set_status(m, PhaseStatus::InProgress))
        .map_err(|e| format!("a parsed Phase 7 block could not be updated: {e}"))?;
    let again = MasterState::parse(path, &updated.to_bytes())
        .map_err(|e| format!("an updated file does not parse: {e}"))?;
    match again.phase(7).map(|p| p.status.word()) {
        Some("in_progress") => Ok(()),
        other => Err(format!("Phase 7 reads back as {other:?}")),
    }
}

/// The config's promise on any text: it loads, or every error names the
/// file and a line inside the text. `Err` names the broken promise.
pub fn config_errors_are_located(text: &str) -> Result<(), String> {
    let lines = text.lines().count().max(1);
    let Err(errors) = crate::protocol::Config::parse(Path::new("deploy-session.yaml"), text) else {
        return Ok(());
    };
    if errors.0.is_empty() {
        return Err("an error result with no error".into());
    }
    for e in &errors.0 {
        if let Some(l) = e.line
            && !(1..=lines + 1).contains(&l)
        {
            return Err(format!("line {l} of {lines}"));
        }
    }
    Ok(())
}

/// The masker's promise on any bytes: a secret (taken from the input)
/// printed into any stream (the rest of the input) — plain or base64 at the
/// alignment the input picks — and fed in any chunks never comes out
/// whole. `Err` names the broken promise.
pub fn masking_hides_the_secret(data: &[u8]) -> Result<(), String> {
    use base64::Engine as _;
    let [len, at, shift, chunk, rest @ ..] = data else {
        return Ok(());
    };
    let n = (*len as usize % 24) + 3;
    if rest.len() < n {
        return Ok(());
    }
    let Ok(secret) = std::str::from_utf8(&rest[..n]) else {
        return Ok(());
    };
    // A secret holding the mask's `*` could be spelled by text around a
    // mask (`S!E` + `***` reads `S!E*`), and one holding U+FFFD by invalid
    // bytes the output shows as U+FFFD: neither is a leak, so not a case.
    if secret.trim().len() < 3 || secret.contains(['\r', '\0', '*', '\u{fffd}']) {
        return Ok(());
    }
    let noise = &rest[n..];
    let cut = (*at as usize).min(noise.len());
    let prefix = &b"tok=:"[..(*shift as usize % 3)];
    let encoded =
        base64::engine::general_purpose::STANDARD.encode([prefix, secret.as_bytes()].concat());
    let mut stream = noise[..cut].to_vec();
    stream.extend_from_slice(secret.as_bytes());
    stream.push(b' ');
    stream.extend_from_slice(encoded.as_bytes());
    stream.extend_from_slice(&noise[cut..]);
    let redactor = crate::redact::Redactor::new([secret]);
    let mut masker = redactor.stream();
    let mut out = Vec::new();
    for part in stream.chunks((*chunk as usize).max(1)) {
        out.extend(masker.push(part));
    }
    out.extend(masker.flush());
    let text = out.join("\n");
    if text.contains(secret) {
        return Err(format!("the secret {secret:?} came out: {text:?}"));
    }
    // Derived forms shorter than 6 characters are not masked (README): the
    // base64 of a secret under 6 bytes is not a case.
    if secret.len() >= 6 && base64_reveals(&text, secret.as_bytes()) {
        return Err(format!("its base64 {encoded:?} came out: {text:?}"));
    }
    Ok(())
}

/// Whether `text` holds `secret` base64-encoded at any alignment, in
/// either alphabet, wrapped or not: the oracle the masking tests and the
/// fuzz target share (`redact::base64_reveals`).
pub fn base64_reveals(text: &str, secret: &[u8]) -> bool {
    crate::redact::base64_reveals(text, secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archived_sessions_are_written_and_chained() {
        let dir = tempfile::tempdir().unwrap();
        let events = write_archived_sessions(dir.path(), 3, 10).unwrap();
        assert_eq!(events, 3 * 10);
        let paths = RepoPaths::new(dir.path().to_path_buf());
        assert_eq!(history::read(&paths).unwrap().len(), 3);
        let v = crate::audit::verify(&paths.audit()).unwrap();
        assert!(v.first_bad.is_none() && v.events == 30, "{v:?}");
    }

    /// A writer's check of the index reads only its end, and finishes an
    /// index a kill cut one line short, also when the index is long.
    #[test]
    fn a_long_index_missing_its_last_line_is_completed_from_the_trail() {
        let dir = tempfile::tempdir().unwrap();
        write_archived_sessions(dir.path(), 200, 4).unwrap();
        let paths = RepoPaths::new(dir.path().to_path_buf());
        let index = paths.archive_root().join("index.jsonl");
        let whole = std::fs::read_to_string(&index).unwrap();
        assert!(whole.len() > 3 * 8192, "longer than the tail read");
        let state = crate::session::read_only(&paths).unwrap();
        assert!(
            !history::catch_up(&paths, &state).unwrap(),
            "nothing missing"
        );
        let cut = &whole[..whole.trim_end().rfind('\n').unwrap() + 1];
        std::fs::write(&index, cut).unwrap();
        assert!(history::catch_up(&paths, &state).unwrap());
        assert_eq!(std::fs::read_to_string(&index).unwrap(), whole);
    }

    #[test]
    fn the_fuzzed_promises_hold_on_the_fixtures() {
        let master = include_bytes!("../tests/fixtures/master_state/realistic.md");
        assert_eq!(master_state_round_trip(master), Ok(()));
        assert_eq!(master_state_round_trip(b"\xff\xfe garbage"), Ok(()));
        assert_eq!(config_errors_are_located("actions:\n  x: [\n"), Ok(()));
        // Found by the fuzz target: the noise spelled the secret's start and
        // the mask its `*` — the oracle's false alarm, now not a case.
        let fuzzed = [
            5, 126, 126, 12, 83, 33, 69, 67, 45, 69, 126, 42, 5, 1, 12, 5, 1, 113, 10, 3, 57, 90,
            3, 113, 121, 48, 83, 33, 69, 67, 45, 69, 126,
        ];
        assert_eq!(masking_hides_the_secret(&fuzzed), Ok(()));
        // Invalid bytes shown as U+FFFD spelling a secret holding U+FFFD.
        let replacement = [
            0x1c, 0x05, 0x0c, 0x00, 0x71, 0x79, 0x2d, 0x53, 0xef, 0xbf, 0xbd, 0x2a, 0xff, 0xff,
            0x30, 0x05, 0x00, 0x71, 0x79, 0x2d, 0x53, 0xef, 0xbf, 0xfd, 0x2a, 0xff, 0xff, 0xff,
            0xff,
        ];
        assert_eq!(masking_hides_the_secret(&replacement), Ok(()));
        // A 3-byte secret: its base64 is shorter than any form masked.
        assert_eq!(
            masking_hides_the_secret(&[0, 5, 12, 58, 53, 53, 59]),
            Ok(())
        );
        let mut masking = vec![12, 5, 1, 3];
        masking.extend_from_slice(b"Zq9-SECRET-7xWsome noise around it\nand more");
        assert_eq!(masking_hides_the_secret(&masking), Ok(()));
    }

    proptest::proptest! {
        #![proptest_config(crate::testing::proptest_config(256))]
        /// The fuzz target's promise, in every `cargo test`.
        #[test]
        fn masking_hides_the_secret_on_any_bytes(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            proptest::prop_assert_eq!(masking_hides_the_secret(&data), Ok(()));
        }
    }
}
