//! `deploy-session plan`: the pipeline as it would run, with config applied.

use crate::cli::{PlanArgs, ReportFormat};
use crate::documents::{PlanAction, PlanDoc, PlanProtocol, PlanStage, SchemaVersion};
use crate::error::ExitStatus;
use crate::protocol::{self, Action, Protocol, ProtocolName};
use crate::settings::Settings;
use crate::ui::{markdown_table, style};
use anyhow::Result;

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
    if let Some(env) = &a.common.environment {
        kind.push_str(&format!(" → {env}"));
    }
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
pub fn plan_json(protocols: &[&Protocol]) -> PlanDoc {
    PlanDoc {
        schema_version: SchemaVersion,
        protocols: protocols
            .iter()
            .map(|p| PlanProtocol {
                name: p.name,
                title: p.title.clone(),
                requires: p.requires,
                stages: p
                    .stages
                    .iter()
                    .map(|st| PlanStage {
                        id: st.id.clone(),
                        title: st.title.clone(),
                        needs: st.needs.clone(),
                        status: st.status,
                        actions: st.actions.iter().map(|a| a.id.clone()).collect(),
                    })
                    .collect(),
            })
            .collect(),
        actions: protocols
            .iter()
            .flat_map(|p| p.actions().map(move |a| action_doc(p, a)))
            .collect(),
    }
}

fn action_doc(p: &Protocol, a: &Action) -> PlanAction {
    PlanAction {
        id: a.id.clone(),
        protocol: p.name,
        stage: a.stage.clone(),
        title: a.title.clone(),
        active_form: a.active.clone(),
        task_type: a.task_type.as_str(),
        agent: a.agent.as_str(),
        kind: a.kind.name().to_string(),
        summary: a.kind.summary(),
        needs: p.action_needs(a),
        optional: a.optional(),
        origin: a.origin.clone(),
        items: a.items.clone(),
    }
}
