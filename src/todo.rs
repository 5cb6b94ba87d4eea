//! The TodoWrite list an assistant works from, derived from the protocols
//! and the session. The framework's one-task rule holds: at most one item is
//! `in_progress` — the action running, or else the first one waiting for a
//! person.

use crate::protocol::{Action, ProtocolSet};
use crate::session::{ActionStatus, Context, DerivedView, Session};
use anyhow::Result;
use serde::{Deserialize, Serialize};

/// `.ai_context/todos.json`, kept up to date by the store as a derived
/// view of the record.
#[derive(Debug, Default)]
pub struct TodoFile;

impl DerivedView for TodoFile {
    fn refresh(&mut self, ctx: &Context, session: Option<&Session>, durable: bool) -> Result<()> {
        let bytes = render(&ctx.protocols, session, &ctx.redactor)?;
        let path = ctx.paths.todos();
        if durable {
            crate::fsio::write_atomic(&path, &bytes)
        } else {
            // Mid-run rewrites skip the fsync: the list is derived from the
            // journal, and every stop writes it durably.
            crate::fsio::write_atomic_fast(&path, &bytes)
        }
    }
}

/// The bytes of `todos.json` for `session`: what every refresh writes, and
/// what `audit verify` compares the file with.
pub fn render(
    protocols: &crate::protocol::ProtocolSet,
    session: Option<&Session>,
    redactor: &crate::redact::Redactor,
) -> Result<Vec<u8>> {
    let list = build(protocols, session);
    let mut value = serde_json::to_value(&list)?;
    redactor.mask_json(&mut value);
    let mut bytes = serde_json::to_vec_pretty(&value)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// `todo --format todowrite`: exactly TodoWrite's input.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TodoWriteDoc {
    pub todos: Vec<TodoWriteItem>,
}

/// One TodoWrite item: its three fields, in order.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TodoWriteItem {
    pub content: String,
    pub status: TodoStatus,
    #[serde(rename = "activeForm")]
    pub active_form: String,
}

/// `todo --format claude-tasks`: TaskCreate-shaped objects.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ClaudeTasksDoc {
    pub tasks: Vec<ClaudeTask>,
}

/// One task for the newer task tools.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ClaudeTask {
    pub subject: String,
    pub description: String,
    #[serde(rename = "activeForm")]
    pub active_form: String,
    pub metadata: ClaudeTaskMetadata,
}

/// Where a task comes from.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ClaudeTaskMetadata {
    pub id: String,
    pub agent: String,
    pub task_type: String,
    pub protocol: String,
    pub status: TodoStatus,
}

/// TodoWrite's three statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TodoStatus {
    Pending,
    InProgress,
    Completed,
}

/// One item: TodoWrite's three fields plus where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TodoItem {
    pub content: String,
    pub status: TodoStatus,
    #[serde(rename = "activeForm")]
    pub active_form: String,
    pub id: String,
    pub task_type: String,
    pub agent: String,
    pub protocol: String,
}

/// `.ai_context/todos.json`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TodoList {
    pub todos: Vec<TodoItem>,
}

/// The list for `protocols`, as far as `session` has got. Whenever
/// something is left to do, exactly one item is `in_progress`: the action
/// running, else the first one waiting, else the first one `next` offers
/// (after a `done`, the action after it).
pub fn build(protocols: &ProtocolSet, session: Option<&Session>) -> TodoList {
    let status_of = |a: &Action| session.map_or(ActionStatus::Pending, |s| s.status_of(&a.id));
    let current = current_item(protocols, session);
    let todos = protocols
        .actions()
        .map(|a| TodoItem {
            content: content_of(a, status_of(a)),
            status: if status_of(a).is_done() {
                TodoStatus::Completed
            } else if current.as_deref() == Some(&a.id) {
                TodoStatus::InProgress
            } else {
                TodoStatus::Pending
            },
            active_form: a.active.clone(),
            id: a.id.clone(),
            task_type: a.task_type.as_str(),
            agent: a.agent.as_str(),
            protocol: a.protocol.to_string(),
        })
        .collect();
    TodoList { todos }
}

