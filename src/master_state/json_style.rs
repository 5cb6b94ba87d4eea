//! Pretty-prints a phase block the way the framework's files are written:
//! objects one key a line, arrays of plain values on one line. Keeping the
//! house style keeps the diff of an update down to the lines that changed.

use serde_json::Value;

/// Renders `value` as lines, each prefixed with `base` and nested levels
/// indented by `unit`, each line ended by `newline`.
pub fn render(value: &Value, base: &str, unit: &str, newline: &str) -> String {
    let mut out = String::new();
    out.push_str(base);
    write_value(&mut out, value, base, unit, newline, 0);
    out.push_str(newline);
    out
}

fn write_value(out: &mut String, v: &Value, base: &str, unit: &str, nl: &str, depth: usize) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            out.push('{');
            for (i, (k, child)) in map.iter().enumerate() {
                out.push_str(if i == 0 { "" } else { "," });
                out.push_str(nl);
                push_indent(out, base, unit, depth + 1);
                out.push_str(&scalar(&Value::String(k.clone())));
                out.push_str(": ");
                write_value(out, child, base, unit, nl, depth + 1);
            }
            out.push_str(nl);
            push_indent(out, base, unit, depth);
            out.push('}');
        }
        Value::Array(items) if items.iter().any(is_container) => {
            out.push('[');
            for (i, child) in items.iter().enumerate() {
                out.push_str(if i == 0 { "" } else { "," });
                out.push_str(nl);
                push_indent(out, base, unit, depth + 1);
                write_value(out, child, base, unit, nl, depth + 1);
            }
            out.push_str(nl);
            push_indent(out, base, unit, depth);
            out.push(']');
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(scalar).collect();
            out.push('[');
            out.push_str(&parts.join(", "));
            out.push(']');
        }
        other => out.push_str(&scalar(other)),
    }
}

fn is_container(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

/// One top-level member of an object's text: its key, where its lead
/// (the comma and whitespace before the key) starts, where the key starts
/// and where its value ends (byte offsets into the text).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    key: String,
    lead: usize,
    start: usize,
    end: usize,
}

/// The top-level members of the JSON object in `text`, in order, with
/// their byte spans; `None` when `text` is not one object.
fn members(text: &str) -> Option<(Vec<Member>, usize)> {
    let b = text.as_bytes();
    let open = text.find('{')?;
    let mut out = Vec::new();
    let mut i = open + 1;
    let mut lead = i;
    loop {
        while i < b.len() && (b[i] as char).is_ascii_whitespace() {
            i += 1;
        }
        match b.get(i)? {
            b'}' => return Some((out, i)),
            b',' if !out.is_empty() => {
                i += 1;
                continue;
            }
            b'"' => {}
            _ => return None,
        }
        let start = i;
        let key_end = string_end(b, i)?;
        let key: String = serde_json::from_str(&text[start..key_end]).ok()?;
        i = key_end;
        while i < b.len() && b[i] != b':' {
            i += 1;
        }
        i += 1;
        let (end, next) = value_end(b, i)?;
        out.push(Member {
            key,
            lead,
            start,
            end,
        });
        i = next;
        lead = end;
    }
}

/// Offset just after the string starting at `i` (a `"`).
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Where the value starting at or after `i` ends (after its last
/// non-space byte), and the offset of the `,` or `}` that follows it.
fn value_end(b: &[u8], mut i: usize) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut last = i;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = string_end(b, i)?;
                last = i;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth > 0 => depth -= 1,
            b',' | b'}' if depth == 0 => return Some((last, i)),
            c if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            _ => {}
        }
        i += 1;
        last = i;
    }
    None
}

/// Rewrites the object `text` (a phase block) from `old` to `new` keeping
/// every member that did not change byte for byte (`2.50`, `\u00e9`, `\/`,
/// inline objects, odd spacing), dropping removed members, re-rendering
/// changed ones in place and appending new ones. `None` when `text` cannot
/// be split into members (the caller renders the whole block instead).
pub fn edit(
    text: &str,
    old: &serde_json::Map<String, Value>,
    new: &serde_json::Map<String, Value>,
    base: &str,
    unit: &str,
    nl: &str,
) -> Option<String> {
    let (members, close) = members(text)?;
    if members.len() != old.len() || members.is_empty() {
        return None;
    }
    let first_lead = members[0].lead;
    let mut out = String::from(&text[..first_lead]);
    let mut emitted = 0;
    let mut member_text = |out: &mut String, lead: &str, body: &str| {
        let lead = lead.replacen(',', "", 1);
        if emitted > 0 {
            out.push(',');
        }
        out.push_str(&lead);
        out.push_str(body);
        emitted += 1;
    };
    let fresh = |key: &str, v: &Value| {
        let mut body = scalar(&Value::String(key.to_string()));
        body.push_str(": ");
        write_value(&mut body, v, base, unit, nl, 1);
        body
    };
    for m in &members {
        let Some(value) = new.get(&m.key) else {
            continue;
        };
        let lead = &text[m.lead..m.start];
        if old.get(&m.key) == Some(value) {
            member_text(&mut out, lead, &text[m.start..m.end]);
        } else {
            member_text(&mut out, lead, &fresh(&m.key, value));
        }
    }
    let mut indent = String::from(base);
    indent.push_str(unit);
    for (key, value) in new.iter().filter(|(k, _)| !old.contains_key(*k)) {
        member_text(&mut out, &format!("{nl}{indent}"), &fresh(key, value));
    }
    let last_end = members.last().map_or(close, |m| m.end);
    out.push_str(&text[last_end..]);
    Some(out)
}

