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
use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
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

pub use crate::digest::hex;
use crate::digest::hex_into;

/// The members of a line a verification needs, borrowed from its bytes;
/// decoding it checks the line is an [`Event`] (the same members, `detail`
/// any JSON value) without building `detail`.
#[derive(Deserialize)]
#[serde(rename = "Event")]
struct LineFields<'a> {
    seq: u64,
    #[serde(borrow, rename = "ts")]
    _ts: Cow<'a, str>,
    #[serde(borrow, rename = "session")]
    _session: Cow<'a, str>,
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow, rename = "action")]
    _action: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "actor")]
    _actor: Cow<'a, str>,
    #[serde(rename = "detail")]
    _detail: serde::de::IgnoredAny,
    #[serde(borrow)]
    prev: Cow<'a, str>,
    #[serde(borrow, default)]
    hash: Cow<'a, str>,
}

/// [`check_line`] without building the event.
fn check_fields(line: &str) -> Result<LineFields<'_>, String> {
    let fields: LineFields =
        serde_json::from_str(line).map_err(|e| format!("not a valid event: {e}"))?;
    const SUFFIX_LEN: usize = ",\"hash\":\"".len() + 64 + "\"}".len();
    let ok_shape = line.len() > SUFFIX_LEN
        && line.ends_with("\"}")
        && line[line.len() - SUFFIX_LEN..].starts_with(",\"hash\":\"");
    if !ok_shape {
        return Err("the hash is not the last member of the line".into());
    }
    let digest = Sha256::new()
        .chain_update(&line.as_bytes()[..line.len() - SUFFIX_LEN])
        .chain_update(b"}")
        .finalize();
    let mut actual = [0u8; 64];
    hex_into(&digest, &mut actual);
    if actual != fields.hash.as_bytes() {
        return Err("the line's content does not match its hash (edited?)".into());
    }
    Ok(fields)
}

/// Checks one line (without `\n`) on its own: parses, and its hash matches
/// its bytes. Returns the event.
pub fn check_line(line: &str) -> Result<Event, String> {
    check_fields(line)?;
    serde_json::from_str(line).map_err(|e| format!("not a valid event: {e}"))
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
    let mut file = match crate::fsio::open_regular(path)? {
        Some(f) => f,
        None if from.offset == 0 => return Ok(tail),
        None => bail!(
            "{} is gone, but the state records {} bytes of it: the audit trail was deleted",
            path.display(),
            from.offset
        ),
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

/// One intact line, as a verification saw it (for [`verify_each`]).
pub struct Line<'a> {
    pub hash: &'a str,
    /// The event's name.
    pub event: &'a str,
    /// Byte offset just after the line.
    pub end: u64,
    text: &'a str,
}

impl Line<'_> {
    /// The whole event (parsed on demand: most visitors need a few names).
    pub fn full(&self) -> Option<Event> {
        serde_json::from_str(self.text).ok()
    }
}

/// Verifies every line and the chain between them.
pub fn verify(path: &Path) -> Result<Verification> {
    Ok(verify_from(path, &JournalPos::default(), &|_: &mut (), _: &Line| {})?.0)
}

/// Verifies like [`verify`], handing each intact line, in order, to
/// `visit`. The trail is checked in chunks on every core, so each chunk
/// visits into a state of its own: the states come back in the trail's
/// order, those of chunks after the first problem left out (what is
/// returned covers exactly the intact lines before it).
pub fn verify_each<S: Default + Send>(
    path: &Path,
    visit: &(impl Fn(&mut S, &Line) + Sync),
) -> Result<(Verification, Vec<S>)> {
    verify_from(path, &JournalPos::default(), visit)
}

/// Verifies the lines after `from` — a point a full verification earlier
/// in this same run reached (end.1's gates, then end.3.5): the line ending
/// there must still be the one it verified (its hash, re-read), then every
/// later line and the chain are checked as [`verify`] does.
pub fn verify_after(path: &Path, from: &JournalPos) -> Result<Verification> {
    Ok(verify_from(path, from, &|_: &mut (), _: &Line| {})?.0)
}

/// Chunks smaller than this are not worth a thread.
const MIN_CHUNK: usize = 1 << 20;

fn verify_from<S: Default + Send>(
    path: &Path,
    from: &JournalPos,
    visit: &(impl Fn(&mut S, &Line) + Sync),
) -> Result<(Verification, Vec<S>)> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    verify_in_pieces(path, from, visit, |bytes| {
        cores.min(bytes / MIN_CHUNK as u64 + 1)
    })
}

