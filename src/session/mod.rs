//! The session store: the lock, the snapshot (state.json) and the journal
//! (the audit trail). Writers hold the lock, append one line per event and
//! snapshot at stage boundaries and stops; readers never lock and see the
//! snapshot plus the journal's tail.

pub mod archive;
pub mod history;
pub mod joins;
pub mod lock;
pub mod merge;
pub mod model;
pub mod views;

use crate::audit::{self, Event};
use crate::error::InputError;
use crate::fsio;
use crate::paths::RepoPaths;
use crate::protocol::ProtocolSet;
use crate::redact::Redactor;
use anyhow::{Context as _, Result, bail};
pub use model::*;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// This machine's name.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// A new session id: UTC time plus a short random suffix.
pub fn new_session_id() -> String {
    let t = crate::clock::now().strftime("%Y%m%dT%H%M%SZ");
    format!("{t}-{:04x}", fastrand::u16(..))
}

/// Reads state.json (or the empty state when there is none).
fn read_state_file(path: &Path, shown: &Path) -> Result<(StateFile, Option<String>)> {
    let bytes = match crate::fsio::read_regular(path) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok((StateFile::default(), None)),
        Err(e) => return Err(crate::fsio::read_problem(e, shown)),
    };
    let state: StateFile = fsio::json_from_bytes(&bytes).map_err(|e| {
        InputError::in_file(shown, Some(e.line()), format!("invalid session state: {e}"))
            .at_column(Some(e.column()))
            .with_hint("state.json is written by deploy-session; undo the hand edit, or delete it to rebuild the session from the audit trail")
    })?;
    if state.format_version != FORMAT_VERSION {
        let (line, column) = key_position(&bytes, "\"format_version\"");
        return Err(InputError::in_file(
            shown,
            line,
            format!("state format version {} is not {FORMAT_VERSION}, the one this deploy-session reads", state.format_version),
        )
        .at_column(column)
        .into());
    }
    Ok((state, Some(fingerprint(&bytes))))
}

/// 1-based line and column of the first occurrence of `needle` in `bytes`.
fn key_position(bytes: &[u8], needle: &str) -> (Option<usize>, Option<usize>) {
    let text = String::from_utf8_lossy(bytes);
    match text.find(needle) {
        Some(at) => {
            let (line, column) = crate::error::line_column(&text, at);
            (Some(line), Some(column))
        }
        None => (None, None),
    }
}

fn fingerprint(bytes: &[u8]) -> String {
    crate::digest::sha256_hex(bytes)
}

/// The state as a reader sees it: snapshot + journal tail, no lock, no
/// writes. A torn last line (a writer mid-append) is ignored.
pub fn read_only(paths: &RepoPaths) -> Result<StateFile> {
    let (state, _, tail) = load_state(paths)?;
    let mut state = state;
    state.journal = tail.end;
    Ok(state)
}

/// The snapshot with the trail's later events replayed on it, its
/// fingerprint and the tail read. The open session's id becomes folder
/// names (logs, archive, handoff), so one that could leave its folder is
/// refused, naming where it came from.
fn load_state(paths: &RepoPaths) -> Result<(StateFile, Option<String>, audit::Tail)> {
    let shown = paths.shown(&paths.state());
    let (mut state, fp) = read_state_file(&paths.state(), &shown)?;
    let tail = audit::read_tail(&paths.audit(), &state.journal)?;
    // The file as read must be the snapshot the trail vouches for; the
    // refusal waits for the session id's own, which names the field.
    let mismatch = fp
        .as_ref()
        .and_then(|fp| views::snapshot_problem(paths, &state, fp, &tail));
    replay(&mut state, &joins::expand(paths, tail.events.clone())?);
    if let Some(id) = state.session.as_ref().map(|s| s.id.clone())
        && let Err(why) = check_session_id(&id)
    {
        let bytes = std::fs::read(paths.state()).unwrap_or_default();
        let quoted = serde_json::to_string(&id).unwrap_or_default();
        let (file, (line, column)) = match key_position(&bytes, &quoted) {
            (Some(l), c) => (shown, (Some(l), c)),
            _ => (paths.shown(&paths.audit()), (None, None)),
        };
        return Err(
            InputError::in_file(&file, line, format!("session id {quoted} {why}"))
                .at_column(column)
                .with_hint("a session id is written by deploy-session; undo the edit")
                .into(),
        );
    }
    if let Some(why) = mismatch {
        return Err(views::mismatch_error(&shown, &why));
    }
    Ok((state, fp, tail))
}

