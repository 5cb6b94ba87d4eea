//! The framework's master state: `.ai_context/framework_progress.md`.
//!
//! Humans and assistants edit this file, so the tool reads it leniently (json
//! blocks or prose status lines, emoji, CRLF, BOM) but strictly about meaning
//! (unknown status words are errors, never guesses), and writes it under the
//! preservation rule: only the json block of a phase it updates changes, and
//! every other byte stays as it was.

mod json_style;
mod scan;

use crate::error::InputError;
use anyhow::{Context, Result};
use scan::Scan;
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;
use std::path::{Path, PathBuf};

pub use scan::phase_heading;

/// The framework's phases, with the names its state file uses.
pub const PHASE_NAMES: [(i8, &str); 10] = [
    (-1, "Mandatory Pre-Work Requirements"),
    (0, "Framework Initialization & Setup"),
    (1, "Requirements Analysis & Specification"),
    (2, "Behavioral Specification & BDD Development"),
    (3, "Architecture & ADR Development"),
    (4, "Technical Specifications & Deployment Strategy"),
    (5, "Implementation & Coding"),
    (6, "Testing & Quality Assurance"),
    (7, "AI-First Deployment Preparation"),
    (8, "Production Deployment & Operations"),
];

/// The canonical name of phase `n`.
pub fn phase_name(n: i8) -> &'static str {
    PHASE_NAMES
        .iter()
        .find(|(k, _)| *k == n)
        .map_or("", |(_, name)| name)
}

/// A phase's status, from the framework's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhaseStatus {
    Ready,
    NotStarted,
    InProgress,
    Blocked,
    Completed,
    Failed,
}

impl PhaseStatus {
    /// Parses a status word (case-insensitive, `in progress` or `in_progress`).
    pub fn parse(word: &str) -> Option<PhaseStatus> {
        let w = word.trim().to_lowercase().replace(['-', ' '], "_");
        Some(match w.as_str() {
            "ready" => PhaseStatus::Ready,
            "not_started" | "pending" => PhaseStatus::NotStarted,
            "in_progress" => PhaseStatus::InProgress,
            "blocked" => PhaseStatus::Blocked,
            "completed" | "complete" | "done" => PhaseStatus::Completed,
            "failed" => PhaseStatus::Failed,
            _ => return None,
        })
    }

    /// The word the tool writes.
    pub fn word(self) -> &'static str {
        match self {
            PhaseStatus::Ready => "ready",
            PhaseStatus::NotStarted => "not_started",
            PhaseStatus::InProgress => "in_progress",
            PhaseStatus::Blocked => "blocked",
            PhaseStatus::Completed => "completed",
            PhaseStatus::Failed => "failed",
        }
    }

    fn from_emoji(text: &str) -> Option<PhaseStatus> {
        [
            ('✅', PhaseStatus::Completed),
            ('🔄', PhaseStatus::InProgress),
            ('⏳', PhaseStatus::NotStarted),
            ('❌', PhaseStatus::Failed),
        ]
        .into_iter()
        .find(|(c, _)| text.contains(*c))
        .map(|(_, s)| s)
    }
}

impl fmt::Display for PhaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

const STATUS_WORDS: &str =
    "ready, not_started/pending, in_progress, blocked, completed/complete/done, failed";

/// One deliverable of a phase and whether it counts as completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Deliverable {
    pub name: String,
    /// The value as written (`pending`, `template_ready`, `completed`, ...).
    pub value: String,
    pub done: bool,
}

/// A recorded human decision on a phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Approval {
    pub status: ApprovalStatus,
    pub by: Option<String>,
    pub at: Option<String>,
    pub note: Option<String>,
}

/// Keys of a phase block that say why it stands where it does.
const FACT_KEYS: [&str; 8] = [
    "session",
    "completed_at",
    "blocked_reason",
    "blocker",
    "reason",
    "notes",
    "recorded_by",
    "recorded_at",
];

/// Approval states the tool understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Approved,
    Rejected,
    Pending,
}

impl ApprovalStatus {
    /// The word the master state uses.
    pub fn word(self) -> &'static str {
        match self {
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::Pending => "pending",
        }
    }
}

impl Approval {
    /// Approved, naming who and when.
    pub fn is_named(&self) -> bool {
        self.status == ApprovalStatus::Approved
            && self.by.as_deref().is_some_and(|b| !b.trim().is_empty())
            && self.at.is_some()
    }

