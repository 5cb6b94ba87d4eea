//! The performance targets of DESIGN §10, measured against baselines taken
//! in the same run. `cargo bench --bench perf` (release build). Prints a
//! table; nothing here is a test that can flake.
//!
//! - orchestration: 500 `run: "true"` actions vs a shell loop of 500 `sh -c
//!   true` and `just` running 500 recipes of `true`, interleaved in 21
//!   rounds, with a secret configured so every line and output is masked
//! - `--version`, and the fixed startup with a 500-action config
//! - `status`, `todo`, `next`, `context` with 1,000 and with 10,000
//!   archived sessions (100,000 and 1,000,000 audit events)
//! - `audit verify` of those trails; `end` on the 100,000-event one,
//!   sealed and signed with an ssh-keygen key
//! - two independent `sleep 1` stages
//! - SIGTERM during a run, and during a run blocked in I/O: the time until it has exited

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_deploy-session");
const MASTER: &str = include_str!("../tests/fixtures/master_state/realistic.md");

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(repeats: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..repeats)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn ds(repo: &Path, args: &[&str]) -> i32 {
    Command::new(BIN)
        .arg("--repo")
        .arg(repo)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env("NO_COLOR", "1")
        .env(SECRET.0, SECRET.1)
        .status()
        .expect("run deploy-session")
        .code()
        .unwrap_or(-1)
}

fn ready_repo(dir: &Path, config: &str) {
    std::fs::create_dir_all(dir.join(".ai_context")).unwrap();
    std::fs::create_dir_all(dir.join("deployment")).unwrap();
    std::fs::write(dir.join(".ai_context/framework_progress.md"), MASTER).unwrap();
    std::fs::write(dir.join("deployment/ai_system_prompt_v3.7.md"), "x").unwrap();
    std::fs::write(
        dir.join("deployment/AI_ASSISTANT_STARTUP_DEPLOYMENT.md"),
        "x",
    )
    .unwrap();
    std::fs::write(dir.join("deploy-session.yaml"), config).unwrap();
}

/// The secret the 500-action config names, so masking is on for every
/// line recorded and every byte of output (its value is in [`ds`]'s
/// environment).
const SECRET: (&str, &str) = ("DS_BENCH_TOKEN", "bench-s3cret-value-0123456789");

/// The start protocol with 500 actions that all run `true`, with a secret
/// to mask.
fn five_hundred() -> String {
    let mut s = format!("secrets: [{}]\nactions:\n", SECRET.0);
    for st in 2..=3 {
        for n in 1..=5 {
            s.push_str(&format!("  start.{st}.{n}:\n    run: \"true\"\n"));
        }
    }
    s.push_str("add:\n");
    let mut prev = "start.3.5".to_string();
    for n in 6..(6 + 500 - 16) {
        s.push_str(&format!(
            "  - id: start.3.{n}\n    after: {prev}\n    title: Trivial step {n}\n    active: Running trivial step {n}\n    task_type: RESOURCE_PROVISIONING\n    agent: cloud-devops-expert\n    run: \"true\"\n"
        ));
        prev = format!("start.3.{n}");
    }
    s
}

/// A repo with `sessions` archived sessions of `per` events each, then an
/// open session (opened by the real binary, which snapshots the state).
fn big_history(dir: &Path, sessions: usize, per: usize) -> u64 {
    ready_repo(dir, "");
    let events = deploy_session::api::write_archived_sessions(dir, sessions, per).unwrap();
    assert_eq!(
        ds(dir, &["start"]),
        3,
        "the open session waits at its first manual step"
    );
    events
}

/// `just`: on PATH, else installed from PyPI (`rust-just` ships the
/// binary) into `dir`; `None` (the row says so) when neither works.
fn just(dir: &Path) -> Option<PathBuf> {
    let on_path = Command::new("just")
        .arg("--version")
        .stdout(Stdio::null())
        .status();
    if on_path.is_ok_and(|s| s.success()) {
        return Some(PathBuf::from("just"));
    }
    let target = dir.join("rust-just");
    let ok = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(&target)
        .arg("rust-just")
        .status()
        .is_ok_and(|s| s.success());
    let bin = target.join("bin/just");
    (ok && bin.is_file()).then_some(bin)
}

