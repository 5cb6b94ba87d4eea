//! The exported GitHub workflow, executed job by job as a runner does:
//! each job in a fresh checkout, in `needs` order (a job whose need failed
//! is skipped), its `run:` steps in bash with GitHub's environment files,
//! and the actions it uses — checkout, upload/download-artifact, cache,
//! cache/restore, cache/save — played by their documented behaviour on
//! folders of the test (wrkflw's emulation does not run artifact steps). The
//! same three runs as the GitLab test: green from a decisions file;
//! reliability passing from the history the first run carried; a failed
//! deployment job re-run (attempt 2 of the run) keeping its failure.

use crate::fixture::{Fixture, gate};
use crate::harness::*;
use serde_yaml::Value as Yaml;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Artifacts of runs and caches of the repo, kept between jobs and runs.
struct Runner<'a> {
    fixture: &'a Fixture,
    store: tempfile::TempDir,
}

/// How a job went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Passed,
    Failed,
    Skipped,
}

fn text(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => s.clone(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

impl Runner<'_> {
    fn artifacts(&self, run: u32) -> PathBuf {
        self.store.path().join(format!("runs/{run}/artifacts"))
    }

    fn caches(&self) -> PathBuf {
        self.store.path().join("caches")
    }

    /// Runs the workflow's jobs (all, or only those in `only`, as "re-run
    /// failed jobs" does) as attempt `attempt` of run `run`.
    fn run(&self, wf: &Yaml, run: u32, attempt: u32, only: &[&str]) -> BTreeMap<String, Verdict> {
        let mut done: BTreeMap<String, Verdict> = BTreeMap::new();
        for (name, job) in wf["jobs"].as_mapping().unwrap() {
            let name = name.as_str().unwrap().to_string();
            if !only.is_empty() && !only.contains(&name.as_str()) {
                done.insert(name, Verdict::Passed);
                continue;
            }
            let needs: Vec<String> = job["needs"]
                .as_sequence()
                .map(|s| s.iter().map(text).collect())
                .unwrap_or_default();
            let verdict = if needs.iter().all(|n| done.get(n) == Some(&Verdict::Passed)) {
                self.job(&name, job, run, attempt)
            } else {
                Verdict::Skipped
            };
            done.insert(name, verdict);
        }
        done
    }

    /// One job in a fresh checkout.
    fn job(&self, name: &str, job: &Yaml, run: u32, attempt: u32) -> Verdict {
        let ws = tempfile::tempdir().unwrap();
        let temp = tempfile::tempdir().unwrap();
        copy_dir(self.fixture.repo.path(), ws.path());
        let github_path = temp.path().join("github_path");
        std::fs::write(&github_path, "").unwrap();
        let expand = |s: &str| {
            s.replace("${{ runner.temp }}", &temp.path().display().to_string())
                .replace("${{ github.run_id }}", &run.to_string())
                .replace("${{ github.run_attempt }}", &attempt.to_string())
                .replace("${{ github.ref_name }}", "main")
                .replace("${{ github.actor }}", "octo-operator")
                .replace("${{ github.workspace }}", &ws.path().display().to_string())
        };
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in [
            ("CI", "true".to_string()),
            ("GITHUB_ACTIONS", "true".into()),
            ("GITHUB_ACTOR", "octo-operator".into()),
            ("GITHUB_RUN_ID", run.to_string()),
            ("GITHUB_RUN_ATTEMPT", attempt.to_string()),
            ("GITHUB_REF_NAME", "main".into()),
            ("GITHUB_WORKSPACE", ws.path().display().to_string()),
            ("RUNNER_TEMP", temp.path().display().to_string()),
            ("GITHUB_PATH", github_path.display().to_string()),
            (
                "DEPLOY_SESSION_TEST_BIN",
                assert_cmd::cargo::cargo_bin("deploy-session")
                    .display()
                    .to_string(),
            ),
        ] {
            env.insert(k.into(), v);
        }
        if let Some(m) = job["env"].as_mapping() {
            for (k, v) in m {
                env.insert(text(k), expand(&text(v)));
            }
        }
        let mut failed = false;
        let mut outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut post_saves: Vec<(PathBuf, String)> = Vec::new();
        for step in job["steps"].as_sequence().unwrap() {
            let condition = text(&step["if"]);
            let wanted = match condition.as_str() {
                "always()" => true,
                "" | "success()" => !failed,
                "github.run_attempt != '1'" => !failed && attempt != 1,
                "steps.cache.outputs.cache-hit != 'true'" => {
                    !failed
                        && outputs
                            .get("cache")
                            .and_then(|o| o.get("cache-hit"))
                            .map(String::as_str)
                            != Some("true")
                }
                other => panic!("{name}: the runner does not know the condition {other:?}"),
            };
            if !wanted {
                continue;
            }
            let with = |k: &str| expand(&text(&step["with"][k]));
            let uses = text(&step["uses"]);
            let ok = if uses.is_empty() {
                let mut step_env = env.clone();
                if let Some(m) = step["env"].as_mapping() {
                    for (k, v) in m {
                        step_env.insert(text(k), expand(&text(v)));
                    }
                }
                let extra: String = std::fs::read_to_string(&github_path)
                    .unwrap()
                    .lines()
                    .map(|l| format!("{l}:"))
                    .collect();
                let out = std::process::Command::new("bash")
                    .args(["-e", "-o", "pipefail", "-c", &expand(&text(&step["run"]))])
                    .current_dir(ws.path())
                    .env_clear()
                    .envs(&step_env)
                    .env("HOME", std::env::var("HOME").unwrap_or_default())
                    .env("PATH", format!("{extra}{}", std::env::var("PATH").unwrap()))
                    .output()
                    .unwrap();
                if !out.status.success() {
                    eprintln!(
                        "{name}: step {:?} exited {:?}:\n{}{}",
                        text(&step["name"]),
                        out.status.code(),
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                out.status.success()
            } else {
                let action = uses.split('@').next().unwrap();
                match action {
                    "actions/checkout" => true,
                    "actions/upload-artifact" => {
                        self.upload(ws.path(), run, &with("name"), &with("path"))
                    }
                    "actions/download-artifact" => self.download(
                        ws.path(),
                        run,
                        &with("name"),
                        &with("pattern"),
                        &with("path"),
                    ),
                    "actions/cache" | "actions/cache/restore" => {
                        let hit = self.restore(
                            ws.path(),
                            &with("path"),
                            &with("key"),
                            &with("restore-keys"),
                        );
                        let id = text(&step["id"]);
                        outputs
                            .entry(id)
                            .or_default()
                            .insert("cache-hit".into(), hit.to_string());
                        if action == "actions/cache" && !hit {
                            post_saves.push((ws.path().join(with("path")), with("key")));
                        }
                        true
                    }
                    "actions/cache/save" => {
                        self.save(&ws.path().join(with("path")), &with("key"));
                        true
                    }
                    other => panic!("{name}: the runner does not play {other}"),
                }
            };
            if !ok && step["continue-on-error"].as_bool() != Some(true) {
                failed = true;
            }
        }
        if !failed {
            for (path, key) in post_saves {
                self.save(&path, &key);
            }
        }
        if failed {
            Verdict::Failed
        } else {
            Verdict::Passed
        }
    }

    /// upload-artifact: one path (a folder's content, or a file), kept
    /// under the artifact's name; a new upload replaces (`overwrite`).
    fn upload(&self, ws: &Path, run: u32, name: &str, path: &str) -> bool {
        let to = self.artifacts(run).join(name);
        let _ = std::fs::remove_dir_all(&to);
        let from = ws.join(path.trim());
        if from.is_dir() {
            copy_dir(&from, &to);
        } else if from.is_file() {
            std::fs::create_dir_all(&to).unwrap();
            std::fs::copy(&from, to.join(from.file_name().unwrap())).unwrap();
        }
        true
    }

    /// download-artifact: by name (a missing one fails the step), or every
    /// artifact matching a `prefix-*` pattern merged into one folder.
    fn download(&self, ws: &Path, run: u32, name: &str, pattern: &str, path: &str) -> bool {
        let dest = ws.join(path);
        let all = self.artifacts(run);
        if !name.is_empty() {
            let from = all.join(name);
            if !from.is_dir() {
                eprintln!("download-artifact: no artifact {name} in run {run}");
                return false;
            }
            copy_dir(&from, &dest);
            return true;
        }
        let prefix = pattern.trim_end_matches('*');
        std::fs::create_dir_all(&dest).unwrap();
        for e in std::fs::read_dir(&all).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with(prefix) {
                copy_dir(&e.path(), &dest);
            }
        }
        true
    }

    /// cache restore: the exact key, else the newest whose key starts with
    /// the restore prefix. Returns whether the exact key hit.
    fn restore(&self, ws: &Path, path: &str, key: &str, prefix: &str) -> bool {
        let caches = self.caches();
        let exact = caches.join(key);
        let found = if exact.is_dir() {
            Some(exact.clone())
        } else if prefix.is_empty() {
            None
        } else {
            let mut candidates: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&caches)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .map(|e| (e.metadata().unwrap().modified().unwrap(), e.path()))
                .collect();
            candidates.sort();
            candidates.pop().map(|(_, p)| p)
        };
        if let Some(from) = &found {
            copy_dir(from, &ws.join(path));
        }
        found.as_ref() == Some(&exact)
    }

    /// cache save: a key is written once (GitHub caches are immutable).
    fn save(&self, from: &Path, key: &str) {
        let to = self.caches().join(key);
        if from.is_dir() && !to.exists() {
            copy_dir(from, &to);
            // Newest last, whatever the clock's resolution.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

fn workflow(f: &Fixture) -> Yaml {
    serde_yaml::from_str(&f.repo.read(".github/workflows/deploy-session.yml")).unwrap()
}

fn all_passed(v: &BTreeMap<String, Verdict>) {
    assert_eq!(v.len(), 12, "an install job and 11 stages: {v:?}");
    assert!(v.values().all(|x| *x == Verdict::Passed), "{v:?}");
}

#[test]
fn exported_github_workflows_run_whole_sessions_job_by_job() {
    let f = Fixture::new("github-actions");
    let runner = Runner {
        fixture: &f,
        store: tempfile::tempdir().unwrap(),
    };
    let final_state = |run: u32| {
        let state = tempfile::tempdir().unwrap();
        copy_dir(
            &runner.artifacts(run).join("deploy-session-state-end-3"),
            state.path(),
        );
        f.state_from(state.path())
    };
    // 1. Every job green from the decisions file.
    all_passed(&runner.run(&workflow(&f), 1, 1, &[]));
    let first = final_state(1);
    assert_eq!(run(first.cmd(["audit", "verify"])).code, 0);
    assert_eq!(run(first.cmd(["handoff", "verify"])).code, 0);
    assert_eq!(gate(&first, "reliability"), "waived");
    // 2. The next run passes the reliability gate from carried history.
    f.decide(&[]);
    f.commit("the next change: no reliability waiver");
    all_passed(&runner.run(&workflow(&f), 2, 1, &[]));
    let second = final_state(2);
    assert_eq!(gate(&second, "reliability"), "pass");
    assert_eq!(run(second.cmd(["audit", "verify"])).code, 0);
    // 3. The canary's job fails; "re-run failed jobs" (attempt 2) joins the
    //    failed attempt, and the failure stays in history.
    f.decide(&["reliability"]);
    f.commit("a change whose first canary fails");
    std::fs::write(&f.breaker, "").unwrap();
    let v = runner.run(&workflow(&f), 3, 1, &[]);
    assert_eq!(v["work-4"], Verdict::Failed, "{v:?}");
    assert_eq!(v["end-3"], Verdict::Skipped, "{v:?}");
    std::fs::remove_file(&f.breaker).unwrap();
    let rerun = ["work-4", "work-5", "end-1", "end-2", "end-3"];
    let v = runner.run(&workflow(&f), 3, 2, &rerun);
    assert!(v.values().all(|x| *x == Verdict::Passed), "{v:?}");
    crate::fixture::failure_kept(&final_state(3));
}
