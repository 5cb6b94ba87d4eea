//! An AI assistant's whole session, simulated (issue 15): from a fresh
//! `init` to the end of `end`, running only the commands `next` and
//! `context` print, inventing a note for each manual action and mirroring
//! the compact TodoWrite list after every step. What a person must decide
//! (recording Phase 6, approvals, waivers) is played by a simulated person
//! and counted apart. It reports the commands run and the bytes the
//! assistant read; README quotes the figures.

use crate::harness::*;

const PERSON: &str = "Priya Lead <priya@example.com>";
/// What the assistant may read over a whole session (about 12k tokens).
const BUDGET: usize = 48 * 1024;

#[derive(Default)]
struct Tally {
    assistant_commands: usize,
    person_commands: usize,
    bytes_read: usize,
    todo_bytes: usize,
    todo_reads: usize,
    largest_todo: usize,
    mirrored: usize,
}

impl Tally {
    /// The assistant runs `args` and reads everything it prints.
    fn assistant(&mut self, repo: &Repo, args: &[String]) -> Run {
        let r = run(repo.cmd(args));
        self.assistant_commands += 1;
        self.bytes_read += r.stdout.len() + r.stderr.len();
        r
    }

    /// A person runs a printed command with their own name and reason.
    fn person(&mut self, repo: &Repo, printed: &str) -> Run {
        let filled = printed
            .replace("<your name and email>", PERSON)
            .replace(
                "<why each is acceptable>",
                "first release: deployed by hand, nothing measured",
            )
            .replace("<why>", "decided by the release lead");
        let words = shell_words::split(&filled).unwrap();
        assert_eq!(words[0], "deploy-session", "{printed}");
        let r = run(repo.cmd(&words[1..]));
        self.person_commands += 1;
        r
    }

    /// TodoWrite mirrored after a step. Within a stage the assistant
    /// updates its own list — the item it finished `completed`, the next
    /// one `in_progress` — and reads `todo --compact` only when the next
    /// item is not on it (a new stage or protocol, or after a run or a
    /// person's step). Either way the list must be exactly the tool's
    /// (checked here, not counted as read), with one item in progress.
    fn mirror(
        &mut self,
        repo: &Repo,
        previous: Option<serde_json::Value>,
        done: Option<&str>,
        next: &serde_json::Value,
    ) -> serde_json::Value {
        let truth = run(repo.cmd(["todo", "--format", "todowrite", "--compact"])).json();
        let next_id = next[0]["id"].as_str().unwrap_or_default();
        let mine = previous.zip(done).and_then(|(mut list, done)| {
            let items = list["todos"].as_array_mut()?;
            let at = |id: &str| {
                items.iter().position(|t| {
                    t["content"]
                        .as_str()
                        .is_some_and(|c| c.starts_with(&format!("{id} ")))
                })
            };
            let (d, n) = (at(done)?, at(next_id)?);
            items[d]["status"] = "completed".into();
            items[n]["status"] = "in_progress".into();
            Some(list)
        });
        let list = match mine {
            Some(list) => list,
            None => {
                let args = ["todo", "--format", "todowrite", "--compact"].map(String::from);
                let r = self.assistant(repo, &args);
                assert_eq!(r.code, 0, "{}", r.stderr);
                self.todo_reads += 1;
                self.todo_bytes += r.stdout.len();
                self.largest_todo = self.largest_todo.max(r.stdout.len());
                r.json()
            }
        };
        assert_eq!(list, truth, "the mirrored list drifted from the tool's");
        let in_progress = list["todos"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["status"] == "in_progress")
            .count();
        assert_eq!(in_progress, 1, "{list}");
        self.mirrored += 1;
        list
    }
}

fn words(command: &str) -> Vec<String> {
    let words = shell_words::split(command).unwrap();
    assert_eq!(words[0], "deploy-session", "{command}");
    words[1..].to_vec()
}

