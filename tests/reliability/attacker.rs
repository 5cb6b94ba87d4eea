//! What an attacker with write access to a branch, or a careless editor,
//! tried against `init --force`, file modes and the command line (issue
//! 14): each refused or handled with its exit code, message and untouched
//! bytes. The other cases of that list are in `confinement.rs`,
//! `hostile.rs`, `trees.rs` and the catalogue.

use crate::harness::*;

#[test]
fn init_force_keeps_a_backup_first() {
    let repo = Repo::new();
    repo.write(".ai_context/framework_progress.md", "# mine\n");
    let r = run(repo.cmd(["init", "--force"]));
    assert_eq!(r.code, 0);
    assert_eq!(
        repo.read(".ai_context/framework_progress.md.bak"),
        "# mine\n"
    );
    assert!(
        repo.read(".ai_context/framework_progress.md")
            .contains("Phase 8")
    );
    assert!(
        r.stdout
            .contains("previous kept as .ai_context/framework_progress.md.bak")
    );
    // The replacement is in the audit trail, outside any session, with who.
    let write = repo
        .audit()
        .into_iter()
        .find(|e| e["event"] == "master_state_written")
        .expect("init --force is recorded");
    assert_eq!(write["session"], "");
    assert_eq!(write["actor"], "Test Operator <operator@example.com>");
    assert!(
        write["detail"]["why"]
            .as_str()
            .unwrap()
            .contains("init --force replaced .ai_context/framework_progress.md; the previous one is kept as .ai_context/framework_progress.md.bak"),
        "{write}"
    );
    assert_eq!(run(repo.cmd(["audit", "verify"])).code, 0);
}

/// A second `--force` keeps the first backup and numbers the next one.
#[test]
fn init_force_never_overwrites_a_backup() {
    let repo = Repo::new();
    repo.write(".ai_context/framework_progress.md", "# mine\n");
    assert_eq!(run(repo.cmd(["init", "--force"])).code, 0);
    repo.write(".ai_context/framework_progress.md", "# second\n");
    let r = run(repo.cmd(["init", "--force"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        repo.read(".ai_context/framework_progress.md.bak"),
        "# mine\n"
    );
    assert_eq!(
        repo.read(".ai_context/framework_progress.md.bak.1"),
        "# second\n"
    );
    assert!(
        r.stdout
            .contains("previous kept as .ai_context/framework_progress.md.bak.1"),
        "{}",
        r.stdout
    );
}

/// `--force` is refused while a session is open: nothing is replaced.
#[test]
fn init_force_is_refused_while_a_session_is_open() {
    let repo = Repo::ready("");
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    let before = repo.files();
    let r = run(repo.cmd(["init", "--force"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--force: session ") && r.stderr.contains("is open"),
        "{}",
        r.stderr
    );
    assert_eq!(before, repo.files(), "a refused init --force changed files");
}

/// A rewritten file keeps its mode; a new one gets 0666 less the umask, as
/// git and editors do (never 0600 whatever the umask).
#[test]
fn files_keep_their_mode_and_new_ones_follow_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let repo = Repo::ready("");
    let master = repo.path().join(".ai_context/framework_progress.md");
    std::fs::set_permissions(&master, std::fs::Permissions::from_mode(0o664)).unwrap();
    let template = repo.std_cmd(["start"]);
    let mut c = std::process::Command::new("sh");
    c.args(["-c", "umask 027; exec \"$@\"", "sh"])
        .arg(template.get_program())
        .args(template.get_args())
        .current_dir(repo.path());
    for (k, v) in template.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let out = c.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = |rel: &str| {
        std::fs::metadata(repo.path().join(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(
        mode(".ai_context/framework_progress.md"),
        0o664,
        "rewritten, mode kept"
    );
    for new in [
        ".ai_context/todos.json",
        ".ai_context/deploy-session/state.json",
        ".ai_context/deployment_context.md",
    ] {
        assert_eq!(mode(new), 0o640, "{new}: 0666 less the umask 027");
    }
}

/// A byte-order mark (as some editors write) is read past; bytes that are
/// not UTF-8 are refused with their line and column, nothing written.
#[test]
fn a_bom_is_accepted_and_invalid_utf8_is_located() {
    let repo = Repo::ready("");
    repo.write(
        "deploy-session.yaml",
        "\u{feff}actions:\n  start.2.1:\n    run: echo hi\n",
    );
    let r = run(repo.cmd(["config", "check"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let mut bytes = b"actions:\n  start.2.1:\n    run: echo ".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, b'\n']);
    std::fs::write(repo.path().join("deploy-session.yaml"), &bytes).unwrap();
    let before = repo.files();
    let r = run(repo.cmd(["start"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("deploy-session.yaml:3:15: bytes that are not UTF-8 text"),
        "{}",
        r.stderr
    );
    assert_eq!(before, repo.files(), "a refused start writes nothing");
}

/// An argument that is not UTF-8 is an error (exit 2), never a panic.
#[test]
fn a_non_utf8_argument_is_refused_not_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let repo = Repo::ready("");
    assert_eq!(run(repo.cmd(["start"])).code, 3);
    let bad = std::ffi::OsStr::from_bytes(b"start.2.\xff");
    for args in [vec![std::ffi::OsStr::new("done"), bad], vec![bad]] {
        let r = run(repo.cmd(&args));
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
    // A path argument may be any bytes: a folder with such a name reaches
    // the settings (which once read the arguments as UTF-8 and panicked).
    let dir = repo.path().join(std::ffi::OsStr::from_bytes(b"repo-\xff"));
    std::fs::create_dir(&dir).unwrap();
    let r = run(repo.cmd([
        std::ffi::OsStr::new("--repo"),
        dir.as_os_str(),
        "status".as_ref(),
    ]));
    assert_eq!(r.code, 2, "{}", r.stderr);
}

/// `--force` waits for the lock like every writer: while a run holds it,
/// `init --force` gives up with exit 4 naming the holder and replaces
/// nothing (it once replaced the master state in the middle of a `start`).
#[test]
fn init_force_takes_the_lock() {
    let repo = Repo::ready("actions:\n  start.2.1:\n    run: \"sleep 60\"\n");
    let mut holder = repo.spawn(["start"]);
    wait_spawn_recorded(&repo, "start.2.1");
    let master_and_backups = || {
        repo.files()
            .into_iter()
            .filter(|(p, _)| p.to_string_lossy().contains("framework_progress.md"))
            .collect::<Vec<_>>()
    };
    let before = master_and_backups();
    let r = run(repo.cmd(["init", "--force", "--lock-timeout", "0s"]));
    let after = master_and_backups();
    // SIGINT: the run stops in order and kills its `sleep`.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(holder.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert_eq!(
        wait_exit(&mut holder, 30, "the run to stop").code(),
        Some(130)
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("another deploy-session is working in this repo")
            && r.stderr.contains("running `deploy-session start`"),
        "{}",
        r.stderr
    );
    assert_eq!(after, before, "nothing replaced, no backup");
}