/// A session id is safe as one folder name: letters, digits, `.`, `_`, `-`,
/// not starting with a dot, at most 64 characters (ids the tool makes look
/// like `20261125T120000Z-0afe`).
pub fn check_session_id(id: &str) -> Result<(), &'static str> {
    let ok_chars = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if id.is_empty() || id.len() > 64 || id.starts_with('.') || !ok_chars {
        Err("is not a session id: it would not stay one folder inside the repo")
    } else {
        Ok(())
    }
}

fn replay(state: &mut StateFile, events: &[Event]) {
    for e in events {
        match EventKind::from_event(e) {
            Some(kind) => state.apply(e, &kind),
            None => tracing::debug!(event = %e.event, "unknown event skipped"),
        }
    }
}

/// How long a derived view (the todo list) may lag behind during a run.
const VIEW_INTERVAL: Duration = Duration::from_millis(250);

/// A file derived from the record (the todo list). The store does not know
/// what such a file holds: it tells each view the state changed — now and
/// then during a run (`durable: false`, no fsync), and at every snapshot
/// (`durable: true`) — and the view writes itself.
pub trait DerivedView: std::fmt::Debug {
    /// Rewrites the view from `session`.
    fn refresh(&mut self, ctx: &Context, session: Option<&Session>, durable: bool) -> Result<()>;
}

/// What a writer needs besides the repo.
#[derive(Debug, Clone)]
pub struct Context {
    pub paths: RepoPaths,
    pub protocols: Arc<ProtocolSet>,
    /// The repo's config (gate thresholds, secret names).
    pub config: Arc<crate::protocol::Config>,
    pub redactor: Redactor,
    /// Who is acting (git identity, `--by`, or the OS user).
    pub actor: String,
    /// The key that signs the session's seal and handoff (`end --sign-with`).
    pub signer: Option<Arc<crate::signing::Signer>>,
}

/// The writer's handle: holds the lock for its lifetime.
#[derive(Debug)]
pub struct Store {
    ctx: Context,
    pub state: StateFile,
    writer: audit::Writer,
    _lock: lock::Lock,
    fingerprint: Option<String>,
    /// Nothing was recorded since state.json was written.
    unchanged: bool,
    views: Vec<Box<dyn DerivedView>>,
    views_at: Option<Instant>,
    /// The context's actor as recorded (masked), worked out once.
    masked_actor: String,
    /// A protocol cache to keep when the run first records something.
    unkept_protocols: Option<crate::protocol::cache::Fresh>,
}

impl Drop for Store {
    /// A command that recorded nothing (refused, or with nothing to do)
    /// leaves no lock file or folder it created behind.
    fn drop(&mut self) {
        if !self.writer.appended() {
            self._lock.leave_no_trace();
        }
    }
}

impl Store {
    /// Takes the lock and loads the state, replaying the journal's tail. A
    /// torn last line is quarantined and recorded.
    pub fn open(ctx: Context, lock_timeout: Duration, command: &str) -> Result<Store> {
        let paths = ctx.paths.clone();
        let (store, ()) = Self::open_with(&paths, lock_timeout, command, |_| Ok((ctx, ())))?;
        Ok(store)
    }

    /// [`Store::open`], with the context made from the state it loaded: a
    /// writer reads its protocols under the seal the state carries. A
    /// context that cannot be made (a broken config) leaves no lock behind.
    pub fn open_with<T>(
        paths: &RepoPaths,
        lock_timeout: Duration,
        command: &str,
        context: impl FnOnce(&StateFile) -> Result<(Context, T)>,
    ) -> Result<(Store, T)> {
        let mut lock = Self::lock_and_clean(paths, lock_timeout, command)?;
        let (state, fp, tail) = load_state(paths)?;
        if history::catch_up(paths, &state)? {
            tracing::info!(
                "the history index was missing a session a killed `end` closed; written from the trail"
            );
        }
        let (ctx, made) = context(&state).inspect_err(|_| lock.leave_no_trace())?;
        Ok((Self::with_state(ctx, lock, state, fp, tail)?, made))
    }

