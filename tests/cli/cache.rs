//! The protocol cache (README, "The protocol cache"): a writer keeps the
//! set it resolved, sealed by a `protocol_resolved` line; a command reads
//! it only under that seal, for that very config and build, and a forged
//! or stale cache is never run.

use crate::harness::*;
use sha2::{Digest, Sha256};

const CACHE: &str = ".ai_context/deploy-session/protocols.json";
const STATE: &str = ".ai_context/deploy-session/state.json";
const READ_FROM_CACHE: &str = "protocols read from the sealed cache";

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn seals(repo: &Repo) -> Vec<serde_json::Value> {
    repo.audit()
        .into_iter()
        .filter(|e| e["event"] == "protocol_resolved")
        .collect()
}

/// Whether `-v ARGS` (which must succeed) read the protocols from the
/// sealed cache rather than parsing the config.
fn reads_cache(repo: &Repo, args: &[&str]) -> bool {
    let r = run_within(repo, &[&["-v"], args].concat());
    assert_eq!(r.code, 0, "{args:?}: {}\n{}", r.stdout, r.stderr);
    r.stderr.contains(READ_FROM_CACHE)
}

/// `audit verify` exits `code` and says `line` (of the cache's view).
fn assert_verify_says(repo: &Repo, code: i32, line: &str) {
    let r = run_within(repo, &["audit", "verify"]);
    assert_eq!(r.code, code, "{}", r.stdout);
    assert!(r.stdout.contains(line), "wanted {line:?} in:\n{}", r.stdout);
}

/// A repo whose `start` ran to the end, each action appending `word` to
/// ran.txt.
fn started(word: &str) -> (Repo, String) {
    let config = run_all(&start_manual_ids(), &format!("echo {word} >> ran.txt"));
    let repo = Repo::ready(&config);
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    (repo, config)
}

#[test]
fn a_run_keeps_the_resolved_protocols_under_a_seal_the_trail_records() {
    let (repo, config) = started("config");
    let trail = repo.audit();
    assert_eq!(trail[0]["event"], "session_opened");
    assert_eq!(trail[1]["event"], "protocol_resolved", "right after");
    let seal = &trail[1]["detail"];
    assert_eq!(seal["config"], "deploy-session.yaml");
    assert_eq!(seal["config_sha256"], sha256(config.as_bytes()));
    let cache = std::fs::read(repo.path().join(CACHE)).unwrap();
    assert_eq!(seal["cache_sha256"], sha256(&cache));
    let state: serde_json::Value = serde_json::from_str(&repo.read(STATE)).unwrap();
    assert_eq!(&state["protocols"], seal, "state.json carries the seal");

    // Readers and writers alike read the cache, and record nothing new.
    for cmd in ["status", "next", "todo", "start"] {
        assert!(reads_cache(&repo, &[cmd]), "{cmd} parsed the config");
    }
    assert_eq!(seals(&repo).len(), 1);
    // `config check` always parses the file itself.
    assert!(!reads_cache(&repo, &["config", "check"]));
}

