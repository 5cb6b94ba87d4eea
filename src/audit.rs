//! The audit trail, `.ai_context/deploy-session/audit.jsonl`: one JSON event
//! a line, each carrying the SHA-256 of the previous line (`prev`) and of
//! itself (`hash`). It is also the session's journal: state.json is a
//! snapshot that records how far into this file it reaches, and loading
//! replays only the lines after that point, so nothing on the hot path grows
//! with history.
//!
//! Canonical form: the line is the compact JSON object with the members
//! `seq, ts, session, event, action, actor, detail, prev, hash` in that
//! order; `hash` is the SHA-256 (hex) of the same line with its `,"hash":…`
//! member removed. A line is verified on its own bytes, so any edit shows.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How far into the trail a reader has got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JournalPos {
    /// seq of the last line included (0 = none).
    pub seq: u64,
    /// Byte offset just after that line.
    pub offset: u64,
    /// hash of that line (GENESIS when none).
    pub hash: String,
}

impl Default for JournalPos {
    fn default() -> Self {
        JournalPos {
            seq: 0,
            offset: 0,
            hash: GENESIS.to_string(),
        }
    }
}

/// One line of the trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Event {
    pub seq: u64,
    pub ts: String,
    pub session: String,
    pub event: String,
    pub action: Option<String>,
    pub actor: String,
    pub detail: serde_json::Value,
    pub prev: String,
    #[serde(default)]
    pub hash: String,
}

/// Serialises `event` (its `hash` ignored) and returns the full line with
/// the computed hash, plus that hash.
#[cfg(test)]
pub fn encode(event: &Event) -> (String, String) {
    let detail = serde_json::to_string(&event.detail).unwrap_or_else(|_| "null".into());
    line(
        event.seq,
        &event.ts,
        &event.session,
        &event.event,
        event.action.as_deref(),
        &event.actor,
        &detail,
        &event.prev,
    )
}