    /// Keeps a freshly resolved protocol set as the cache — its seal
    /// recorded right after the run's first line, so a command that records
    /// nothing writes nothing. A set that had to be parsed though the trail
    /// vouches for its cache (the file was deleted or edited) puts the
    /// vouched bytes back, without a new line.
    pub fn keep_protocols(&mut self, fresh: crate::protocol::cache::Fresh) {
        self.unkept_protocols = Some(fresh);
    }

    /// Keeps the protocol cache [`Store::keep_protocols`] holds now, in a
    /// run that ends without recording anything else (a protocol already
    /// complete after a config change or an upgrade), and snapshots.
    pub fn settle_protocols(&mut self) -> Result<()> {
        if self.write_kept_protocols()? {
            self.snapshot()?;
        }
        Ok(())
    }

    /// Writes the cache [`Store::keep_protocols`] holds; whether its seal
    /// had to be recorded.
    fn write_kept_protocols(&mut self) -> Result<bool> {
        let Some(fresh) = self.unkept_protocols.take() else {
            return Ok(false);
        };
        // The file first: a crash before the line leaves a cache nothing
        // vouches for, which no command reads. A cache that cannot be
        // written (a full disk) is not kept; the run goes on without it.
        if let Err(e) = fsio::write_atomic_fast(&self.ctx.paths.protocol_cache(), &fresh.bytes) {
            tracing::warn!("the protocol cache was not kept: {e:#}");
            return Ok(false);
        }
        if self.state.protocols.as_ref() == Some(&fresh.seal) {
            return Ok(false);
        }
        self.record_anywhere(EventKind::ProtocolResolved(fresh.seal))?;
        Ok(true)
    }

    /// Takes the lock and derives the state from the whole trail, ignoring
    /// state.json (`audit rebuild`): the trail's chain must hold. The old
    /// state.json is kept as a numbered backup, returned.
    pub fn rebuild(
        ctx: Context,
        lock_timeout: Duration,
        command: &str,
    ) -> Result<(Store, Option<std::path::PathBuf>)> {
        let lock = Self::lock_and_clean(&ctx.paths, lock_timeout, command)?;
        let tail = audit::read_tail(&ctx.paths.audit(), &audit::JournalPos::default())?;
        let mut state = StateFile::default();
        replay(&mut state, &joins::expand(&ctx.paths, tail.events.clone())?);
        let old = ctx.paths.state();
        let backup = match std::fs::symlink_metadata(&old) {
            Ok(_) => {
                let kept = fsio::keep_numbered_backup(&old)?;
                std::fs::remove_file(&old)?;
                Some(kept)
            }
            Err(_) => None,
        };
        let mut store = Self::with_state(ctx, lock, state, None, tail)?;
        store.snapshot()?;
        Ok((store, backup))
    }

    fn lock_and_clean(
        paths: &RepoPaths,
        lock_timeout: Duration,
        command: &str,
    ) -> Result<lock::Lock> {
        let mut lock = lock::acquire(&paths.lock(), lock_timeout, command)?;
        // Every file a writer rewrites in place, checked before anything is
        // written: a link among them refuses the command as a whole (and
        // leaves no lock file behind).
        for owned in [
            paths.state(),
            paths.protocol_cache(),
            paths.audit(),
            paths.todos(),
            paths.deployment_context(),
            paths.master_state(),
        ] {
            fsio::not_a_symlink(&owned).inspect_err(|_| lock.leave_no_trace())?;
        }
        // A killed writer can only have been writing the newest session's
        // handoff package or archive: those are cleaned all the way down.
        let newest = [paths.ai_context().join("handoff"), paths.archive_root()]
            .iter()
            .filter_map(|d| fsio::newest_child(d))
            .collect::<Vec<_>>();
        let shallow = [
            paths.store(),
            paths.ai_context(),
            paths.ai_context().join("handoff"),
            paths.archive_root(),
        ]
        .map(|d| (d, false));
        for (dir, deep) in shallow
            .into_iter()
            .chain(newest.into_iter().map(|d| (d, true)))
        {
            let n = if deep {
                fsio::remove_stale_temps_below(&dir)
            } else {
                fsio::remove_stale_temps(&dir)
            };
            if n > 0 {
                tracing::info!(removed = n, dir = %dir.display(), "removed temp files left by a killed writer");
            }
        }
        Ok(lock)
    }

