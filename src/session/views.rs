//! state.json as a view of the audit trail: every snapshot the tool writes
//! is announced in the trail (`snapshot_taken`, with the SHA-256 of the
//! bytes) right after the position the snapshot records. A reader checks the
//! file it loads against that line, so an edited `state.json` — forged
//! completions, invented deployments — is refused by the next command that
//! reads it. `audit rebuild` writes the views again from the trail alone.

use super::{EventKind, StateFile, replay};
use crate::audit::{self, Event, JournalPos, Tail};
use crate::error::InputError;
use std::path::Path;

/// Why a state.json does not answer to the trail, naming the first thing
/// that disagrees; `None` when it does.
pub fn snapshot_problem(
    paths: &crate::paths::RepoPaths,
    state: &StateFile,
    fingerprint: &str,
    tail: &Tail,
) -> Option<String> {
    let recorded = tail
        .events
        .first()
        .and_then(|e| EventKind::from_event(e).map(|k| (e, k)));
    let (event, serial, sha) = match recorded {
        Some((e, EventKind::SnapshotTaken { serial, sha256 })) => (e, serial, sha256),
        _ => {
            return Some(format!(
                "the audit trail records no snapshot after seq {} (the position state.json claims)",
                state.journal.seq
            ));
        }
    };
    if sha == fingerprint && serial == state.serial {
        return None;
    }
    let rebuilt = rebuild_at(paths, &state.journal, state.serial);
    let difference = rebuilt
        .ok()
        .and_then(|r| first_difference(&to_value(&r), &to_value(state), String::new()));
    Some(match difference {
        Some((path, trail_says, file_says)) => {
            format!("`{path}` is {file_says} where the audit trail gives {trail_says}")
        }
        None => format!(
            "its bytes are not the snapshot recorded at seq {} (serial {serial}, sha256 {}…)",
            event.seq,
            &sha[..sha.len().min(16)]
        ),
    })
}

/// The refusal for a state.json that does not answer to the trail.
pub fn mismatch_error(shown: &Path, why: &str) -> anyhow::Error {
    InputError::in_file(shown, None, format!("does not match the audit trail: {why}"))
        .with_hint("state.json is a view of the audit trail and nothing was written; undo the edit, or run `deploy-session audit rebuild` to write the views again from the trail")
        .into()
}

/// The state the trail gives at `pos`, with `serial` (what the snapshot
/// there should hold). Reads the whole trail: only on the error path and in
/// `audit rebuild`.
pub fn rebuild_at(
    paths: &crate::paths::RepoPaths,
    pos: &JournalPos,
    serial: u64,
) -> anyhow::Result<StateFile> {
    let trail = &paths.audit();
    let all = audit::read_tail(trail, &JournalPos::default())?;
    let events: Vec<Event> = all
        .events
        .into_iter()
        .take_while(|e| e.seq <= pos.seq)
        .collect();
    let events = super::joins::expand(paths, events)?;
    let mut state = StateFile {
        serial,
        ..StateFile::default()
    };
    replay(&mut state, &events);
    state.journal = pos.clone();
    Ok(state)
}

fn to_value(state: &StateFile) -> serde_json::Value {
    serde_json::to_value(state).unwrap_or_default()
}

/// The first path (`a.b.c`) where two JSON values differ, with each side.
pub fn first_difference(
    want: &serde_json::Value,
    got: &serde_json::Value,
    at: String,
) -> Option<(String, String, String)> {
    use serde_json::Value;
    let join = |key: &str| {
        if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        }
    };
    match (want, got) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|k| {
                first_difference(
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    join(k),
                )
            })
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, join(&i.to_string()))),
        _ if want == got => None,
        _ => Some((at, short(want), short(got))),
    }
}

/// A value as an error shows it: JSON (control characters escaped), bidi
/// and other invisible characters made visible, cut to a line.
fn short(v: &serde_json::Value) -> String {
    let text = crate::ui::visible(&v.to_string()).into_owned();
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(59).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::first_difference;
    use serde_json::json;

    #[test]
    fn the_first_difference_is_named_by_its_path() {
        let a = json!({"s": {"actions": {"x": {"note": null, "by": "ann"}}, "n": [1, 2]}});
        let b = json!({"s": {"actions": {"x": {"note": "forged", "by": "ann"}}, "n": [1, 2]}});
        assert_eq!(
            first_difference(&a, &b, String::new()),
            Some((
                "s.actions.x.note".into(),
                "null".into(),
                "\"forged\"".into()
            ))
        );
        let c = json!({"s": {"actions": {"x": {"note": null, "by": "ann"}}, "n": [1, 2, 3]}});
        assert_eq!(first_difference(&a, &c, String::new()).unwrap().0, "s.n");
        assert_eq!(first_difference(&a, &a, String::new()), None);
    }
}