/// Builds the canonical line (members in the documented order, `hash`
/// last) from its parts; `detail` is already JSON.
#[allow(clippy::too_many_arguments)]
fn line(
    seq: u64,
    ts: &str,
    session: &str,
    event: &str,
    action: Option<&str>,
    actor: &str,
    detail: &str,
    prev: &str,
) -> (String, String) {
    let s = |v: &str| serde_json::to_string(v).unwrap_or_default();
    let action = action.map_or_else(|| "null".to_string(), s);
    let canonical = format!(
        "{{\"seq\":{seq},\"ts\":{},\"session\":{},\"event\":{},\"action\":{action},\"actor\":{},\"detail\":{detail},\"prev\":{}}}",
        s(ts),
        s(session),
        s(event),
        s(actor),
        s(prev)
    );
    let hash = hex(&Sha256::digest(canonical.as_bytes()));
    let mut full = String::with_capacity(canonical.len() + 80);
    full.push_str(&canonical[..canonical.len() - 1]);
    full.push_str(",\"hash\":\"");
    full.push_str(&hash);
    full.push_str("\"}\n");
    (full, hash)
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Checks one line (without `\n`) on its own: parses, and its hash matches
/// its bytes. Returns the event.
pub fn check_line(line: &str) -> Result<Event, String> {
    let event: Event = serde_json::from_str(line).map_err(|e| format!("not a valid event: {e}"))?;
    const SUFFIX_LEN: usize = ",\"hash\":\"".len() + 64 + "\"}".len();
    let ok_shape = line.len() > SUFFIX_LEN
        && line.ends_with("\"}")
        && line[line.len() - SUFFIX_LEN..].starts_with(",\"hash\":\"");
    if !ok_shape {
        return Err("the hash is not the last member of the line".into());
    }
    let canonical = format!("{}}}", &line[..line.len() - SUFFIX_LEN]);
    let actual = hex(&Sha256::digest(canonical.as_bytes()));
    if actual != event.hash {
        return Err("the line's content does not match its hash (edited?)".into());
    }
    Ok(event)
}

/// What a tail read found.
#[derive(Debug, Default)]
pub struct Tail {
    pub events: Vec<Event>,
    pub end: JournalPos,
    /// A last line without its newline (a writer died mid-line): offset, bytes.
    pub torn: Option<(u64, Vec<u8>)>,
}

/// Reads the lines after `from`, checking each and the chain from `from`.
/// A broken line in the middle is an error (the trail was tampered with or
/// corrupted); a torn last line is returned separately.
pub fn read_tail(path: &Path, from: &JournalPos) -> Result<Tail> {
    let mut tail = Tail {
        end: from.clone(),
        ..Tail::default()
    };
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && from.offset == 0 => return Ok(tail),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    let len = file.metadata()?.len();
    if len < from.offset {
        bail!(
            "{} is shorter ({len} bytes) than the state recorded ({} bytes): the audit trail was truncated",
            path.display(),
            from.offset
        );
    }
    file.seek(SeekFrom::Start(from.offset))?;
    let mut bytes = Vec::with_capacity((len - from.offset) as usize);
    file.read_to_end(&mut bytes)?;
    let mut offset = from.offset;
    let mut rest: &[u8] = &bytes;
    while !rest.is_empty() {
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            tail.torn = Some((offset, rest.to_vec()));
            break;
        };
        let line = std::str::from_utf8(&rest[..nl])
            .map_err(|_| anyhow::anyhow!("audit line at byte {offset} is not UTF-8"))?;
        let event = check_line(line).map_err(|why| {
            anyhow::anyhow!(
                "{}: line {} (seq {}) is broken: {why}; run `deploy-session audit verify`",
                path.display(),
                tail.end.seq + 1,
                tail.end.seq + 1
            )
        })?;
        if event.seq != tail.end.seq + 1 || event.prev != tail.end.hash {
            bail!(
                "{}: the chain breaks at seq {} (expected seq {} after {}); run `deploy-session audit verify`",
                path.display(),
                event.seq,
                tail.end.seq + 1,
                &tail.end.hash[..12]
            );
        }
        offset += nl as u64 + 1;
        tail.end = JournalPos {
            seq: event.seq,
            offset,
            hash: event.hash.clone(),
        };
        tail.events.push(event);
        rest = &rest[nl + 1..];
    }
    Ok(tail)
}

/// Moves a torn tail out of the trail into `<trail>.quarantine` (appended,
/// fsynced) and truncates the trail to the last whole line.
pub fn quarantine(path: &Path, offset: u64, bytes: &[u8]) -> Result<PathBuf> {
    let q = quarantine_path(path);
    let mut qf = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&q)
        .with_context(|| format!("cannot open {}", q.display()))?;
    qf.write_all(bytes)?;
    qf.write_all(b"\n")?;
    qf.sync_all()?;
    let f = OpenOptions::new().write(true).open(path)?;
    f.set_len(offset)?;
    f.sync_all()?;
    Ok(q)
}

/// Where torn tails are kept.
pub fn quarantine_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".quarantine");
    PathBuf::from(s)
}

/// Appends events to the trail. Only the lock holder has one.
/// The file is opened (and created) at the first append, so a command
/// that records nothing leaves no trail behind.
#[derive(Debug)]
pub struct Writer {
    path: PathBuf,
    file: Option<File>,
    pos: JournalPos,
}

impl Writer {
    /// Opens the trail for appending after `pos` (which must be its end).
    pub fn open(path: &Path, pos: JournalPos) -> Result<Writer> {
        crate::fsio::not_a_symlink(path)?;
        Ok(Writer {
            path: path.to_path_buf(),
            file: None,
            pos,
        })
    }