    fn with_state(
        ctx: Context,
        lock: lock::Lock,
        mut state: StateFile,
        fp: Option<String>,
        tail: audit::Tail,
    ) -> Result<Store> {
        let paths = &ctx.paths;
        let unchanged = fp.is_some() && tail.events.len() == 1 && tail.torn.is_none();
        state.journal = tail.end.clone();
        let writer = audit::Writer::open(&paths.audit(), tail.end)?;
        let masked_actor = ctx.redactor.mask(&ctx.actor);
        let mut store = Store {
            masked_actor,
            ctx,
            state,
            writer,
            _lock: lock,
            fingerprint: fp,
            unchanged,
            views: Vec::new(),
            views_at: None,
            unkept_protocols: None,
        };
        if let Some((offset, bytes)) = tail.torn {
            let q = audit::quarantine(&store.ctx.paths.audit(), offset, &bytes)?;
            let file = store.ctx.paths.shown(&q).display().to_string();
            if store.session().is_some() {
                store.record(
                    None,
                    EventKind::AuditQuarantined {
                        bytes: bytes.len() as u64,
                        file,
                    },
                )?;
            }
        }
        Ok(store)
    }

    /// The state, leaving an empty one: for a command that is done with
    /// the store and about to exit ([`crate::keep_until_exit`]).
    pub fn take_state(&mut self) -> StateFile {
        std::mem::take(&mut self.state)
    }

    /// The context the store was opened with.
    pub fn ctx(&self) -> &Context {
        &self.ctx
    }

    /// Signs this run's seal and handoff with `signer`.
    pub fn set_signer(&mut self, signer: Arc<crate::signing::Signer>) {
        self.ctx.signer = Some(signer);
    }

    /// Records an event in session `session` (open or just closed) by the
    /// store's actor: the seal that follows a session's close.
    pub fn record_in(&mut self, session: &str, kind: EventKind) -> Result<()> {
        let actor = self.ctx.actor.clone();
        self.append(session, None, &actor, kind)
    }

    /// The open session, if any.
    pub fn session(&self) -> Option<&Session> {
        self.state.session.as_ref()
    }

