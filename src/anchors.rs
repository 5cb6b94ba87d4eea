//! The audit trail checked against everything that remembers part of it.
//! A hash chain on its own proves only that the lines agree with each
//! other: whoever can write the file can cut it, empty it, or edit a line
//! and recompute the hashes after it. Anchors are the places that recorded
//! a line's hash (or the trail's bytes) when it was written:
//!
//! - `state.json`'s position, and the snapshot line after it;
//! - the history index's seals (each `session_closed` line);
//! - each handoff manifest's `audit_seq`/`audit_head`, and the manifest's
//!   own digest, recorded in the trail when the package was written;
//! - each archived copy of a session's lines (`archive/<id>/audit.jsonl`);
//! - every committed version of the trail in git history (`end --commit`),
//!   which must be a prefix of the current one.
//!
//! What no anchor covers — lines appended after the last anchor, correctly
//! chained — is reported as such; only a signature covers that.

use crate::audit::{self, Verification};
use crate::paths::RepoPaths;
use crate::session::EventKind;
use crate::signing::{AllowedSigners, Verdict};
use anyhow::Result;
use serde::Serialize;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One anchor and what it says of the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AnchorCheck {
    /// What remembers the trail: a file, or `git <commit>`.
    pub anchor: String,
    pub ok: bool,
    pub detail: String,
}

/// The trail's chain and every anchor's verdict.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub chain: Verification,
    pub anchors: Vec<AnchorCheck>,
    /// The last seq any anchor covers (0: none). Lines after it rest on
    /// the chain alone.
    pub anchored_to: u64,
    /// `good` (every seal signed by an allowed key), `unsigned` (no seal),
    /// `not-checked` (no allowed signers given) or `bad`.
    pub signature: &'static str,
}

impl Report {
    /// The chain holds and no anchor disagrees.
    pub fn ok(&self) -> bool {
        self.chain.first_bad.is_none() && self.anchors.iter().all(|a| a.ok)
    }
}

/// What one pass over the trail keeps: each line's hash and end offset by
/// seq, and the digests the trail recorded for handoff manifests.
#[derive(Debug, Default)]
pub struct TrailIndex {
    lines: Vec<(String, u64)>,
    /// Package folder (as shown) → the manifest digests recorded, in order.
    manifests: BTreeMap<String, Vec<String>>,
    /// Each seal: its session, its own seq, the sealed line's seq and
    /// hash, and the armored signature.
    seals: Vec<(String, u64, u64, String, String)>,
    /// Each join recorded, with the seq of its event.
    joins: Vec<(u64, crate::session::joins::Join)>,
}

impl TrailIndex {
    fn visit(&mut self, line: &audit::Line) {
        self.lines.push((line.hash.to_string(), line.end));
        let wanted = ["trail_joined", "session_sealed", "file_written"];
        if !wanted.contains(&line.event) {
            return;
        }
        let Some(e) = line.full() else { return };
        if let Some(join) = crate::session::joins::Join::of(&e) {
            self.joins.push((e.seq, join));
        }
        if let Some(EventKind::SessionSealed {
            seq,
            head,
            signature,
            ..
        }) = EventKind::from_event(&e).filter(|_| e.event == "session_sealed")
        {
            self.seals
                .push((e.session.clone(), e.seq, seq, head, signature));
        }
        if e.event == "file_written"
            && let Some(EventKind::FileWritten {
                path,
                purpose,
                sha256: Some(sha),
            }) = EventKind::from_event(&e)
            && purpose == crate::handoff::HANDOFF_PURPOSE
        {
            self.manifests.entry(path).or_default().push(sha);
        }
    }

    /// Appends the index of the piece of the trail after this one.
    fn absorb(&mut self, later: TrailIndex) {
        self.lines.extend(later.lines);
        for (dir, shas) in later.manifests {
            self.manifests.entry(dir).or_default().extend(shas);
        }
        self.seals.extend(later.seals);
        self.joins.extend(later.joins);
    }