/// [`verify_from`] with the trail after `from` cut into `pieces(bytes)`
/// pieces checked side by side.
fn verify_in_pieces<S: Default + Send>(
    path: &Path,
    from: &JournalPos,
    visit: &(impl Fn(&mut S, &Line) + Sync),
    pieces: impl Fn(u64) -> u64,
) -> Result<(Verification, Vec<S>)> {
    let file = crate::fsio::open_regular(path)?;
    let len = match &file {
        Some(f) => f.metadata()?.len(),
        None => 0,
    };
    let mut v = Verification {
        path: path.to_path_buf(),
        events: from.seq,
        first_bad: None,
        head: from.hash.clone(),
        offset: from.offset,
    };
    if from.seq > 0 {
        let last_line = file
            .as_ref()
            .filter(|_| from.offset <= len)
            .and_then(|f| line_ending_at(f, from.offset).ok().flatten());
        let last_line = last_line
            .as_deref()
            .and_then(|l| std::str::from_utf8(l).ok())
            .and_then(|l| check_line(l).ok());
        if last_line.is_none_or(|e| e.seq != from.seq || e.hash != from.hash) {
            v.first_bad = Some((
                from.seq,
                "the line verified earlier in this run is no longer there (the trail was rewritten)".into(),
            ));
            return Ok((v, Vec::new()));
        }
    }
    let Some(file) = file.filter(|_| len > from.offset) else {
        return Ok((v, Vec::new()));
    };
    let pieces = split_at_lines(&file, from.offset, len, pieces(len - from.offset))
        .with_context(|| format!("cannot read {}", path.display()))?;
    let checked: Vec<std::io::Result<Chunk<S>>> = std::thread::scope(|scope| {
        let file = &file;
        let workers: Vec<_> = pieces
            .windows(2)
            .skip(1)
            .map(|w| (w[0], w[1]))
            .map(|(start, end)| scope.spawn(move || check_piece(file, start, end, visit)))
            .collect();
        let first = check_piece(file, pieces[0], pieces[1], visit);
        std::iter::once(first)
            .chain(
                workers
                    .into_iter()
                    .map(|w| w.join().expect("a verifier thread panicked")),
            )
            .collect()
    });
    let mut states = Vec::new();
    let mut line_no = from.seq;
    for chunk in checked {
        let chunk = chunk.with_context(|| format!("cannot read {}", path.display()))?;
        if let Some((seq, prev)) = &chunk.first {
            let why = if *seq != v.events + 1 {
                Some(format!(
                    "seq {seq} where {} was expected (deleted or reordered lines)",
                    v.events + 1
                ))
            } else if *prev != v.head {
                Some("`prev` does not match the previous line's hash (deleted, inserted or reordered lines)".to_string())
            } else {
                None
            };
            if let Some(why) = why {
                v.first_bad = Some((line_no + 1, why));
                break;
            }
        }
        if let Some((seq, hash, end)) = chunk.last {
            v.events = seq;
            v.head = hash;
            v.offset = end;
            states.push(chunk.state);
        }
        if let Some((at, why)) = chunk.bad {
            v.first_bad = Some((line_no + at + 1, why));
            break;
        }
        line_no += chunk.lines;
    }
    Ok((v, states))
}

/// How much of the trail is read at a time.
const BLOCK: usize = 4 << 20;

/// The line (without its newline) that ends just before `offset`, read
/// backwards in growing windows; `None` when `offset` is not just after a
/// newline.
fn line_ending_at(file: &File, offset: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut window = 64 * 1024u64;
    loop {
        let start = offset.saturating_sub(window);
        let mut buf = vec![0u8; (offset - start) as usize];
        file.read_exact_at(&mut buf, start)?;
        let Some(body) = buf.strip_suffix(b"\n") else {
            return Ok(None);
        };
        if let Some(nl) = memchr::memrchr(b'\n', body) {
            return Ok(Some(body[nl + 1..].to_vec()));
        }
        if start == 0 {
            return Ok(Some(body.to_vec()));
        }
        window *= 4;
    }
}

/// Offsets cutting `[start, len)` into up to `pieces` pieces, each cut
/// just after a newline: the list starts with `start` and ends with `len`.
fn split_at_lines(file: &File, start: u64, len: u64, pieces: u64) -> std::io::Result<Vec<u64>> {
    let pieces = pieces.max(1);
    let mut cuts = vec![start];
    let mut buf = vec![0u8; 64 * 1024];
    for k in 1..pieces {
        let mut at = (start + (len - start) * k / pieces).max(*cuts.last().unwrap_or(&start));
        let cut = loop {
            let n = file.read_at(&mut buf, at)?;
            if n == 0 {
                break len;
            }
            if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
                break (at + i as u64 + 1).min(len);
            }
            at += n as u64;
        };
        if cut > *cuts.last().unwrap_or(&start) && cut < len {
            cuts.push(cut);
        }
    }
    cuts.push(len);
    Ok(cuts)
}

/// What one piece of the trail held.
struct Chunk<S> {
    /// Lines looked at (up to and including a bad one).
    lines: u64,
    /// seq and `prev` of its first line, to check against the piece before.
    first: Option<(u64, String)>,
    /// seq, hash and end offset of its last intact line.
    last: Option<(u64, String, u64)>,
    /// The first problem: its line within the piece (0-based), and why.
    bad: Option<(u64, String)>,
    state: S,
}

