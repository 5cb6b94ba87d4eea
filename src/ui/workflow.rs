//! GitHub Actions workflow commands (`::group::`, `::error file=…::`): a
//! way of printing, shared by the run printer and the reports.

/// Escapes a workflow command's message.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One workflow command line: `::name k=v,k=v::message`.
pub fn command(name: &str, props: &[(&str, String)], message: &str) -> String {
    let props: Vec<String> = props
        .iter()
        .map(|(k, v)| format!("{k}={}", escape_property(v)))
        .collect();
    let sep = if props.is_empty() { "" } else { " " };
    format!("::{name}{sep}{}::{}", props.join(","), escape_data(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_properties_are_escaped() {
        assert_eq!(
            command("error", &[("file", "a:b,c".into())], "50% done\nnext"),
            "::error file=a%3Ab%2Cc::50%25 done%0Anext"
        );
        assert_eq!(command("group", &[], "x"), "::group::x");
    }
}
