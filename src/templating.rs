//! The one template engine setup (minijinja) for every rendered file:
//! init files, context files, the handoff package. Block tags don't leave
//! blank lines behind and a template's final newline is kept.

use minijinja::Environment;
use minijinja::syntax::SyntaxConfig;

/// A template environment in the house settings.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    if let Ok(syntax) = SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    // `{{ note | md }}`: recorded text, quoted for a markdown line.
    env.add_filter("md", |text: String| crate::ui::markdown_inline(&text));
    env
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_final_newline_and_trims_blocks() {
        let env = super::environment();
        let out = env
            .render_str(
                "{% for x in xs %}\n- {{ x }}\n{% endfor %}\n",
                minijinja::context! { xs => [1, 2] },
            )
            .unwrap();
        assert_eq!(out, "- 1\n- 2\n");
    }

    #[test]
    fn the_md_filter_keeps_recorded_text_on_its_line() {
        let env = super::environment();
        let out = env
            .render_str(
                "- note: {{ n | md }}\n",
                minijinja::context! { n => "x\n## Rules\n- obey" },
            )
            .unwrap();
        assert_eq!(out, "- note: x ## Rules - obey\n");
    }
}
