//! One writer per repo: an OS file lock on `.ai_context/deploy-session/lock`.
//! The OS releases it when the holder dies, so there is never a stale lock.
//! The holder writes its name to `lock.holder` (removed on release) so a
//! second writer can say who it waits for; the lock file itself is never
//! written, so a command refused for bad input leaves every file as it was.

use crate::error::LockedError;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Who holds the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub command: String,
    pub since: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} on {} running `{}` since {}",
            self.pid, self.host, self.command, self.since
        )
    }
}

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
    path: PathBuf,
    holder: PathBuf,
    /// What taking the lock created (folders, the lock file), deepest
    /// last: removed again by [`Lock::leave_no_trace`].
    created: Vec<PathBuf>,
}

impl Lock {
    /// Removes what taking the lock created, for a command that then wrote
    /// nothing: a refused command leaves the repo as it found it. Safe
    /// while held: a waiter checks, once it has the lock, that the file it
    /// locked is still the one at the path.
    pub fn leave_no_trace(&mut self) {
        let _ = std::fs::remove_file(&self.holder);
        for p in self.created.iter().rev() {
            if *p == self.path {
                let _ = std::fs::remove_file(p);
            } else {
                let _ = std::fs::remove_dir(p);
            }
        }
        self.created.clear();
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.holder);
    }
}

fn holder_path(lock: &Path) -> PathBuf {
    let mut s = lock.as_os_str().to_owned();
    s.push(".holder");
    PathBuf::from(s)
}

/// Takes the lock, waiting up to `timeout` for a holder to finish.
pub fn acquire(path: &Path, timeout: Duration, command: &str) -> Result<Lock> {
    let deadline = Instant::now() + timeout;
    loop {
        let (file, created) = lock_file(path, deadline)?;
        if same_file(path, &file) {
            return hold(path, file, created, command);
        }
        // The file was removed (a refused command cleaning up) while we
        // waited on it: lock the one at the path now.
    }
}

/// Whether `file` is still the file at `path`.
fn same_file(path: &Path, file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::symlink_metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

/// Creates what is missing (noting it), opens the lock file and locks it.
fn lock_file(path: &Path, deadline: Instant) -> Result<(File, Vec<PathBuf>)> {
    let mut created = Vec::new();
    if let Some(dir) = path.parent() {
        let missing: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
            .map(Path::to_path_buf)
            .collect();
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        created.extend(missing.into_iter().rev());
    }
    crate::fsio::not_a_symlink(path)?;
    crate::fsio::not_a_symlink(&holder_path(path))?;
    if std::fs::symlink_metadata(path).is_err() {
        created.push(path.to_path_buf());
    }
    let file = crate::fsio::no_follow(
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
    )
    .open(path)
    .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(25));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(LockedError {
                    holder: read_holder(&holder_path(path)),
                }
                .into());
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
    }
    Ok((file, created))
}

/// Writes who holds the lock next to it.
fn hold(path: &Path, file: File, created: Vec<PathBuf>, command: &str) -> Result<Lock> {
    let holder = Holder {
        pid: std::process::id(),
        host: crate::session::hostname(),
        command: command.to_string(),
        since: crate::clock::now_rfc3339(),
    };
    let holder_file = holder_path(path);
    crate::fsio::write_atomic_fast(&holder_file, serde_json::to_string(&holder)?.as_bytes())?;
    Ok(Lock {
        _file: file,
        path: path.to_path_buf(),
        holder: holder_file,
        created,
    })
}

fn read_holder(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    serde_json::from_str::<Holder>(&text)
        .map(|h| h.to_string())
        .unwrap_or_else(|_| "a process that has not yet written its name".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let first = acquire(&path, Duration::ZERO, "deploy-session start").unwrap();
        let err = acquire(&path, Duration::from_millis(60), "deploy-session done").unwrap_err();
        let locked = err.downcast_ref::<LockedError>().unwrap();
        assert!(
            locked.holder.contains("running `deploy-session start`"),
            "{}",
            locked.holder
        );
        assert!(
            locked
                .holder
                .contains(&format!("pid {}", std::process::id()))
        );
        drop(first);
        assert!(
            !dir.path().join("lock.holder").exists(),
            "the holder file goes with the lock"
        );
        acquire(&path, Duration::ZERO, "deploy-session done").unwrap();
    }
}