#[test]
fn an_assistant_finishes_a_default_session_with_printed_commands_only() {
    let repo = Repo::new();
    let mut t = Tally::default();
    // The person sets the repo up and records what the Development
    // Framework finished, as `init` tells them.
    let init = t.person(&repo, "deploy-session init");
    assert_eq!(init.code, 0);
    let recorded: Vec<String> = init
        .stderr
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("deploy-session "))
        .map(String::from)
        .collect();
    assert_eq!(recorded.len(), 2, "{}", init.stderr);
    for command in &recorded {
        let r = t.person(&repo, command);
        assert_eq!(r.code, 0, "{command}: {}", r.stderr);
    }
    // The assistant orients itself once, then works from `next`.
    let r = t.assistant(&repo, &["context".to_string()]);
    assert_eq!(r.code, 0);
    let mut next = t
        .assistant(&repo, &words("deploy-session next --format json"))
        .json()["next"]
        .clone();
    let mut list: Option<serde_json::Value> = None;
    for step in 0.. {
        assert!(step < 200, "the session never finished");
        let Some(item) = next.as_array().and_then(|n| n.first()).cloned() else {
            let brief = t
                .assistant(&repo, &words("deploy-session next --format json"))
                .json();
            assert_eq!(brief["deployment_finished"], true, "{brief}");
            break;
        };
        let command = item["command"].as_str().unwrap();
        let mut done_id = None;
        if item["for_person"] == true {
            let r = t.person(&repo, command);
            assert_eq!(r.code, 0, "{command}: {}", r.stderr);
        } else if item["kind"] == "manual" {
            // `done --format json` answers with what is next: no `next` call.
            let id = item["id"].as_str().unwrap();
            let note = format!("{id}: reviewed the repo's artifacts and wrote down the findings");
            let mut args = words(&command.replace("<what was done>", &note));
            args.extend(["--format", "json"].map(String::from));
            let r = t.assistant(&repo, &args);
            assert_eq!(r.code, 0, "{command}: {}", r.stderr);
            done_id = Some(id.to_string());
            next = r.json()["next"].clone();
        } else {
            let r = t.assistant(&repo, &words(command));
            match r.code {
                0 | 3 => {}
                1 => {
                    // A run stopped on gates: the decisions are a person's.
                    let brief = t
                        .assistant(&repo, &words("deploy-session context --format json"))
                        .json();
                    let decide = brief["decision_command"].as_str().unwrap_or_else(|| {
                        panic!(
                            "{command} failed with no decision to ask for:\n{}",
                            r.stdout
                        )
                    });
                    let r = t.person(&repo, decide);
                    assert_eq!(r.code, 0, "{decide}: {}\n{}", r.stdout, r.stderr);
                }
                code => panic!("{command} exited {code}: {}", r.stderr),
            }
        }
        if done_id.is_none() {
            next = t
                .assistant(&repo, &words("deploy-session next --format json"))
                .json()["next"]
                .clone();
        }
        // Once `end` has closed the session there is no list to mirror.
        if repo.session().is_null() {
            continue;
        }
        list = Some(t.mirror(&repo, list.take(), done_id.as_deref(), &next));
    }
    let history = run(repo.cmd(["history", "--format", "json"])).json();
    assert_eq!(history["sessions"][0]["outcome"], "completed", "{history}");
    assert_eq!(run(repo.cmd(["audit", "verify"])).code, 0);
    eprintln!(
        "assistant simulation: {} commands by the assistant, {} by a person; TodoWrite mirrored {} times, the list read {} times ({} bytes, the largest {}); the assistant read {} bytes in all (budget {})",
        t.assistant_commands,
        t.person_commands,
        t.mirrored,
        t.todo_reads,
        t.todo_bytes,
        t.largest_todo,
        t.bytes_read,
        BUDGET
    );
    assert!(
        t.bytes_read <= BUDGET,
        "the assistant read {} bytes, over the {BUDGET}-byte budget",
        t.bytes_read
    );
}