/// The one action that is `in_progress`, if anything is left to do.
fn current_item(protocols: &ProtocolSet, session: Option<&Session>) -> Option<String> {
    let session = session?;
    let with = |st: ActionStatus| {
        protocols
            .actions()
            .find(|a| session.status_of(&a.id) == st)
            .map(|a| a.id.clone())
    };
    with(ActionStatus::Running)
        .or_else(|| with(ActionStatus::Waiting))
        .or_else(|| {
            crate::progress::next_actions(protocols, Some(session))
                .into_iter()
                .map(|n| n.id)
                .find(|id| protocols.action(id).is_some())
        })
}

/// The title, saying so when it was not simply done: a skipped item is
/// not work finished.
fn content_of(a: &Action, status: ActionStatus) -> String {
    match status {
        ActionStatus::Skipped => format!("{} (skipped)", a.title),
        ActionStatus::Failed => format!("{} (failed)", a.title),
        _ => a.title.clone(),
    }
}

/// `todo --format todowrite --compact`: the stage under way item by item,
/// every other stage of its protocol as one item, every other protocol as
/// one item — what an assistant mirrors after each step without paying for
/// the whole list (≤ 2 KB for the default protocols).
pub fn compact(protocols: &ProtocolSet, session: Option<&Session>) -> TodoWriteDoc {
    let list = build(protocols, session);
    let item_of = |id: &str| list.todos.iter().find(|t| t.id == id);
    let current = list
        .todos
        .iter()
        .find(|t| t.status == TodoStatus::InProgress)
        .or_else(|| {
            list.todos
                .iter()
                .find(|t| t.status != TodoStatus::Completed)
        })
        .and_then(|t| protocols.action(&t.id));
    let mut todos = Vec::new();
    for name in crate::protocol::ProtocolName::ALL {
        let p = protocols.get(name);
        let ids: Vec<&str> = p.actions().map(|a| a.id.as_str()).collect();
        let in_this = current.is_some_and(|c| c.protocol == name);
        if !in_this {
            todos.push(summary_item(&p.title, name.as_str(), &ids, &item_of));
            continue;
        }
        for stage in &p.stages {
            let holds_current = current.is_some_and(|c| stage.actions.iter().any(|a| a.id == c.id));
            if holds_current {
                todos.extend(
                    stage
                        .actions
                        .iter()
                        .filter_map(|a| item_of(&a.id))
                        .map(|t| TodoWriteItem {
                            content: format!("{} {}", t.id, t.content),
                            status: t.status,
                            active_form: t.active_form.clone(),
                        }),
                );
            } else {
                let ids: Vec<&str> = stage.actions.iter().map(|a| a.id.as_str()).collect();
                todos.push(summary_item(
                    &format!("{} {}", stage.id, stage.title),
                    &stage.id,
                    &ids,
                    &item_of,
                ));
            }
        }
    }
    TodoWriteDoc { todos }
}

/// One item standing for several actions: completed when all are.
fn summary_item<'a>(
    title: &str,
    label: &str,
    ids: &[&str],
    item_of: &impl Fn(&str) -> Option<&'a TodoItem>,
) -> TodoWriteItem {
    let done = ids
        .iter()
        .filter(|id| item_of(id).is_some_and(|t| t.status == TodoStatus::Completed))
        .count();
    TodoWriteItem {
        content: format!("{title} ({done} of {} done)", ids.len()),
        status: if done == ids.len() {
            TodoStatus::Completed
        } else {
            TodoStatus::Pending
        },
        active_form: format!("Working through {label}"),
    }
}

impl TodoList {
    /// Exactly what TodoWrite takes: `{"todos":[{content,status,activeForm}]}`.
    pub fn todowrite(&self) -> TodoWriteDoc {
        let todos = self
            .todos
            .iter()
            .map(|t| TodoWriteItem {
                content: t.content.clone(),
                status: t.status,
                active_form: t.active_form.clone(),
            })
            .collect();
        TodoWriteDoc { todos }
    }

    /// TaskCreate-shaped objects for assistants on the newer task tools:
    /// `{"tasks":[{subject,description,activeForm,metadata}]}`. The
    /// description says what the seed asks and the command that completes it.
    pub fn claude_tasks(&self, protocols: &ProtocolSet) -> ClaudeTasksDoc {
        let tasks = self
            .todos
            .iter()
            .map(|t| ClaudeTask {
                subject: t.content.clone(),
                description: protocols.action(&t.id).map(describe).unwrap_or_default(),
                active_form: t.active_form.clone(),
                metadata: ClaudeTaskMetadata {
                    id: t.id.clone(),
                    agent: t.agent.clone(),
                    task_type: t.task_type.clone(),
                    protocol: t.protocol.clone(),
                    status: t.status,
                },
            })
            .collect();
        ClaudeTasksDoc { tasks }
    }
}

