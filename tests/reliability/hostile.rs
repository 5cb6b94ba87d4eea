//! Hostile values and secrets: runtime values reach commands as data, and
//! a declared secret appears nowhere — not in any file of the repo, not in
//! JSON, JUnit, workflow commands or the step summary.

use crate::harness::*;

/// Values that would run something if a shell ever parsed them.
const HOSTILE: [&str; 6] = [
    "$(touch pwned1)",
    ";touch pwned2",
    "`touch pwned3`",
    "a\ntouch pwned4",
    "it's \"quoted\" 'x",
    "${IFS}touch${IFS}pwned5",
];

#[test]
fn runtime_values_are_data_never_code() {
    let outer = Repo::bare();
    let name: String = HOSTILE.concat();
    let dir = outer.path().join(&name);
    ready_in(
        &dir,
        "actions:\n  start.2.1:\n    run: printf '%s' \"$DEPLOY_SESSION_REPO\" > seen.txt\n",
    );
    let in_dir = |args: &[&str]| {
        let mut c = outer.std_cmd(args);
        c.current_dir(&dir);
        run(assert_cmd::Command::from_std(c))
    };
    let r = in_dir(&["start"]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let seen = std::fs::read_to_string(dir.join("seen.txt")).unwrap();
    assert_eq!(
        std::path::Path::new(&seen),
        dir.canonicalize().unwrap(),
        "the path arrives literally"
    );
    // The same values as notes and names: stored byte for byte, harmless.
    let ids = [
        "start.2.2",
        "start.2.3",
        "start.2.4",
        "start.2.5",
        "start.3.1",
        "start.3.2",
    ];
    for (id, value) in ids.iter().zip(HOSTILE) {
        let r = in_dir(&[
            "done", id, "--note", value, "--by", value, "--format", "json",
        ]);
        assert_eq!(r.code, 0, "{value:?}: {}", r.stderr);
    }
    let status = in_dir(&["status", "--format", "json"]).json();
    for (id, value) in ids.iter().zip(HOSTILE) {
        let a = action_in(&status["session"], id);
        assert_eq!(
            (a["note"].as_str(), a["by"].as_str()),
            (Some(value), Some(value))
        );
    }
    for args in [
        vec!["todo", "--format", "markdown"],
        vec!["context"],
        vec!["next"],
        vec!["audit", "verify"],
    ] {
        assert_eq!(in_dir(&args).code, 0, "{args:?}");
    }
    for n in 1..=5 {
        for place in [outer.path(), dir.as_path()] {
            assert!(
                !place.join(format!("pwned{n}")).exists(),
                "pwned{n} was created"
            );
        }
    }
}

#[test]
fn a_secret_appears_nowhere() {
    let secret = "s3cr3t-Value-0123456789";
    let config = r#"secrets: [DEPLOY_TOKEN]
actions:
  start.2.1:
    run: |
      echo "whole: $DEPLOY_TOKEN"
      printf '%s' "$${DEPLOY_TOKEN%????????????}"; sleep 0.05; printf '%s\n' "$${DEPLOY_TOKEN#???????????}"
      printf '%s' "$DEPLOY_TOKEN" | base64
      echo "to stderr: $DEPLOY_TOKEN" >&2
  start.2.2:
    run: echo "failing with $DEPLOY_TOKEN" >&2; exit 1
"#;
    let repo = Repo::ready(config);
    let mut c = repo.std_cmd(["start", "--format", "json", "--junit", "junit.xml"]);
    c.env("DEPLOY_TOKEN", secret)
        .env("CI", "true")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", repo.path().join("summary.md"));
    let r = run(assert_cmd::Command::from_std(c));
    assert_eq!(r.code, 1, "{}", r.stderr);
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret);
    let mut outputs = vec![
        ("stdout".to_string(), r.stdout.clone()),
        ("stderr".to_string(), r.stderr.clone()),
    ];
    for args in [
        vec!["status", "--format", "json"],
        vec!["todo", "--format", "json"],
        vec!["next", "--format", "json"],
        vec!["context", "--format", "json"],
        vec!["audit", "log", "--format", "json"],
    ] {
        let mut c = repo.std_cmd(&args);
        c.env("DEPLOY_TOKEN", secret);
        let r = run(assert_cmd::Command::from_std(c));
        outputs.push((format!("{args:?}"), r.stdout + &r.stderr));
    }
    for (path, bytes) in repo.files() {
        outputs.push((
            path.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    let mut checked = 0;
    for (name, text) in &outputs {
        for needle in [secret, b64.as_str()] {
            assert!(
                !text.contains(needle),
                "{name} contains the secret ({needle})"
            );
        }
        checked += 1;
    }
    assert!(
        repo.read("junit.xml").contains("failing with"),
        "the JUnit failure is there, masked"
    );
    assert!(repo.read("summary.md").contains("start.2.2"));
    eprintln!(
        "secrets: {checked} outputs and files searched, the secret (whole, split across writes, base64, on stderr) found in none"
    );
}
