//! `deploy-session todo`: the TodoWrite list. Read-only.

use crate::cli::{TodoArgs, TodoFormat};
use crate::error::ExitStatus;
use crate::settings::Settings;
use crate::todo::{self, TodoStatus};
use crate::ui::markdown_table;
use anyhow::Result;

pub fn run(args: &TodoArgs, s: &Settings) -> Result<ExitStatus> {
    let (state, set, config) = s.read_state_and_protocols()?;
    if args.compact && args.format != TodoFormat::Todowrite {
        return Err(crate::error::InputError::usage(
            "--compact shapes the TodoWrite list: use it with --format todowrite",
        )
        .into());
    }
    let list = todo::build(&set, state.session.as_ref());
    let redactor = s.redactor(&config);
    let mark = |st: TodoStatus| match st {
        TodoStatus::Completed => "[x]",
        TodoStatus::InProgress => "[>]",
        TodoStatus::Pending => "[ ]",
    };
    match args.format {
        TodoFormat::Json | TodoFormat::Todowrite | TodoFormat::ClaudeTasks => {
            let mut v = match args.format {
                TodoFormat::Json => serde_json::to_value(crate::documents::TodoDoc {
                    schema_version: crate::documents::SchemaVersion,
                    todos: list.todos.clone(),
                })?,
                TodoFormat::Todowrite if args.compact => {
                    serde_json::to_value(todo::compact(&set, state.session.as_ref()))?
                }
                TodoFormat::Todowrite => serde_json::to_value(list.todowrite())?,
                _ => serde_json::to_value(list.claude_tasks(&set))?,
            };
            redactor.mask_json(&mut v);
            if args.compact {
                // One line: what an assistant reads after each stage.
                s.printer.out(serde_json::to_string(&v)?);
            } else {
                super::print_json(s, &v);
            }
        }
        TodoFormat::Markdown => {
            let rows: Vec<Vec<String>> = list
                .todos
                .iter()
                .map(|t| {
                    vec![
                        mark(t.status).into(),
                        t.id.clone(),
                        t.content.clone(),
                        t.agent.clone(),
                    ]
                })
                .collect();
            s.printer
                .out(markdown_table(&["", "id", "task", "agent"], &rows));
        }
        TodoFormat::Human => {
            let mut t = s.printer.table(&["", "id", "task", "task type", "agent"]);
            for item in &list.todos {
                let task = if item.status == TodoStatus::InProgress {
                    &item.active_form
                } else {
                    &item.content
                };
                t.add_row(vec![
                    mark(item.status).to_string(),
                    item.id.clone(),
                    task.clone(),
                    item.task_type.clone(),
                    item.agent.clone(),
                ]);
            }
            s.printer.out(t);
        }
    }
    Ok(ExitStatus::Success)
}