/// A justfile whose default recipe runs 500 recipes of `true`.
fn justfile(dir: &Path) {
    let mut s = String::from("all:");
    for n in 0..500 {
        s.push_str(&format!(" r{n}"));
    }
    s.push('\n');
    for n in 0..500 {
        s.push_str(&format!("r{n}:\n    @true\n"));
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("justfile"), s).unwrap();
}

/// Median and spread (min–max) of a sample, in ms.
fn spread(v: &[Duration]) -> String {
    let mut v = v.to_vec();
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "{:.0} ms ({:.0}–{:.0})",
        ms(v[v.len() / 2]),
        ms(v[0]),
        ms(v[v.len() - 1])
    )
}

struct Row {
    what: String,
    value: String,
    target: String,
    ok: bool,
}

fn main() {
    let base = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);

    // Orchestration overhead.
    let template = base.path().join("five-hundred");
    ready_repo(&template, &five_hundred());
    let fresh = |n: usize| -> PathBuf {
        let d = base.path().join(format!("run-{n}"));
        let _ = std::fs::remove_dir_all(&d);
        let status = Command::new("cp")
            .arg("-r")
            .arg(&template)
            .arg(&d)
            .status()
            .unwrap();
        assert!(status.success());
        // Flush the copy now, so the timed run's fsyncs do not pay for it.
        Command::new("sync").status().unwrap();
        d
    };
    // Measured in alternating pairs, so drift in the machine's load hits
    // both sides alike; the ratio is the median of the pairs' ratios.
    let shell_loop = || {
        let t = Instant::now();
        let ok = Command::new("sh")
            .args(["-c", "for i in $(seq 500); do sh -c true; done"])
            .status()
            .unwrap();
        assert!(ok.success());
        t.elapsed()
    };
    let just_bin = just(base.path());
    let just_dir = base.path().join("just");
    justfile(&just_dir);
    let run_just = |bin: &Path| {
        let t = Instant::now();
        let ok = Command::new(bin)
            .current_dir(&just_dir)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success());
        t.elapsed()
    };
    let (mut loops, mut runs, mut justs) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ratios, mut just_ratios) = (Vec::new(), Vec::new());
    for n in 0..21 {
        let d = fresh(n);
        // Interleaved, the order rotating, so drift hits all three alike.
        let mut times = [Duration::ZERO; 3];
        for k in 0..3 {
            match (n + k) % 3 {
                0 => times[0] = shell_loop(),
                1 => {
                    let t = Instant::now();
                    assert_eq!(ds(&d, &["start"]), 0, "500 trivial actions complete");
                    times[1] = t.elapsed();
                }
                _ => {
                    if let Some(j) = &just_bin {
                        times[2] = run_just(j);
                    }
                }
            }
        }
        let [l, r, j] = times;
        loops.push(l);
        runs.push(r);
        ratios.push(r.as_secs_f64() / l.as_secs_f64());
        if just_bin.is_some() {
            justs.push(j);
            just_ratios.push(j.as_secs_f64() / l.as_secs_f64());
        }
    }
    let sorted = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v
    };
    let ratios = sorted(ratios);
    let just_ratios = sorted(just_ratios);
    let ratio = ratios[ratios.len() / 2];
    println!(
        "(deploy-session/loop ratios, sorted: {})",
        ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    rows.push(Row {
        what: "shell loop: 500 × `sh -c true` (baseline, 21 rounds)".into(),
        value: spread(&loops),
        target: String::new(),
        ok: true,
    });
    let just_ratio = just_ratios.get(just_ratios.len() / 2).copied();
    rows.push(Row {
        what: "just: 500 recipes of `true`".into(),
        value: match just_ratio {
            Some(jr) => format!(
                "{} = {jr:.3}× the loop (rounds {:.2}–{:.2}×)",
                spread(&justs),
                just_ratios[0],
                just_ratios[just_ratios.len() - 1]
            ),
            None => "not measured: no `just`, and pip could not install rust-just".into(),
        },
        target: String::new(),
        ok: true,
    });
    rows.push(Row {
        what: "deploy-session start: 500 `run: \"true\"` actions, a secret masked".into(),
        value: format!(
            "{} = {ratio:.3}× the loop (rounds {:.2}–{:.2}×)",
            spread(&runs),
            ratios[0],
            ratios[ratios.len() - 1]
        ),
        target: "≤ 1.05× and below just's ratio".into(),
        ok: ratio <= 1.05 && just_ratio.is_none_or(|jr| ratio < jr),
    });

    // The fixed startup with a 500-action config: a run with nothing left
    // to do (the session's start is complete).
    let done = fresh(99);
    assert_eq!(ds(&done, &["start"]), 0);
    let startup = time(21, || {
        assert_eq!(ds(&done, &["start"]), 0);
    });
    rows.push(Row {
        what: "fixed startup: `start` with nothing left, 500-action config".into(),
        value: ms(startup),
        target: "≤ 5 ms".into(),
        ok: startup <= Duration::from_millis(5),
    });

    // --version.
    let version = time(21, || {
        Command::new(BIN)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .unwrap();
    });
    rows.push(Row {
        what: "`--version`".into(),
        value: ms(version),
        target: "≤ 3 ms".into(),
        ok: version <= Duration::from_millis(3),
    });

    // Read-only commands with a long history, at two sizes.
    for (sessions, target) in [(1_000usize, 10u64), (10_000, 5)] {
        let big = base.path().join(format!("history-{sessions}"));
        let t = Instant::now();
        let events = big_history(&big, sessions, 100);
        println!(
            "(generated {sessions} archived sessions and {events} audit events in {:.1} s)",
            t.elapsed().as_secs_f64()
        );
        for cmd in ["status", "todo", "next", "context"] {
            let d = time(21, || {
                assert_eq!(ds(&big, &[cmd]), 0);
            });
            rows.push(Row {
                what: format!("`{cmd}` ({sessions} archived sessions, {events} events)"),
                value: ms(d),
                target: format!("≤ {target} ms"),
                ok: d <= Duration::from_millis(target),
            });
        }
        let verify = time(3, || {
            assert_eq!(ds(&big, &["audit", "verify"]), 0);
        });
        rows.push(Row {
            what: format!("`audit verify` of {events} events"),
            value: ms(verify),
            target: if sessions == 10_000 {
                "≤ 1 s".into()
            } else {
                String::new()
            },
            ok: verify <= Duration::from_secs(1),
        });
    }

    // `end` on a 100,000-event trail: a session whose start and work ran,
    // after 1,000 archived sessions.
    let ending = base.path().join("ending");
    let mut config = String::from("actions:\n");
    for id in (2..=3)
        .flat_map(|st| (1..=5).map(move |n| format!("start.{st}.{n}")))
        .chain((1..=5).flat_map(|st| (1..=5).map(move |n| format!("work.{st}.{n}"))))
    {
        config.push_str(&format!("  {id}:\n    run: \"true\"\n"));
    }
    ready_repo(&ending, &config);
    let events = deploy_session::api::write_archived_sessions(&ending, 1000, 100).unwrap();
    assert_eq!(ds(&ending, &["start", "--new-session"]), 0);
    assert_eq!(ds(&ending, &["work"]), 0);
    // Signed, as the targets ask: a key from ssh-keygen when there is one.
    let key = base.path().join("signing-key");
    let keyed = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f"])
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let key_arg = key.display().to_string();
    let t = Instant::now();
    let mut args = vec!["end"];
    if keyed {
        args.extend(["--sign-with", key_arg.as_str()]);
    }
    for g in [
        "rollback_capability",
        "reliability",
        "deployment_time",
        "rollback_time",
        "zero_data_loss",
        "real_time_validation",
    ] {
        args.extend(["--waive", g]);
    }
    args.extend([
        "--reason",
        "bench: nothing deployed",
        "--by",
        "Bench <bench@example.com>",
    ]);
    assert_eq!(ds(&ending, &args), 0, "end completes");
    let end_time = t.elapsed();
    rows.push(Row {
        what: format!(
            "`end` on a {events}-event trail (gates, handoff, archive; {})",
            if keyed {
                "sealed and signed"
            } else {
                "unsigned: no ssh-keygen"
            }
        ),
        value: ms(end_time),
        target: "≤ 0.5 s".into(),
        ok: end_time <= Duration::from_millis(500),
    });

    // Independent stages overlap.
    let overlap = base.path().join("overlap");
    let mut config = String::from("actions:\n");
    for st in 2..=3 {
        for n in 1..=5 {
            config.push_str(&format!("  start.{st}.{n}:\n    run: \"true\"\n"));
        }
    }
    for st in 1..=5 {
        for n in 1..=5 {
            let cmd = if (st, n) == (2, 1) || (st, n) == (3, 1) {
                "sleep 1"
            } else {
                "true"
            };
            config.push_str(&format!("  work.{st}.{n}:\n    run: \"{cmd}\"\n"));
        }
    }
    ready_repo(&overlap, &config);
    assert_eq!(ds(&overlap, &["start"]), 0);
    let t = Instant::now();
    assert_eq!(ds(&overlap, &["work"]), 0);
    let both = t.elapsed();
    rows.push(Row {
        what: "`work` with two independent `sleep 1` stages".into(),
        value: ms(both),
        target: "< 1.3 s".into(),
        ok: both < Duration::from_millis(1300),
    });

    // SIGTERM to a run whose action is a long command: the time from the
    // signal until the process has exited (process group killed,
    // `interrupted` recorded, state saved, lock released).
    let interrupted = base.path().join("interrupt");
    ready_repo(
        &interrupted,
        "actions:\n  start.2.1:\n    run: \"sleep 30\"\n",
    );
    let trail = interrupted.join(".ai_context/deploy-session/audit.jsonl");
    let sigterm = median(
        (0..5)
            .map(|_| {
                sigterm_to_exit(&interrupted, |_| {
                    std::fs::read_to_string(&trail).is_ok_and(|t| t.contains("\"process\":{"))
                })
            })
            .collect(),
    );
    rows.push(Row {
        what: "SIGTERM during a run → exit 130 (group killed, saved)".into(),
        value: ms(sigterm),
        target: "< 1 s".into(),
        ok: sigterm < Duration::from_secs(1),
    });

    // SIGTERM to a run whose check is stuck opening a FIFO (the master
    // state, replaced by one): the check is given up and recorded
    // `interrupted`; the refresh after it, stuck too, is cut short.
    let blocked = base.path().join("blocked");
    ready_repo(
        &blocked,
        "actions:\n  start.2.1:\n    run: \"rm .ai_context/framework_progress.md && mkfifo .ai_context/framework_progress.md\"\n  start.2.2:\n    check: {phase: {number: 6, status: completed}}\n",
    );
    let master = blocked.join(".ai_context/framework_progress.md");
    let stuck = median(
        (0..5)
            .map(|_| {
                let _ = std::fs::remove_file(&master);
                std::fs::write(&master, MASTER).unwrap();
                sigterm_to_exit(&blocked, blocked_on_a_fifo)
            })
            .collect(),
    );
    rows.push(Row {
        what: "SIGTERM during a run blocked in I/O → exit 130".into(),
        value: ms(stuck),
        target: "< 1 s".into(),
        ok: stuck < Duration::from_secs(1),
    });

    println!("\n{:<58} {:<50} target", "measure", "result");
    for r in &rows {
        let mark = if r.target.is_empty() {
            ""
        } else if r.ok {
            "  ✓"
        } else {
            "  ✗ MISSED"
        };
        println!("{:<58} {:<50} {}{mark}", r.what, r.value, r.target);
    }
}

/// Whether a thread of process `pid` waits for a FIFO's other end.
fn blocked_on_a_fifo(pid: u32) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/task")).is_ok_and(|tasks| {
        tasks.flatten().any(|t| {
            std::fs::read_to_string(t.path().join("wchan"))
                .is_ok_and(|w| w.contains("partner") || w.contains("fifo"))
        })
    })
}

/// Starts a run in `repo`, waits until `ready(pid)` (its action under
/// way), sends SIGTERM and returns the time until the run exited.
fn sigterm_to_exit(repo: &Path, ready: impl Fn(u32) -> bool) -> Duration {
    let _ = std::fs::remove_dir_all(repo.join(".ai_context/deploy-session"));
    let mut child = Command::new(BIN)
        .arg("--repo")
        .arg(repo)
        .arg("start")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run deploy-session");
    let started = Instant::now();
    while !ready(child.id()) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the action never started"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let t = Instant::now();
    let ok = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(ok.success());
    assert_eq!(child.wait().expect("wait").code(), Some(130), "interrupted");
    t.elapsed()
}
