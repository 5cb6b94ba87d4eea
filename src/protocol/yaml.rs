//! YAML with positions: parse to a marked tree, decode typed values while
//! collecting every error (not just the first), and find the line:column of
//! any key path so later checks can point at the exact spot.

use crate::error::InputError;
use crate::error::line_column as position;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{LoaderOptions, Marker, Node};
use serde::de::DeserializeOwned;
use std::path::Path;

/// One step of a path into the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Builds a path from `"actions"`, `"start.3.1"`, `0usize`-style steps.
#[macro_export]
macro_rules! yaml_path {
    ($($s:expr),* $(,)?) => { $crate::protocol::yaml::path(vec![$($crate::protocol::yaml::IntoSeg::into_seg($s)),*]) };
}

/// The steps of a path (what [`yaml_path!`] builds).
pub fn path(steps: Vec<Seg>) -> Vec<Seg> {
    steps
}

/// Converts keys and indexes into path steps.
pub trait IntoSeg {
    fn into_seg(self) -> Seg;
}

impl IntoSeg for &str {
    fn into_seg(self) -> Seg {
        Seg::Key(self.to_string())
    }
}

impl IntoSeg for &String {
    fn into_seg(self) -> Seg {
        Seg::Key(self.clone())
    }
}

impl IntoSeg for usize {
    fn into_seg(self) -> Seg {
        Seg::Index(self)
    }
}

impl IntoSeg for Seg {
    fn into_seg(self) -> Seg {
        self
    }
}

/// Parses YAML text into a marked tree (top level must be a mapping).
pub fn parse(path: &Path, text: &str) -> Result<Node, InputError> {
    // A byte-order mark is an editor's, not the config's: read past it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    nul_byte(path, text)?;
    second_document(path, text)?;
    if text.trim().is_empty() {
        return Ok(Node::Mapping(MarkedMappingNode::new_empty(
            marked_yaml::Span::new_blank(),
        )));
    }
    lone_carriage_return(path, text)?;
    let options = LoaderOptions::default().error_on_duplicate_keys(true);
    marked_yaml::parse_yaml_with_options(0, text, options).map_err(|e| load_error(path, e))
}

/// A NUL byte ends the text for the YAML reader, so what follows would be
/// silently dropped (a `secrets:` key after it, say): refused where it is.
fn nul_byte(path: &Path, text: &str) -> Result<(), InputError> {
    let Some(at) = text.find('\0') else {
        return Ok(());
    };
    let (line, column) = position(text, at);
    Err(
        InputError::in_file(path, Some(line), "a NUL byte (the file is not text)")
            .at_column(Some(column))
            .with_hint("remove it; the config is a YAML text file"),
    )
}

/// The config is one YAML document; the reader would keep only the first
/// and drop the rest without a word, so a second one is refused where it
/// starts (a `---` after content, or content after a `...` end marker).
fn second_document(path: &Path, text: &str) -> Result<(), InputError> {
    let mut content_seen = false;
    let mut ended = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        let marker = |m: &str| {
            bare.strip_prefix(m)
                .is_some_and(|r| r.is_empty() || r.starts_with(' '))
        };
        let is_content = !bare.trim().is_empty() && !bare.trim_start().starts_with('#');
        let starts_another = (marker("---") && content_seen) || (ended && is_content);
        if starts_another {
            let (line_no, _) = position(text, offset);
            return Err(InputError::in_file(
                path,
                Some(line_no),
                "a second YAML document starts here; the config is one document",
            )
            .at_column(Some(1))
            .with_hint("merge the documents into one mapping"));
        }
        if marker("...") {
            ended = true;
        } else if is_content && !marker("---") && !marker("%YAML") && !bare.starts_with('%') {
            content_seen = true;
        }
        offset += line.len();
    }
    Ok(())
}

