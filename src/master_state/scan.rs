//! Line-level structure of a markdown file: lines with their byte ranges,
//! fenced code blocks and ATX headings. Only what the master state needs,
//! but exact about bytes, because edits are spliced back by byte offset.

/// One line: `start..end` is the text, `end..next` its terminator (`\n`,
/// `\r\n` or nothing on the last line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    pub start: usize,
    pub end: usize,
    pub next: usize,
}

/// A fenced code block. Line numbers are 0-based indexes into the line list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub open: usize,
    /// `None` when the block is never closed (it then runs to the end).
    pub close: Option<usize>,
    /// First word of the info string, lowercased (`json`, `bash`, ...).
    pub lang: String,
    /// Leading whitespace of the opening fence line.
    pub indent: String,
}

/// An ATX heading (`## Title`) outside code blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heading {
    pub line: usize,
    pub level: usize,
    pub text: String,
}

/// The scanned structure of a text.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub lines: Vec<Line>,
    pub fences: Vec<Fence>,
    pub headings: Vec<Heading>,
}

impl Scan {
    /// Scans `text` (without BOM).
    pub fn new(text: &str) -> Scan {
        let lines = split_lines(text);
        let mut scan = Scan {
            lines,
            ..Scan::default()
        };
        let mut open: Option<(usize, char, usize, String, String)> = None;
        for (i, line) in scan.lines.iter().enumerate() {
            let s = &text[line.start..line.end];
            if let Some((open_line, ch, len, lang, indent)) = &open {
                if is_closing_fence(s, *ch, *len) {
                    scan.fences.push(Fence {
                        open: *open_line,
                        close: Some(i),
                        lang: lang.clone(),
                        indent: indent.clone(),
                    });
                    open = None;
                }
                continue;
            }
            if let Some((ch, len, lang, indent)) = opening_fence(s) {
                open = Some((i, ch, len, lang, indent));
            } else if let Some((level, text)) = atx_heading(s) {
                scan.headings.push(Heading {
                    line: i,
                    level,
                    text,
                });
            }
        }
        if let Some((open_line, _, _, lang, indent)) = open {
            scan.fences.push(Fence {
                open: open_line,
                close: None,
                lang,
                indent,
            });
        }
        scan
    }

    /// Whether 0-based line `i` is inside (or is a fence line of) a code block.
    pub fn in_fence(&self, i: usize) -> bool {
        self.fences
            .iter()
            .any(|f| i >= f.open && f.close.is_none_or(|c| i <= c))
    }

    /// Text of 0-based line `i`, without its terminator.
    pub fn text<'a>(&self, text: &'a str, i: usize) -> &'a str {
        let l = self.lines[i];
        &text[l.start..l.end]
    }
}

fn split_lines(text: &str) -> Vec<Line> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let nl = memchr(b'\n', &bytes[start..]).map(|p| start + p);
        let (end, next) = match nl {
            Some(p) if p > start && bytes[p - 1] == b'\r' => (p - 1, p + 1),
            Some(p) => (p, p + 1),
            None => (bytes.len(), bytes.len()),
        };
        lines.push(Line { start, end, next });
        start = next;
    }
    lines
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

/// What may indent a fence line.
const INDENT: [char; 2] = [' ', '\t'];

/// `(fence char, fence length, lang, indent)` when `s` opens a code block.
fn opening_fence(s: &str) -> Option<(char, usize, String, String)> {
    // Only spaces and tabs indent a fence: the indent is reused when the
    // block is rewritten, and anything else (a vertical tab, say) is not
    // JSON whitespace. Found by fuzzing.
    let trimmed = s.trim_start_matches(INDENT);
    let indent = s[..s.len() - trimmed.len()].to_string();
    let ch = trimmed.chars().next()?;
    if ch != '`' && ch != '~' {
        return None;
    }
    let len = trimmed.chars().take_while(|&c| c == ch).count();
    if len < 3 {
        return None;
    }
    let info = trimmed[len..].trim();
    if ch == '`' && info.contains('`') {
        return None;
    }
    let lang = info
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    Some((ch, len, lang, indent))
}