#[test]
fn a_forged_or_missing_cache_is_never_run_and_is_put_back() {
    let (repo, _) = started("config");
    let sealed = std::fs::read(repo.path().join(CACHE)).unwrap();
    let forged = String::from_utf8(sealed.clone())
        .unwrap()
        .replace("echo config", "echo forged");
    assert_ne!(forged.as_bytes(), &sealed[..]);
    repo.write(CACHE, &forged);

    // `audit verify` reports it, as it reports an edited view.
    assert_verify_says(&repo, 1, &format!("✗ anchor view {CACHE}"));

    let r = run(repo.cmd(["-v", "start", "--rerun", "start.2.1"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("the protocol cache is not the one the audit trail records"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(READ_FROM_CACHE), "{}", r.stderr);
    let ran = repo.read("ran.txt");
    assert!(!ran.contains("forged"), "{ran}");
    assert_eq!(ran.lines().last(), Some("config"));
    // The vouched bytes are back, under the same seal: no new line.
    assert_eq!(std::fs::read(repo.path().join(CACHE)).unwrap(), sealed);
    assert_eq!(seals(&repo).len(), 1);
    assert_verify_says(&repo, 0, &format!("✓ anchor view {CACHE}"));

    // Deleted: parsed again, put back, no new line.
    std::fs::remove_file(repo.path().join(CACHE)).unwrap();
    let r = run(repo.cmd(["start", "--rerun", "start.2.2"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read(repo.path().join(CACHE)).unwrap(), sealed);
    assert_eq!(seals(&repo).len(), 1);
    assert!(reads_cache(&repo, &["status"]));
}

#[test]
fn an_edited_config_is_resolved_again_and_sealed_anew() {
    let (repo, config) = started("config");
    let edited = config.replace("echo config", "echo edited");
    repo.write("deploy-session.yaml", &edited);
    // A reader parses the new config (and keeps nothing).
    assert!(!reads_cache(&repo, &["next"]));
    assert_eq!(seals(&repo).len(), 1);

    let r = run(repo.cmd(["start", "--rerun", "start.2.1"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(repo.read("ran.txt").lines().last(), Some("edited"));
    let two = seals(&repo);
    assert_eq!(two.len(), 2);
    assert_eq!(two[1]["detail"]["config_sha256"], sha256(edited.as_bytes()));
    let cache = std::fs::read(repo.path().join(CACHE)).unwrap();
    assert_eq!(two[1]["detail"]["cache_sha256"], sha256(&cache));
    assert!(reads_cache(&repo, &["next"]));

    // Back to the first config, with nothing left to run: the cache is
    // kept all the same, by the run that found nothing to do.
    repo.write("deploy-session.yaml", &config);
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(seals(&repo).len(), 3);
    assert!(reads_cache(&repo, &["next"]));
}

#[test]
fn a_seal_edited_into_state_json_is_refused() {
    let (repo, _) = started("config");
    let forged_cache = String::from_utf8(std::fs::read(repo.path().join(CACHE)).unwrap())
        .unwrap()
        .replace("echo config", "echo forged");
    repo.write(CACHE, &forged_cache);
    let state = repo.read(STATE);
    let sealed = seals(&repo)[0]["detail"]["cache_sha256"]
        .as_str()
        .unwrap()
        .to_string();
    repo.write(
        STATE,
        &state.replace(&sealed, &sha256(forged_cache.as_bytes())),
    );
    let before = repo.files();
    let r = run(repo.cmd(["start", "--rerun", "start.2.1"]));
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("state.json"), "{}", r.stderr);
    assert!(
        r.stderr.contains("does not match the audit trail"),
        "{}",
        r.stderr
    );
    assert!(!repo.read("ran.txt").contains("forged"));
    assert_same_files(&before, &repo.files(), "a refused forged seal");
}

#[test]
fn a_linked_cache_refuses_the_writer_and_an_unwritable_one_is_not_kept() {
    // A link in the cache's place: refused by name before anything is
    // written, like every file the tool writes in place.
    let config = run_all(&start_manual_ids(), "echo config >> ran.txt");
    let repo = Repo::ready(&config);
    std::fs::create_dir_all(repo.path().join(".ai_context/deploy-session")).unwrap();
    let elsewhere = tempfile::NamedTempFile::new().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), repo.path().join(CACHE)).unwrap();
    let before = repo.files();
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("protocols.json"), "{}", r.stderr);
    assert!(r.stderr.contains("symbolic link"), "{}", r.stderr);
    assert_same_files(&before, &repo.files(), "a linked protocol cache");
    assert!(repo.audit().is_empty());

    // Something that cannot be replaced by a file (a folder): the run goes
    // on without a cache, says so, and seals nothing.
    std::fs::remove_file(repo.path().join(CACHE)).unwrap();
    std::fs::create_dir(repo.path().join(CACHE)).unwrap();
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("the protocol cache was not kept"),
        "{}",
        r.stderr
    );
    assert!(seals(&repo).is_empty());
    assert_eq!(repo.read("ran.txt").lines().count(), 10);
}

#[test]
fn a_fifo_in_the_caches_place_hangs_nothing_and_is_reported() {
    let (repo, _) = started("config");
    let cache = repo.path().join(CACHE);
    std::fs::remove_file(&cache).unwrap();
    nix::unistd::mkfifo(&cache, nix::sys::stat::Mode::S_IRWXU).unwrap();
    // Readers parse instead (a FIFO would block an open that waits).
    assert!(!reads_cache(&repo, &["next"]));
    assert_verify_says(&repo, 1, &format!("✗ anchor view {CACHE}: cannot be read"));
    // The next writer puts the sealed cache back in its place.
    let r = run_within(&repo, &["start", "--rerun", "start.2.1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(std::fs::metadata(&cache).unwrap().is_file());
    assert_verify_says(&repo, 0, &format!("✓ anchor view {CACHE}"));
    assert_eq!(seals(&repo).len(), 1);
}

/// The command, killed if it has not ended within 20 s (a hang is a failure
/// with its own message, not a stuck suite).
fn run_within(repo: &Repo, args: &[&str]) -> Run {
    let mut c = repo.cmd(args);
    c.timeout(std::time::Duration::from_secs(20));
    let r = run(c);
    assert_ne!(r.code, -1, "{args:?} hung: killed after 20 s");
    r
}