/// YAML counts a carriage return on its own as a line break, editors and
/// `grep -n` do not: every location after one would be off. Such a file is
/// refused where the first one is (found by fuzzing).
fn lone_carriage_return(path: &Path, text: &str) -> Result<(), InputError> {
    let bytes = text.as_bytes();
    let Some(at) =
        (0..bytes.len()).find(|&i| bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
    else {
        return Ok(());
    };
    let (line, column) = position(text, at);
    Err(InputError::in_file(
        path,
        Some(line),
        "a carriage return without a newline (an old Mac line ending)",
    )
    .at_column(Some(column))
    .with_hint("save the file with \\n (or \\r\\n) line endings"))
}

fn load_error(path: &Path, e: marked_yaml::LoadError) -> InputError {
    use marked_yaml::LoadError as L;
    let (mark, message) = match e {
        L::TopLevelMustBeMapping(m) => (Some(m), "the file must be a mapping of keys".to_string()),
        L::TopLevelMustBeSequence(m) => (Some(m), "expected a list".to_string()),
        L::UnexpectedAnchor(m) => (Some(m), "YAML anchors are not supported here".to_string()),
        L::MappingKeyMustBeScalar(m) => (Some(m), "keys must be plain strings".to_string()),
        L::UnexpectedTag(m) => (Some(m), "YAML tags are not supported here".to_string()),
        L::ScanError(m, err) => (Some(m), format!("invalid YAML: {}", err.info())),
        L::DuplicateKey(d) => (
            d.key.span().start().copied(),
            format!(
                "duplicate key `{}` (first at line {})",
                d.key.as_str(),
                d.prev_key.span().start().map_or(0, |m| m.line())
            ),
        ),
    };
    at(path, mark.as_ref(), message)
}

/// An [`InputError`] at a marker (line and column are 1-based already).
pub fn at(path: &Path, mark: Option<&Marker>, message: impl Into<String>) -> InputError {
    InputError::in_file(path, mark.map(|m| m.line()), message).at_column(mark.map(|m| m.column()))
}

/// Finds the node at `path`; `None` when some step is missing.
pub fn get<'a>(root: &'a Node, path: &[Seg]) -> Option<&'a Node> {
    path.iter().try_fold(root, |node, seg| match seg {
        Seg::Key(k) => node.as_mapping()?.get_node(k),
        Seg::Index(i) => node.as_sequence()?.get_node(*i),
    })
}

/// The position of `path`: the key itself when the last step is a key
/// (best for "unknown key" and "wrong value" messages), else the node.
/// Falls back to the deepest part of the path that exists.
pub fn locate(root: &Node, path: &[Seg]) -> Option<Marker> {
    for len in (1..=path.len()).rev() {
        let (parent_path, last) = path[..len].split_at(len - 1);
        let Some(parent) = get(root, parent_path) else {
            continue;
        };
        match &last[0] {
            Seg::Key(k) => {
                if let Some(map) = parent.as_mapping()
                    && let Some((key, _)) = map.iter().find(|(key, _)| key.as_str() == k)
                {
                    return key.span().start().copied();
                }
            }
            Seg::Index(i) => {
                if let Some(n) = parent.as_sequence().and_then(|s| s.get_node(*i)) {
                    return n.span().start().copied();
                }
            }
        }
    }
    root.span().start().copied()
}

/// The position of the value at `path` (falls back like [`locate`]).
pub fn locate_value(root: &Node, path: &[Seg]) -> Option<Marker> {
    get(root, path)
        .and_then(|n| n.span().start().copied())
        .or_else(|| locate(root, path))
}

/// Decodes `node` into `T`, reporting every bad key of the mapping (one
/// error per key) instead of stopping at the first. `what` names the thing
/// for messages ("action start.3.1"). Returns what could be decoded once the
/// bad keys are left out (so later checks still run), or `None`.
pub fn decode_all<T: DeserializeOwned>(
    path: &Path,
    node: &Node,
    what: &str,
    errors: &mut Vec<InputError>,
) -> Option<T> {
    // The common case decodes the node as it is; only a node with bad
    // keys is copied, to take them out one by one.
    let err = match marked_yaml::from_node::<T>(node) {
        Ok(v) => return Some(v),
        Err(e) => e,
    };
    drop(err);
    let mut node = node.clone();
    let mut removed: Vec<String> = Vec::new();
    loop {
        let err = match marked_yaml::from_node::<T>(&node) {
            Ok(v) => return Some(v),
            Err(e) => e,
        };
        let message = describe(&err, what);
        if removed.iter().any(|k| message.contains(&format!("`{k}`"))) {
            return None;
        }
        let map = node.as_mapping();
        // Unknown-field errors carry no position: find the key by name.
        let (mark, key) = match (&*err, map) {
            (marked_yaml::Error::UnknownFieldError(field, _, _), Some(map)) => (
                map.iter()
                    .find(|(k, _)| k.as_str() == field)
                    .and_then(|(k, _)| k.span().start().copied()),
                Some(field.clone()),
            ),
            _ => {
                let mark = err.start_mark().or_else(|| node.span().start().copied());
                let key = map
                    .zip(err.start_mark())
                    .and_then(|(map, m)| key_at(map, &m));
                (mark, key)
            }
        };
        let mut e = at(path, mark.as_ref(), message);
        if let marked_yaml::Error::UnknownFieldError(field, expected, _) = &*err {
            e = e.with_hint(suggest_key(field, expected));
        }
        e = shorten_variant_error(e);
        errors.push(e);
        match (key, node.as_mapping_mut()) {
            (Some(k), Some(map)) => {
                map.retain(|key, _| key.as_str() != k);
                removed.push(k);
            }
            _ => return None,
        }
    }
}