    /// The json object the tool writes into a phase block.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        let status = match self.status {
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::Pending => "pending",
        };
        m.insert("status".into(), status.into());
        for (k, v) in [("by", &self.by), ("at", &self.at), ("note", &self.note)] {
            if let Some(v) = v {
                m.insert(k.into(), v.clone().into());
            }
        }
        Value::Object(m)
    }
}

/// Where a phase's state was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// A fenced json block; 0-based fence lines and indentation.
    Json {
        open: usize,
        close: usize,
        indent: String,
        unit: String,
    },
    /// A `**Status:**` prose line (0-based).
    Prose,
    /// A heading with no state under it.
    Heading,
}

/// One phase as read from the file.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Phase {
    pub number: i8,
    pub name: String,
    /// 1-based line of the phase heading.
    pub line: usize,
    pub status: PhaseStatus,
    pub completed: bool,
    pub deliverables: Vec<Deliverable>,
    pub approval: Option<Approval>,
    pub dependencies: Vec<String>,
    /// What the block says about why it stands where it does (a blocked
    /// reason, the session that completed it, and when): shown, never
    /// overwritten silently.
    pub facts: std::collections::BTreeMap<String, String>,
    #[serde(skip)]
    heading_index: usize,
    #[serde(skip)]
    level: usize,
    #[serde(skip)]
    source: Source,
    /// The json block as parsed (`None` for prose or heading-only phases).
    #[serde(skip)]
    pub block: Option<Map<String, Value>>,
}

impl Phase {
    /// Whether the phase carries a recorded approval.
    /// Approved by a named person at a recorded time: what an approval
    /// gate accepts. A bare `"approved"` names no one and is not enough.
    pub fn approved(&self) -> bool {
        self.approval.as_ref().is_some_and(Approval::is_named)
    }

    /// Marked approved, but without who or when.
    pub fn approved_unnamed(&self) -> bool {
        self.approval
            .as_ref()
            .is_some_and(|a| a.status == ApprovalStatus::Approved && !a.is_named())
    }

    /// Whether the phase's state comes from a prose line rather than json.
    #[cfg(test)]
    pub fn is_prose(&self) -> bool {
        self.source == Source::Prose
    }
}

/// A parsed master state file.
#[derive(Debug, Clone)]
pub struct MasterState {
    path: PathBuf,
    bom: bool,
    text: String,
    newline: &'static str,
    scan: Scan,
    phases: Vec<Phase>,
}

impl MasterState {
    /// Reads and parses the file at `path` (shown in messages as `shown`).
    /// The repo's master state, which must exist: a missing file is an
    /// input error pointing at `init`, a malformed one names its line.
    pub fn load_required(paths: &crate::paths::RepoPaths) -> Result<MasterState> {
        let path = paths.master_state();
        let shown = paths.shown(&path);
        crate::fsio::not_a_symlink(&path).map_err(|_| {
            InputError::in_file(
                &shown,
                None,
                "is a symbolic link; deploy-session writes its own files in place, never through a link",
            )
            .with_hint("replace the link with the file itself")
        })?;
        if !path.exists() {
            return Err(
                InputError::in_file(&shown, None, "the master state file does not exist")
                    .with_hint("`deploy-session init` creates one in the framework's format")
                    .into(),
            );
        }
        MasterState::load(&path, &shown)
    }

