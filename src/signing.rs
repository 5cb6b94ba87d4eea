//! Signatures a key holder puts on a session: SSH keys, as git signs
//! commits. The format is OpenSSH's `sshsig` (what `ssh-keygen -Y sign`
//! writes, namespace `deploy-session`), checked against an
//! `allowed_signers` file (what `ssh-keygen -Y verify -f` reads). Two
//! things are signed: the session's seal (the hash of the trail's line that
//! closes it, so every earlier line) and the handoff manifest, as the
//! payload of a DSSE envelope (`manifest.dsse.json`).
//!
//! Verification reports what it found — good (with the principal), bad,
//! an unknown key, not checked (no allowed signers given) or unsigned —
//! never a bare yes.

use crate::error::InputError;
use anyhow::{Context, Result};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};
use std::path::Path;

/// The sshsig namespace of every signature the tool makes.
pub const NAMESPACE: &str = "deploy-session";

/// DSSE's payload type for an in-toto Statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A private key that signs for the operator or the CI job.
#[derive(Debug, Clone)]
pub struct Signer {
    key: PrivateKey,
}

impl Signer {
    /// Reads an OpenSSH private key (unencrypted: a CI secret or an
    /// operator's signing key; an encrypted one is refused by name).
    pub fn load(path: &Path) -> Result<Signer> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the signing key {}", path.display()))?;
        let key = PrivateKey::from_openssh(&text).map_err(|e| {
            InputError::usage(format!(
                "{}: not an OpenSSH private key ({e})",
                path.display()
            ))
            .with_hint(
                "give the private half of an ed25519 SSH key (`ssh-keygen -t ed25519 -f KEY`)",
            )
        })?;
        if key.is_encrypted() {
            return Err(InputError::usage(format!(
                "{}: the key is protected by a passphrase, which deploy-session cannot ask for",
                path.display()
            ))
            .with_hint("use a key without a passphrase kept as a CI secret, or `ssh-keygen -p` to remove it from a copy")
            .into());
        }
        Ok(Signer { key })
    }

    /// The armored signature (`-----BEGIN SSH SIGNATURE-----`) of `msg`.
    pub fn sign(&self, msg: &[u8]) -> Result<String> {
        let sig = self
            .key
            .sign(NAMESPACE, HashAlg::Sha512, msg)
            .map_err(|e| anyhow::anyhow!("cannot sign with the key: {e}"))?;
        sig.to_pem(LineEnding::LF)
            .map_err(|e| anyhow::anyhow!("cannot encode the signature: {e}"))
    }

    /// The key's fingerprint, as `ssh-keygen -l` shows it.
    pub fn fingerprint(&self) -> String {
        self.key
            .public_key()
            .fingerprint(HashAlg::Sha256)
            .to_string()
    }
}

/// What checking one signature found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Verdict {
    /// Made by a key the allowed signers list, for this principal.
    Good { principal: String, key: String },
    /// Not a valid signature of these bytes (altered, or not ours).
    Bad { why: String },
    /// Valid, but by a key no allowed signer has.
    UnknownKey { key: String },
    /// Signed, but no allowed signers were given to check it against.
    NotChecked { key: String },
    /// Nothing was signed.
    Unsigned,
}

impl Verdict {
    /// Whether the verdict is a failure (exit 1).
    pub fn failed(&self) -> bool {
        matches!(self, Verdict::Bad { .. } | Verdict::UnknownKey { .. })
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Verdict::Good { principal, key } => format!("good signature by {principal} ({key})"),
            Verdict::Bad { why } => format!("BAD signature: {why}"),
            Verdict::UnknownKey { key } => {
                format!("signed by {key}, a key no allowed signer has")
            }
            Verdict::NotChecked { key } => format!(
                "signed by {key}, not checked: give --allowed-signers FILE (or DEPLOY_SESSION_ALLOWED_SIGNERS)"
            ),
            Verdict::Unsigned => "unsigned".into(),
        }
    }
}

/// One line of an `allowed_signers` file.
#[derive(Debug, Clone, PartialEq)]
struct Allowed {
    principals: Vec<String>,
    namespaces: Option<Vec<String>>,
    key: PublicKey,
}

/// An `allowed_signers` file, as `ssh-keygen -Y verify -f` reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllowedSigners {
    entries: Vec<Allowed>,
}

