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
    fn nested_arrays_of_objects_go_multiline_and_reparse() {
        let v: Value = serde_json::from_str(r#"{"a":[{"b":1},2],"s":"q\"uote"}"#).unwrap();
        let got = render(&v, "  ", "    ", "\r\n");
        assert!(got.starts_with("  {\r\n      \"a\": [\r\n"));
        let back: Value = serde_json::from_str(&got).unwrap();
        assert_eq!(back, v);
    }
}