    /// Opens a new session (there must be none open).
    pub fn open_session(&mut self, git: Option<GitFacts>) -> Result<String> {
        if let Some(s) = self.session() {
            bail!("session {} is still open", s.id);
        }
        let id = new_session_id();
        let kind = EventKind::SessionOpened {
            host: hostname(),
            pid: std::process::id(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            git,
        };
        self.append(&id, None, &self.ctx.actor.clone(), kind)?;
        Ok(id)
    }

    /// Records an event of the open session by the store's actor.
    pub fn record(&mut self, action: Option<&str>, kind: EventKind) -> Result<()> {
        let actor = self.ctx.actor.clone();
        self.record_as(&actor, action, kind)
    }

    /// Records an event of the open session by `actor`.
    pub fn record_as(&mut self, actor: &str, action: Option<&str>, kind: EventKind) -> Result<()> {
        let Some(id) = self.session().map(|s| s.id.clone()) else {
            bail!("no open session to record in");
        };
        self.append(&id, action, actor, kind)?;
        if self.views_at.is_none_or(|t| t.elapsed() >= VIEW_INTERVAL) {
            self.refresh_views_as(false)?;
        }
        Ok(())
    }

    /// Records an event in the open session, or outside any session (the
    /// `session` member empty) when none is open: snapshots, master-state
    /// writes, approvals between sessions.
    pub fn record_anywhere(&mut self, kind: EventKind) -> Result<()> {
        let session = self.session().map(|s| s.id.clone()).unwrap_or_default();
        let actor = self.ctx.actor.clone();
        self.append(&session, None, &actor, kind)
    }

    fn append(
        &mut self,
        session: &str,
        action: Option<&str>,
        actor: &str,
        kind: EventKind,
    ) -> Result<()> {
        let ts = crate::clock::now_rfc3339();
        let actor = if actor == self.ctx.actor {
            self.masked_actor.clone()
        } else {
            self.ctx.redactor.mask(actor)
        };
        // What is written is what is applied, exactly as a replay would see
        // it: masked when there are secrets.
        let (name, detail, applied) = if self.ctx.redactor.is_empty() {
            let (name, detail) = kind.encode();
            (name, detail, kind)
        } else {
            let (name, mut value) = kind.split();
            if self.ctx.redactor.finds_in_json(&value) {
                self.ctx.redactor.mask_json(&mut value);
                let detail = serde_json::to_string(&value)?;
                let masked =
                    serde_json::from_value(serde_json::json!({"event": name, "detail": value}))
                        .unwrap_or(kind);
                (name, detail, masked)
            } else {
                // Nothing to mask: the same text, and the event as it is
                // (no copy masked string by string and decoded again).
                (name, serde_json::to_string(&value)?, kind)
            }
        };
        let (seq, hash) = self
            .writer
            .append_parts(&ts, session, &name, action, &actor, &detail)?;
        let event = Event {
            seq,
            ts,
            session: session.to_string(),
            event: name,
            action: action.map(String::from),
            actor,
            detail: serde_json::Value::Null,
            prev: String::new(),
            hash,
        };
        self.state.apply(&event, &applied);
        self.state.journal = self.writer.pos().clone();
        self.unchanged = false;
        // Right after the run's first line (a session's opening, say).
        self.write_kept_protocols().map(|_| ())
    }

    /// Joins another job's lines (already written verbatim to their
    /// joined file): records the join, then applies them as a replay will.
    pub fn join(&mut self, join: EventKind, lines: &[Event]) -> Result<()> {
        self.record(None, join)?;
        for e in lines {
            if let Some(kind) = EventKind::from_event(e) {
                self.state.apply(e, &kind);
            }
        }
        Ok(())
    }

    /// Makes the audit trail durable (approvals, session end).
    pub fn sync_audit(&self) -> Result<()> {
        self.writer.sync()
    }

    /// Writes the snapshot (refusing if state.json changed behind our back)
    /// and refreshes the derived views.
    pub fn snapshot(&mut self) -> Result<()> {
        if self.unchanged {
            return self.refresh_views();
        }
        let path = self.ctx.paths.state();
        let on_disk = match std::fs::read(&path) {
            Ok(b) => Some(fingerprint(&b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        if on_disk.is_some() && on_disk != self.fingerprint {
            let disk_serial = read_state_file(&path, &path)
                .map(|(s, _)| s.serial.to_string())
                .unwrap_or_else(|_| "unreadable".into());
            bail!(
                "{} was changed by someone else since deploy-session read it (serial on disk: {disk_serial}, ours: {}); refusing to overwrite it — the events are safe in the audit trail, look at the change and run again",
                self.ctx.paths.shown(&path).display(),
                self.state.serial
            );
        }
        self.state.serial += 1;
        let mut bytes = serde_json::to_vec_pretty(&self.state)?;
        bytes.push(b'\n');
        let sha256 = fingerprint(&bytes);
        // The trail announces the snapshot (durably) before it exists, so a
        // reader always finds the line that vouches for the file it reads.
        let kind = EventKind::SnapshotTaken {
            serial: self.state.serial,
            sha256: sha256.clone(),
        };
        self.record_anywhere(kind)?;
        self.writer.sync()?;
        fsio::write_atomic(&path, &bytes)?;
        self.fingerprint = Some(sha256);
        self.unchanged = true;
        self.refresh_views()
    }

    /// Adds a view the store keeps up to date from now on.
    pub fn add_view(&mut self, view: Box<dyn DerivedView>) {
        self.views.push(view);
    }

    /// Rewrites every derived view from the current state, durably.
    pub fn refresh_views(&mut self) -> Result<()> {
        self.refresh_views_as(true)
    }

    fn refresh_views_as(&mut self, durable: bool) -> Result<()> {
        let session = self.state.session.as_ref();
        for view in &mut self.views {
            view.refresh(&self.ctx, session, durable)?;
        }
        self.views_at = Some(Instant::now());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{check_session_id, key_position};

    #[test]
    fn session_ids_stay_one_folder() {
        for ok in ["20261125T120000Z-0afe", "a.b_c-d"] {
            assert_eq!(check_session_id(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "..",
            "../../tmp/x",
            "a/b",
            ".hidden",
            "a b",
            "x\u{1b}[2J",
            &"x".repeat(65),
        ] {
            assert!(check_session_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_position_is_one_based_line_and_column() {
        let text = b"{\n  \"a\": 1,\n  \"format_version\": 99\n}";
        assert_eq!(key_position(text, "\"format_version\""), (Some(3), Some(3)));
        assert_eq!(key_position(b"\"x\"", "\"x\""), (Some(1), Some(1)));
        assert_eq!(key_position(b"{}", "\"x\""), (None, None));
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// Events a session records, with arbitrary text in them.
    fn kind() -> impl Strategy<Value = EventKind> {
        let status = prop::sample::select(vec![
            ActionStatus::Completed,
            ActionStatus::Skipped,
            ActionStatus::Failed,
            ActionStatus::Waiting,
        ]);
        prop_oneof![
            (
                status.clone(),
                proptest::option::of("\\PC{0,30}"),
                prop::collection::vec("[a-z/.]{1,12}", 0..3),
                any::<bool>()
            )
                .prop_map(|(status, note, evidence, overridden)| {
                    EventKind::ActionResolved {
                        status,
                        note,
                        evidence,
                        overridden,
                    }
                }),
            (
                status,
                proptest::option::of(-5i32..300),
                proptest::option::of(0u64..100_000),
                proptest::option::of("\\PC{0,30}")
            )
                .prop_map(|(status, exit_code, duration_ms, message)| {
                    EventKind::ActionFinished {
                        status,
                        exit_code,
                        duration_ms,
                        message,
                        metrics: None,
                        log: None,
                    }
                }),
            "\\PC{1,30}".prop_map(|reason| EventKind::ActionWaiting { reason }),
            ("[a-z_]{1,12}", "\\PC{1,30}")
                .prop_map(|(gate, reason)| EventKind::GateWaived { gate, reason }),
            ("[a-z./]{1,20}", "\\PC{1,20}").prop_map(|(path, purpose)| EventKind::FileWritten {
                path,
                purpose,
                sha256: None
            }),
        ]
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config(256))]
        /// A snapshot written after any sequence of events reads back equal,
        /// and equals what replaying the same events from the trail gives.
        #[test]
        fn state_round_trips_and_matches_replay(
            kinds in prop::collection::vec((kind(), 0usize..6), 1..30),
            serial in 0u64..1_000_000,
        ) {
            let ids = ["start.2.1", "start.2.2", "work.4.1", "work.4.2", "end.1.1", "start.3.5"];
            let mut state = StateFile { serial, ..StateFile::default() };
            let mut events = Vec::new();
            let open = Event {
                seq: 1, ts: "2026-11-25T12:00:00Z".into(), session: "S".into(), event: String::new(),
                action: None, actor: "a".into(), detail: serde_json::Value::Null, prev: String::new(), hash: String::new(),
            };
            let opened = EventKind::SessionOpened { host: "h".into(), pid: 1, tool_version: "0".into(), git: None };
            let (name, detail) = opened.split();
            events.push(Event { event: name, detail, ..open.clone() });
            for (i, (k, a)) in kinds.into_iter().enumerate() {
                let (name, detail) = k.split();
                events.push(Event { seq: i as u64 + 2, event: name, detail, action: Some(ids[a].into()), ..open.clone() });
            }
            replay(&mut state, &events);
            let text = serde_json::to_vec_pretty(&state).unwrap();
            let back: StateFile = serde_json::from_slice(&text).unwrap();
            prop_assert_eq!(&back, &state);
            let mut again = StateFile { serial, ..StateFile::default() };
            replay(&mut again, &events);
            prop_assert_eq!(again, state);
        }

        /// Arbitrary bytes in state.json are an input error naming the
        /// file, never a panic.
        #[test]
        fn arbitrary_state_files_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("state.json");
            std::fs::write(&path, &bytes).unwrap();
            if let Err(e) = read_state_file(&path, Path::new("state.json")) {
                let text = format!("{e:#}");
                prop_assert!(text.contains("state.json"), "{}", text);
            }
        }
    }
}