    pub fn load(path: &Path, shown: &Path) -> Result<MasterState> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", shown.display()))?;
        Ok(MasterState::parse(shown, &bytes)?)
    }

    /// Parses file bytes; `path` is used in messages only.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<MasterState, InputError> {
        let (bom, body) = match bytes.strip_prefix("\u{FEFF}".as_bytes()) {
            Some(rest) => (true, rest),
            None => (false, bytes),
        };
        let text = std::str::from_utf8(body)
            .map_err(|e| {
                let line = body[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
                    + 1;
                InputError::in_file(path, Some(line), "the file is not valid UTF-8")
            })?
            .to_string();
        let crlf = text.matches("\r\n").count();
        let newline = if crlf * 2 > text.matches('\n').count() {
            "\r\n"
        } else {
            "\n"
        };
        let scan = Scan::new(&text);
        let mut state = MasterState {
            path: path.to_path_buf(),
            bom,
            text,
            newline,
            scan,
            phases: Vec::new(),
        };
        state.phases = state.read_phases()?;
        if state.phases.is_empty() {
            let why = if state.text.trim().is_empty() {
                "the master state is empty"
            } else {
                "the master state has no phase headings"
            };
            return Err(InputError::in_file(path, Some(1), why).with_hint(
                "a master state has a heading per phase (`#### **Phase 6: Testing & Quality Assurance**`) with a ```json block; `deploy-session init` writes one",
            ));
        }
        Ok(state)
    }

    /// The phases found, in file order.
    pub fn phases(&self) -> &[Phase] {
        &self.phases
    }

    /// Phase `n`, if the file has it.
    pub fn phase(&self, n: i8) -> Option<&Phase> {
        self.phases.iter().find(|p| p.number == n)
    }

    /// The file bytes as they would be written (BOM restored).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len() + 3);
        if self.bom {
            out.extend_from_slice("\u{FEFF}".as_bytes());
        }
        out.extend_from_slice(self.text.as_bytes());
        out
    }

    /// Writes the file atomically, keeping the previous version as `.bak`.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::fsio::keep_backup(path)?;
        crate::fsio::write_atomic(path, &self.to_bytes())
    }

    /// Returns the state with phase `n`'s json block changed by `edit`.
    ///
    /// Only that block's bytes change. A phase kept as prose gets a json block
    /// inserted under its heading (the prose stays); a phase missing from the
    /// file gets a new section next to its neighbours.
    pub fn update_phase(
        &self,
        n: i8,
        edit: impl FnOnce(&mut Map<String, Value>),
    ) -> Result<MasterState, InputError> {
        let nl = self.newline;
        let Some(phase) = self.phase(n) else {
            return self.insert_phase_section(n, edit);
        };
        match &phase.source {
            Source::Json {
                open,
                close,
                indent,
                unit,
            } => {
                let old = phase.block.clone().unwrap_or_default();
                let mut map = old.clone();
                edit(&mut map);
                if map == old {
                    return Ok(self.clone());
                }
                let start = self.scan.lines[*open].next;
                let end = self.scan.lines[*close].start;
                let before = &self.text[start..end.max(start)];
                let body = json_style::edit(before, &old, &map, indent, unit, nl)
                    .unwrap_or_else(|| json_style::render(&Value::Object(map), indent, unit, nl));
                self.splice(start, end, &body)
            }
            Source::Prose | Source::Heading => {
                let mut map = Map::new();
                map.insert("status".into(), phase.status.word().into());
                map.insert("completed".into(), phase.completed.into());
                edit(&mut map);
                let block = fenced_block(&map, nl);
                let at = self.line_end_with_newline(phase.heading_index);
                self.splice_lines_after(at, &block)
            }
        }
    }

    /// Sets the value of a `- **Name**: value` bullet (outside code blocks).
    /// Returns `None` when the file has no such bullet.
    pub fn set_bullet(&self, name: &str, value: &str) -> Option<MasterState> {
        let (i, from, to) = (0..self.scan.lines.len())
            .filter(|&i| !self.scan.in_fence(i))
            .find_map(|i| {
                let line = self.scan.text(&self.text, i);
                bullet_value_range(line, name).map(|(a, b)| (i, a, b))
            })?;
        let base = self.scan.lines[i].start;
        self.splice(base + from, base + to, value).ok()
    }

    fn splice(&self, start: usize, end: usize, with: &str) -> Result<MasterState, InputError> {
        let mut text = String::with_capacity(self.text.len() + with.len());
        text.push_str(&self.text[..start]);
        text.push_str(with);
        text.push_str(&self.text[end..]);
        let mut bytes = Vec::new();
        if self.bom {
            bytes.extend_from_slice("\u{FEFF}".as_bytes());
        }
        bytes.extend_from_slice(text.as_bytes());
        MasterState::parse(&self.path, &bytes)
    }

    /// Byte offset just after line `i` and its terminator, adding a newline
    /// first if `i` is the last line and has none.
    fn line_end_with_newline(&self, i: usize) -> (usize, bool) {
        let l = self.scan.lines[i];
        (l.next, l.next == l.end)
    }

    fn splice_lines_after(&self, at: (usize, bool), text: &str) -> Result<MasterState, InputError> {
        let (offset, needs_newline) = at;
        let insert = if needs_newline {
            format!("{}{text}", self.newline)
        } else {
            text.to_string()
        };
        self.splice(offset, offset, &insert)
    }

    fn insert_phase_section(
        &self,
        n: i8,
        edit: impl FnOnce(&mut Map<String, Value>),
    ) -> Result<MasterState, InputError> {
        let nl = self.newline;
        let before = self
            .phases
            .iter()
            .filter(|p| p.number < n)
            .max_by_key(|p| p.number);
        let after = self
            .phases
            .iter()
            .filter(|p| p.number > n)
            .min_by_key(|p| p.number);
        let Some(neighbour) = before.or(after) else {
            return Err(InputError::in_file(
                &self.path,
                None,
                format!("no phase sections found, so Phase {n} cannot be placed"),
            )
            .with_hint("headings like `#### **Phase 6: Testing & Quality Assurance**` mark phases; `deploy-session init --force` writes a complete file"));
        };
        let mut map = Map::new();
        map.insert("status".into(), PhaseStatus::NotStarted.word().into());
        map.insert("completed".into(), false.into());
        edit(&mut map);
        let heading = format!(
            "{} **Phase {n}: {}**{nl}",
            "#".repeat(neighbour.level),
            phase_name(n)
        );
        let section = format!("{heading}{}", fenced_block(&map, nl));
        match before {
            Some(p) => {
                let last = match &p.source {
                    Source::Json { close, .. } => *close,
                    _ => p.heading_index,
                };
                let at = self.line_end_with_newline(last);
                self.splice_lines_after(at, &format!("{nl}{section}"))
            }
            None => {
                let at = self.scan.lines[neighbour.heading_index].start;
                self.splice(at, at, &format!("{section}{nl}"))
            }
        }
    }

    fn read_phases(&self) -> Result<Vec<Phase>, InputError> {
        let headings = &self.scan.headings;
        let mut phases: Vec<Phase> = Vec::new();
        for (k, h) in headings.iter().enumerate() {
            let Some((number, name)) = phase_heading(&h.text) else {
                continue;
            };
            let end = headings[k + 1..]
                .iter()
                .find(|o| o.level <= h.level || phase_heading(&o.text).is_some())
                .map_or(self.scan.lines.len(), |o| o.line);
            let name = if name.is_empty() {
                phase_name(number).to_string()
            } else {
                name
            };
            let phase = self.read_phase(number, name, h.line, h.level, end)?;
            match phases.iter().position(|p| p.number == number) {
                None => phases.push(phase),
                Some(i) if phases[i].source == Source::Heading => phases[i] = phase,
                Some(_) if phase.source == Source::Heading => {}
                Some(i) => {
                    return Err(InputError::in_file(
                        &self.path,
                        Some(phase.line),
                        format!(
                            "Phase {number} is declared twice with a state (line {} and line {}); the tool cannot tell which is current",
                            phases[i].line, phase.line
                        ),
                    )
                    .with_hint("keep one section per phase, or remove the state block from the stale one"));
                }
            }
        }
        Ok(phases)
    }

    fn read_phase(
        &self,
        number: i8,
        name: String,
        heading: usize,
        level: usize,
        end: usize,
    ) -> Result<Phase, InputError> {
        let mut phase = Phase {
            number,
            name,
            line: heading + 1,
            status: PhaseStatus::NotStarted,
            completed: false,
            deliverables: Vec::new(),
            approval: None,
            dependencies: Vec::new(),
            facts: Default::default(),
            heading_index: heading,
            level,
            source: Source::Heading,
            block: None,
        };
        let fence = self
            .scan
            .fences
            .iter()
            .find(|f| f.open > heading && f.open < end && f.lang == "json");
        if let Some(f) = fence {
            let Some(close) = f.close else {
                return Err(self.err(f.open, "this ```json block is never closed"));
            };
            let map = self.parse_block(f.open, close)?;
            phase.source = Source::Json {
                open: f.open,
                close,
                indent: f.indent.clone(),
                unit: self.indent_unit(f.open, close, &f.indent),
            };
            self.read_block_fields(&mut phase, &map, f.open, close)?;
            phase.block = Some(map);
        } else if let Some((i, value)) = self.prose_status(heading, end) {
            phase.source = Source::Prose;
            phase.status = prose_status_word(&value).ok_or_else(|| {
                self.err(i, format!("unknown status {value:?} for Phase {number}"))
                    .with_hint(format!("use one of: {STATUS_WORDS} (or ✅ 🔄 ⏳ ❌)"))
            })?;
            phase.completed = phase.status == PhaseStatus::Completed;
        }
        Ok(phase)
    }

    fn parse_block(&self, open: usize, close: usize) -> Result<Map<String, Value>, InputError> {
        let start = self.scan.lines[open].next;
        let end = self.scan.lines[close].start;
        let body = &self.text[start..end.max(start)];
        let parsed = json_style::check_no_duplicate_keys(body)
            .and_then(|()| serde_json::from_str::<Value>(body));
        match parsed {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(self.err(open + 1, "a phase's json block must be an object `{...}`")),
            Err(e) => {
                let line = open + e.line();
                Err(self
                    .err(line, format!("invalid JSON in phase block: {e}"))
                    .at_column(Some(e.column()))
                    .with_hint(
                        "fix the JSON by hand; the tool never writes a file it cannot parse",
                    ))
            }
        }
    }

    fn read_block_fields(
        &self,
        phase: &mut Phase,
        map: &Map<String, Value>,
        open: usize,
        close: usize,
    ) -> Result<(), InputError> {
        let key_line = |key: &str| self.key_line(open, close, key);
        let n = phase.number;
        let completed_flag = match map.get("completed") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(self.err(
                    key_line("completed"),
                    format!("`completed` of Phase {n} must be true or false, found {other}"),
                ));
            }
        };
        phase.status = match map.get("status") {
            None | Some(Value::Null) => PhaseStatus::NotStarted,
            Some(Value::String(s)) => PhaseStatus::parse(s).ok_or_else(|| {
                self.err(
                    key_line("status"),
                    format!("unknown status {s:?} for Phase {n}"),
                )
                .with_hint(format!("use one of: {STATUS_WORDS}"))
            })?,
            Some(other) => {
                return Err(self.err(
                    key_line("status"),
                    format!("`status` of Phase {n} must be a string, found {other}"),
                ));
            }
        };
        if completed_flag {
            let stated = map.get("status").and_then(Value::as_str);
            if stated.is_some() && phase.status != PhaseStatus::Completed {
                return Err(self
                    .err(
                        key_line("status"),
                        format!(
                            "Phase {n} says `\"completed\": true` but its status is {:?}: which is it?",
                            stated.unwrap_or_default()
                        ),
                    )
                    .with_hint("make them agree: status \"completed\" with completed true, or completed false"));
            }
            phase.status = PhaseStatus::Completed;
        }
        phase.completed = phase.status == PhaseStatus::Completed;
        phase.deliverables = read_deliverables(map.get("deliverables"));
        phase.facts = FACT_KEYS
            .iter()
            .filter_map(|k| map.get(*k).map(|v| (k.to_string(), value_text(v))))
            .collect();
        phase.dependencies = match map.get("dependencies") {
            Some(Value::Array(items)) => items.iter().map(value_text).collect(),
            _ => Vec::new(),
        };
        phase.approval = match map.get("approval") {
            None | Some(Value::Null) => None,
            Some(v) => Some(self.read_approval(v, key_line("approval"), n)?),
        };
        Ok(())
    }

    fn read_approval(&self, v: &Value, line: usize, n: i8) -> Result<Approval, InputError> {
        // The framework's own files write a bare word: read it, naming no one.
        if let Value::String(word) = v {
            let object = serde_json::json!({ "status": word });
            return self.read_approval(&object, line, n);
        }
        let Value::Object(m) = v else {
            return Err(self.err(
                line,
                format!("`approval` of Phase {n} must be an object like {{\"status\": \"approved\", \"by\": ..., \"at\": ...}}"),
            ));
        };
        let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        let status = match text("status").as_deref().map(str::to_lowercase).as_deref() {
            Some("approved") => ApprovalStatus::Approved,
            Some("rejected") => ApprovalStatus::Rejected,
            Some("pending") | None => ApprovalStatus::Pending,
            Some(other) => {
                return Err(self
                    .err(
                        line,
                        format!("unknown approval status {other:?} for Phase {n}"),
                    )
                    .with_hint("use approved, rejected or pending"));
            }
        };
        if let Some(at) = text("at")
            && at.parse::<jiff::Timestamp>().is_err()
        {
            return Err(self
                .err(
                    line,
                    format!("approval time {at:?} of Phase {n} is not an RFC 3339 timestamp"),
                )
                .with_hint("write it like 2026-05-01T12:00:00Z"));
        }
        Ok(Approval {
            status,
            by: text("by"),
            at: text("at"),
            note: text("note"),
        })
    }

    /// 0-based line of `"key"` inside a block (falls back to the fence line).
    fn key_line(&self, open: usize, close: usize, key: &str) -> usize {
        let needle = format!("\"{key}\"");
        (open + 1..close)
            .find(|&i| self.scan.text(&self.text, i).contains(&needle))
            .unwrap_or(open)
    }

    fn indent_unit(&self, open: usize, close: usize, base: &str) -> String {
        (open + 1..close)
            .map(|i| self.scan.text(&self.text, i))
            .find_map(|l| {
                let rest = l.strip_prefix(base)?;
                let unit: String = rest
                    .chars()
                    .take_while(|c| *c == ' ' || *c == '\t')
                    .collect();
                (!unit.is_empty()).then_some(unit)
            })
            .unwrap_or_else(|| "  ".to_string())
    }

    fn prose_status(&self, heading: usize, end: usize) -> Option<(usize, String)> {
        (heading + 1..end)
            .filter(|&i| !self.scan.in_fence(i))
            .find_map(|i| prose_status_value(self.scan.text(&self.text, i)).map(|v| (i, v)))
    }

    fn err(&self, line0: usize, message: impl Into<String>) -> InputError {
        InputError::in_file(&self.path, Some(line0 + 1), message)
    }
}

