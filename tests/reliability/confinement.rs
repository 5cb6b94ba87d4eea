//! Nothing escapes the repo through a link: an owned file replaced by a
//! symbolic link (a committed link, say) is refused by name, and the link's
//! target is never written.

use crate::harness::*;

/// Each owned file a writer touches, as a link to a file outside the repo.
#[test]
fn a_symlinked_owned_file_is_refused_and_its_target_untouched() {
    let outside = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (owned, args) in [
        (".ai_context/deploy-session/audit.jsonl", &["start"][..]),
        (".ai_context/deploy-session/lock.holder", &["start"][..]),
        (".ai_context/framework_progress.md", &["start"][..]),
        (
            ".ai_context/todos.json",
            &["done", "start.2.1", "--note", "n"][..],
        ),
    ] {
        let repo = Repo::ready("");
        // The master state is checked before a session opens; the others
        // exist once one is open.
        if !owned.ends_with("framework_progress.md") {
            assert_eq!(run(repo.cmd(["start"])).code, 3);
        }
        let target = outside.path().join(format!("target-{checked}"));
        let link = repo.path().join(owned);
        let original = std::fs::read(&link).unwrap_or_else(|_| b"precious\n".to_vec());
        std::fs::write(&target, &original).unwrap();
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let trail = repo.path().join(".ai_context/deploy-session/audit.jsonl");
        let trail_before = std::fs::symlink_metadata(&trail)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        let r = run(repo.cmd(args));
        let trail_after = std::fs::symlink_metadata(&trail)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        assert_eq!(
            trail_before, trail_after,
            "{owned}: the refused command recorded events"
        );
        assert_eq!(r.code, 2, "{owned}: {args:?}\n{}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains(owned) && r.stderr.contains("is a symbolic link"),
            "{owned}: {}",
            r.stderr
        );
        assert_eq!(
            std::fs::read(&target).unwrap(),
            original,
            "{owned}: the link's target was written"
        );
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{owned}: the link was replaced"
        );
        checked += 1;
    }
    eprintln!("confinement: {checked} symlinked owned files refused, 0 targets written");
}

/// The audit trail is read only where it is: as a link (to a valid copy
/// of another trail, say) `audit verify` refuses it by name instead of
/// vouching for the copy. The files the tool owns and reads — the trail,
/// the state snapshot — as a FIFO are refused at once instead of hanging
/// the reader on the open. (The user's own inputs, the master state and
/// the config, are read as given: a FIFO there blocks until a signal ends
/// the command — `trees.rs` proves that.)
#[test]
fn a_trail_that_is_a_link_or_files_that_are_fifos_are_refused_by_their_readers() {
    let repo = Repo::ready("");
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    let trail = repo.path().join(".ai_context/deploy-session/audit.jsonl");
    let outside = tempfile::tempdir().unwrap();
    let copy = outside.path().join("audit.jsonl");
    std::fs::copy(&trail, &copy).unwrap();
    std::fs::remove_file(&trail).unwrap();
    std::os::unix::fs::symlink(&copy, &trail).unwrap();
    let before = repo.files();
    let r = run(repo.cmd(["audit", "verify"]));
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("audit.jsonl: is a symbolic link"),
        "{}",
        r.stderr
    );
    assert_eq!(before, repo.files(), "a refused verify wrote");
    std::fs::remove_file(&trail).unwrap();
    std::fs::copy(&copy, &trail).unwrap();
    // Each file the tool owns and reads, as a FIFO: refused at once, by name.
    for (file, args, code) in [
        (
            ".ai_context/deploy-session/audit.jsonl",
            &["audit", "verify"][..],
            2,
        ),
        (".ai_context/deploy-session/audit.jsonl", &["status"][..], 2),
        (".ai_context/deploy-session/audit.jsonl", &["start"][..], 2),
        (".ai_context/deploy-session/state.json", &["status"][..], 2),
        (".ai_context/deploy-session/state.json", &["start"][..], 2),
        // A failed anchor, not a refusal: the trail itself is intact.
        (
            ".ai_context/deploy-session/state.json",
            &["audit", "verify"][..],
            1,
        ),
    ] {
        let path = repo.path().join(file);
        let kept = std::fs::read(&path).unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let mut child = repo
            .std_cmd(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let what = format!("{args:?} to refuse {file} as a FIFO");
        let status = wait_exit(&mut child, 60, &what);
        let mut out = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut out).unwrap();
        assert_eq!(status.code(), Some(code), "{what}: {out}");
        assert!(
            out.contains(&format!("{file}: is not a regular file")),
            "{what}: {out}"
        );
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, kept).unwrap();
    }
}

