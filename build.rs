//! Records the commit this binary is built from, when it is built from a
//! clean git checkout, so `export` can pin the pipelines' install to it
//! (`cargo install --git REPOSITORY --rev COMMIT`). Anything else — a
//! tarball, uncommitted changes — records nothing, and `export` then asks
//! for `--install` instead of pinning a commit that does not exist.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/index");
    // Only this package's own checkout: a copy vendored inside another
    // repository would otherwise record that repository's commit.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let canon = |p: &str| std::fs::canonicalize(p).ok();
    let own = git(&["rev-parse", "--show-toplevel"])
        .is_some_and(|top| canon(&top).is_some() && canon(&top) == canon(&manifest));
    let clean =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| s.is_empty());
    if let (true, true, Some(commit)) = (own, clean, git(&["rev-parse", "HEAD"])) {
        println!("cargo:rustc-env=DEPLOY_SESSION_BUILD_COMMIT={commit}");
    }
}
