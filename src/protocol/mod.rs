//! Protocols: the model, the built-in templates, the repo's config overlay,
//! and the validator. Everything that runs or shows a protocol reads it
//! through [`load`].

pub mod cache;
pub mod config;
pub mod gate;
pub mod model;
pub mod outcome;
pub mod resolve;
pub mod templates;
pub mod yaml;

pub use cache::ProtocolSeal;
pub use config::Config;
pub use model::*;
pub use outcome::{ApprovalVia, DeploymentOutcome, KindName, Outcome};

use crate::error::InputErrors;
use crate::paths::RepoPaths;

/// The protocols that apply in this repo (built-ins + its config), and the
/// config they came from. Any problem is an [`InputErrors`] with locations.
/// Always a full parse (`config check`, `plan`, `export`).
pub fn load(paths: &RepoPaths) -> Result<(ProtocolSet, Config), InputErrors> {
    resolve_config(paths, Config::from_source(Config::source(paths)))
}

/// What [`load_sealed`] found: the protocols, the config
/// ([`Config::settled`]), and — when it had to parse — the cache a writer
/// keeps for the next command.
#[derive(Debug)]
pub struct Loaded {
    pub set: ProtocolSet,
    pub config: Config,
    pub fresh: Option<cache::Fresh>,
}

/// [`load`], read from the protocol cache when `seal` (the newest the
/// audit trail records) vouches for it and it was made from this very
/// config; otherwise parsed, with the cache to keep.
pub fn load_sealed(paths: &RepoPaths, seal: Option<&ProtocolSeal>) -> Result<Loaded, InputErrors> {
    let source = Config::source(paths);
    let Ok(Some((shown, text))) = &source else {
        let (set, config) = resolve_config(paths, Config::from_source(source))?;
        return Ok(Loaded {
            set,
            config: config.settled(),
            fresh: None,
        });
    };
    let (root, bytes) = (paths.root(), text.as_bytes());
    if let Some((set, config)) = cache::read(&paths.protocol_cache(), seal, root, shown, bytes) {
        tracing::debug!("protocols read from the sealed cache");
        return Ok(Loaded {
            set,
            config,
            fresh: None,
        });
    }
    let (set, config) = resolve_config(paths, Config::parse_partial(shown, text))?;
    let config = config.settled();
    let fresh = cache::prepare(root, shown, bytes, &set, &config);
    Ok(Loaded { set, config, fresh })
}

/// The protocols a parsed config gives, with every problem of both.
fn resolve_config(
    paths: &RepoPaths,
    (config, mut errors): (Config, Vec<crate::error::InputError>),
) -> Result<(ProtocolSet, Config), InputErrors> {
    tracing::debug!(file = ?config.file, errors = errors.len(), "config loaded");
    match resolve::resolve(templates::builtin()?, &config, paths.root()) {
        Ok(set) if errors.is_empty() => Ok((set, config)),
        Ok(_) => Err(InputErrors(errors)),
        Err(more) => {
            errors.extend(more.0);
            errors.sort_by_key(|e| (e.path.clone(), e.line, e.column));
            Err(InputErrors(errors))
        }
    }
}

/// The built-in protocols alone (no config).
pub fn builtin() -> Result<ProtocolSet, InputErrors> {
    resolve::resolve(
        templates::builtin()?,
        &Config::default(),
        std::path::Path::new("/"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_encode_every_seed_step() {
        let set = builtin().unwrap();
        let counts: Vec<Vec<usize>> = set
            .protocols
            .iter()
            .map(|p| p.stages.iter().map(|s| s.actions.len()).collect())
            .collect();
        assert_eq!(counts, [vec![6, 5, 5], vec![5, 5, 5, 5, 5], vec![5, 3, 5]]);
        assert_eq!(set.actions().count(), 54);
        let work = set.get(ProtocolName::Work);
        let needs: Vec<(&str, Vec<&str>)> = work
            .stages
            .iter()
            .map(|s| (s.id.as_str(), s.needs.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            needs,
            [
                ("work.1", vec![]),
                ("work.2", vec!["work.1"]),
                ("work.3", vec!["work.1"]),
                ("work.4", vec!["work.2", "work.3"]),
                ("work.5", vec!["work.4"]),
            ]
        );
        let handoff = set.action("end.2.3").unwrap();
        assert_eq!(handoff.items.len(), 5);
        assert_eq!(set.action("start.1.2").unwrap().kind.name(), "approval");
        assert_eq!(set.action("start.1.6").unwrap().kind.name(), "builtin");
        assert_eq!(
            set.action("work.4.2").unwrap().task_type,
            TaskType::StrategyExecution
        );
    }

    #[test]
    fn action_needs_follow_stage_order_and_graph() {
        let set = builtin().unwrap();
        let work = set.get(ProtocolName::Work);
        let a = |id| set.action(id).unwrap();
        assert_eq!(work.action_needs(a("work.2.1")), ["work.1.5"]);
        assert_eq!(work.action_needs(a("work.4.1")), ["work.2.5", "work.3.5"]);
        assert_eq!(work.action_needs(a("work.4.2")), ["work.4.1"]);
        assert!(work.action_needs(a("work.1.1")).is_empty());
    }

    #[test]
    fn cycles_are_found() {
        let mut set = builtin().unwrap();
        set.protocols[1].stages[0].needs = vec!["work.5".into()];
        let e = resolve::validate(&set).unwrap_err();
        assert!(e.to_string().contains("cycle"), "{e}");
    }
}
