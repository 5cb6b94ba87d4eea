//! Signed sessions, with OpenSSH's own `ssh-keygen -Y` on the other side:
//! the tool's signatures verify with ssh-keygen, ssh-keygen's verify with
//! the tool, any signed byte changed fails, and an unsigned session is
//! reported as unsigned, never as a plain ✓.

use crate::harness::*;
use base64::Engine as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const PRINCIPAL: &str = "ops@example.com";

/// A key pair made by ssh-keygen and an allowed_signers file naming it.
struct Keys {
    _dir: tempfile::TempDir,
    key: PathBuf,
    allowed: PathBuf,
}

fn keys() -> Option<Keys> {
    if !external_tool("ssh-keygen", "command -v ssh-keygen") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_ed25519");
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", PRINCIPAL, "-f"])
        .arg(&key)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ssh-keygen made a key");
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let allowed = dir.path().join("allowed_signers");
    std::fs::write(&allowed, format!("{PRINCIPAL} {public}")).unwrap();
    Some(Keys {
        _dir: dir,
        key,
        allowed,
    })
}

fn finished(sign_with: Option<&Path>) -> Repo {
    let mut ids = start_manual_ids();
    ids.extend(work_ids());
    let repo = Repo::ready(&run_all(&ids, "echo done"));
    assert_eq!(run(repo.cmd(["start"])).code, 0);
    assert_eq!(run(repo.cmd(["work"])).code, 0);
    let mut args: Vec<String> = end_waiving_args(&[])
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(k) = sign_with {
        args.push("--sign-with".into());
        args.push(k.display().to_string());
    }
    let r = run(repo.cmd(&args));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    repo
}

fn package(repo: &Repo) -> PathBuf {
    let id = repo.audit()[0]["session"].as_str().unwrap().to_string();
    repo.path().join(format!(".ai_context/handoff/{id}"))
}

fn seal(repo: &Repo) -> serde_json::Value {
    repo.audit()
        .into_iter()
        .find(|e| e["event"] == "session_sealed")
        .expect("a seal in the trail")
}

