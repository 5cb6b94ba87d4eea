//! `deploy-session plan`: the pipeline as it would run, with config applied.

use crate::cli::{PlanArgs, ReportFormat};
use crate::error::ExitStatus;
use crate::protocol::{self, Action, Protocol, ProtocolName};
use crate::settings::Settings;
use crate::ui::{markdown_table, style};
use anyhow::Result;
use serde_json::{Value, json};

const HEADER: [&str; 6] = ["id", "title", "kind", "task type", "agent", "needs"];

pub fn run(args: &PlanArgs, s: &Settings) -> Result<ExitStatus> {
    let (set, _) = protocol::load(&s.paths)?;
    let only = args.protocol.as_deref().and_then(ProtocolName::parse);
    let chosen: Vec<&Protocol> = set
        .protocols
        .iter()
        .filter(|p| only.is_none_or(|o| o == p.name))
        .collect();
    match args.format {
        ReportFormat::Json => super::print_json(s, &plan_json(&chosen)),
        ReportFormat::Markdown => s.printer.out(plan_markdown(&chosen)),
        ReportFormat::Human => print_tables(s, &chosen),
    }
    Ok(ExitStatus::Success)
}

fn row(p: &Protocol, a: &Action) -> Vec<String> {
    let mut kind = a.kind.summary();
    if a.optional() {
        kind.push_str(" (optional)");
    }
    vec![
        a.id.clone(),
        a.title.clone(),
        kind,
        a.task_type.as_str(),
        a.agent.as_str(),
        p.action_needs(a).join(", "),
    ]
}

fn print_tables(s: &Settings, protocols: &[&Protocol]) {
    let pr = &s.printer;
    let mut total = 0;
    for p in protocols {
        pr.out(pr.paint(style::HEAD, format!("{} — {}", p.name, p.title)));
        if let Some(r) = p.requires {
            pr.out(pr.paint(style::DIM, format!("runs after `{r}` is complete")));
        }
        for stage in &p.stages {
            let needs = if stage.needs.is_empty() {
                String::new()
            } else {
                format!(" (after {})", stage.needs.join(" and "))
            };
            pr.out(format!(
                "\n{} {}{}",
                stage.id,
                stage.title,
                pr.paint(style::DIM, needs)
            ));
            let mut t = pr.table(&HEADER);
            for a in &stage.actions {
                t.add_row(row(p, a));
                total += 1;
            }
            pr.out(t);
        }
        pr.out("");
    }
    pr.out(format!("{total} actions"));
}

fn plan_markdown(protocols: &[&Protocol]) -> String {
    let mut out = String::new();
    for p in protocols {
        out.push_str(&format!("## {} — {}\n\n", p.name, p.title));
        for stage in &p.stages {
            out.push_str(&format!("### {} {}\n\n", stage.id, stage.title));
            let rows: Vec<Vec<String>> = stage.actions.iter().map(|a| row(p, a)).collect();
            out.push_str(&markdown_table(&HEADER, &rows));
            out.push('\n');
        }
    }
    out
}

/// The documented JSON shape of a plan (`schema_version` 1).
pub fn plan_json(protocols: &[&Protocol]) -> Value {
    let actions: Vec<Value> = protocols
        .iter()
        .flat_map(|p| p.actions().map(move |a| action_json(p, a)))
        .collect();
    json!({
        "schema_version": 1,
        "protocols": protocols.iter().map(|p| json!({
            "name": p.name,
            "title": p.title,
            "requires": p.requires,
            "stages": p.stages.iter().map(|st| json!({
                "id": st.id,
                "title": st.title,
                "needs": st.needs,
                "status": st.status,
                "actions": st.actions.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "actions": actions,
    })
}

fn action_json(p: &Protocol, a: &Action) -> Value {
    json!({
        "id": a.id,
        "protocol": p.name,
        "stage": a.stage,
        "title": a.title,
        "active_form": a.active,
        "task_type": a.task_type,
        "agent": a.agent,
        "kind": a.kind.name(),
        "summary": a.kind.summary(),
        "needs": p.action_needs(a),
        "optional": a.optional(),
        "origin": a.origin,
        "items": a.items,
    })
}
