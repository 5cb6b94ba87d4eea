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
}