fn is_closing_fence(s: &str, ch: char, len: usize) -> bool {
    let t = s.trim_matches(INDENT);
    let n = t.chars().take_while(|&c| c == ch).count();
    n >= len && n == t.chars().count()
}

/// `(level, text)` for `# Title` .. `###### Title` (up to 3 spaces indent).
fn atx_heading(s: &str) -> Option<(usize, String)> {
    let indent = s.len() - s.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let t = &s[indent..];
    let level = t.chars().take_while(|&c| c == '#').count();
    if level == 0 || level > 6 {
        return None;
    }
    let rest = &t[level..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let text = rest.trim().trim_end_matches('#').trim_end().to_string();
    Some((level, text))
}

/// The phase number and name a heading text claims (`Phase -1: Pre-Work`),
/// if it names one of the framework's phases -1..=8.
pub fn phase_heading(text: &str) -> Option<(i8, String)> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find("phase") {
        let at = from + pos;
        from = at + 5;
        let before_ok = lower[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let after = &text[at + 5..];
        let spaced = after.trim_start();
        if !before_ok || spaced.len() == after.len() {
            continue;
        }
        let (neg, digits_from) = match spaced.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, spaced),
        };
        let digits: String = digits_from
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        if digits.is_empty() || digits.len() > 2 {
            continue;
        }
        let Ok(mut n) = digits.parse::<i8>() else {
            continue;
        };
        if neg {
            n = -n;
        }
        if !(-1..=8).contains(&n) {
            continue;
        }
        let rest = &digits_from[digits.len()..];
        // `Phase 7.5` is the framework's Validation phase: a phase of its
        // own, never Phase 7.
        let mut after_digits = rest.chars();
        if after_digits.next() == Some('.')
            && after_digits.next().is_some_and(|c| c.is_ascii_digit())
        {
            continue;
        }
        return Some((n, clean_name(rest)));
    }
    None
}

/// Strips markdown emphasis, separators and decoration around a heading name.
fn clean_name(rest: &str) -> String {
    let no_marks = rest.replace("**", "").replace("__", "");
    no_marks
        .trim_matches(|c: char| !c.is_alphanumeric() && c != '(' && c != ')')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_exact_terminators() {
        let s = Scan::new("a\r\nb\nc");
        assert_eq!(
            s.lines,
            vec![
                Line {
                    start: 0,
                    end: 1,
                    next: 3
                },
                Line {
                    start: 3,
                    end: 4,
                    next: 5
                },
                Line {
                    start: 5,
                    end: 6,
                    next: 6
                },
            ]
        );
    }

    #[test]
    fn headings_inside_fences_are_ignored() {
        let s = Scan::new("# One\n```bash\n# not a heading\n```\n## Two\n");
        let texts: Vec<_> = s.headings.iter().map(|h| h.text.as_str()).collect();
        assert_eq!(texts, ["One", "Two"]);
        assert_eq!(s.fences[0].lang, "bash");
        assert!(s.in_fence(2));
        assert!(!s.in_fence(4));
    }

    #[test]
    fn a_sub_phase_is_not_its_parent_phase() {
        assert_eq!(
            phase_heading("**Phase 7.5: Validation Framework** ✅"),
            None
        );
        assert_eq!(phase_heading("Phase 7. Deployment").map(|p| p.0), Some(7));
    }

    #[test]
    fn phase_headings_in_many_spellings() {
        let cases = [
            (
                "**Phase -1: Mandatory Pre-Work Requirements**",
                Some((-1, "Mandatory Pre-Work Requirements")),
            ),
            ("🧪 Phase 6 — Testing & QA ✅", Some((6, "Testing & QA"))),
            ("phase 7", Some((7, ""))),
            ("**Framework Implementation Phases Status**", None),
            ("Phase 12: Beyond", None),
            ("Multiphase 3 plan", None),
        ];
        for (text, want) in cases {
            let got = phase_heading(text);
            assert_eq!(
                got.as_ref().map(|(n, s)| (*n, s.as_str())),
                want,
                "heading {text:?}"
            );
        }
    }

    #[test]
    fn unclosed_fence_runs_to_end() {
        let s = Scan::new("```json\n{\n");
        assert_eq!(s.fences[0].close, None);
    }
}
