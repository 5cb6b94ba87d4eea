//! Built-in templates + the repo's config → the protocols that apply.
//! Also the validator: ids, kinds, the stage graph, `${var}` use and paths.

use super::config::Config;
use super::model::*;
use super::templates::ProtocolTemplate;
use super::yaml::Seg;
use crate::error::{InputError, InputErrors};
use crate::paths::inside_repo;
use crate::yaml_path;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// A template protocol whose actions are still specs, being edited.
struct Draft {
    template: ProtocolTemplate,
    origins: BTreeMap<String, Origin>,
}

/// Applies `config` to the templates and validates the result.
pub fn resolve(
    templates: Vec<ProtocolTemplate>,
    config: &Config,
    root: &Path,
) -> Result<ProtocolSet, InputErrors> {
    let mut errors = Vec::new();
    let mut drafts: Vec<Draft> = templates
        .into_iter()
        .map(|t| Draft {
            template: t,
            origins: BTreeMap::new(),
        })
        .collect();
    let checker = Checker { config, root };
    let mut stages = stage_index(&drafts);
    for (i, spec) in config.additions.iter().enumerate() {
        if let Err(e) = checker.add(&mut drafts, &mut stages, i, spec) {
            errors.extend(e);
        }
    }
    for (id, spec) in &config.overrides {
        if let Err(e) = checker.apply_override(&mut drafts, id, spec) {
            errors.extend(e);
        }
    }
    if !errors.is_empty() {
        return Err(InputErrors(errors));
    }
    let set = ProtocolSet {
        protocols: drafts.into_iter().map(finish).collect(),
    };
    validate(&set)?;
    let mut late = gate_source_errors(&set, config);
    late.extend(environment_errors(&set, config));
    if !late.is_empty() {
        return Err(InputErrors(late));
    }
    Ok(set)
}

/// Where action `id`'s `key` is written: its `add:` entry, else its
/// `actions:` override.
fn action_key(config: &Config, id: &str, key: &str) -> Vec<Seg> {
    match config
        .additions
        .iter()
        .position(|a| a.id.as_deref() == Some(id))
    {
        Some(i) => yaml_path!["add", i, key],
        None => yaml_path!["actions", id, key],
    }
}

/// `environments:` and the actions' `environment`: every name declared,
/// promotions from a declared environment without cycles, and, before an
/// environment's first deployment, the deployment it is promoted from and
/// the approval it needs.
fn environment_errors(set: &ProtocolSet, config: &Config) -> Vec<InputError> {
    let envs = &config.environments;
    let mut errors = Vec::new();
    for name in envs.keys() {
        if let Err(why) = environment_name(name) {
            errors.push(config.error_at(&yaml_path!["environments", name.as_str()], why));
        }
    }
    for (name, spec) in envs {
        let Some(from) = &spec.promote_from else {
            continue;
        };
        let at = yaml_path!["environments", name.as_str(), "promote_from"];
        if !envs.contains_key(from) {
            errors.push(config.error_at(
                &at,
                format!("{name} is promoted from {from:?}, which is not under `environments:`"),
            ));
            continue;
        }
        let mut seen = vec![name.as_str()];
        let mut next = Some(from.as_str());
        while let Some(e) = next {
            if seen.contains(&e) {
                errors.push(config.error_at(
                    &at,
                    format!(
                        "promotions go round in a circle: {} → {e}",
                        seen.join(" → ")
                    ),
                ));
                break;
            }
            seen.push(e);
            next = envs.get(e).and_then(|s| s.promote_from.as_deref());
        }
    }
    let mut deployed: HashSet<&str> = HashSet::new();
    let mut approved: HashSet<&str> = HashSet::new();
    for a in set.actions() {
        let Some(env) = a.common.environment.as_deref() else {
            continue;
        };
        let Some(spec) = envs.get(env) else {
            let mut names: Vec<&str> = envs.keys().map(String::as_str).collect();
            names.sort();
            errors.push(
                config
                    .error_at(
                        &action_key(config, &a.id, "environment"),
                        format!("{}: environment {env:?} is not under `environments:`", a.id),
                    )
                    .with_hint(if names.is_empty() {
                        format!("declare it: `environments: {{ {env}: {{}} }}`")
                    } else {
                        format!("declared: {}", names.join(", "))
                    }),
            );
            continue;
        };
        match &a.kind {
            Kind::Approval(_) => {
                approved.insert(env);
            }
            Kind::Strategy(_) if !deployed.contains(env) => {
                let at = action_key(config, &a.id, "environment");
                if let Some(from) = spec
                    .promote_from
                    .as_deref()
                    .filter(|f| !deployed.contains(f))
                {
                    errors.push(config.error_at(
                        &at,
                        format!("{}: {env} is promoted from {from}, but no `strategy` action deploys to {from} before it", a.id),
                    ));
                }
                if spec.needs_approval() && !approved.contains(env) {
                    errors.push(
                        config
                            .error_at(
                                &at,
                                format!("{}: deploying to {env} needs a named approval first, and no `approval` action with `environment: {env}` comes before it", a.id),
                            )
                            .with_hint(format!(
                                "add one (`add: [{{ id: ..., after: ..., title: Approve the promotion to {env}, active: Approving the promotion, approval: {{ subject: promote to {env} }}, environment: {env} }}]`), or set `environments.{env}.approval: false`"
                            )),
                    );
                }
                deployed.insert(env);
            }
            _ => {}
        }
    }
    errors
}

