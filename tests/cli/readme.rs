//! README's transcripts are produced by the tool: each block marked
//! `<!-- transcript: NAME -->` is replayed — its `$ deploy-session …` lines
//! run as written, in a repo set up as the README says — and what the tool
//! prints must be the block's text, with session ids, times, commit ids and
//! durations taken as shapes.

use crate::harness::*;

/// A command line and the lines README shows it printing.
type Step = (String, Vec<String>);

/// The marked blocks, by name.
fn transcripts() -> Vec<(String, Vec<Step>)> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut out = Vec::new();
    let mut rest = readme.as_str();
    // A marker is a line of its own (README also mentions it in prose).
    while let Some(at) = rest.find("\n<!-- transcript: ") {
        let after = &rest[at + "\n<!-- transcript: ".len()..];
        let name = after[..after.find(" -->").unwrap()].to_string();
        let fence = after.find("```").unwrap();
        let body = &after[fence..];
        let body = &body[body.find('\n').unwrap() + 1..];
        let end = body.find("\n```").unwrap();
        let mut steps: Vec<Step> = Vec::new();
        for line in body[..end].lines() {
            match line.strip_prefix("$ ") {
                Some(command) => steps.push((command.to_string(), Vec::new())),
                None => steps
                    .last_mut()
                    .expect("a block starts with `$ `")
                    .1
                    .push(line.to_string()),
            }
        }
        out.push((name, steps));
        rest = &body[end..];
    }
    out
}

/// The repo a transcript starts from, as README describes it.
fn set_up(name: &str) -> Repo {
    let repo = Repo::new();
    if name == "init" {
        return repo;
    }
    assert_eq!(run(repo.cmd(["init"])).code, 0);
    if name == "phase" {
        return repo;
    }
    repo.record_phase6();
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-qm", "init"]);
    if name == "done" {
        assert_eq!(run(repo.cmd(["start"])).code, 3);
        repo.write(
            "notes/analysis.md",
            "2 vCPU, Postgres 15, one public endpoint\n",
        );
    }
    repo
}

/// Digits, hex and the like as shapes: what differs from run to run.
fn shape(text: &str) -> String {
    const SHAPES: [(&str, &str); 3] = [
        ("DDDDDDDDTDDDDDDZ-HHHH", "<session>"),
        ("DDDD-DD-DDTDD:DD:DDZ", "<time>"),
        ("@HHHHHHHHHHHH", "@<commit>"),
    ];
    let fits = |s: &[u8], pattern: &str| {
        s.len() >= pattern.len()
            && pattern.bytes().zip(s).all(|(p, c)| match p {
                b'D' => c.is_ascii_digit(),
                b'H' => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
                p => p == *c,
            })
    };
    let bytes = text.as_bytes();
    let (mut out, mut i) = (String::new(), 0);
    'scan: while i < bytes.len() {
        for (pattern, name) in SHAPES {
            if fits(&bytes[i..], pattern) {
                out.push_str(name);
                i += pattern.len();
                continue 'scan;
            }
        }
        // `(12ms)`: a duration.
        if bytes[i] == b'(' {
            let digits = bytes[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if digits > 0 && bytes[i + 1 + digits..].starts_with(b"ms)") {
                out.push_str("(<dur>)");
                i += digits + 4;
                continue;
            }
        }
        let ch = text[i..].chars().next().unwrap();
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

#[test]
fn readme_transcripts_are_what_the_tool_prints() {
    let blocks = transcripts();
    let names: Vec<&str> = blocks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["start", "init", "done", "phase"],
        "the marked blocks"
    );
    for (name, steps) in blocks {
        let repo = set_up(&name);
        for (command, expected) in steps {
            let words = shell_words::split(&command).unwrap();
            assert_eq!(words[0], "deploy-session");
            let r = run(repo.cmd(&words[1..]));
            let printed: Vec<String> = (r.stdout.clone() + &r.stderr).lines().map(shape).collect();
            let expected: Vec<String> = expected.iter().map(|l| shape(l)).collect();
            assert_eq!(
                printed, expected,
                "README transcript `{name}`: `$ {command}` prints otherwise"
            );
        }
    }
}

#[test]
fn shapes_are_what_differs_between_runs() {
    assert_eq!(
        shape(
            "opened session 20261129T224400Z-ef2e (git main@06d774dabd2d, clean) at 2026-11-29T22:44:00Z (0ms) (12ms)"
        ),
        "opened session <session> (git main@<commit>, clean) at <time> (<dur>) (<dur>)"
    );
    assert_eq!(shape("start.2.1 (2 vCPU)"), "start.2.1 (2 vCPU)");
}