/// Checks the lines in `[start, end)` of the trail, reading it a block at
/// a time.
fn check_piece<S: Default>(
    file: &File,
    start: u64,
    end: u64,
    visit: &impl Fn(&mut S, &Line),
) -> std::io::Result<Chunk<S>> {
    let mut chunk = Chunk {
        lines: 0,
        first: None,
        last: None,
        bad: None,
        state: S::default(),
    };
    let mut prev = (0u64, String::new());
    let mut buf: Vec<u8> = Vec::with_capacity(BLOCK);
    let mut at = start;
    // Offset of buf[0] in the trail.
    let mut buf_start = start;
    while at < end && chunk.bad.is_none() {
        let want = ((end - at) as usize).min(BLOCK);
        let old = buf.len();
        buf.resize(old + want, 0);
        file.read_exact_at(&mut buf[old..], at)?;
        at += want as u64;
        let mut used = 0;
        while let Some(nl) = memchr::memchr(b'\n', &buf[used..]) {
            let line = &buf[used..used + nl];
            let line_end = buf_start + (used + nl + 1) as u64;
            used += nl + 1;
            if !check_one(&mut chunk, &mut prev, line, line_end, visit) {
                break;
            }
        }
        buf.drain(..used);
        buf_start += used as u64;
    }
    if chunk.bad.is_none() && !buf.is_empty() {
        chunk.bad = Some((
            chunk.lines,
            "the last line is torn (no newline): a writer died mid-line".into(),
        ));
        chunk.lines += 1;
    }
    if let Some(last) = chunk.last.as_mut() {
        last.1 = prev.1;
    }
    Ok(chunk)
}

/// Checks one line (without its newline) of a piece against the line
/// before it; false (and `chunk.bad` set) when it is not intact.
fn check_one<S>(
    chunk: &mut Chunk<S>,
    prev: &mut (u64, String),
    raw: &[u8],
    end: u64,
    visit: &impl Fn(&mut S, &Line),
) -> bool {
    let i = chunk.lines;
    chunk.lines += 1;
    let fields = std::str::from_utf8(raw)
        .map_err(|_| "not UTF-8".to_string())
        .and_then(|text| Ok((text, check_fields(text)?)));
    let (text, fields) = match fields {
        Ok(f) => f,
        Err(why) => {
            chunk.bad = Some((i, why));
            return false;
        }
    };
    let why = if i == 0 {
        chunk.first = Some((fields.seq, fields.prev.to_string()));
        None
    } else if fields.seq != prev.0 + 1 {
        Some(format!(
            "seq {} where {} was expected (deleted or reordered lines)",
            fields.seq,
            prev.0 + 1
        ))
    } else if fields.prev != prev.1 {
        Some(
            "`prev` does not match the previous line's hash (deleted, inserted or reordered lines)"
                .into(),
        )
    } else {
        None
    };
    if let Some(why) = why {
        chunk.bad = Some((i, why));
        return false;
    }
    visit(
        &mut chunk.state,
        &Line {
            hash: &fields.hash,
            event: &fields.event,
            end,
            text,
        },
    );
    prev.0 = fields.seq;
    prev.1.clear();
    prev.1.push_str(&fields.hash);
    chunk.last = Some((fields.seq, String::new(), end));
    true
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

    /// Whatever the trail and however it is cut into pieces, verifying side
    /// by side finds what one piece finds — the same count, head, offset
    /// and first bad line — and visits exactly the intact lines before it,
    /// in order.
    #[test]
    fn pieces_find_what_one_piece_finds() {
        let (_d, path) = write_trail(40);
        let intact = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = intact.lines().collect();
        let mut variants = vec![intact.clone()];
        for at in [0, 1, 13, 20, 39] {
            // An edit, a deletion, a swap with the next line, a torn end.
            let mut edited = lines.clone();
            let changed = lines[at].replacen("\"k\":\"v", "\"k\":\"w", 1);
            edited[at] = &changed;
            variants.push(edited.join("\n") + "\n");
            let mut deleted = lines.clone();
            deleted.remove(at);
            variants.push(deleted.join("\n") + "\n");
            let mut swapped = lines.clone();
            swapped.swap(at, (at + 1) % lines.len());
            variants.push(swapped.join("\n") + "\n");
            if let Some(next) = lines.get(at + 1) {
                variants.push(lines[..=at].join("\n") + "\n" + &next[..30]);
            }
        }
        let seen = |v: &mut Vec<String>, l: &Line| v.push(format!("{}@{}", l.event, l.end));
        for text in variants {
            std::fs::write(&path, &text).unwrap();
            let (one, one_seen) =
                verify_in_pieces(&path, &JournalPos::default(), &seen, |_| 1).unwrap();
            assert!(one_seen.len() <= 1);
            for pieces in 2..=9 {
                let (many, many_seen) =
                    verify_in_pieces(&path, &JournalPos::default(), &seen, |_| pieces).unwrap();
                assert_eq!(
                    (many.events, &many.head, many.offset, &many.first_bad),
                    (one.events, &one.head, one.offset, &one.first_bad),
                    "{pieces} pieces"
                );
                assert_eq!(many_seen.concat(), one_seen.concat(), "{pieces} pieces");
            }
        }
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
