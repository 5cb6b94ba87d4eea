//! Closing a session: its final state and any remaining logs go to
//! `archive/<session>/`, a line goes to the history index, and the session
//! is closed in the journal. Safe to repeat after a crash: the history line
//! is written once.

use super::{EventKind, Store};
use crate::session::history::{self, HistoryEntry, Seal};
use anyhow::{Context, Result};

/// Closes the open session with `outcome` (`completed` or `aborted`).
pub fn close(store: &mut Store, outcome: &str, reason: Option<String>) -> Result<HistoryEntry> {
    let paths = store.ctx().paths.clone();
    let mut session = store
        .session()
        .cloned()
        .context("no open session to close")?;
    let now = crate::clock::now_rfc3339();
    session.closed_at = Some(now.clone());
    let dir = paths.archive(&session.id);
    std::fs::create_dir_all(&dir)?;
    let logs = paths.logs(&session.id);
    if logs.exists() && !dir.join("logs").exists() {
        std::fs::rename(&logs, dir.join("logs"))?;
    }
    let mut value = serde_json::to_value(&session)?;
    store.ctx().redactor.mask_json(&mut value);
    let mut bytes = serde_json::to_vec_pretty(&value)?;
    bytes.push(b'\n');
    crate::fsio::write_atomic(&dir.join("session.json"), &bytes)?;
    // The trail seals the entry first (the index is a view of the seals),
    // then the index gets the line with where its seal is.
    let mut entry = HistoryEntry::of(&session, outcome, &now);
    let position = store.state.sealed.as_ref().map_or(0, |s| s.sessions);
    let offset = store.state.journal.offset;
    store.record(
        None,
        EventKind::SessionClosed {
            outcome: outcome.to_string(),
            reason,
            history: Some(entry.clone()),
            position: Some(position),
        },
    )?;
    let (seq, head) = (store.state.journal.seq, store.state.journal.hash.clone());
    entry.seal = Some(Seal {
        seq,
        offset,
        hash: head.clone(),
    });
    if let Some(signer) = store.ctx().signer.clone() {
        let message = crate::signing::seal_message(&session.id, seq, &head);
        let kind = EventKind::SessionSealed {
            seq,
            head,
            key: signer.fingerprint(),
            signature: signer.sign(&message)?,
        };
        store.record_in(&session.id, kind)?;
    }
    store.sync_audit()?;
    history::append(&paths, &entry)?;
    Ok(entry)
}
