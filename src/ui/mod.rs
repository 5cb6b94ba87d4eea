//! All terminal output goes through one [`Printer`], which knows whether to
//! color, how wide the terminal is, and what `-q` silences. Data goes to
//! stdout; progress, warnings and errors go to stderr.

pub mod prompt;

use anstyle::{AnsiColor, Style};
use comfy_table::{ContentArrangement, Table, presets};
use std::fmt::Display;
use std::io::{IsTerminal, Write};

/// Output settings decided once per process.
#[derive(Debug, Clone)]
pub struct Printer {
    color: bool,
    quiet: bool,
    verbose: u8,
    width: Option<u16>,
}

/// Named styles, so commands say what a thing is, not which color it gets.
pub mod style {
    use super::*;
    /// Success marks.
    pub const OK: Style = AnsiColor::Green.on_default();
    /// Failures.
    pub const BAD: Style = AnsiColor::Red.on_default().bold();
    /// Waiting on a human, warnings.
    pub const WAIT: Style = AnsiColor::Yellow.on_default();
    /// Secondary information.
    pub const DIM: Style = Style::new().dimmed();
    /// Headings.
    pub const HEAD: Style = Style::new().bold();
}

impl Printer {
    /// Decides color from the flag, `NO_COLOR` and whether stdout is a terminal.
    pub fn new(choice: crate::cli::ColorChoice, quiet: bool, verbose: u8) -> Printer {
        use crate::cli::ColorChoice;
        let tty = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color && !dumb,
        };
        let width = tty
            .then(|| console::Term::stdout().size_checked().map(|(_, w)| w))
            .flatten();
        Printer {
            color,
            quiet,
            verbose,
            width,
        }
    }

    /// A printer for tests and non-terminal use: no color.
    pub fn plain() -> Printer {
        Printer {
            color: false,
            quiet: false,
            verbose: 0,
            width: None,
        }
    }

    /// Whether `-q` was given.
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// The `-v` count.
    pub fn verbose(&self) -> u8 {
        self.verbose
    }

    /// Whether output is colored.
    pub fn color(&self) -> bool {
        self.color
    }

    /// Applies `style` when coloring.
    pub fn paint(&self, style: Style, text: impl Display) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    /// A line of data on stdout (never silenced). A closed pipe ends quietly.
    pub fn out(&self, text: impl Display) {
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{text}").is_err() {
            std::process::exit(0);
        }
    }

    /// A line of progress or information on stderr (silenced by `-q`).
    pub fn info(&self, text: impl Display) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    }

    /// A warning on stderr (never silenced).
    pub fn warn(&self, text: impl Display) {
        let label = self.paint(style::WAIT, "warning:");
        let _ = writeln!(std::io::stderr().lock(), "{label} {text}");
    }

    /// An error on stderr, with an optional hint line.
    pub fn error(&self, text: impl Display, hint: Option<&str>) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{} {text}", self.paint(style::BAD, "error:"));
        if let Some(h) = hint {
            let _ = writeln!(err, "  {} {h}", self.paint(style::DIM, "hint:"));
        }
    }

    /// A table in the house style, fitted to the terminal when there is one.
    pub fn table(&self, header: &[&str]) -> Table {
        let mut t = Table::new();
        t.load_style(presets::UTF8_FULL_CONDENSED)
            .set_header(header.to_vec());
        if let Some(w) = self.width {
            t.set_width(w)
                .set_content_arrangement(ContentArrangement::Dynamic);
        }
        t
    }
}

/// A markdown table (for `--format markdown` and step summaries).
pub fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let esc = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = format!("| {} |\n", header.join(" | "));
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| esc(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_tables_escape_pipes() {
        let t = markdown_table(&["a", "b"], &[vec!["x|y".into(), "z".into()]]);
        assert_eq!(t, "| a | b |\n|---|---|\n| x\\|y | z |\n");
    }

    #[test]
    fn plain_printer_never_colors() {
        assert_eq!(Printer::plain().paint(style::BAD, "x"), "x");
    }
}