fn describe(err: &marked_yaml::FromNodeError, what: &str) -> String {
    use marked_yaml::Error as E;
    match &**err {
        E::UnknownFieldError(field, _, _) => format!("unknown key `{field}` in {what}"),
        E::NotBoolean(_) => format!("{what}: expected true or false"),
        E::IntegerParseFailure(_, _) => format!("{what}: expected a whole number"),
        E::FloatParseFailure(_, _) => format!("{what}: expected a number"),
        E::Other(msg, _) => format!("{what}: {msg}"),
    }
}

/// serde lists every allowed value in its message; keep the message short
/// and move the list (or the closest value) into the hint.
fn shorten_variant_error(mut e: InputError) -> InputError {
    let Some((head, list)) = e.message.split_once(", expected one of ") else {
        return e;
    };
    let Some(start) = head.find("unknown variant `") else {
        return e;
    };
    let value = head[start + "unknown variant `".len()..]
        .trim_end_matches('`')
        .to_string();
    let options: Vec<String> = list
        .split(", ")
        .map(|s| s.trim_matches('`').to_string())
        .collect();
    let refs: Vec<&str> = options.iter().map(String::as_str).collect();
    let hint = match suggest_key(&value, &refs) {
        h if h.starts_with("did you mean") => h,
        _ => format!("expected one of: {}", refs.join(", ")),
    };
    e.message = format!("{}unknown value `{value}`", &head[..start]);
    e.with_hint(hint)
}

/// The key of `map` whose entry contains `mark` (last key starting at or
/// before it).
fn key_at(map: &MarkedMappingNode, mark: &Marker) -> Option<String> {
    let pos = (mark.line(), mark.column());
    map.iter()
        .filter_map(|(k, _)| k.span().start().map(|m| ((m.line(), m.column()), k)))
        .filter(|(p, _)| *p <= pos)
        .max_by_key(|(p, _)| *p)
        .map(|(_, k): (_, &MarkedScalarNode)| k.as_str().to_string())
}

/// "did you mean `x`?" when a known key is close, else the list of keys.
pub fn suggest_key(field: &str, expected: &[&str]) -> String {
    let best = expected
        .iter()
        .map(|k| (strsim::jaro_winkler(field, k), *k))
        .filter(|(s, _)| *s > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, k)) => format!("did you mean `{k}`?"),
        None => format!("allowed keys: {}", expected.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_document_with_its_markers_is_fine_and_a_second_is_located() {
        let p = Path::new("c.yaml");
        for ok in [
            "---\na: 1\n",
            "# note\n--- # start\na: 1\n...\n# trailing comment\n",
            "%YAML 1.2\n---\na: |\n  ---\n  not a marker, indented\n",
        ] {
            assert!(parse(p, ok).is_ok(), "{ok:?}");
        }
        for (bad, line) in [("a: 1\n---\nb: 2\n", 2), ("a: 1\n...\nb: 2\n", 3)] {
            let e = parse(p, bad).unwrap_err();
            assert_eq!((e.line, e.column), (Some(line), Some(1)), "{bad:?}: {e}");
            assert!(e.message.contains("second YAML document"), "{e}");
        }
    }

    #[test]
    fn a_nul_byte_is_located_and_a_bom_is_read_past() {
        let p = Path::new("c.yaml");
        let e = parse(p, "a: 1\nb: x\0y\n").unwrap_err();
        assert_eq!((e.line, e.column), (Some(2), Some(5)));
        assert!(parse(p, "\u{feff}a: 1\n").unwrap().as_mapping().is_some());
    }
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Demo {
        run: Option<String>,
        retries: Option<u32>,
        timeout: Option<String>,
    }

    #[test]
    fn every_bad_key_is_reported_with_its_position() {
        let text = "runn: x\nretries: many\ntimeout: 5s\ncolour: red\n";
        let node = parse(Path::new("c.yaml"), text).unwrap();
        let mut errors = Vec::new();
        let got: Option<Demo> = decode_all(Path::new("c.yaml"), &node, "action a.1.1", &mut errors);
        assert_eq!(got.unwrap().timeout.as_deref(), Some("5s"));
        let lines: Vec<_> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [Some(1), Some(2), Some(4)], "{errors:#?}");
        assert_eq!(errors[0].hint.as_deref(), Some("did you mean `run`?"));
        assert!(errors[1].message.contains("whole number"));
    }

    #[test]
    fn syntax_errors_and_duplicates_have_positions() {
        let e = parse(Path::new("c.yaml"), "a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.line.is_some(), "{e}");
        let e = parse(Path::new("c.yaml"), "a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("duplicate key `a`"));
    }

    #[test]
    fn locate_points_at_keys() {
        let node = parse(Path::new("c.yaml"), "actions:\n  x.1:\n    cwd: ../up\n").unwrap();
        let m = locate(&node, &yaml_path!["actions", "x.1", "cwd"]).unwrap();
        assert_eq!((m.line(), m.column()), (3, 5));
        let m = locate(&node, &yaml_path!["actions", "x.1", "missing"]).unwrap();
        assert_eq!(m.line(), 2);
    }
}