    /// The hash of line `seq`, if the trail has it.
    fn hash_at(&self, seq: u64) -> Option<&str> {
        let i = usize::try_from(seq).ok()?.checked_sub(1)?;
        self.lines.get(i).map(|(h, _)| h.as_str())
    }

    /// Why line `seq` is not `hash` (None when it is).
    fn disagrees(&self, seq: u64, hash: &str) -> Option<String> {
        match self.hash_at(seq) {
            None => Some(format!(
                "it records seq {seq}, the trail has only {} lines (truncated, emptied or deleted)",
                self.lines.len()
            )),
            Some(h) if h != hash => Some(format!(
                "it records seq {seq} as {}…, the trail's line {seq} is {}… (rewritten)",
                short(hash),
                short(h)
            )),
            Some(_) => None,
        }
    }

    /// Whether the trail recorded `sha256` as the manifest of the package
    /// shown as `dir`: `Err` says what it recorded instead.
    pub fn manifest_recorded(&self, dir: &str, sha256: &str) -> Result<(), String> {
        match self.manifests.get(dir) {
            None => Err(format!(
                "the audit trail records no package written at {dir}"
            )),
            Some(shas) if shas.last().map(String::as_str) == Some(sha256) => Ok(()),
            Some(shas) => Err(format!(
                "manifest.json's sha256 is {}…, the audit trail recorded {}… when the package was written",
                short(sha256),
                short(shas.last().map(String::as_str).unwrap_or_default())
            )),
        }
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(16)]
}

/// Reads and verifies the trail once, indexing it for the anchors.
pub fn index_trail(paths: &RepoPaths) -> Result<(Verification, TrailIndex)> {
    let (chain, pieces) = audit::verify_each(&paths.audit(), &TrailIndex::visit)?;
    let index = pieces
        .into_iter()
        .fold(TrailIndex::default(), |mut index, piece| {
            index.absorb(piece);
            index
        });
    Ok((chain, index))
}

/// Verifies the trail against every anchor in the repo, and each seal's
/// signature against `allowed`.
pub fn verify(paths: &RepoPaths, allowed: &AllowedSigners) -> Result<Report> {
    let (chain, index) = index_trail(paths)?;
    let mut anchors = Vec::new();
    let mut anchored_to = 0;
    let mut covered = |seq: u64| anchored_to = anchored_to.max(seq);
    let signature = seal_anchors(&index, allowed, &mut anchors, &mut covered);
    state_anchor(paths, &index, &mut anchors, &mut covered);
    index_anchor(paths, &mut anchors, &mut covered);
    for dir in children(&paths.ai_context().join("handoff")) {
        manifest_anchor(paths, &dir, &index, &mut anchors, &mut covered);
    }
    for dir in children(&paths.archive_root()) {
        archive_anchor(paths, &dir, &index, &mut anchors, &mut covered);
    }
    git_anchors(paths, &mut anchors, &mut covered);
    for (seq, join) in &index.joins {
        let problem = join.read(paths).err().map(|e| format!("{e:#}"));
        anchors.push(check(
            format!("joined trail {} (seq {seq})", join.file),
            problem,
            format!(
                "{} lines kept verbatim, chained from the other job's seq {} to the head the join recorded",
                join.events, join.after_seq
            ),
        ));
    }
    Ok(Report {
        chain,
        anchors,
        anchored_to,
        signature,
    })
}

/// Each seal: the line it names must be the trail's, and its signature
/// good. Returns the overall signature status.
fn seal_anchors(
    index: &TrailIndex,
    allowed: &AllowedSigners,
    out: &mut Vec<AnchorCheck>,
    covered: &mut impl FnMut(u64),
) -> &'static str {
    let mut status = if index.seals.is_empty() {
        "unsigned"
    } else {
        "good"
    };
    for (session, at, seq, head, signature) in &index.seals {
        let verdict = match index.disagrees(*seq, head) {
            Some(why) => Verdict::Bad {
                why: format!("the line it seals: {why}"),
            },
            None => allowed.verify(
                signature,
                &crate::signing::seal_message(session, *seq, head),
            ),
        };
        match &verdict {
            Verdict::Good { .. } => covered(*at),
            Verdict::NotChecked { .. } if status == "good" => status = "not-checked",
            v if v.failed() => status = "bad",
            _ => {}
        }
        out.push(AnchorCheck {
            anchor: format!("seal of session {session} (seq {at})"),
            ok: !verdict.failed(),
            detail: verdict.describe(),
        });
    }
    status
}