/// Parses JSON text only to refuse a key given twice in one object (which
/// a plain parse reads last-wins, and a rewrite would silently drop).
pub fn check_no_duplicate_keys(text: &str) -> Result<(), serde_json::Error> {
    serde_json::from_str::<NoDuplicates>(text).map(|_| ())
}

struct NoDuplicates;

impl<'de> serde::Deserialize<'de> for NoDuplicates {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicatesVisitor)
    }
}

struct NoDuplicatesVisitor;

impl<'de> serde::de::Visitor<'de> for NoDuplicatesVisitor {
    type Value = NoDuplicates;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<NoDuplicates, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "the key {key:?} appears twice in one object"
                )));
            }
            map.next_value::<NoDuplicates>()?;
        }
        Ok(NoDuplicates)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<NoDuplicates, A::Error> {
        while seq.next_element::<NoDuplicates>()?.is_some() {}
        Ok(NoDuplicates)
    }

    fn visit_bool<E>(self, _: bool) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_i64<E>(self, _: i64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_u64<E>(self, _: u64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_f64<E>(self, _: f64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_str<E>(self, _: &str) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_unit<E>(self) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
}

fn scalar(v: &Value) -> String {
    // Serialising a Value cannot fail: keys are strings, numbers are finite.
    serde_json::to_string(v).unwrap_or_default()
}

fn push_indent(out: &mut String, base: &str, unit: &str, depth: usize) {
    out.push_str(base);
    for _ in 0..depth {
        out.push_str(unit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_framework_house_style() {
        let v: Value = serde_json::from_str(
            r#"{"status":"ready","deliverables":{"a":"pending"},"dependencies":["x","y"],"empty":{},"list":[]}"#,
        )
        .unwrap();
        let got = render(&v, "", "  ", "\n");
        let want = "{\n  \"status\": \"ready\",\n  \"deliverables\": {\n    \"a\": \"pending\"\n  },\n  \"dependencies\": [\"x\", \"y\"],\n  \"empty\": {},\n  \"list\": []\n}\n";
        assert_eq!(got, want);
    }

    #[test]
    fn an_edit_keeps_every_other_member_byte_for_byte() {
        let text = "{\n  \"status\": \"ready\",\n  \"cost\": 2.50,\n  \"n\": 1e3,\n  \"name\": \"caf\\u00e9 a\\/b\",\n  \"inline\": {\"a\": 1,   \"b\": [1,2]},\n  \"completed\": false\n}\n";
        let old: serde_json::Map<String, Value> = serde_json::from_str(text).unwrap();
        let mut new = old.clone();
        new.insert("status".into(), "completed".into());
        new.insert("completed".into(), true.into());
        new.insert("session".into(), "S1".into());
        new.shift_remove("n");
        let got = edit(text, &old, &new, "", "  ", "\n").unwrap();
        let want = "{\n  \"status\": \"completed\",\n  \"cost\": 2.50,\n  \"name\": \"caf\\u00e9 a\\/b\",\n  \"inline\": {\"a\": 1,   \"b\": [1,2]},\n  \"completed\": true,\n  \"session\": \"S1\"\n}\n";
        assert_eq!(got, want);
        let back: serde_json::Map<String, Value> = serde_json::from_str(&got).unwrap();
        assert_eq!(back, new);
    }

    #[test]
    fn removing_the_first_member_keeps_the_object_valid() {
        let text = "{ \"a\": 1, \"b\": \"x\" }";
        let old: serde_json::Map<String, Value> = serde_json::from_str(text).unwrap();
        let mut new = old.clone();
        new.shift_remove("a");
        let got = edit(text, &old, &new, "", "  ", "\n").unwrap();
        assert_eq!(got, "{ \"b\": \"x\" }");
        assert!(edit("[1]", &old, &new, "", "  ", "\n").is_none());
    }

    #[test]
    fn nested_arrays_of_objects_go_multiline_and_reparse() {
        let v: Value = serde_json::from_str(r#"{"a":[{"b":1},2],"s":"q\"uote"}"#).unwrap();
        let got = render(&v, "  ", "    ", "\r\n");
        assert!(got.starts_with("  {\r\n      \"a\": [\r\n"));
        let back: Value = serde_json::from_str(&got).unwrap();
        assert_eq!(back, v);
    }
}