fn fenced_block(map: &Map<String, Value>, nl: &str) -> String {
    format!(
        "```json{nl}{}```{nl}",
        json_style::render(&Value::Object(map.clone()), "", "  ", nl)
    )
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn read_deliverables(v: Option<&Value>) -> Vec<Deliverable> {
    let done = |v: &Value| match v {
        Value::Bool(b) => *b,
        Value::String(s) => PhaseStatus::parse(s) == Some(PhaseStatus::Completed),
        Value::Object(m) => {
            m.get("status")
                .and_then(Value::as_str)
                .and_then(PhaseStatus::parse)
                == Some(PhaseStatus::Completed)
        }
        _ => false,
    };
    match v {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(name, v)| Deliverable {
                name: name.clone(),
                value: match v {
                    Value::Object(o) => o.get("status").map(value_text).unwrap_or_default(),
                    other => value_text(other),
                },
                done: done(v),
            })
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| Deliverable {
                name: value_text(v),
                value: "listed".into(),
                done: false,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The value of a `**Status:** value` line (list marker and emphasis allowed).
fn prose_status_value(line: &str) -> Option<String> {
    let t = line.trim_start();
    let t = t
        .strip_prefix("- ")
        .or_else(|| t.strip_prefix("* "))
        .unwrap_or(t)
        .trim_start();
    let lower = t.to_lowercase();
    for prefix in ["**status:**", "**status**:", "status:"] {
        if lower.starts_with(prefix) {
            return Some(t[prefix.len()..].trim().to_string());
        }
    }
    None
}

/// Maps a prose status (`✅ Complete`, `In Progress 🔄`) to a status.
fn prose_status_word(value: &str) -> Option<PhaseStatus> {
    let words: String = value
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                ' '
            }
        })
        .collect();
    let words: Vec<&str> = words.split_whitespace().collect();
    let by_words = (1..=words.len().min(2))
        .rev()
        .find_map(|n| PhaseStatus::parse(&words[..n].join(" ")));
    by_words.or_else(|| PhaseStatus::from_emoji(value))
}

/// Byte range of the value in `- **Name**: value` / `- **Name:** value`.
fn bullet_value_range(line: &str, name: &str) -> Option<(usize, usize)> {
    let t = line.trim_start();
    let indent = line.len() - t.len();
    let rest = t.strip_prefix("- ").or_else(|| t.strip_prefix("* "))?;
    let marker_len = t.len() - rest.len();
    let forms = [format!("**{name}**:"), format!("**{name}:**")];
    let form = forms.iter().find(|f| rest.starts_with(f.as_str()))?;
    let after = &rest[form.len()..];
    let value = after.trim_start();
    let start = indent + marker_len + form.len() + (after.len() - value.len());
    let value_trimmed = value.trim_end();
    Some((start, start + value_trimmed.len()))
}

/// Sets `status` (and `completed`, keeping it consistent) in a phase block.
pub fn set_status(map: &mut Map<String, Value>, status: PhaseStatus) {
    map.insert("status".into(), status.word().into());
    map.insert(
        "completed".into(),
        (status == PhaseStatus::Completed).into(),
    );
}

#[cfg(test)]
mod tests;