fn check(anchor: String, problem: Option<String>, fine: String) -> AnchorCheck {
    AnchorCheck {
        anchor,
        ok: problem.is_none(),
        detail: problem.unwrap_or(fine),
    }
}

/// state.json's position, and the snapshot line after it.
fn state_anchor(
    paths: &RepoPaths,
    index: &TrailIndex,
    out: &mut Vec<AnchorCheck>,
    covered: &mut impl FnMut(u64),
) {
    let state_file = paths.state();
    let shown = paths.shown(&state_file).display().to_string();
    let bytes = match crate::fsio::read_regular(&state_file) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return,
        Err(e) => return out.push(check(shown, Some(e.to_string()), String::new())),
    };
    let pos = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| serde_json::from_value::<audit::JournalPos>(v["journal"].clone()).ok());
    let problem = match &pos {
        None => Some("it has no readable `journal` position".to_string()),
        Some(p) if p.seq == 0 => None,
        Some(p) => index.disagrees(p.seq, &p.hash),
    };
    let read = crate::session::read_only(paths);
    let problem = problem.or_else(|| read.as_ref().err().map(|e| format!("{e:#}")));
    let seq = pos.as_ref().map_or(0, |p| p.seq);
    if problem.is_none() {
        covered(seq + 1);
    }
    out.push(check(
        shown,
        problem,
        format!("its position (seq {seq}) and the snapshot line after it agree"),
    ));
}

/// The history index against the trail's seals — also when `state.json` is
/// gone (the state is then replayed from the trail).
fn index_anchor(paths: &RepoPaths, out: &mut Vec<AnchorCheck>, covered: &mut impl FnMut(u64)) {
    let index_file = paths.archive_root().join("index.jsonl");
    let listed = std::fs::metadata(&index_file).is_ok_and(|m| m.len() > 0);
    let Ok(state) = crate::session::read_only(paths) else {
        return;
    };
    let sessions = state.sealed.as_ref().map_or(0, |s| s.sessions);
    if sessions == 0 && !listed {
        return;
    }
    let problem = crate::session::history::read_verified(paths, &state)
        .err()
        .map(|e| format!("{e:#}"));
    if problem.is_none()
        && let Some(s) = &state.sealed
    {
        covered(s.seq);
    }
    out.push(check(
        paths.shown(&index_file).display().to_string(),
        problem,
        format!(
            "{}, each matching its seal in the trail",
            crate::ui::count(sessions, "session", "sessions")
        ),
    ));
}

