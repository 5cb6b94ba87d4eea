//! `deploy-session.yaml`: the repo's overrides and additions to the built-in
//! protocols. Loading reports every problem at once, each with
//! file:line:column and a hint, because fixing a config one error per run
//! is miserable.

use super::gate::GateThresholds;
use super::model::{ActionSpec, OVERRIDE_KEYS};
use super::yaml::{self, Seg};
use crate::error::{InputError, InputErrors};
use crate::paths::RepoPaths;
use crate::yaml_path;
use marked_yaml::Node;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every key an action may have (templates and `add:` entries).
pub const ACTION_KEYS: [&str; 24] = [
    "id",
    "after",
    "title",
    "active",
    "task_type",
    "agent",
    "items",
    "status",
    "instructions",
    "run",
    "check",
    "approval",
    "probe",
    "strategy",
    "builtin",
    "timeout",
    "retries",
    "retry_delay",
    "env",
    "cwd",
    "produces",
    "rollback",
    "optional",
    "environment",
];

const TOP_KEYS: [&str; 8] = [
    "vars",
    "secrets",
    "actions",
    "add",
    "gates",
    "notify",
    "environments",
    "ci",
];

/// A loaded config (empty when the repo has none).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Config {
    /// The file, as shown in messages (repo-relative).
    pub file: Option<PathBuf>,
    /// `${name}` substitutions for this file's commands.
    pub vars: BTreeMap<String, String>,
    /// Environment variables whose values are masked everywhere.
    pub secrets: Vec<String>,
    /// `actions:` entries, in file order.
    pub overrides: Vec<(String, ActionSpec)>,
    /// `add:` entries, in file order.
    pub additions: Vec<ActionSpec>,
    pub gates: GateThresholds,
    /// Who hears of deployments starting, rolling back and finishing.
    pub notify: Option<crate::protocol::model::NotifySpec>,
    /// Where deployments go, in promotion order (`environments:`).
    pub environments: BTreeMap<String, crate::protocol::model::EnvironmentSpec>,
    /// How exported pipelines install the tool and where people's
    /// decisions are (`ci:`).
    pub ci: crate::protocol::model::CiSpec,
    /// The parsed text, for locating problems (not kept in the cache: a
    /// cached config resolved without any).
    #[serde(skip)]
    tree: Option<Node>,
}

/// Equal in what it says (where it said it is not compared): every field
/// named, so a new one cannot be left out.
impl PartialEq for Config {
    fn eq(&self, other: &Config) -> bool {
        let Config {
            file,
            vars,
            secrets,
            overrides,
            additions,
            gates,
            notify,
            environments,
            ci,
            tree: _,
        } = self;
        (file, vars, secrets, overrides, additions)
            == (
                &other.file,
                &other.vars,
                &other.secrets,
                &other.overrides,
                &other.additions,
            )
            && (gates, notify, environments, ci)
                == (&other.gates, &other.notify, &other.environments, &other.ci)
    }
}

impl Config {
    /// What is left once the protocols are resolved: the `actions:` and
    /// `add:` entries went into them, and problems can no longer be
    /// located (what the cache keeps, and so what every run gets).
    pub fn settled(self) -> Config {
        Config {
            overrides: Vec::new(),
            additions: Vec::new(),
            tree: None,
            ..self
        }
    }

    /// The repo's one config file, as shown, and its text (`None` without
    /// one); two of them, or one that cannot be read as text, is an error.
    pub fn source(paths: &RepoPaths) -> Result<Option<(PathBuf, String)>, InputError> {
        match paths.config_candidates().as_slice() {
            [] => Ok(None),
            [one] => {
                let shown = paths.shown(one);
                read_text(one, &shown).map(|text| Some((shown, text)))
            }
            [a, b, ..] => Err(InputError::in_file(
                &paths.shown(b),
                None,
                format!(
                    "two config files: {} and {}; the tool will not guess which applies",
                    paths.shown(a).display(),
                    paths.shown(b).display()
                ),
            )
            .with_hint("merge them into one")),
        }
    }

    /// The config [`Config::source`] found, parsed, with every problem.
    pub fn from_source(
        source: Result<Option<(PathBuf, String)>, InputError>,
    ) -> (Config, Vec<InputError>) {
        match source {
            Ok(None) => (Config::default(), Vec::new()),
            Ok(Some((shown, text))) => Config::parse_partial(&shown, &text),
            Err(e) => (Config::default(), vec![e]),
        }
    }