    fn file(&mut self) -> Result<&mut File> {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            crate::fsio::not_a_symlink(&self.path)?;
            let file = crate::fsio::no_follow(OpenOptions::new().create(true).append(true))
                .open(&self.path)
                .with_context(|| format!("cannot open {}", self.path.display()))?;
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("opened above"))
    }

    /// Where the trail ends.
    pub fn pos(&self) -> &JournalPos {
        &self.pos
    }

    /// Appends one event (filling in seq, prev and hash) with one write.
    pub fn append(&mut self, mut event: Event) -> Result<Event> {
        let detail = serde_json::to_string(&event.detail)?;
        let prev = self.pos.hash.clone();
        let (seq, hash) = self.append_parts(
            &event.ts,
            &event.session,
            &event.event,
            event.action.as_deref(),
            &event.actor,
            &detail,
        )?;
        event.seq = seq;
        event.prev = prev;
        event.hash = hash;
        Ok(event)
    }

    /// Appends one event given as parts (`detail` already JSON); returns its
    /// seq and hash. The hot path: no intermediate JSON tree.
    pub fn append_parts(
        &mut self,
        ts: &str,
        session: &str,
        event: &str,
        action: Option<&str>,
        actor: &str,
        detail: &str,
    ) -> Result<(u64, String)> {
        let seq = self.pos.seq + 1;
        let (line, hash) = line(
            seq,
            ts,
            session,
            event,
            action,
            actor,
            detail,
            &self.pos.hash,
        );
        let offset = self.pos.offset;
        let file = self.file()?;
        if let Err(e) = file.write_all(line.as_bytes()) {
            // Disk full or a size limit mid-line: cut the partial line off so
            // the trail ends where it did (if even that fails, the next
            // writer quarantines the torn line).
            let _ = file.set_len(offset);
            return Err(e).context("cannot append to the audit trail");
        }
        self.pos = JournalPos {
            seq,
            offset: self.pos.offset + line.len() as u64,
            hash: hash.clone(),
        };
        Ok((seq, hash))
    }

    /// Makes everything appended so far durable.
    pub fn sync(&self) -> Result<()> {
        match &self.file {
            Some(f) => f.sync_data().context("cannot sync the audit trail"),
            None => Ok(()),
        }
    }

    /// Whether anything was appended through this writer.
    pub fn appended(&self) -> bool {
        self.file.is_some()
    }
}

/// The outcome of verifying a whole trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Verification {
    pub path: PathBuf,
    pub events: u64,
    /// 1-based line number and reason of the first problem.
    pub first_bad: Option<(u64, String)>,
    pub head: String,
    /// Byte offset just after the last intact line: with `events` and
    /// `head`, where a later verification in the same run may pick up.
    pub offset: u64,
}

impl Verification {
    /// The point this verification reached, when every line was intact.
    pub fn reached(&self) -> Option<JournalPos> {
        self.first_bad.is_none().then(|| JournalPos {
            seq: self.events,
            offset: self.offset,
            hash: self.head.clone(),
        })
    }
}

/// Verifies every line and the chain between them.
pub fn verify(path: &Path) -> Result<Verification> {
    verify_each(path, |_, _| {})
}

/// Verifies like [`verify`], handing each intact line's event and the byte
/// offset just after it to `visit` (the anchors are checked in the same
/// pass).
pub fn verify_each(path: &Path, visit: impl FnMut(&Event, u64)) -> Result<Verification> {
    verify_from(path, &JournalPos::default(), visit)
}

/// Verifies the lines after `from` — a point a full verification earlier
/// in this same run reached (end.1's gates, then end.3.5): the line ending
/// there must still be the one it verified (its hash, re-read), then every
/// later line and the chain are checked as [`verify`] does.
pub fn verify_after(path: &Path, from: &JournalPos) -> Result<Verification> {
    verify_from(path, from, |_, _| {})
}

