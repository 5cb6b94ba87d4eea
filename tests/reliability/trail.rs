//! An independent reader of the audit trail and the state files: it checks
//! the chain with its own hashing, not the tool's verifier.

use sha2::{Digest, Sha256};
use std::path::Path;

/// What the trail looks like on disk.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TrailCheck {
    pub events: u64,
    /// Bytes after the last newline (a line being written when killed).
    pub torn: Option<Vec<u8>>,
}

/// Every complete line parses, hashes to its `hash`, continues the chain
/// (`seq` +1, `prev` = the previous `hash`). Panics naming the line if not.
pub fn check_trail(path: &Path) -> TrailCheck {
    let Ok(bytes) = std::fs::read(path) else {
        return TrailCheck::default();
    };
    let (complete, torn) = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(i) => (
            &bytes[..=i],
            (i + 1 < bytes.len()).then(|| bytes[i + 1..].to_vec()),
        ),
        None => (&bytes[..0], (!bytes.is_empty()).then(|| bytes.clone())),
    };
    let text = std::str::from_utf8(complete).expect("the trail is UTF-8");
    let mut prev = "0".repeat(64);
    let mut seq = 0u64;
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
            panic!("{} line {}: not JSON ({e}): {line}", path.display(), i + 1)
        });
        let hash = v["hash"]
            .as_str()
            .unwrap_or_else(|| panic!("line {} has no hash", i + 1));
        let suffix = format!(",\"hash\":\"{hash}\"}}");
        let canonical = format!(
            "{}}}",
            line.strip_suffix(&suffix).expect("hash is the last member")
        );
        let digest: String = Sha256::digest(canonical.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            digest,
            hash,
            "{} line {}: content does not match its hash",
            path.display(),
            i + 1
        );
        assert_eq!(
            v["prev"].as_str(),
            Some(prev.as_str()),
            "line {}: chain broken",
            i + 1
        );
        assert_eq!(
            v["seq"].as_u64(),
            Some(seq + 1),
            "line {}: seq not contiguous",
            i + 1
        );
        prev = hash.to_string();
        seq += 1;
    }
    TrailCheck { events: seq, torn }
}

/// A JSON file the tool owns parses, when it exists.
pub fn check_json(path: &Path) {
    if let Ok(text) = std::fs::read_to_string(path) {
        serde_json::from_str::<serde_json::Value>(&text).unwrap_or_else(|e| {
            panic!(
                "{} is not valid JSON after a kill: {e}\n{text}",
                path.display()
            )
        });
    }
}

/// Names of temp files left anywhere under `dir`.
pub fn temp_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        if p.to_string_lossy().contains(".ds-tmp.") {
            out.push(p.display().to_string());
        }
        if p.is_dir() {
            out.extend(temp_files(&p));
        }
    }
    out
}
