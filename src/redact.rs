//! Secret masking. Every byte the tool writes or prints that could hold a
//! secret (child output, logs, notes, JSON, reports, the audit trail, the
//! handoff package) passes through a [`Redactor`]. A secret is masked as
//! `***` in its plain form and in its base64 forms.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use std::sync::Arc;

/// The mask that replaces a secret.
pub const MASK: &str = "***";

/// Shortest value treated as a secret: masking one- or two-letter values
/// would garble all output without protecting anything.
const MIN_SECRET_LEN: usize = 3;

/// Masks known secret values. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    patterns: Arc<Vec<String>>,
}

impl Redactor {
    /// A redactor for these secret values (and their base64 forms).
    pub fn new<I, S>(values: I) -> Redactor
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut patterns = Vec::new();
        for v in values {
            let v = v.as_ref();
            if v.len() < MIN_SECRET_LEN {
                continue;
            }
            patterns.push(v.to_string());
            for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
                patterns.push(engine.encode(v.as_bytes()));
            }
        }
        // Longest first, so a value that contains another is masked whole.
        patterns.sort_by_key(|p| std::cmp::Reverse(p.len()));
        patterns.dedup();
        Redactor {
            patterns: Arc::new(patterns),
        }
    }

    /// A redactor for the values of these environment variables (unset or
    /// empty ones are ignored).
    pub fn from_env<I, S>(names: I) -> Redactor
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Redactor::new(
            names
                .into_iter()
                .filter_map(|n| std::env::var(n.as_ref()).ok())
                .filter(|v| !v.is_empty()),
        )
    }

    /// Whether there is anything to mask.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The longest pattern, in bytes (what a stream must hold back).
    pub fn longest(&self) -> usize {
        self.patterns.first().map_or(0, String::len)
    }

    /// `text` with every secret masked.
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for p in self.patterns.iter() {
            if out.contains(p.as_str()) {
                out = out.replace(p.as_str(), MASK);
            }
        }
        out
    }

    /// Masks every string inside a JSON value.
    pub fn mask_json(&self, value: &mut serde_json::Value) {
        if self.is_empty() {
            return;
        }
        match value {
            serde_json::Value::String(s) => *s = self.mask(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.mask_json(v)),
            serde_json::Value::Object(m) => m.values_mut().for_each(|v| self.mask_json(v)),
            _ => {}
        }
    }

    /// A line-oriented stream masker for child output.
    pub fn stream(&self) -> StreamMasker {
        StreamMasker {
            redactor: self.clone(),
            pending: Vec::new(),
        }
    }
}

/// Masks a byte stream that arrives in arbitrary chunks: a secret split
/// across two writes is still masked, because text is released a line at a
/// time (or, for a very long line, all but a tail as long as the longest
/// secret).
#[derive(Debug)]
pub struct StreamMasker {
    redactor: Redactor,
    pending: Vec<u8>,
}

/// Lines longer than this are released in parts.
const MAX_PENDING: usize = 64 * 1024;

impl StreamMasker {
    /// Feeds bytes; returns the complete lines (masked, without `\n`).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            lines.push(self.finish(&line[..line.len() - 1]));
        }
        if self.pending.len() > MAX_PENDING {
            let keep = self.redactor.longest().saturating_sub(1);
            let cut = self.pending.len() - keep;
            let head: Vec<u8> = self.pending.drain(..cut).collect();
            lines.push(self.finish(&head));
        }
        lines
    }

    /// The rest of the stream at end of file, if any.
    pub fn flush(&mut self) -> Option<String> {
        if self.pending.is_empty() {
            return None;
        }
        let rest = std::mem::take(&mut self.pending);
        Some(self.finish(&rest))
    }

    fn finish(&self, bytes: &[u8]) -> String {
        let text = String::from_utf8_lossy(bytes);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        self.redactor.mask(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn masks_plain_and_base64_forms() {
        let r = Redactor::new(["s3cr3t-token"]);
        assert_eq!(r.mask("token=s3cr3t-token;"), "token=***;");
        let b64 = STANDARD.encode("s3cr3t-token");
        assert_eq!(r.mask(&format!("b64 {b64}")), "b64 ***");
        assert_eq!(r.mask("nothing here"), "nothing here");
    }

    #[test]
    fn short_values_are_not_secrets() {
        assert!(Redactor::new(["ab", ""]).is_empty());
    }

    #[test]
    fn split_writes_are_masked() {
        let r = Redactor::new(["hunter2hunter2"]);
        let mut s = r.stream();
        assert!(s.push(b"pass=hunter2").is_empty());
        assert_eq!(s.push(b"hunter2 ok\nnext"), vec!["pass=*** ok".to_string()]);
        assert_eq!(s.flush().as_deref(), Some("next"));
        assert_eq!(s.flush(), None);
    }

    #[test]
    fn json_strings_are_masked() {
        let r = Redactor::new(["topsecret"]);
        let mut v = serde_json::json!({"a": ["x topsecret"], "b": {"c": "topsecret"}, "n": 1});
        r.mask_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a": ["x ***"], "b": {"c": "***"}, "n": 1})
        );
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config(256))]
        #[test]
        fn a_secret_never_survives_any_chunking(
            prefix in "[a-z ]{0,20}",
            suffix in "[a-z ]{0,20}",
            cuts in prop::collection::vec(0usize..60, 0..6),
        ) {
            let secret = "Zq9-SECRET-7xW";
            let r = Redactor::new([secret]);
            let text = format!("{prefix}{secret}{suffix}\n{prefix}{}\n", STANDARD.encode(secret));
            let bytes = text.as_bytes();
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            points.sort();
            let mut s = r.stream();
            let mut out = Vec::new();
            let mut last = 0;
            for p in points.into_iter().chain([bytes.len()]) {
                out.extend(s.push(&bytes[last..p]));
                last = p;
            }
            out.extend(s.flush());
            let joined = out.join("\n");
            prop_assert!(!joined.contains(secret));
            prop_assert!(!joined.contains(&STANDARD.encode(secret)));
        }
    }
}