fn verify_from(
    path: &Path,
    from: &JournalPos,
    mut visit: impl FnMut(&Event, u64),
) -> Result<Verification> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut v = Verification {
        path: path.to_path_buf(),
        events: from.seq,
        first_bad: None,
        head: from.hash.clone(),
        offset: from.offset,
    };
    if from.seq > 0 {
        let start = from.offset as usize;
        let last_line = bytes
            .get(..start)
            .and_then(|b| b.strip_suffix(b"\n"))
            .map(|b| &b[b.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1)..])
            .and_then(|l| std::str::from_utf8(l).ok())
            .and_then(|l| check_line(l).ok());
        if last_line.is_none_or(|e| e.seq != from.seq || e.hash != from.hash) {
            v.first_bad = Some((
                from.seq,
                "the line verified earlier in this run is no longer there (the trail was rewritten)".into(),
            ));
            return Ok(v);
        }
    }
    let mut expected_seq = from.seq + 1;
    let mut offset = from.offset;
    let rest = bytes.get(from.offset as usize..).unwrap_or_default();
    for (i, raw) in rest.split_inclusive(|&b| b == b'\n').enumerate() {
        let n = from.seq + i as u64 + 1;
        offset += raw.len() as u64;
        let Some(raw) = raw.strip_suffix(b"\n") else {
            v.first_bad = Some((
                n,
                "the last line is torn (no newline): a writer died mid-line".into(),
            ));
            break;
        };
        let checked = std::str::from_utf8(raw)
            .map_err(|_| "not UTF-8".to_string())
            .and_then(check_line);
        let problem = match checked {
            Err(why) => Some(why),
            Ok(e) if e.seq != expected_seq => Some(format!("seq {} where {expected_seq} was expected (deleted or reordered lines)", e.seq)),
            Ok(e) if e.prev != v.head => Some("`prev` does not match the previous line's hash (deleted, inserted or reordered lines)".to_string()),
            Ok(e) => {
                visit(&e, offset);
                v.head = e.hash;
                v.events += 1;
                v.offset = offset;
                expected_seq += 1;
                None
            }
        };
        if let Some(why) = problem {
            v.first_bad = Some((n, why));
            break;
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(session: &str, event: &str) -> Event {
        Event {
            seq: 0,
            ts: "2026-11-25T12:00:00Z".into(),
            session: session.into(),
            event: event.into(),
            action: Some("start.1.1".into()),
            actor: "tester".into(),
            detail: serde_json::json!({"k": "v \"quoted\""}),
            prev: String::new(),
            hash: String::new(),
        }
    }

    fn write_trail(n: usize) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut w = Writer::open(&path, JournalPos::default()).unwrap();
        for i in 0..n {
            w.append(ev("s1", &format!("e{i}"))).unwrap();
        }
        (dir, path)
    }

    /// Verifying after a point reached earlier gives the full result, and
    /// catches a rewrite of the line it stood on.
    #[test]
    fn verification_picks_up_where_it_left_off() {
        let (_d, path) = write_trail(3);
        let first = verify(&path).unwrap();
        let point = first.reached().unwrap();
        let mut w = Writer::open(&path, point.clone()).unwrap();
        for i in 0..2 {
            w.append(ev("s1", &format!("later{i}"))).unwrap();
        }
        let after = verify_after(&path, &point).unwrap();
        let full = verify(&path).unwrap();
        assert_eq!(
            (after.events, &after.head, after.first_bad.clone()),
            (5, &full.head, None)
        );
        assert_eq!(after.offset, full.offset);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replacen("\"event\":\"e2\"", "\"event\":\"e9\"", 1),
        )
        .unwrap();
        let broken = verify_after(&path, &point).unwrap();
        assert!(broken.first_bad.unwrap().1.contains("no longer there"));
    }

    #[test]
    fn lines_verify_and_chain() {
        let (_d, path) = write_trail(5);
        let v = verify(&path).unwrap();
        assert_eq!(v.events, 5);
        assert_eq!(v.first_bad, None);
        let tail = read_tail(&path, &JournalPos::default()).unwrap();
        assert_eq!(tail.events.len(), 5);
        assert_eq!(tail.end.hash, v.head);
        // Reading from the middle gives the rest.
        let mid = JournalPos {
            seq: tail.events[1].seq,
            offset: std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .take(2)
                .map(|l| l.len() as u64 + 1)
                .sum(),
            hash: tail.events[1].hash.clone(),
        };
        assert_eq!(read_tail(&path, &mid).unwrap().events.len(), 3);
    }

    #[test]
    fn edits_deletions_and_reorders_are_named() {
        let (_d, path) = write_trail(4);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let cases = [
            (lines[2].replace("e2", "e9"), 3, "edited"),
            (String::new(), 3, "seq 4"),
            (lines[3].to_string(), 3, "seq 4"),
        ];
        for (replacement, bad_line, words) in cases {
            let mut l = lines.clone();
            if replacement.is_empty() {
                l.remove(2);
            } else {
                l[2] = &replacement;
            }
            std::fs::write(&path, l.join("\n") + "\n").unwrap();
            let v = verify(&path).unwrap();
            let (n, why) = v.first_bad.unwrap();
            assert_eq!(n, bad_line);
            assert!(why.contains(words), "{why}");
        }
    }

    #[test]
    fn torn_tail_is_found_and_quarantined() {
        let (_d, path) = write_trail(2);
        let whole = std::fs::metadata(&path).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"seq\":3,\"ts\":").unwrap();
        let tail = read_tail(&path, &JournalPos::default()).unwrap();
        let (offset, bytes) = tail.torn.clone().unwrap();
        assert_eq!(offset, whole);
        assert_eq!(tail.events.len(), 2);
        let q = quarantine(&path, offset, &bytes).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        assert_eq!(std::fs::read(q).unwrap(), b"{\"seq\":3,\"ts\":\n");
        assert_eq!(verify(&path).unwrap().first_bad, None);
    }

    #[test]
    fn truncation_behind_the_state_is_an_error() {
        let (_d, path) = write_trail(1);
        let pos = JournalPos {
            seq: 9,
            offset: 10_000,
            hash: GENESIS.into(),
        };
        assert!(
            read_tail(&path, &pos)
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn event() -> impl Strategy<Value = Event> {
        (
            1u64..1_000_000,
            "[ -~]{0,30}",
            "[a-zA-Z0-9-]{1,24}",
            "[a-z_]{1,20}",
            proptest::option::of("[a-z0-9.]{1,12}"),
            "\\PC{0,40}",
            "\\PC{0,60}",
        )
            .prop_map(|(seq, ts, session, name, action, actor, text)| Event {
                seq,
                ts,
                session,
                event: name,
                action,
                actor,
                detail: serde_json::json!({ "text": text, "n": seq }),
                prev: GENESIS.to_string(),
                hash: String::new(),
            })
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config(256))]
        /// Any event encodes to a line that reads back as itself, and any
        /// change to one byte of the line is caught.
        #[test]
        fn lines_round_trip_and_every_edit_is_caught(e in event(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let (line, hash) = encode(&e);
            let line = line.trim_end_matches('\n');
            let back = check_line(line).expect("its own line verifies");
            prop_assert_eq!(&back.hash, &hash);
            prop_assert_eq!(back.detail, e.detail);
            prop_assert_eq!(back.actor, e.actor);
            let mut bytes = line.as_bytes().to_vec();
            let i = at.index(bytes.len());
            prop_assume!(bytes[i] != byte);
            bytes[i] = byte;
            if let Ok(edited) = std::str::from_utf8(&bytes) {
                prop_assert!(check_line(edited).is_err(), "an edited line verified: {}", edited);
            }
        }

        /// Arbitrary text is an error, never a panic.
        #[test]
        fn arbitrary_lines_never_panic(s in "\\PC{0,200}") {
            let _ = check_line(&s);
        }
    }
}