/// A handoff manifest's audit head, and its own digest as the trail
/// recorded it.
fn manifest_anchor(
    paths: &RepoPaths,
    dir: &Path,
    index: &TrailIndex,
    out: &mut Vec<AnchorCheck>,
    covered: &mut impl FnMut(u64),
) {
    let manifest = dir.join("manifest.json");
    let shown = paths.shown(&manifest).display().to_string();
    let Ok(Some(bytes)) = crate::fsio::read_regular(&manifest) else {
        return;
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let head = v["predicate"]["audit_head"].as_str().unwrap_or_default();
    let seq = v["predicate"]["audit_seq"].as_u64().unwrap_or(0);
    let sha = crate::digest::sha256_hex(&bytes);
    let dir_shown = paths.shown(dir).display().to_string();
    let problem = index.manifest_recorded(&dir_shown, &sha).err().or_else(|| {
        index
            .disagrees(seq, head)
            .map(|why| format!("its audit head: {why}"))
    });
    if problem.is_none() {
        covered(seq);
    }
    out.push(check(
        shown,
        problem,
        format!("its digest is the one recorded, and its audit head is line {seq}"),
    ));
}

/// An archived copy of a session's lines: each must be the trail's line of
/// the same seq.
fn archive_anchor(
    paths: &RepoPaths,
    dir: &Path,
    index: &TrailIndex,
    out: &mut Vec<AnchorCheck>,
    covered: &mut impl FnMut(u64),
) {
    let copy = dir.join("audit.jsonl");
    let Some(text) = crate::fsio::read_regular(&copy)
        .ok()
        .flatten()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return;
    };
    let shown = paths.shown(&copy).display().to_string();
    let mut last = 0;
    let mut problem = None;
    for (i, line) in text.lines().enumerate() {
        match audit::check_line(line) {
            Err(why) => problem = Some(format!("line {}: {why}", i + 1)),
            Ok(e) => {
                problem = index
                    .disagrees(e.seq, &e.hash)
                    .map(|why| format!("line {}: {why}", i + 1));
                last = e.seq;
            }
        }
        if problem.is_some() {
            break;
        }
    }
    if problem.is_none() {
        covered(last);
    }
    out.push(check(
        shown,
        problem,
        format!("{} lines, each the trail's own", text.lines().count()),
    ));
}

/// Every committed version of the trail on HEAD's first-parent history must
/// be a prefix of the current trail.
fn git_anchors(paths: &RepoPaths, out: &mut Vec<AnchorCheck>, covered: &mut impl FnMut(u64)) {
    let Some(repo) = crate::git::open(paths.root()) else {
        return;
    };
    let Ok(rel) = paths
        .audit()
        .strip_prefix(paths.root())
        .map(Path::to_path_buf)
    else {
        return;
    };
    let current = crate::fsio::read_regular(&paths.audit())
        .ok()
        .flatten()
        .unwrap_or_default();
    match committed_versions(&repo, &rel) {
        Err(e) => out.push(check(
            "git".into(),
            Some(format!("cannot read git history: {e}")),
            String::new(),
        )),
        Ok(versions) => {
            for (commit, bytes) in versions {
                let anchor = format!(
                    "git {} ({})",
                    &commit[..12.min(commit.len())],
                    rel.display()
                );
                let ok = current.starts_with(&bytes);
                if ok {
                    covered(bytes.iter().filter(|&&b| b == b'\n').count() as u64);
                }
                out.push(check(
                    anchor,
                    (!ok).then(|| {
                        "the committed trail is not a prefix of the current one (rewritten, cut or emptied since it was committed)".to_string()
                    }),
                    format!("{} committed bytes are the start of the current trail", bytes.len()),
                ));
            }
        }
    }
}

/// Each distinct committed content of `rel` on HEAD's first-parent
/// history (newest first), with the newest commit that has it; at most 500
/// commits are read.
fn committed_versions(
    repo: &git2::Repository,
    rel: &Path,
) -> Result<Vec<(String, Vec<u8>)>, git2::Error> {
    let Ok(head) = repo.head().and_then(|h| h.peel_to_commit()) else {
        return Ok(Vec::new());
    };
    let mut walk = repo.revwalk()?;
    walk.push(head.id())?;
    walk.simplify_first_parent()?;
    let mut seen = std::collections::BTreeSet::new();
    let mut versions = Vec::new();
    for oid in walk.take(500) {
        let commit = repo.find_commit(oid?)?;
        let Ok(entry) = commit.tree()?.get_path(rel) else {
            continue;
        };
        if seen.insert(entry.id()) {
            let blob = repo.find_blob(entry.id())?;
            versions.push((commit.id().to_string(), blob.content().to_vec()));
        }
    }
    Ok(versions)
}

/// The folders directly inside `dir` (none when it does not exist), sorted.
fn children(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .filter(|p| {
                    !p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
