//! Secret masking. Every byte the tool writes or prints that could hold a
//! secret (child output, logs, notes, JSON, reports, the audit trail, the
//! handoff package) passes through a [`Redactor`].
//!
//! Like the GitHub Actions runner's value encoders, each secret is
//! registered in every form a program may print it: as it is (also when it
//! spans lines, as a PEM key does, with `\n` or `\r\n`), each of its lines
//! on its own (an indented PEM body), base64 in both alphabets at every byte
//! alignment (`printf 'tok=%s'` before it, the HTTP Basic case) and wrapped
//! at any column (line breaks inside the encoding are looked through),
//! percent-encoded and JSON-escaped. One pass over the bytes masks them all.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use std::sync::Arc;

/// The mask that replaces a secret.
pub const MASK: &str = "***";

/// Shortest value treated as a secret: masking one- or two-letter values
/// would garble all output without protecting anything.
const MIN_SECRET_LEN: usize = 3;

/// Shortest derived form (an encoding's fully determined part) masked: a
/// shorter one would match ordinary text by chance.
const MIN_FORM_LEN: usize = 6;

/// One form of a secret, and how it is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Form {
    bytes: Vec<u8>,
    /// Base64: line breaks in the text between its characters are looked
    /// through (wrapped output).
    wrapped: bool,
}

/// Masks known secret values. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    forms: Arc<Vec<Form>>,
    /// Forms by first byte, longest first.
    by_first: Arc<Vec<Vec<usize>>>,
}

impl Redactor {
    /// A redactor for these secret values, in every form they may take.
    pub fn new<I, S>(values: I) -> Redactor
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut forms: Vec<Form> = Vec::new();
        for v in values {
            let v = v.as_ref();
            if v.len() < MIN_SECRET_LEN {
                continue;
            }
            forms.extend(encoded_forms(v.as_bytes()));
        }
        forms.sort_by_key(|f| std::cmp::Reverse(f.bytes.len()));
        forms.dedup();
        let mut by_first = vec![Vec::new(); 256];
        for (i, f) in forms.iter().enumerate() {
            by_first[f.bytes[0] as usize].push(i);
        }
        Redactor {
            forms: Arc::new(forms),
            by_first: Arc::new(by_first),
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
        self.forms.is_empty()
    }