/// Evidence is a regular file inside the repo: a FIFO (which would hang
/// the copy) and a folder (which would fail it on every run) are refused
/// at `done`, nothing written.
#[test]
fn evidence_that_is_not_a_regular_file_is_refused_at_done() {
    let repo = Repo::ready("");
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    nix::unistd::mkfifo(
        &repo.path().join("pipe.md"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    repo.write("notes/a.md", "a");
    for (evidence, says) in [
        ("pipe.md", "--evidence pipe.md: is not a regular file"),
        ("notes", "--evidence notes: is a folder"),
    ] {
        let before = repo.files();
        let r = run(repo.cmd(["done", "start.2.1", "--evidence", evidence]));
        assert_eq!(r.code, 2, "{evidence}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{evidence}: {}", r.stderr);
        assert_eq!(before, repo.files(), "{evidence}: a refused done wrote");
    }
}

/// Evidence swapped for a link after `done` (to a file outside the repo)
/// is checked again when `end` archives it: the step fails naming it, and
/// the link's target is copied nowhere.
#[test]
fn evidence_replaced_by_a_link_after_done_is_not_archived() {
    let mut ids = start_manual_ids();
    ids.retain(|id| id != "start.2.1");
    ids.extend(work_ids());
    let repo = Repo::ready(&run_all(&ids, "true"));
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    repo.write("notes/analysis.md", "the analysis");
    let r = run(repo.cmd(["done", "start.2.1", "--evidence", "notes/analysis.md"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(run(repo.cmd(["start"])).code, 0);
    assert_eq!(run(repo.cmd(["work"])).code, 0);
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "root-only secret").unwrap();
    std::fs::remove_file(repo.path().join("notes/analysis.md")).unwrap();
    std::os::unix::fs::symlink(&secret, repo.path().join("notes/analysis.md")).unwrap();
    let r = run(repo.cmd(end_waiving_args(&[])));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("evidence notes/analysis.md: notes/analysis.md is a symbolic link"),
        "{}",
        r.stdout
    );
    let leaked: Vec<String> = repo
        .files()
        .into_iter()
        .filter(|(_, bytes)| bytes.windows(16).any(|w| w == b"root-only secret"))
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(
        leaked.is_empty(),
        "the link's target was copied: {leaked:?}"
    );
}

/// A handoff template override that is a link to a file outside the repo
/// (a committed link to a key, say) is refused by name, never rendered
/// into the package.
#[test]
fn a_linked_template_override_is_refused_not_rendered() {
    let outside = tempfile::tempdir().unwrap();
    let secret_file = outside.path().join("id_rsa");
    std::fs::write(&secret_file, "PRIVATE KEY MATERIAL\n").unwrap();
    let mut ids = start_manual_ids();
    ids.extend(work_ids());
    let repo = Repo::ready(&run_all(&ids, "echo done"));
    assert_eq!(run(repo.cmd(["start"])).code, 0);
    assert_eq!(run(repo.cmd(["work"])).code, 0);
    let dir = repo.path().join(".ai_context/templates/handoff");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(&secret_file, dir.join("README.md")).unwrap();
    let r = run(repo.cmd(end_waiving_args(&[])));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains(".ai_context/templates/handoff/README.md")
            && r.stdout.contains("symbolic link"),
        "{}",
        r.stdout
    );
    for (path, bytes) in repo.files() {
        assert!(
            !String::from_utf8_lossy(&bytes).contains("PRIVATE KEY MATERIAL"),
            "{} holds the linked file's content",
            path.display()
        );
    }
}

/// A killed `init --force` leaves `.NAME.ds-tmp.*` copies beside the files
/// it was replacing: the next `init --force` removes them.
#[test]
fn a_killed_init_force_leaves_nothing_the_next_one_keeps() {
    let repo = Repo::ready("");
    for left in [
        ".deploy-session.yaml.ds-tmp.Ab12Cd",
        ".ai_context/.framework_progress.md.ds-tmp.Ef34Gh",
    ] {
        repo.write(left, "half written");
    }
    repo.write(".unrelated.ds-tmp.keep", "not ours to remove");
    let r = run(repo.cmd(["init", "--force"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!repo.exists(".deploy-session.yaml.ds-tmp.Ab12Cd"));
    assert!(!repo.exists(".ai_context/.framework_progress.md.ds-tmp.Ef34Gh"));
    assert!(repo.exists(".unrelated.ds-tmp.keep"), "only its own temps");
}

/// `merge` keeps another job's lines in `deploy-session/joined/`: a
/// committed link in that folder's place is refused, and nothing is written
/// where it points.
#[test]
fn a_linked_joined_folder_is_refused_by_merge() {
    let config = run_all(&start_manual_ids(), "echo ok");
    let a = Repo::ready(&config);
    assert_eq!(run(a.cmd(["start", "--stage", "start.1"])).code, 0);
    let b = a.copy();
    assert_eq!(run(b.cmd(["start", "--stage", "start.2"])).code, 0);
    let outside = tempfile::tempdir().unwrap();
    let joined = a.path().join(".ai_context/deploy-session/joined");
    std::os::unix::fs::symlink(outside.path(), &joined).unwrap();
    let theirs = b.path().join(".ai_context");
    let r = run(a.cmd(["merge".as_ref(), theirs.as_os_str()]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("deploy-session/joined") && r.stderr.contains("symbolic link"),
        "{}",
        r.stderr
    );
    let written = std::fs::read_dir(outside.path()).unwrap().count();
    assert_eq!(written, 0, "nothing written outside the repo");
}