    /// Parses config text; `shown` names the file in messages.
    pub fn parse(shown: &Path, text: &str) -> Result<Config, InputErrors> {
        let (cfg, errors) = Config::parse_partial(shown, text);
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(InputErrors(errors))
        }
    }

    /// Parses what it can, collecting every problem.
    pub fn parse_partial(shown: &Path, text: &str) -> (Config, Vec<InputError>) {
        let tree = match yaml::parse(shown, text) {
            Ok(t) => t,
            Err(e) => return (Config::default(), vec![e]),
        };
        let mut cfg = Config {
            file: Some(shown.to_path_buf()),
            ..Config::default()
        };
        let mut errors = Vec::new();
        if let Some(map) = tree.as_mapping() {
            for (key, value) in map.iter() {
                match key.as_str() {
                    "vars" => cfg.vars = read_vars(shown, value, &mut errors),
                    "secrets" => cfg.secrets = read_secrets(shown, value, &mut errors),
                    "actions" => cfg.overrides = read_overrides(shown, value, &mut errors),
                    "add" => cfg.additions = read_additions(shown, value, &mut errors),
                    "gates" => {
                        cfg.gates = yaml::decode_all(shown, value, "gates", &mut errors)
                            .unwrap_or_default();
                        check_gates(shown, value, &cfg.gates, &mut errors);
                    }
                    "notify" => {
                        cfg.notify = yaml::decode_all(shown, value, "notify", &mut errors);
                        if let Some(n) = &cfg.notify
                            && let Some(problem) = n.problem()
                        {
                            errors.push(yaml::at(shown, value.span().start(), problem));
                        }
                    }
                    "ci" => {
                        cfg.ci =
                            yaml::decode_all(shown, value, "ci", &mut errors).unwrap_or_default();
                    }
                    "environments" => {
                        cfg.environments =
                            yaml::decode_all(shown, value, "environments", &mut errors)
                                .unwrap_or_default();
                    }
                    other => errors.push(
                        yaml::at(
                            shown,
                            key.span().start(),
                            format!("unknown top-level key `{other}`"),
                        )
                        .with_hint(yaml::suggest_key(other, &TOP_KEYS)),
                    ),
                }
            }
        }
        cfg.tree = Some(tree);
        (cfg, errors)
    }

    /// An error located at `path` inside this config (at the key).
    pub fn error_at(&self, path: &[Seg], message: impl Into<String>) -> InputError {
        let file = self.file.clone().unwrap_or_default();
        let mark = self.tree.as_ref().and_then(|t| yaml::locate(t, path));
        yaml::at(&file, mark.as_ref(), message)
    }

    /// Whether the file has something at `path` (even if it did not decode).
    pub fn has(&self, path: &[Seg]) -> bool {
        self.tree
            .as_ref()
            .is_some_and(|t| yaml::get(t, path).is_some())
    }

    /// Counts for the one-line summary of `config check`.
    pub fn summary(&self) -> String {
        let n =
            |k: usize, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
        format!(
            "{}, {}, {}, {}",
            n(self.overrides.len(), "override", "overrides"),
            n(self.additions.len(), "added action", "added actions"),
            n(self.vars.len(), "var", "vars"),
            n(self.secrets.len(), "secret", "secrets"),
        )
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The config file's text: a folder, an unreadable file or bytes that are
/// not UTF-8 are errors naming the file (and, for bad bytes, where).
fn read_text(path: &Path, shown: &Path) -> Result<String, InputError> {
    if path.is_dir() {
        return Err(
            InputError::in_file(shown, None, "is a folder, not a config file")
                .with_hint("the config is a YAML file; move the folder away"),
        );
    }
    let bytes = std::fs::read(path)
        .map_err(|e| InputError::in_file(shown, None, format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let before = String::from_utf8_lossy(&e.as_bytes()[..valid]);
        let (line, column) = crate::error::line_column(&before, before.len());
        InputError::in_file(shown, Some(line), "bytes that are not UTF-8 text")
            .at_column(Some(column))
            .with_hint("save the file as UTF-8")
    })
}

fn read_vars(file: &Path, node: &Node, errors: &mut Vec<InputError>) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    let Some(map) = node.as_mapping() else {
        errors.push(yaml::at(
            file,
            node.span().start(),
            "`vars` must be a mapping of name: value",
        ));
        return vars;
    };
    for (k, v) in map.iter() {
        let name = k.as_str();
        if !is_identifier(&name.replace('-', "_")) {
            errors.push(yaml::at(
                file,
                k.span().start(),
                format!("var name `{name}` must be letters, digits, `_` or `-`"),
            ));
        }
        match v.as_scalar() {
            Some(s) => {
                vars.insert(name.to_string(), s.as_str().to_string());
            }
            None => errors.push(yaml::at(
                file,
                v.span().start(),
                format!("var `{name}` must be a plain value, not a list or mapping"),
            )),
        }
    }
    vars
}

