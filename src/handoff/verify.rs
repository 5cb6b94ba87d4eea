//! `handoff verify`: checks a package against its manifest and names every
//! missing, extra or altered file, every unsafe name and every link that
//! leaves the package.

use super::STATEMENT_TYPE;
use serde::Serialize;

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Problem {
    /// `missing`, `extra`, `altered`, `unsafe-name`, `link-outside` or `bad-manifest`.
    pub kind: &'static str,
    pub path: String,
    pub detail: String,
}

/// What verification found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub dir: PathBuf,
    pub files_ok: usize,
    pub problems: Vec<Problem>,
}

fn problem(kind: &'static str, path: impl Into<String>, detail: impl Into<String>) -> Problem {
    Problem {
        kind,
        path: path.into(),
        detail: detail.into(),
    }
}

/// A manifest name is safe when it is relative and never climbs.
fn safe_name(name: &str) -> bool {
    let p = Path::new(name);
    !name.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Verifies the package in `dir`, which must list every deliverable.
pub fn verify(dir: &Path) -> Report {
    let required: Vec<&str> = super::TEMPLATES.iter().map(|(name, _)| *name).collect();
    verify_listing(dir, &required)
}

/// Verifies the package in `dir` against its manifest, which must list
/// every name in `required`.
fn verify_listing(dir: &Path, required: &[&str]) -> Report {
    let mut report = Report {
        dir: dir.to_path_buf(),
        files_ok: 0,
        problems: Vec::new(),
    };
    let manifest: serde_json::Value = match std::fs::read(dir.join("manifest.json")) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                report.problems.push(problem(
                    "bad-manifest",
                    "manifest.json",
                    format!("not valid JSON: {e}"),
                ));
                return report;
            }
        },
        Err(e) => {
            report
                .problems
                .push(problem("missing", "manifest.json", e.to_string()));
            return report;
        }
    };
    if manifest["_type"] != STATEMENT_TYPE {
        report.problems.push(problem(
            "bad-manifest",
            "manifest.json",
            format!("`_type` is not {STATEMENT_TYPE}"),
        ));
    }
    let Some(subjects) = manifest["subject"].as_array() else {
        report.problems.push(problem(
            "bad-manifest",
            "manifest.json",
            "`subject` is not a list",
        ));
        return report;
    };
    let root = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut listed = BTreeSet::new();
    for s in subjects {
        let name = s["name"].as_str().unwrap_or_default().to_string();
        let want = s["digest"]["sha256"].as_str().unwrap_or_default();
        if !safe_name(&name) {
            report.problems.push(problem(
                "unsafe-name",
                &name,
                "absolute, empty or climbing with `..`: refused",
            ));
            continue;
        }
        listed.insert(name.clone());
        let path = dir.join(&name);
        if let Some(p) = leaves(&root, &path) {
            report.problems.push(p);
            continue;
        }
        match std::fs::read(&path) {
            Err(_) => report.problems.push(problem(
                "missing",
                &name,
                "listed in the manifest but not in the package",
            )),
            Ok(bytes) => {
                let got = crate::digest::sha256_hex(&bytes);
                if got == want {
                    report.files_ok += 1;
                } else {
                    report.problems.push(problem(
                        "altered",
                        &name,
                        format!("sha256 is {got}, the manifest says {want}"),
                    ));
                }
            }
        }
    }
    for name in required {
        if !listed.contains(*name) {
            report.problems.push(problem(
                "missing",
                name.to_string(),
                "a required deliverable, not in the manifest",
            ));
        }
    }
    for rel in files_under(dir) {
        let name = rel.to_string_lossy().into_owned();
        if name == "manifest.json" || name == super::ENVELOPE || listed.contains(&name) {
            continue;
        }
        if let Some(p) = leaves(&root, &dir.join(&rel)) {
            report.problems.push(p);
        } else {
            report.problems.push(problem(
                "extra",
                &name,
                "in the package but not in the manifest",
            ));
        }
    }
    report
}

/// A problem if `path` is (or goes through) a link leading out of `root`.
fn leaves(root: &Path, path: &Path) -> Option<Problem> {
    let real = path.canonicalize().ok()?;
    (!real.starts_with(root)).then(|| {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string();
        problem(
            "link-outside",
            rel,
            format!("resolves to {}, outside the package", real.display()),
        )
    })
}

