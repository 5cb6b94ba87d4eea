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