    /// `text` with every secret masked.
    pub fn mask(&self, text: &str) -> String {
        if self.is_empty() {
            return text.to_string();
        }
        let (out, _) = self.scan(text.as_bytes(), true);
        String::from_utf8_lossy(&out).into_owned()
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

    /// Whether masking would change any string inside a JSON value
    /// (without building the masked copy).
    pub fn finds_in_json(&self, value: &serde_json::Value) -> bool {
        if self.is_empty() {
            return false;
        }
        match value {
            serde_json::Value::String(s) => self.finds(s.as_bytes()),
            serde_json::Value::Array(items) => items.iter().any(|v| self.finds_in_json(v)),
            serde_json::Value::Object(m) => m.values().any(|v| self.finds_in_json(v)),
            _ => false,
        }
    }

    /// Whether some form of a secret is in `bytes`, as [`Redactor::mask`]
    /// would find it.
    fn finds(&self, bytes: &[u8]) -> bool {
        (0..bytes.len()).any(|i| {
            self.by_first[bytes[i] as usize]
                .iter()
                .any(|&f| matches!(match_at(&self.forms[f], &bytes[i..]), Match::Whole(_)))
        })
    }

    /// A stream masker for child output.
    pub fn stream(&self) -> StreamMasker {
        StreamMasker {
            redactor: self.clone(),
            raw: Vec::new(),
            line: Vec::new(),
        }
    }

    /// Masks `bytes` from the start. At the end of input (`last`) all of it
    /// is consumed; otherwise it stops where the rest could still be the
    /// beginning of a form, and returns how much it consumed.
    fn scan(&self, bytes: &[u8], last: bool) -> (Vec<u8>, usize) {
        if self.is_empty() {
            return (bytes.to_vec(), bytes.len());
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            // Longest forms first: a longer one that may still complete
            // holds the text back rather than lose to a shorter match.
            let mut waiting = false;
            let mut matched = None;
            for &f in &self.by_first[bytes[i] as usize] {
                match match_at(&self.forms[f], &bytes[i..]) {
                    Match::Whole(n) => {
                        matched = Some(n);
                        break;
                    }
                    Match::Partial => waiting = true,
                    Match::No => {}
                }
            }
            if waiting && !last {
                break;
            }
            if let Some(n) = matched {
                out.extend_from_slice(MASK.as_bytes());
                i += n;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        (out, i)
    }
}

enum Match {
    /// The form is here, spanning this many bytes of the text.
    Whole(usize),
    /// The text ends while still matching: more bytes may complete it.
    Partial,
    No,
}

/// Whether `form` starts `text`. A `\n` of the form also matches `\r\n`;
/// a wrapped form looks through `\r` and `\n` between its bytes.
fn match_at(form: &Form, text: &[u8]) -> Match {
    let (mut i, mut j) = (0, 0);
    while j < form.bytes.len() {
        let Some(&c) = text.get(i) else {
            return Match::Partial;
        };
        let want = form.bytes[j];
        if c == want {
            i += 1;
            j += 1;
        } else if (c == b'\r' && want == b'\n')
            || (form.wrapped && j > 0 && (c == b'\n' || c == b'\r'))
        {
            i += 1;
        } else {
            return Match::No;
        }
    }
    Match::Whole(i)
}

/// Every form of one secret.
fn encoded_forms(secret: &[u8]) -> Vec<Form> {
    let text = |bytes: Vec<u8>| Form {
        bytes,
        wrapped: false,
    };
    let mut forms = vec![text(secret.to_vec())];
    // Each line of a multi-line secret, alone (an indented PEM body).
    if secret.contains(&b'\n') {
        for line in secret.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() >= 16 && !line.starts_with(b"-----") {
                forms.push(text(line.to_vec()));
            }
        }
    }
    // The whole encoding, padding included, when the secret is all there is.
    for engine in [&STANDARD, &URL_SAFE] {
        forms.push(Form {
            bytes: engine.encode(secret).into_bytes(),
            wrapped: true,
        });
    }
    for shift in 0..3 {
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            if let Some(b) = base64_at(engine, secret, shift) {
                forms.push(Form {
                    bytes: b,
                    wrapped: true,
                });
            }
        }
    }
    let percent = percent_encoded(secret);
    if percent != secret {
        forms.push(text(percent.to_ascii_lowercase_hex()));
        forms.push(text(percent));
    }
    if let Ok(s) = std::str::from_utf8(secret) {
        let json = serde_json::to_string(s).unwrap_or_default();
        let inner = json.as_bytes()[1..json.len() - 1].to_vec();
        if inner != secret {
            forms.push(text(inner));
        }
    }
    forms.retain(|f| f.bytes.len() >= MIN_FORM_LEN || f.bytes == secret);
    forms
}

/// The base64 characters fully determined by `secret` when it follows
/// `shift` other bytes (0, 1 or 2) and is followed by anything: the
/// characters that also carry a neighbour's bits are dropped.
fn base64_at(
    engine: &base64::engine::GeneralPurpose,
    secret: &[u8],
    shift: usize,
) -> Option<Vec<u8>> {
    let mut padded = vec![0u8; shift];
    padded.extend_from_slice(secret);
    let encoded = engine.encode(&padded);
    let skip = [0, 2, 3][shift];
    let keep_last = [4, 1, 2][padded.len() % 3];
    let whole_groups = padded.len() / 3;
    let end = whole_groups * 4
        + if padded.len().is_multiple_of(3) {
            0
        } else {
            keep_last
        };
    (end > skip).then(|| encoded.as_bytes()[skip..end.min(encoded.len())].to_vec())
}

/// `secret` with every byte outside RFC 3986's unreserved set as `%XX`.
fn percent_encoded(secret: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(secret.len() * 3);
    for &b in secret {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

/// Lower-case hex digits in `%XX` escapes (both spellings are printed).
trait LowerHex {
    fn to_ascii_lowercase_hex(&self) -> Vec<u8>;
}

impl LowerHex for Vec<u8> {
    fn to_ascii_lowercase_hex(&self) -> Vec<u8> {
        let mut out = self.clone();
        let mut i = 0;
        while i < out.len() {
            if out[i] == b'%' && i + 2 < out.len() {
                out[i + 1] = out[i + 1].to_ascii_lowercase();
                out[i + 2] = out[i + 2].to_ascii_lowercase();
                i += 3;
            } else {
                i += 1;
            }
        }
        out
    }
}

/// Masks a byte stream that arrives in arbitrary chunks. Masking runs on
/// the bytes before they are cut into lines, so a secret split across two
/// writes, spanning lines (a PEM key, wrapped base64) or straddling the
/// point where a very long line is released, is still masked. Bytes are
/// held back only while they could be the start of a secret's form.
#[derive(Debug)]
pub struct StreamMasker {
    redactor: Redactor,
    /// Not yet masked: the start of a possible form.
    raw: Vec<u8>,
    /// Masked, waiting for the end of its line.
    line: Vec<u8>,
}

/// Lines longer than this are released in parts (already masked).
const MAX_PENDING: usize = 64 * 1024;

impl StreamMasker {
    /// Feeds bytes; returns the complete lines (masked, without `\n`).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.raw.extend_from_slice(bytes);
        let (masked, used) = self.redactor.scan(&self.raw, false);
        self.raw.drain(..used);
        self.take_lines(&masked)
    }

    /// The rest of the stream at end of file: its lines, the last one
    /// without its newline.
    pub fn flush(&mut self) -> Vec<String> {
        let raw = std::mem::take(&mut self.raw);
        let (masked, _) = self.redactor.scan(&raw, true);
        let mut lines = self.take_lines(&masked);
        if !self.line.is_empty() {
            let rest = std::mem::take(&mut self.line);
            lines.push(line_text(&rest));
        }
        lines
    }

    fn take_lines(&mut self, masked: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &b in masked {
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                lines.push(line_text(&line));
            } else {
                self.line.push(b);
                if self.line.len() >= MAX_PENDING {
                    let part = std::mem::take(&mut self.line);
                    lines.push(line_text(&part));
                }
            }
        }
        lines
    }
}

fn line_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.strip_suffix('\r').unwrap_or(&text).to_string()
}