/// Every file (and link) under `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(dir.join(&rel)) else {
            continue;
        };
        for e in entries.flatten() {
            let r = rel.join(e.file_name());
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(r),
                Ok(_) => out.push(r),
                Err(_) => {}
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.md"), "alpha\n").unwrap();
        let digest = crate::digest::sha256_hex(b"alpha\n");
        let manifest = serde_json::json!({
            "_type": STATEMENT_TYPE,
            "subject": [{"name": "a.md", "digest": {"sha256": digest}}],
            "predicateType": "x", "predicate": {}
        });
        std::fs::write(dir.path().join("manifest.json"), manifest.to_string()).unwrap();
        dir
    }

    #[test]
    fn a_good_package_verifies() {
        let d = package();
        let r = verify_listing(d.path(), &[]);
        assert_eq!(r.problems, vec![]);
        assert_eq!(r.files_ok, 1);
    }

    #[test]
    fn every_deliverable_must_be_listed() {
        let d = package();
        let r = verify_listing(d.path(), &["a.md", "b.md"]);
        assert_eq!(r.problems.len(), 1);
        assert_eq!(
            (r.problems[0].kind, r.problems[0].path.as_str()),
            ("missing", "b.md")
        );
        assert!(r.problems[0].detail.contains("required deliverable"));
        assert_eq!(
            verify(d.path()).problems.len(),
            super::super::TEMPLATES.len()
        );
    }

    #[test]
    fn each_kind_of_tampering_is_named() {
        let d = package();
        std::fs::write(d.path().join("a.md"), "ALPHA\n").unwrap();
        std::fs::write(d.path().join("extra.md"), "x").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), d.path().join("link.md"))
            .unwrap();
        let kinds: Vec<(&str, String)> = verify_listing(d.path(), &[])
            .problems
            .into_iter()
            .map(|p| (p.kind, p.path))
            .collect();
        assert_eq!(
            kinds,
            [
                ("altered", "a.md".to_string()),
                ("extra", "extra.md".to_string()),
                ("link-outside", "link.md".to_string())
            ]
        );
    }

    #[test]
    fn unsafe_names_and_missing_files() {
        let d = package();
        let manifest = serde_json::json!({
            "_type": STATEMENT_TYPE,
            "subject": [
                {"name": "../escape.md", "digest": {"sha256": "00"}},
                {"name": "/etc/passwd", "digest": {"sha256": "00"}},
                {"name": "gone.md", "digest": {"sha256": "00"}},
            ],
        });
        std::fs::write(d.path().join("manifest.json"), manifest.to_string()).unwrap();
        let kinds: Vec<&str> = verify_listing(d.path(), &[])
            .problems
            .iter()
            .map(|p| p.kind)
            .collect();
        assert_eq!(kinds, ["unsafe-name", "unsafe-name", "missing", "extra"]);
        std::fs::write(d.path().join("manifest.json"), "{nope").unwrap();
        assert_eq!(
            verify_listing(d.path(), &[]).problems[0].kind,
            "bad-manifest"
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// The test's own oracle: a name leaves the package when it is
    /// absolute or has a `..` *component*; `0..`, `..A` and `.. ` are
    /// ordinary file names.
    fn escapes(name: &str) -> bool {
        name.starts_with('/') || name.split('/').any(|c| c == "..")
    }

    /// Names made only of ordinary components, which must never be reported
    /// as unsafe (the product also refuses `.` and empty components).
    fn only_plain_components(name: &str) -> bool {
        !name.is_empty()
            && name
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..")
    }

    #[test]
    fn dots_inside_a_component_are_a_plain_name_not_an_escape() {
        for name in ["0..", "..A", ".. ", "a..b.md", "...", "x/..y"] {
            assert!(!escapes(name) && only_plain_components(name), "{name}");
            assert!(safe_name(name), "{name} is a plain name");
        }
        for name in ["..", "../a", "a/..", "a/../b", "/etc/passwd", "./a", ""] {
            assert!(!safe_name(name), "{name} must be refused");
        }
    }

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9_-]{1,12}\\.md".prop_map(String::from),
            Just("../escape.md".to_string()),
            Just("/etc/passwd".to_string()),
            Just("a/../../b.md".to_string()),
            prop::sample::select(vec!["0..", "..A", ".. ", "a..b.md"]).prop_map(String::from),
            "\\PC{0,16}".prop_map(String::from),
        ]
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config(256))]
        /// Any manifest is checked, never a panic; a name that leaves the
        /// package is always reported, never read.
        #[test]
        fn any_manifest_is_checked_and_unsafe_names_are_reported(
            names in prop::collection::vec(name(), 0..6),
            digest in "[0-9a-f]{0,64}",
            garbage in proptest::option::of("\\PC{0,80}"),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let manifest = match &garbage {
                Some(g) => g.clone(),
                None => serde_json::json!({
                    "_type": STATEMENT_TYPE,
                    "subject": names.iter().map(|n| serde_json::json!({"name": n, "digest": {"sha256": digest}})).collect::<Vec<_>>(),
                    "predicateType": "x", "predicate": {}
                })
                .to_string(),
            };
            std::fs::write(dir.path().join("manifest.json"), manifest).unwrap();
            let report = verify(dir.path());
            if garbage.is_none() {
                for n in &names {
                    let reported = report.problems.iter().any(|p| &p.path == n && p.kind == "unsafe-name");
                    if escapes(n) {
                        prop_assert!(reported, "{} not reported: {:?}", n, report.problems);
                    } else if only_plain_components(n) {
                        prop_assert!(!reported, "{} is a plain name, reported: {:?}", n, report.problems);
                    }
                }
            }
        }
    }
}