impl AllowedSigners {
    /// Reads the file; a line it cannot use is an error naming the line.
    pub fn load(path: &Path) -> Result<AllowedSigners> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the allowed signers {}", path.display()))?;
        Ok(Self::parse(path, &text)?)
    }

    fn parse(path: &Path, text: &str) -> Result<AllowedSigners, InputError> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |why: String| InputError::in_file(path, Some(i + 1), why);
            let fields = split_fields(line);
            let Some((principals, rest)) = fields.split_first() else {
                continue;
            };
            let (options, key_fields) = match rest.first() {
                Some(f) if !is_key_type(f) => (Some(f.as_str()), &rest[1..]),
                _ => (None, rest),
            };
            let mut namespaces = None;
            for option in options.map(split_options).unwrap_or_default() {
                match option.split_once('=') {
                    Some(("namespaces", list)) => {
                        namespaces = Some(
                            list.trim_matches('"')
                                .split(',')
                                .map(str::to_string)
                                .collect(),
                        );
                    }
                    _ => {
                        return Err(err(format!(
                            "option {option:?} is not supported (deploy-session reads principals, namespaces= and the key)"
                        )));
                    }
                }
            }
            let [kind, data, ..] = key_fields else {
                return Err(err(
                    "no key: expected `principal [options] key-type base64`".into(),
                ));
            };
            let key = PublicKey::from_openssh(&format!("{kind} {data}"))
                .map_err(|e| err(format!("not a public key: {e}")))?;
            entries.push(Allowed {
                principals: principals.split(',').map(str::to_string).collect(),
                namespaces,
                key,
            });
        }
        Ok(AllowedSigners { entries })
    }

    /// Checks the armored signature `armored` of `msg`.
    pub fn verify(&self, armored: &str, msg: &[u8]) -> Verdict {
        let sig = match SshSig::from_pem(armored.trim()) {
            Ok(s) => s,
            Err(e) => {
                return Verdict::Bad {
                    why: format!("not an SSH signature: {e}"),
                };
            }
        };
        let key = PublicKey::from(sig.public_key().clone());
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        if sig.namespace() != NAMESPACE {
            return Verdict::Bad {
                why: format!(
                    "made for namespace {:?}, not {NAMESPACE:?}",
                    sig.namespace()
                ),
            };
        }
        if let Err(e) = key.verify(NAMESPACE, msg, &sig) {
            return Verdict::Bad {
                why: format!("it does not match these bytes ({e})"),
            };
        }
        if self.entries.is_empty() {
            return Verdict::NotChecked { key: fingerprint };
        }
        let allowed = self.entries.iter().find(|a| {
            a.key.key_data() == key.key_data()
                && a.namespaces
                    .as_ref()
                    .is_none_or(|n| n.iter().any(|x| x == NAMESPACE))
        });
        match allowed {
            Some(a) => Verdict::Good {
                principal: a.principals.join(","),
                key: fingerprint,
            },
            None => Verdict::UnknownKey { key: fingerprint },
        }
    }
}

fn is_key_type(field: &str) -> bool {
    field.starts_with("ssh-") || field.starts_with("ecdsa-") || field.starts_with("sk-")
}

/// Whitespace-separated fields, a double-quoted stretch kept whole.
fn split_fields(line: &str) -> Vec<String> {
    split_outside_quotes(line, char::is_whitespace)
        .into_iter()
        .filter(|f| !f.is_empty())
        .collect()
}

/// Comma-separated options, commas inside quotes kept.
fn split_options(options: &str) -> Vec<String> {
    split_outside_quotes(options, |c| c == ',')
}

/// `text` cut at every character `is_sep` accepts outside double quotes.
fn split_outside_quotes(text: &str, is_sep: impl Fn(char) -> bool) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        if c == '"' {
            quoted = !quoted;
            current.push(c);
        } else if is_sep(c) && !quoted {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
}

/// The bytes a session's seal signs: the closing line's seq and hash,
/// which the chain ties to every earlier line.
pub fn seal_message(session: &str, seq: u64, head: &str) -> Vec<u8> {
    format!("deploy-session seal v1\nsession {session}\nseq {seq}\nhead {head}\n").into_bytes()
}

/// A DSSE envelope (`manifest.dsse.json`): the in-toto Statement as its
/// payload, signed over DSSE's pre-authentication encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// The manifest's bytes, base64.
    pub payload: String,
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope: the key's fingerprint and the armored
/// sshsig, base64 (DSSE signatures are bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    pub keyid: String,
    pub sig: String,
}