/// Whether decoding some run of base64 characters in `text` (line breaks
/// removed), in either alphabet, from one of its first four offsets, gives
/// bytes holding `secret`: the oracle for "its base64 came out" (tests and
/// the fuzz target; the masker itself never decodes).
pub fn base64_reveals(text: &str, secret: &[u8]) -> bool {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    let flat: String = text.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    flat.split(|c: char| !(c.is_ascii_alphanumeric() || "+/-_".contains(c)))
        .filter(|run| run.len() >= 4)
        .any(|run| {
            (0..4).any(|off| {
                let tail = &run[off.min(run.len())..];
                let whole = &tail[..tail.len() / 4 * 4];
                [&STANDARD, &URL_SAFE].iter().any(|e| {
                    e.decode(whole)
                        .is_ok_and(|d| d.windows(secret.len()).any(|w| w == secret))
                })
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PEM: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACCzPq7zfqLffKoBDe/eo04kH2XxtSmk9D7RQyf1xUqrYgAAAJgAIAxdACAM\n-----END OPENSSH PRIVATE KEY-----";

    /// Everything a stream masker releases for `bytes` fed in `cuts`.
    fn streamed(r: &Redactor, bytes: &[u8], cuts: &[usize]) -> String {
        let mut s = r.stream();
        let mut out = Vec::new();
        let mut last = 0;
        let mut points: Vec<usize> = cuts.iter().map(|c| (*c).min(bytes.len())).collect();
        points.sort();
        for p in points.into_iter().chain([bytes.len()]) {
            out.extend(s.push(&bytes[last..p]));
            last = p;
        }
        out.extend(s.flush());
        out.join("\n")
    }

    #[test]
    fn masks_plain_and_base64_forms() {
        let r = Redactor::new(["s3cr3t-token"]);
        assert_eq!(r.mask("token=s3cr3t-token;"), "token=***;");
        let b64 = STANDARD.encode("s3cr3t-token");
        assert!(!r.mask(&format!("b64 {b64}")).contains(&b64[..12]));
        assert_eq!(r.mask("nothing here"), "nothing here");
    }

    #[test]
    fn short_values_are_not_secrets() {
        assert!(Redactor::new(["ab", ""]).is_empty());
        assert_eq!(Redactor::default().stream().push(b"a\nb"), vec!["a"]);
    }

    #[test]
    fn split_writes_are_masked() {
        let r = Redactor::new(["hunter2hunter2"]);
        let mut s = r.stream();
        assert!(s.push(b"pass=hunter2").is_empty());
        assert_eq!(s.push(b"hunter2 ok\nnext"), vec!["pass=*** ok".to_string()]);
        assert_eq!(s.flush(), vec!["next".to_string()]);
        assert!(s.flush().is_empty());
    }

    #[test]
    fn a_multi_line_secret_is_masked_whole_and_line_by_line() {
        let r = Redactor::new([PEM]);
        let crlf = PEM.replace('\n', "\r\n");
        for text in [
            format!("key:\n{PEM}\nend"),
            format!("key:\r\n{crlf}\r\nend"),
        ] {
            let out = streamed(&r, text.as_bytes(), &[5, 40, 41, 100, 150]);
            assert!(!out.contains("b3BlbnNzaC1rZXkt"), "{out}");
            assert!(out.starts_with("key:") && out.ends_with("end"), "{out}");
        }
        // An indented copy (a YAML block): each body line is masked.
        let indented: String = PEM.lines().map(|l| format!("    {l}\n")).collect();
        let out = r.mask(&indented);
        assert!(!out.contains("QyNTUxOQAAACCzPq7z"), "{out}");
    }

    #[test]
    fn base64_at_every_alignment_and_wrapped_is_masked() {
        let secret = "Zq9-SECRET-7xW";
        let r = Redactor::new([secret]);
        for prefix in ["", "t", "to", "tok", "tok=", "user:"] {
            let encoded = STANDARD.encode(format!("{prefix}{secret}"));
            let out = r.mask(&format!("Authorization: Basic {encoded}"));
            assert!(!base64_reveals(&out, secret.as_bytes()), "{prefix}: {out}");
        }
        let long = format!("{}{secret}{}", "x".repeat(50), "y".repeat(50));
        for width in [64, 76] {
            let encoded = STANDARD.encode(&long);
            for start in [0, 7, 33] {
                let mut wrapped = " ".repeat(start);
                for (i, c) in encoded.chars().enumerate() {
                    if (i + start) % width == 0 && i > 0 {
                        wrapped.push('\n');
                    }
                    wrapped.push(c);
                }
                let out = streamed(&r, wrapped.as_bytes(), &[10, 70, 90]);
                assert!(
                    !base64_reveals(&out, secret.as_bytes()),
                    "{width}/{start}: {out}"
                );
            }
        }
    }

    #[test]
    fn percent_and_json_escaped_forms_are_masked() {
        let r = Redactor::new(["p@ss w/rd\"!"]);
        assert_eq!(r.mask("u=p%40ss%20w%2Frd%22%21&x"), "u=***&x");
        assert_eq!(r.mask("u=p%40ss%20w%2frd%22%21&x"), "u=***&x");
        assert_eq!(r.mask(r#"{"pw": "p@ss w/rd\"!"}"#), r#"{"pw": "***"}"#);
    }

    #[test]
    fn a_secret_straddling_the_long_line_cut_is_masked() {
        let secret = "Zq9-SECRET-7xW";
        let r = Redactor::new([secret]);
        for before in [
            MAX_PENDING - 5,
            MAX_PENDING - 1,
            MAX_PENDING,
            MAX_PENDING + 3,
        ] {
            let text = format!("{}{secret}{}\n", "a".repeat(before), "b".repeat(10));
            let out = streamed(
                &r,
                text.as_bytes(),
                &[4096, MAX_PENDING - 2, MAX_PENDING + 1],
            );
            // (a part boundary may fall inside the mask itself)
            let joined = out.replace('\n', "");
            assert!(
                !joined.contains(secret) && joined.contains("***"),
                "{before}"
            );
        }
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

    /// How the secret is printed in a property case.
    fn printed(form: u8, secret: &str, prefix: &str, width: usize) -> String {
        match form % 5 {
            0 => secret.to_string(),
            1 => secret.replace('\n', "\r\n"),
            2 => STANDARD.encode(format!("{prefix}{secret}")),
            3 => {
                let e = URL_SAFE.encode(format!("{prefix}{secret}"));
                e.as_bytes()
                    .chunks(width.max(4))
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            _ => String::from_utf8(percent_encoded(secret.as_bytes())).unwrap(),
        }
    }

    /// A secret (one line or several), how it is printed (in any
    /// registered form, after any prefix, wrapped at any width), and text
    /// to put around it.
    fn shown_secret() -> impl Strategy<Value = (String, String, String)> {
        (
            "[A-Za-z0-9+/=@:! -]{8,24}(\n[A-Za-z0-9+/]{16,30}){0,2}",
            "[a-z: ]{0,6}",
            "[a-z ]{0,20}",
            0u8..5,
            4usize..80,
        )
            .prop_map(|(secret, prefix, around, form, width)| {
                let shown = printed(form, &secret, &prefix, width);
                (secret, shown, around)
            })
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config(256))]
        /// Any secret (one line or several), printed in any registered form
        /// between any text, fed in any chunks, never survives.
        #[test]
        fn a_secret_never_survives_any_form_or_chunking(
            (secret, shown, around) in shown_secret(),
            cuts in prop::collection::vec(0usize..300, 0..6),
        ) {
            let r = Redactor::new([secret.as_str()]);
            let text = format!("{around}{shown}{around}\nnext line\n");
            let out = streamed(&r, text.as_bytes(), &cuts);
            prop_assert!(!out.contains(&secret), "plain: {}", out);
            prop_assert!(!out.contains(shown.as_str()) || shown.len() < MIN_FORM_LEN, "form {:?}: {}", shown, out);
            prop_assert!(!base64_reveals(&out, secret.as_bytes()), "base64: {}", out);
            prop_assert!(out.ends_with("next line"), "{}", out);
        }

        /// Finding a secret in a JSON value (the audit trail's fast path
        /// for events with nothing to mask) agrees with masking it: exactly
        /// the values masking changes are found.
        #[test]
        fn finding_agrees_with_masking(
            (secret, shown, around) in shown_secret(),
            plant in any::<bool>(),
            other in "[a-z ]{0,30}",
        ) {
            let r = Redactor::new([secret.as_str()]);
            let text = if plant {
                format!("{around}{shown}{around}")
            } else {
                other
            };
            let value = serde_json::json!({"message": text, "list": [1, {"deep": around}]});
            let mut masked = value.clone();
            r.mask_json(&mut masked);
            prop_assert_eq!(r.finds_in_json(&value), masked != value, "{}", text);
        }
    }

    #[test]
    fn nothing_is_found_without_secrets_or_in_other_text() {
        let none = Redactor::new(Vec::<String>::new());
        assert!(!none.finds_in_json(&serde_json::json!({"a": "topsecret"})));
        let r = Redactor::new(["topsecret"]);
        assert!(!r.finds_in_json(&serde_json::json!({"a": ["top", "secret"], "n": 1})));
        assert!(r.finds_in_json(&serde_json::json!({"a": [{"b": "x dG9wc2VjcmV0 y"}]})));
    }
}