/// What the seed asks for, then how the task is completed.
fn describe(a: &Action) -> String {
    let mut text: String = a.items.iter().map(|i| format!("- {i}\n")).collect();
    let (command, alternative) = crate::progress::completion(a, ActionStatus::Pending);
    text.push_str(&format!("Complete with: `{command}`"));
    if let Some(alt) = alternative {
        text.push_str(&format!(" (or `{alt}`)"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::ActionRecord;

    fn session_with(statuses: &[(&str, ActionStatus)]) -> Session {
        let mut s: Session = serde_json::from_value(serde_json::json!({
            "id": "S", "opened_at": "t", "opened_by": "a", "host": "h", "git": null
        }))
        .unwrap();
        for (id, st) in statuses {
            s.actions.insert(
                id.to_string(),
                ActionRecord {
                    status: *st,
                    ..Default::default()
                },
            );
        }
        s
    }

    #[test]
    fn one_task_rule_and_status_mapping() {
        let set = crate::protocol::builtin().unwrap();
        let s = session_with(&[
            ("start.1.1", ActionStatus::Completed),
            ("start.1.2", ActionStatus::Skipped),
            ("start.2.1", ActionStatus::Waiting),
            ("start.2.2", ActionStatus::Waiting),
        ]);
        let list = build(&set, Some(&s));
        assert_eq!(list.todos.len(), 54);
        let st = |id: &str| list.todos.iter().find(|t| t.id == id).unwrap().status;
        assert_eq!(st("start.1.1"), TodoStatus::Completed);
        assert_eq!(st("start.1.2"), TodoStatus::Completed);
        assert_eq!(st("start.2.1"), TodoStatus::InProgress);
        assert_eq!(st("start.2.2"), TodoStatus::Pending);
        let in_progress = list
            .todos
            .iter()
            .filter(|t| t.status == TodoStatus::InProgress)
            .count();
        assert_eq!(in_progress, 1);
        let running = session_with(&[
            ("start.2.1", ActionStatus::Waiting),
            ("work.2.1", ActionStatus::Running),
        ]);
        let list = build(&set, Some(&running));
        assert_eq!(
            list.todos
                .iter()
                .find(|t| t.status == TodoStatus::InProgress)
                .unwrap()
                .id,
            "work.2.1"
        );
    }

    #[test]
    fn todowrite_shape_has_exactly_three_fields() {
        let set = crate::protocol::builtin().unwrap();
        let v = serde_json::to_value(build(&set, None).todowrite()).unwrap();
        for t in v["todos"].as_array().unwrap() {
            let keys: Vec<&String> = t.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["content", "status", "activeForm"]);
            assert_eq!(t["status"], "pending");
        }
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn item() -> impl Strategy<Value = TodoItem> {
        (
            "\\PC{1,40}",
            prop::sample::select(vec![
                TodoStatus::Pending,
                TodoStatus::InProgress,
                TodoStatus::Completed,
            ]),
            "\\PC{1,40}",
            "[a-z]{1,5}\\.[0-9]\\.[0-9]",
        )
            .prop_map(|(content, status, active_form, id)| TodoItem {
                content,
                status,
                active_form,
                id,
                task_type: "MANUAL".into(),
                agent: "system-architect".into(),
                protocol: "start".into(),
            })
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config(256))]
        /// todos.json round-trips, and the TodoWrite view keeps exactly the
        /// three fields, in order.
        #[test]
        fn todos_round_trip(todos in prop::collection::vec(item(), 0..20)) {
            let list = TodoList { todos };
            let text = serde_json::to_string_pretty(&list).unwrap();
            let back: TodoList = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(&back, &list);
            let tw = list.todowrite();
            for (t, v) in list.todos.iter().zip(serde_json::to_value(&tw).unwrap()["todos"].as_array().unwrap()) {
                let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
                prop_assert_eq!(keys, vec!["content", "status", "activeForm"]);
                prop_assert_eq!(v["content"].as_str(), Some(t.content.as_str()));
            }
        }

        /// Arbitrary text is refused or read, never a panic.
        #[test]
        fn arbitrary_todos_never_panic(s in "\\PC{0,200}") {
            let _ = serde_json::from_str::<TodoList>(&s);
        }
    }
}