fn read_secrets(file: &Path, node: &Node, errors: &mut Vec<InputError>) -> Vec<String> {
    let list: Vec<String> = yaml::decode_all(file, node, "secrets", errors).unwrap_or_default();
    for (i, name) in list.iter().enumerate() {
        if !is_identifier(name) {
            let mark = yaml::locate_value(node, &yaml_path![i]);
            errors.push(
                yaml::at(
                    file,
                    mark.as_ref(),
                    format!("secret `{name}` is not an environment variable name"),
                )
                .with_hint(
                    "list the names of environment variables that hold secrets, e.g. CLOUD_TOKEN",
                ),
            );
        }
    }
    list
}

fn read_overrides(
    file: &Path,
    node: &Node,
    errors: &mut Vec<InputError>,
) -> Vec<(String, ActionSpec)> {
    let Some(map) = node.as_mapping() else {
        errors.push(yaml::at(
            file,
            node.span().start(),
            "`actions` must map action ids to overrides",
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (id, value) in map.iter() {
        let id = id.as_str().to_string();
        let mut value = value.clone();
        if let Some(m) = value.as_mapping_mut() {
            let bad: Vec<_> = m
                .iter()
                .filter(|(k, _)| !OVERRIDE_KEYS.contains(&k.as_str()))
                .map(|(k, _)| (k.as_str().to_string(), k.span().start().copied()))
                .collect();
            for (key, mark) in &bad {
                let (msg, hint) = if ACTION_KEYS.contains(&key.as_str()) {
                    (
                        format!("`{key}` of a built-in action cannot be changed (action {id})"),
                        format!("an override may set: {}", OVERRIDE_KEYS.join(", ")),
                    )
                } else {
                    (
                        format!("unknown key `{key}` in action {id}"),
                        yaml::suggest_key(key, &OVERRIDE_KEYS),
                    )
                };
                errors.push(yaml::at(file, mark.as_ref(), msg).with_hint(hint));
            }
            m.retain(|k, _| OVERRIDE_KEYS.contains(&k.as_str()));
        } else if !value.as_scalar().is_some_and(|s| s.is_empty()) {
            errors.push(yaml::at(
                file,
                value.span().start(),
                format!("the override of {id} must be a mapping of keys"),
            ));
            continue;
        }
        let what = format!("action {id}");
        if let Some(spec) = yaml::decode_all::<ActionSpec>(file, &value, &what, errors) {
            out.push((id, spec));
        }
    }
    out
}

fn read_additions(file: &Path, node: &Node, errors: &mut Vec<InputError>) -> Vec<ActionSpec> {
    let Some(list) = node.as_sequence() else {
        errors.push(yaml::at(
            file,
            node.span().start(),
            "`add` must be a list of actions",
        ));
        return Vec::new();
    };
    list.iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let id = item
                .as_mapping()
                .and_then(|m| m.get_scalar("id"))
                .map_or(format!("#{}", i + 1), |s| s.as_str().to_string());
            yaml::decode_all(file, item, &format!("added action {id}"), errors)
        })
        .collect()
}

fn check_gates(file: &Path, node: &Node, gates: &GateThresholds, errors: &mut Vec<InputError>) {
    if let Some(r) = gates.reliability_min
        && !(0.0..=100.0).contains(&r)
    {
        let mark = yaml::locate(node, &yaml_path!["reliability_min"]);
        errors.push(yaml::at(
            file,
            mark.as_ref(),
            format!("reliability_min {r} is not a percentage (0 to 100)"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_keys_match_the_struct() {
        let node = yaml::parse(Path::new("x"), "nonsense: 1\n").unwrap();
        let err = marked_yaml::from_node::<ActionSpec>(&node).unwrap_err();
        let marked_yaml::Error::UnknownFieldError(_, expected, _) = &*err else {
            panic!("expected an unknown-field error, got {err}");
        };
        let mut want: Vec<&str> = ACTION_KEYS.to_vec();
        let mut got = expected.to_vec();
        got.sort();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn unknown_top_level_key_is_reported_with_a_suggestion() {
        let e = Config::parse(
            Path::new("deploy-session.yaml"),
            "var:\n  a: 1\nsecrets: [A]\n",
        )
        .unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert_eq!(
            e.0[0].to_string(),
            "deploy-session.yaml:1:1: unknown top-level key `var`"
        );
        assert_eq!(e.0[0].hint.as_deref(), Some("did you mean `vars`?"));
    }

    #[test]
    fn override_of_fixed_fields_is_refused() {
        let text =
            "actions:\n  start.3.1:\n    title: New title\n    run: echo hi\n    timout: 5s\n";
        let e = Config::parse(Path::new("c.yaml"), text).unwrap_err();
        let msgs: Vec<String> = e.0.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs,
            [
                "c.yaml:3:5: `title` of a built-in action cannot be changed (action start.3.1)",
                "c.yaml:5:5: unknown key `timout` in action start.3.1",
            ]
        );
        assert_eq!(e.0[1].hint.as_deref(), Some("did you mean `timeout`?"));
    }

    #[test]
    fn bad_secrets_vars_and_gates() {
        let text = "vars:\n  ok: 1\n  list: [1]\nsecrets: [GOOD, 'not ok']\ngates:\n  reliability_min: 140\n  deployment_time_max: soon\n";
        let e = Config::parse(Path::new("c.yaml"), text).unwrap_err();
        let lines: Vec<_> = e.0.iter().map(|e| e.line.unwrap()).collect();
        assert_eq!(lines, [3, 4, 7, 6], "{e}");
        let e = Config::parse(Path::new("c.yaml"), "gates:\n  reliability_min: 140\n").unwrap_err();
        assert!(e.0[0].message.contains("not a percentage"));
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// Lines that look like a config: real keys and ids, wrong types,
    /// broken indentation and quoting mixed in.
    fn config_text() -> impl Strategy<Value = String> {
        let line = prop_oneof![
            Just("actions:".to_string()),
            Just("vars:".to_string()),
            Just("secrets: [TOKEN]".to_string()),
            Just("gates:".to_string()),
            "  (start|work|end)\\.[1-5]\\.[1-6]:".prop_map(String::from),
            "    (run|check|timeout|retries|cwd|env|probe|strategy|approval|rn|optional): \\PC{0,20}".prop_map(String::from),
            "  (deployment_time_max|reliability_min|port): [0-9a-z ${}]{0,8}".prop_map(String::from),
            "\\PC{0,30}".prop_map(String::from),
            "[ \\-:\\[\\]{}'\"#&*!|>%@`]{0,12}".prop_map(String::from),
        ];
        prop::collection::vec(line, 0..25).prop_map(|l| l.join("\n"))
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config(400))]
        /// Any text is a config or a list of errors, each naming the file
        /// and a line inside it — never a panic.
        #[test]
        fn any_config_text_is_parsed_or_located(text in config_text()) {
            let lines = text.lines().count().max(1);
            if let Err(errors) = Config::parse(Path::new("deploy-session.yaml"), &text) {
                prop_assert!(!errors.0.is_empty());
                for e in &errors.0 {
                    prop_assert_eq!(e.path.as_deref(), Some(Path::new("deploy-session.yaml")));
                    if let Some(l) = e.line {
                        prop_assert!(l >= 1 && l <= lines + 1, "line {} of {}: {}", l, lines, e);
                    }
                }
            }
        }
    }
}

/// Found by the fuzzer (fuzz/fuzz_targets/config.rs): a lone carriage
/// return made YAML's line numbers run ahead of the file's.
#[test]
fn fuzz_regression_lone_carriage_return_is_located() {
    let text = include_str!("../../tests/fixtures/config/fuzz_lone_cr.yaml");
    let errors = Config::parse(Path::new("deploy-session.yaml"), text).unwrap_err();
    let e = &errors.0[0];
    assert!(e.message.contains("carriage return"), "{e}");
    let line = e.line.unwrap();
    assert!(
        line <= text.lines().count(),
        "line {line} is inside the file"
    );
    assert_eq!(
        text.lines().nth(line - 1).map(|l| l.contains('\r')),
        Some(true)
    );
}