/// DSSE's pre-authentication encoding of `payload`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// Signs `manifest` (the in-toto Statement's bytes).
    pub fn sign(signer: &Signer, manifest: &[u8]) -> Result<Envelope> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let armored = signer.sign(&pae(PAYLOAD_TYPE, manifest))?;
        Ok(Envelope {
            payload_type: PAYLOAD_TYPE.into(),
            payload: b64.encode(manifest),
            signatures: vec![EnvelopeSignature {
                keyid: signer.fingerprint(),
                sig: b64.encode(armored),
            }],
        })
    }

    /// Checks that the envelope carries exactly `manifest` and a good
    /// signature of it.
    pub fn verify(&self, manifest: &[u8], allowed: &AllowedSigners) -> Verdict {
        let b64 = base64::engine::general_purpose::STANDARD;
        if self.payload_type != PAYLOAD_TYPE {
            return Verdict::Bad {
                why: format!("payloadType is {:?}", self.payload_type),
            };
        }
        match b64.decode(&self.payload) {
            Ok(p) if p == manifest => {}
            _ => {
                return Verdict::Bad {
                    why: "the signed payload is not manifest.json as it is now".into(),
                };
            }
        }
        let Some(sig) = self.signatures.first() else {
            return Verdict::Unsigned;
        };
        let armored = b64
            .decode(&sig.sig)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        allowed.verify(&armored, &pae(PAYLOAD_TYPE, manifest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACCzPq7zfqLffKoBDe/eo04kH2XxtSmk9D7RQyf1xUqrYgAAAJgAIAxdACAM
XQAAAAtzc2gtZWQyNTUxOQAAACCzPq7zfqLffKoBDe/eo04kH2XxtSmk9D7RQyf1xUqrYg
AAAEC2BsIi0QwW2uFscKTUUXNHLsYX4FxlaSDSblbAj7WR7bM+rvN+ot98qgEN796jTiQf
ZfG1KaT0PtFDJ/XFSqtiAAAAEHVzZXJAZXhhbXBsZS5jb20BAgMEBQ==
-----END OPENSSH PRIVATE KEY-----
";

    fn signer() -> Signer {
        Signer {
            key: PrivateKey::from_openssh(KEY).unwrap(),
        }
    }

    fn allowed(line: &str) -> AllowedSigners {
        AllowedSigners::parse(Path::new("allowed_signers"), line).unwrap()
    }

    fn public_line() -> String {
        signer().key.public_key().to_openssh().unwrap()
    }

    #[test]
    fn a_signature_verifies_and_any_change_is_bad() {
        let s = signer();
        let list = allowed(&format!("ops@example.com {}", public_line()));
        let sig = s.sign(b"seal").unwrap();
        assert!(
            matches!(list.verify(&sig, b"seal"), Verdict::Good { principal, .. } if principal == "ops@example.com")
        );
        assert!(matches!(list.verify(&sig, b"seat"), Verdict::Bad { .. }));
        assert!(matches!(
            AllowedSigners::default().verify(&sig, b"seal"),
            Verdict::NotChecked { .. }
        ));
        let other = allowed(
            "x@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHN3zZ5aRJzRHhh5ErpFP8Rmr4GLTLIpeGa9y9aHlJRm",
        );
        assert!(matches!(
            other.verify(&sig, b"seal"),
            Verdict::UnknownKey { .. }
        ));
        assert!(matches!(
            list.verify("garbage", b"seal"),
            Verdict::Bad { .. }
        ));
    }

    #[test]
    fn allowed_signers_read_options_and_refuse_what_they_cannot_honour() {
        let key = public_line();
        let scoped = allowed(&format!("a@x,b@x namespaces=\"git,deploy-session\" {key}"));
        let sig = signer().sign(b"m").unwrap();
        assert!(
            matches!(scoped.verify(&sig, b"m"), Verdict::Good { principal, .. } if principal == "a@x,b@x")
        );
        let elsewhere = allowed(&format!("a@x namespaces=\"git\" {key}"));
        assert!(matches!(
            elsewhere.verify(&sig, b"m"),
            Verdict::UnknownKey { .. }
        ));
        let err = AllowedSigners::parse(
            Path::new("allowed_signers"),
            &format!("# c\n\na@x cert-authority {key}"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("allowed_signers:3") && err.contains("cert-authority"),
            "{err}"
        );
        let err = AllowedSigners::parse(Path::new("f"), "a@x ssh-ed25519 nope")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("f:1") && err.contains("not a public key"),
            "{err}"
        );
    }

    #[test]
    fn an_envelope_carries_the_manifest_and_its_signature() {
        let manifest = b"{\"_type\": \"https://in-toto.io/Statement/v1\"}\n";
        let env = Envelope::sign(&signer(), manifest).unwrap();
        let list = allowed(&format!("ops@example.com {}", public_line()));
        assert!(matches!(env.verify(manifest, &list), Verdict::Good { .. }));
        assert!(matches!(env.verify(b"{}", &list), Verdict::Bad { .. }));
        let mut forged = env.clone();
        forged.payload = base64::engine::general_purpose::STANDARD.encode(b"{}");
        assert!(matches!(forged.verify(b"{}", &list), Verdict::Bad { .. }));
        assert_eq!(&pae("t", b"ab")[..], b"DSSEv1 1 t 2 ab");
    }
}