fn ssh_keygen(args: &[&str], stdin: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new("ssh-keygen")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_signed_session_verifies_and_ssh_keygen_agrees() {
    let Some(k) = keys() else { return };
    let repo = finished(Some(&k.key));
    let allowed = k.allowed.display().to_string();
    let r = run(repo.cmd(["audit", "verify", "--allowed-signers", &allowed]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("good signature by ops@example.com"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("✓ signed"), "{}", r.stdout);
    let r = run(repo.cmd(["handoff", "verify", "--allowed-signers", &allowed]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("✓") && r.stdout.contains("good signature by ops@example.com"),
        "{}",
        r.stdout
    );
    // Without a list to check against: signed, but not a ✓.
    let r = run(repo.cmd(["audit", "verify"]));
    assert!(r.stdout.contains("signed but not checked"), "{}", r.stdout);

    // ssh-keygen -Y verify accepts the tool's seal.
    let seal = seal(&repo);
    let message = format!(
        "deploy-session seal v1\nsession {}\nseq {}\nhead {}\n",
        seal["session"].as_str().unwrap(),
        seal["detail"]["seq"],
        seal["detail"]["head"].as_str().unwrap()
    );
    let sig = repo.path().join("seal.sig");
    std::fs::write(&sig, seal["detail"]["signature"].as_str().unwrap()).unwrap();
    let sig = sig.display().to_string();
    let verify = |bytes: &[u8]| {
        let args = [
            "-Y",
            "verify",
            "-f",
            &allowed,
            "-I",
            PRINCIPAL,
            "-n",
            "deploy-session",
            "-s",
            &sig,
        ];
        ssh_keygen(&args, bytes)
    };
    let out = verify(message.as_bytes());
    assert!(
        out.status.success(),
        "ssh-keygen: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // ... and rejects it for other bytes.
    assert!(
        !verify(message.replace("seq", "seg").as_bytes())
            .status
            .success()
    );

    // The tool accepts a manifest signature made by ssh-keygen -Y sign.
    let pkg = package(&repo);
    let manifest = std::fs::read(pkg.join("manifest.json")).unwrap();
    let payload_type = "application/vnd.in-toto+json";
    let mut pae = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        manifest.len()
    )
    .into_bytes();
    pae.extend_from_slice(&manifest);
    let out = ssh_keygen(
        &[
            "-Y",
            "sign",
            "-q",
            "-f",
            &k.key.display().to_string(),
            "-n",
            "deploy-session",
        ],
        &pae,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let envelope = serde_json::json!({
        "payloadType": payload_type,
        "payload": b64.encode(&manifest),
        "signatures": [{"keyid": "made by ssh-keygen", "sig": b64.encode(&out.stdout)}],
    });
    std::fs::write(pkg.join("manifest.dsse.json"), envelope.to_string()).unwrap();
    let r = run(repo.cmd(["handoff", "verify", "--allowed-signers", &allowed]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("good signature by ops@example.com"),
        "{}",
        r.stdout
    );
}

#[test]
fn changing_any_signed_byte_fails() {
    let Some(k) = keys() else { return };
    let base = finished(Some(&k.key));
    let allowed = k.allowed.display().to_string();
    // The manifest: one byte.
    let repo = base.copy();
    let manifest = package(&repo).join("manifest.json");
    let text =
        std::fs::read_to_string(&manifest)
            .unwrap()
            .replacen("deploy-session", "deploy-sessioN", 1);
    std::fs::write(&manifest, text).unwrap();
    let r = run(repo.cmd(["handoff", "verify", "--allowed-signers", &allowed]));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("bad-signature"), "{}", r.stdout);
    // A forger rewrites an event, re-chains, and points the seal at the
    // new hash: without the key, the signature no longer matches.
    let repo = base.copy();
    let seal_seq = seal(&repo)["detail"]["seq"].as_u64().unwrap();
    let sealed_hash = |repo: &Repo| {
        repo.audit()[seal_seq as usize - 1]["hash"]
            .as_str()
            .unwrap()
            .to_string()
    };
    rechain(&repo, |events| events[5]["actor"] = "Someone Else".into());
    let new_head = sealed_hash(&repo);
    rechain(&repo, |events| {
        for e in events.iter_mut().filter(|e| e["event"] == "session_sealed") {
            e["detail"]["head"] = new_head.clone().into();
        }
    });
    let r = run(repo.cmd(["audit", "verify", "--allowed-signers", &allowed]));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("✓ .ai_context/deploy-session/audit.jsonl"),
        "the chain itself holds: {}",
        r.stdout
    );
    assert!(r.stdout.contains("BAD signature"), "{}", r.stdout);
    // A key nobody allowed.
    let repo = base.copy();
    let stranger = repo.path().join("stranger_signers");
    std::fs::write(&stranger, "x@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHN3zZ5aRJzRHhh5ErpFP8Rmr4GLTLIpeGa9y9aHlJRm\n").unwrap();
    let r = run(repo.cmd([
        "audit",
        "verify",
        "--allowed-signers",
        &stranger.display().to_string(),
    ]));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("a key no allowed signer has"),
        "{}",
        r.stdout
    );
}

#[test]
fn an_unsigned_session_is_reported_unsigned_and_a_locked_key_is_refused() {
    let repo = finished(None);
    let r = run(repo.cmd(["audit", "verify"]));
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("! unsigned"), "{}", r.stdout);
    let r = run(repo.cmd(["handoff", "verify"]));
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout.starts_with("! ") && r.stdout.contains("unsigned"),
        "{}",
        r.stdout
    );
    let j = run(repo.cmd(["audit", "verify", "--format", "json"])).json();
    assert_eq!(j["signature"], "unsigned");
    // A key that cannot be used is refused before anything runs.
    let Some(k) = keys() else { return };
    let locked = k.key.with_file_name("locked");
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "secret phrase", "-f"])
        .arg(&locked)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let fresh = Repo::ready("");
    assert_eq!(run(fresh.cmd(["start"])).code, 3);
    let before = fresh.files();
    let r = run(fresh.cmd(["end", "--sign-with", &locked.display().to_string()]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--sign-with") && r.stderr.contains("passphrase"),
        "{}",
        r.stderr
    );
    assert_same_files(&before, &fresh.files(), "a refused key writes nothing");
}