/// `gates.sources` must name actions that exist.
fn gate_source_errors(set: &ProtocolSet, config: &Config) -> Vec<InputError> {
    let mut errors = Vec::new();
    for (gate, ids) in &config.gates.sources {
        for (i, id) in ids.iter().enumerate() {
            if set.action(id).is_none() {
                let path = yaml_path!["gates", "sources", gate.as_str(), i];
                let near = set.suggest(id);
                let e = config.error_at(
                    &path,
                    format!("gate {} names unknown action {id}", gate.as_str()),
                );
                errors.push(if near.is_empty() {
                    e
                } else {
                    e.with_hint(format!("did you mean {}?", near.join(", ")))
                });
            }
        }
    }
    errors
}

struct Checker<'a> {
    config: &'a Config,
    root: &'a Path,
}

type Errs = Vec<InputError>;

impl Checker<'_> {
    fn err(&self, path: &[Seg], msg: impl Into<String>) -> InputError {
        self.config.error_at(path, msg)
    }

    fn add(
        &self,
        drafts: &mut [Draft],
        stages: &mut StageIndex,
        index: usize,
        spec: &ActionSpec,
    ) -> Result<(), Errs> {
        let base = yaml_path!["add", index];
        let here = |key: &str| [base.clone(), yaml_path![key]].concat();
        let mut errs = Vec::new();
        for (key, present) in [
            ("id", spec.id.is_some()),
            ("after", spec.after.is_some()),
            ("title", spec.title.is_some()),
            ("active", spec.active.is_some()),
            ("task_type", spec.task_type.is_some()),
            ("agent", spec.agent.is_some()),
        ] {
            // A key that is there but did not decode was reported already.
            if !present && !self.config.has(&here(key)) {
                errs.push(self.err(&base, format!("added action #{} has no `{key}`", index + 1)));
            }
        }
        if spec.builtin.is_some() {
            errs.push(self.err(
                &here("builtin"),
                "`builtin` steps are the tool's own and cannot be added",
            ));
        }
        let (Some(id), Some(after)) = (&spec.id, &spec.after) else {
            return Err(errs);
        };
        if stages.contains_key(id.as_str()) {
            errs.push(self.err(&here("id"), format!("action id {id} already exists")));
        }
        let Some((p, s, a)) = find_indexed(drafts, stages, after) else {
            errs.push(self.unknown_id(drafts, &here("after"), after));
            return Err(errs);
        };
        let stage_id = drafts[p].template.stages[s].id.clone();
        if !id_in_stage(id, &stage_id) {
            errs.push(
                self.err(
                    &here("id"),
                    format!("id {id} does not belong to stage {stage_id} (where {after} is)"),
                )
                .with_hint(format!(
                    "ids are <protocol>.<stage>.<n>: use {stage_id}.<n>, e.g. {stage_id}.{}",
                    next_free(&drafts[p].template.stages[s])
                )),
            );
        }
        let mut spec = spec.clone();
        self.check_spec(&mut spec, &base, &mut errs);
        if !errs.is_empty() {
            return Err(errs);
        }
        spec.after = None;
        drafts[p].origins.insert(id.clone(), Origin::Config);
        drafts[p].template.stages[s].actions.insert(a + 1, spec);
        stages.insert(id.clone(), (p, s));
        Ok(())
    }

    fn apply_override(
        &self,
        drafts: &mut [Draft],
        id: &str,
        spec: &ActionSpec,
    ) -> Result<(), Errs> {
        let base = yaml_path!["actions", id];
        let Some((p, s, a)) = find(drafts, id) else {
            return Err(vec![self.unknown_id(drafts, &base, id)]);
        };
        let mut errs = Vec::new();
        let mut spec = spec.clone();
        self.check_spec(&mut spec, &base, &mut errs);
        let target = &mut drafts[p].template.stages[s].actions[a];
        let current = target.to_kind();
        let new_kinds = spec.kind_names();
        let replaceable = matches!(&current, Kind::Approval(a) if a.replaceable)
            || file_list_override(&current, &spec);
        if !new_kinds.is_empty() && current != Kind::Manual && !replaceable {
            errs.push(
                self.err(
                    &[base.clone(), yaml_path![new_kinds[0]]].concat(),
                    format!("{id} is {}; only manual actions can be given a run, check, approval, probe or strategy", current.described()),
                )
                .with_hint(format!("{id} does: {}", current.summary())),
            );
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        target.apply_override(&spec);
        drafts[p].origins.insert(id.to_string(), Origin::Config);
        Ok(())
    }

    fn unknown_id(&self, drafts: &[Draft], path: &[Seg], id: &str) -> InputError {
        let all: Vec<String> = drafts
            .iter()
            .flat_map(|d| d.template.stages.iter())
            .flat_map(|s| s.actions.iter())
            .filter_map(|a| a.id.clone())
            .collect();
        let mut close: Vec<(f64, &String)> = all
            .iter()
            .map(|k| (strsim::jaro_winkler(id, k), k))
            .filter(|(s, _)| *s > 0.75)
            .collect();
        close.sort_by(|a, b| b.0.total_cmp(&a.0));
        let e = self.err(path, format!("unknown action id {id}"));
        match close.first() {
            Some(_) => e.with_hint(format!(
                "did you mean {}? (`deploy-session plan` lists every id)",
                close
                    .iter()
                    .take(3)
                    .map(|(_, k)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            None => e.with_hint("`deploy-session plan` lists every id"),
        }
    }

    /// Checks a config-provided spec and expands its `${vars}` in place.
    fn check_spec(&self, spec: &mut ActionSpec, base: &[Seg], errs: &mut Errs) {
        let at = |key: &[Seg]| [base.to_vec(), key.to_vec()].concat();
        let kinds = spec.kind_names();
        if kinds.len() > 1 {
            errs.push(self.err(
                &at(&yaml_path![kinds[1]]),
                format!(
                    "an action has one kind, but this sets {}",
                    kinds.join(" and ")
                ),
            ));
        }
        for (path, text) in command_strings(spec) {
            match expand_vars(text, &self.config.vars) {
                Ok(v) => *text = v,
                Err(name) => errs.push(
                    self.err(&at(&path), format!("`${{{name}}}` is not declared in `vars`"))
                        .with_hint("declare it under `vars:`, or write `$${...}` for a literal `${...}` (shell variables: use `$NAME`)"),
                ),
            }
        }
        for (path, p) in spec_paths(spec) {
            if let Err(msg) = inside_repo(self.root, &p) {
                errs.push(self.err(&at(&path), format!("path {msg}")).with_hint(
                    "paths in the config are relative to the repo root and must stay inside it",
                ));
            }
        }
        for key in spec.env.keys() {
            if key.starts_with("DEPLOY_SESSION_") {
                errs.push(self.err(
                    &at(&yaml_path!["env", key]),
                    format!("`{key}` is reserved: the tool sets DEPLOY_SESSION_* itself"),
                ));
            }
        }
        for (path, msg) in kind_problems(spec) {
            errs.push(self.err(&at(&path), msg));
        }
    }
}

/// Every string of a spec that is a command or URL, with its config path.
fn command_strings(spec: &mut ActionSpec) -> Vec<(Vec<Seg>, &mut String)> {
    let mut out: Vec<(Vec<Seg>, &mut String)> = Vec::new();
    let ActionSpec {
        run,
        rollback,
        env,
        probe,
        strategy,
        ..
    } = spec;
    if let Some(r) = run {
        out.push((yaml_path!["run"], r));
    }
    if let Some(r) = rollback {
        out.push((yaml_path!["rollback"], r));
    }
    for (k, v) in env.iter_mut() {
        out.push((yaml_path!["env", k], v));
    }
    if let Some(ProbeSpec { url: Some(u), .. }) = probe {
        out.push((yaml_path!["probe", "url"], u));
    }
    if let Some(s) = strategy {
        let name = s.name();
        let at = |k: &str| yaml_path!["strategy", name, k];
        match s {
            StrategySpec::BlueGreen(b) => {
                out.push((at("live_url"), &mut b.live_url));
                out.push((at("deploy"), &mut b.deploy));
                out.push((at("switch"), &mut b.switch));
                if let Some(c) = &mut b.current {
                    out.push((at("current"), c));
                }
                for (slot, url) in b.slots.iter_mut() {
                    out.push((yaml_path!["strategy", name, "slots", slot], url));
                }
            }
            StrategySpec::Canary(c) => {
                out.push((at("live_url"), &mut c.live_url));
                out.push((at("set_weight"), &mut c.set_weight));
                for (k, v) in [
                    ("deploy", &mut c.deploy),
                    ("analysis", &mut c.analysis),
                    ("rollback", &mut c.rollback),
                ] {
                    if let Some(v) = v {
                        out.push((at(k), v));
                    }
                }
            }
            StrategySpec::Rolling(r) => {
                out.push((at("deploy"), &mut r.deploy));
                out.push((at("rollback"), &mut r.rollback));
                if let Some(u) = &mut r.live_url {
                    out.push((at("live_url"), u));
                }
                for (i, t) in r.targets.iter_mut().enumerate() {
                    out.push((
                        yaml_path!["strategy", name, "targets", i, "url"],
                        &mut t.url,
                    ));
                }
            }
        }
    }
    out
}

/// Repo paths a spec names (cwd, produces, check files), with config paths.
fn spec_paths(spec: &ActionSpec) -> Vec<(Vec<Seg>, String)> {
    let mut out = Vec::new();
    if let Some(c) = &spec.cwd {
        out.push((yaml_path!["cwd"], c.clone()));
    }
    for (i, p) in spec.produces.iter().enumerate() {
        out.push((yaml_path!["produces", i], p.clone()));
    }
    if let Some(check) = &spec.check {
        for (i, p) in check.files.iter().enumerate() {
            out.push((yaml_path!["check", "files", i], p.clone()));
        }
        for (i, p) in check.any_of.iter().enumerate() {
            out.push((yaml_path!["check", "any_of", i], p.clone()));
        }
    }
    out
}

/// Expands `${name}` from `vars`; `$${` is a literal `${`. Errs with the
/// first undeclared name.
pub fn expand_vars(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let Some(end) = tail.find('}') else {
                out.push_str(after);
                return Ok(out);
            };
            let name = &tail[..end];
            out.push_str(vars.get(name).ok_or_else(|| name.to_string())?);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_http_url(u: &str) -> bool {
    (u.starts_with("http://") || u.starts_with("https://"))
        && u.len() > "https://".len() - 1
        && !u.contains(char::is_whitespace)
}

/// Problems with the kind-specific fields of a spec, with config paths.
fn kind_problems(spec: &ActionSpec) -> Vec<(Vec<Seg>, String)> {
    let mut out = Vec::new();
    if let Some(r) = &spec.run
        && r.trim().is_empty()
    {
        out.push((yaml_path!["run"], "`run` is an empty command".to_string()));
    }
    if let Some(c) = &spec.check {
        if c.files.is_empty() && c.any_of.is_empty() && c.phase.is_none() && c.git.is_none() {
            out.push((
                yaml_path!["check"],
                "a check needs `files`, `any_of`, `phase` or `git`".to_string(),
            ));
        }
        if let Some(p) = &c.phase {
            if !(-1..=8).contains(&p.number) {
                out.push((
                    yaml_path!["check", "phase", "number"],
                    format!("phase {} does not exist (phases are -1 to 8)", p.number),
                ));
            }
            if let Some(s) = &p.status
                && crate::master_state::PhaseStatus::parse(s).is_none()
            {
                out.push((
                    yaml_path!["check", "phase", "status"],
                    format!("unknown phase status {s:?}"),
                ));
            }
        }
    }
    if let Some(a) = &spec.approval {
        if a.subject.trim().is_empty() {
            out.push((
                yaml_path!["approval", "subject"],
                "say what is being approved in `subject`".to_string(),
            ));
        }
        if a.phase.is_some_and(|n| !(-1..=8).contains(&n)) {
            out.push((
                yaml_path!["approval", "phase"],
                "phases are -1 to 8".to_string(),
            ));
        }
    }
    if let Some(p) = &spec.probe {
        match &p.url {
            None => out.push((yaml_path!["probe"], "a probe needs a `url`".to_string())),
            Some(u) if !is_http_url(u) => out.push((
                yaml_path!["probe", "url"],
                format!("{u:?} is not an http:// or https:// URL"),
            )),
            _ => {}
        }
        out.extend(probe_problems(p, yaml_path!["probe"]));
    }
    if let Some(s) = &spec.strategy {
        out.extend(strategy_problems(s));
    }
    out
}

/// A success rate must be a percentage above 0 and at most 100.
fn rate_problem(rate: f64, at: Vec<Seg>) -> Option<(Vec<Seg>, String)> {
    (!(rate > 0.0 && rate <= 100.0)).then(|| {
        (
            at,
            format!("`min_success_rate` {rate} is not a percentage above 0 and at most 100"),
        )
    })
}

/// `load:` and `criteria:` that cannot work.
fn traffic_problems(s: &StrategySpec) -> Vec<(Vec<Seg>, String)> {
    let name = s.name();
    let mut out = Vec::new();
    if let Some(l) = s.load() {
        if !(1..=5000).contains(&l.rate) {
            out.push((
                yaml_path!["strategy", name, "load", "rate"],
                format!("`rate` {} is not 1 to 5000 requests per second", l.rate),
            ));
        }
        if l.path.as_ref().is_some_and(|p| !p.starts_with('/')) {
            out.push((
                yaml_path!["strategy", name, "load", "path"],
                "the load path must start with `/` (it is appended to live_url)".to_string(),
            ));
        }
        if s.live_url().is_none() {
            out.push((
                yaml_path!["strategy", name, "load"],
                "`load` goes through `live_url`: give one".to_string(),
            ));
        }
    }
    let given = match s {
        StrategySpec::BlueGreen(b) => b.criteria.as_ref(),
        StrategySpec::Canary(c) => c.criteria.as_ref(),
        StrategySpec::Rolling(r) => r.criteria.as_ref(),
    };
    let Some(c) = given else {
        return out;
    };
    let at = |k: &str| yaml_path!["strategy", name, "criteria", k];
    if c.min_success_rate.is_none()
        && c.max_p95.is_none()
        && c.max_p99.is_none()
        && !matches!(s, StrategySpec::Canary(k) if k.min_success_rate.is_some())
    {
        out.push((
            yaml_path!["strategy", name, "criteria"],
            "`criteria` judges nothing: give min_success_rate, max_p95 or max_p99".to_string(),
        ));
    }
    if let Some(rate) = c.min_success_rate {
        out.extend(rate_problem(rate, at("min_success_rate")));
    }
    if c.min_requests == Some(0) {
        out.push((
            at("min_requests"),
            "`min_requests` 0 would pass a window with no evidence; give at least 1".to_string(),
        ));
    }
    if let (Some(p95), Some(p99)) = (c.max_p95, c.max_p99)
        && p95 > p99
    {
        out.push((
            at("max_p95"),
            format!(
                "`max_p95` {} is above `max_p99` {}: a 95th percentile is never above the 99th, so it would never decide",
                format_duration(p95.0),
                format_duration(p99.0)
            ),
        ));
    }
    match &c.metrics {
        Some(m) if m.trim().is_empty() => {
            out.push((at("metrics"), "`metrics` is an empty command".to_string()))
        }
        None if s.live_url().is_none() => out.push((
            yaml_path!["strategy", name, "criteria"],
            "`criteria` need traffic to judge: give `live_url`, or a `metrics` command".to_string(),
        )),
        _ => {}
    }
    out
}

fn probe_problems(p: &ProbeSpec, base: Vec<Seg>) -> Vec<(Vec<Seg>, String)> {
    use crate::protocol::model::ProbeField;
    p.problems()
        .into_iter()
        .map(|(field, why)| {
            let key = match field {
                ProbeField::Status => yaml_path!["expect", "status"],
                ProbeField::Consecutive => yaml_path!["consecutive"],
                ProbeField::Timeout => yaml_path!["timeout"],
                ProbeField::Interval => yaml_path!["interval"],
            };
            ([base.clone(), key].concat(), why)
        })
        .collect()
}

fn strategy_problems(s: &StrategySpec) -> Vec<(Vec<Seg>, String)> {
    let name = s.name();
    let at = |k: &str| yaml_path!["strategy", name, k];
    let mut out = Vec::new();
    let endpoints = match s {
        StrategySpec::BlueGreen(b) => &b.health_paths,
        StrategySpec::Canary(c) => &c.health_paths,
        StrategySpec::Rolling(r) => &r.health_paths,
    };
    for (i, p) in endpoints.iter().enumerate() {
        if !p.starts_with('/') {
            out.push((
                yaml_path!["strategy", name, "health_paths", i],
                format!("health path {p:?} must start with `/` (it is appended to each URL)"),
            ));
        }
    }
    let mut url = |path: Vec<Seg>, u: &str| {
        if !is_http_url(u) {
            out.push((path, format!("{u:?} is not an http:// or https:// URL")));
        }
    };
    let probe = match s {
        StrategySpec::BlueGreen(b) => {
            url(at("live_url"), &b.live_url);
            for (slot, u) in &b.slots {
                url(yaml_path!["strategy", name, "slots", slot], u);
            }
            if b.slots.len() < 2 {
                out.push((
                    at("slots"),
                    "blue-green needs at least two slots".to_string(),
                ));
            }
            &b.probe
        }
        StrategySpec::Canary(c) => {
            url(at("live_url"), &c.live_url);
            let rising = c.steps.windows(2).all(|w| w[0] < w[1]);
            if c.steps.is_empty()
                || !rising
                || c.steps.iter().any(|&w| w == 0 || w > 100)
                || c.steps.last() != Some(&100)
            {
                out.push((at("steps"), "canary steps must be rising weights from 1 to 100, ending at 100 (e.g. [10, 50, 100])".to_string()));
            }
            if let Some(rate) = c.min_success_rate {
                out.extend(rate_problem(rate, at("min_success_rate")));
                if c.criteria
                    .as_ref()
                    .is_some_and(|k| k.min_success_rate.is_some())
                {
                    out.push((
                        at("min_success_rate"),
                        "`min_success_rate` is given twice, here and in `criteria`: keep one"
                            .to_string(),
                    ));
                }
            }
            if let Some(crate::protocol::model::Pause::PerStep(list)) = &c.pause
                && list.len() != c.steps.len()
            {
                out.push((
                    at("pause"),
                    format!(
                        "`pause` lists {} durations for {} steps: give one per step, or one duration for all",
                        list.len(),
                        c.steps.len()
                    ),
                ));
            }
            &c.probe
        }
        StrategySpec::Rolling(r) => {
            if let Some(u) = &r.live_url {
                url(at("live_url"), u);
            }
            for (i, t) in r.targets.iter().enumerate() {
                url(yaml_path!["strategy", name, "targets", i, "url"], &t.url);
            }
            let mut seen = HashSet::new();
            if r.targets.is_empty() || !r.targets.iter().all(|t| seen.insert(&t.name)) {
                out.push((
                    at("targets"),
                    "rolling needs targets with distinct names".to_string(),
                ));
            }
            if r.batch_size == 0 {
                out.push((
                    at("batch_size"),
                    "`batch_size` must be at least 1".to_string(),
                ));
            }
            &r.probe
        }
    };
    out.extend(traffic_problems(s));
    if probe.url.is_some() {
        out.push((
            yaml_path!["strategy", name, "probe", "url"],
            "the strategy supplies the probe URLs (slots, targets, live_url); remove `url`"
                .to_string(),
        ));
    }
    out.extend(probe_problems(probe, yaml_path!["strategy", name, "probe"]));
    out
}

/// Which protocol and stage each action id is in: `add:` entries are
/// placed by id, and 500 of them found by scanning took a millisecond.
type StageIndex = HashMap<String, (usize, usize)>;

fn stage_index(drafts: &[Draft]) -> StageIndex {
    let mut index = HashMap::new();
    for (p, d) in drafts.iter().enumerate() {
        for (s, st) in d.template.stages.iter().enumerate() {
            for a in &st.actions {
                if let Some(id) = &a.id {
                    index.insert(id.clone(), (p, s));
                }
            }
        }
    }
    index
}

/// [`find`] through the index; within its stage, from the end (entries are
/// usually added after the one added before them).
fn find_indexed(drafts: &[Draft], stages: &StageIndex, id: &str) -> Option<(usize, usize, usize)> {
    let &(p, s) = stages.get(id)?;
    let actions = &drafts[p].template.stages[s].actions;
    let a = actions.iter().rposition(|a| a.id.as_deref() == Some(id))?;
    Some((p, s, a))
}

fn find(drafts: &[Draft], id: &str) -> Option<(usize, usize, usize)> {
    drafts.iter().enumerate().find_map(|(p, d)| {
        d.template.stages.iter().enumerate().find_map(|(s, st)| {
            st.actions
                .iter()
                .position(|a| a.id.as_deref() == Some(id))
                .map(|a| (p, s, a))
        })
    })
}

/// Whether `id` is `<stage>.<n>` with a positive number.
fn id_in_stage(id: &str, stage: &str) -> bool {
    id.strip_prefix(stage)
        .and_then(|r| r.strip_prefix('.'))
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n > 0)
}

fn next_free(stage: &super::templates::StageTemplate) -> u32 {
    stage
        .actions
        .iter()
        .filter_map(|a| a.id.as_deref()?.rsplit('.').next()?.parse::<u32>().ok())
        .max()
        .unwrap_or(0)
        + 1
}

fn finish(d: Draft) -> Protocol {
    let t = d.template;
    let name = t.protocol;
    Protocol {
        name,
        title: t.title,
        requires: t.requires,
        completes_with: t.completes_with,
        stages: t
            .stages
            .into_iter()
            .map(|s| Stage {
                actions: s
                    .actions
                    .iter()
                    .map(|a| {
                        let id = a.id.clone().unwrap_or_default();
                        Action {
                            origin: d.origins.get(&id).cloned().unwrap_or(Origin::BuiltIn),
                            id,
                            protocol: name,
                            stage: s.id.clone(),
                            title: a.title.clone().unwrap_or_default(),
                            active: a.active.clone().unwrap_or_default(),
                            task_type: a.task_type.unwrap_or(TaskType::HandoffValidation),
                            agent: a.agent.unwrap_or(Agent::SystemArchitect),
                            items: a.items.clone(),
                            status: a.status,
                            instructions: a.instructions.clone(),
                            kind: a.to_kind(),
                            common: a.common(),
                        }
                    })
                    .collect(),
                id: s.id,
                title: s.title,
                status: s.status,
                needs: s.needs,
            })
            .collect(),
    }
}

/// Structural rules every protocol set must meet: unique, well-formed ids;
/// required fields; one kind per action; stage needs that exist and form no
/// cycle.
pub fn validate(set: &ProtocolSet) -> Result<(), InputErrors> {
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for p in &set.protocols {
        let file = PathBuf::from(format!("templates/protocols/{}.yaml", p.name));
        let err = |msg: String| InputError::in_file(&file, None, msg);
        let stage_ids: Vec<&str> = p.stages.iter().map(|s| s.id.as_str()).collect();
        for (i, s) in p.stages.iter().enumerate() {
            if s.id != format!("{}.{}", p.name, i + 1) {
                errors.push(err(format!(
                    "stage {} should be {}.{}",
                    s.id,
                    p.name,
                    i + 1
                )));
            }
            for n in &s.needs {
                if !stage_ids.contains(&n.as_str()) {
                    errors.push(err(format!("stage {} needs unknown stage {n}", s.id)));
                }
            }
            if s.actions.is_empty() {
                errors.push(err(format!("stage {} has no actions", s.id)));
            }
            for a in &s.actions {
                if !seen.insert(a.id.clone()) {
                    errors.push(err(format!("action id {} is used twice", a.id)));
                }
                if !id_in_stage(&a.id, &s.id) {
                    errors.push(err(format!(
                        "action id {} does not belong to stage {}",
                        a.id, s.id
                    )));
                }
                if a.title.is_empty() || a.active.is_empty() {
                    errors.push(err(format!(
                        "action {} needs a title and an active form",
                        a.id
                    )));
                }
            }
        }
        if let Some(cycle) = find_cycle(p) {
            errors.push(err(format!(
                "stages depend on each other in a cycle: {}",
                cycle.join(" -> ")
            )));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(InputErrors(errors))
    }
}

/// A cycle in the stage `needs` graph, if any.
fn find_cycle(p: &Protocol) -> Option<Vec<String>> {
    fn visit<'a>(
        p: &'a Protocol,
        id: &'a str,
        path: &mut Vec<&'a str>,
        done: &mut HashSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|s| *s == id) {
            let mut cycle: Vec<String> = path[i..].iter().map(|s| s.to_string()).collect();
            cycle.push(id.to_string());
            return Some(cycle);
        }
        if !done.insert(id) {
            return None;
        }
        path.push(id);
        let stage = p.stages.iter().find(|s| s.id == id)?;
        for n in &stage.needs {
            if let Some(c) = visit(p, n, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = HashSet::new();
    p.stages
        .iter()
        .find_map(|s| visit(p, &s.id, &mut Vec::new(), &mut done))
}

/// A check of files only may be given another list of files (a repo that
/// names its startup guide differently); a check of phases or git facts
/// is the tool's validation and stays as it is.
fn file_list_override(current: &Kind, spec: &ActionSpec) -> bool {
    let files_only = |c: &CheckSpec| c.phase.is_none() && c.git.is_none();
    matches!(current, Kind::Check(c) if files_only(c))
        && spec.kind_names() == ["check"]
        && spec
            .check
            .as_ref()
            .is_some_and(|c| files_only(c) && !(c.files.is_empty() && c.any_of.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn vars_expand_and_escape() {
        let v = vars(&[("svc", "checkout")]);
        assert_eq!(
            expand_vars("deploy ${svc} $HOME $${x}", &v).unwrap(),
            "deploy checkout $HOME ${x}"
        );
        assert_eq!(expand_vars("${nope}", &v).unwrap_err(), "nope");
        assert_eq!(
            expand_vars("unterminated ${svc", &v).unwrap(),
            "unterminated ${svc"
        );
    }

    #[test]
    fn ids_belong_to_their_stage() {
        assert!(id_in_stage("work.2.6", "work.2"));
        assert!(!id_in_stage("work.3.6", "work.2"));
        assert!(!id_in_stage("work.2.0", "work.2"));
        assert!(!id_in_stage("work.2.x", "work.2"));
    }
}
