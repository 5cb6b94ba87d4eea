//! Prompts, only ever shown on a terminal (callers check first).

use anyhow::Result;

/// Asks for an explicit, typed "yes" to approve `subject`. Anything else is
/// a no. Never defaults to yes.
pub fn confirm_typed(subject: &str) -> Result<bool> {
    anstream::eprintln!("Approval needed: {subject}");
    let answer: String = dialoguer::Input::new()
        .with_prompt("Type `yes` to approve (anything else declines)")
        .allow_empty(true)
        .interact_text()?;
    Ok(answer.trim().eq_ignore_ascii_case("yes"))
}

/// Asks one free-text question; an empty answer is allowed.
pub fn ask(question: &str) -> Result<String> {
    Ok(dialoguer::Input::new()
        .with_prompt(question)
        .allow_empty(true)
        .interact_text()?)
}
