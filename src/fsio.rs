//! Crash-safe file writes.
//!
//! Every file the tool owns is replaced atomically: written to a temp file in
//! the same folder, fsynced, renamed over the target, then the folder is
//! fsynced. A process killed at any instant leaves the old or the new file,
//! never a torn one. Temp files carry a recognisable marker so the next writer
//! (which holds the lock, so no live writer can own them) removes leftovers.

use anyhow::{Context, Result};
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Marker in the name of every temp file this tool creates.
pub const TEMP_MARKER: &str = ".ds-tmp.";

/// Replaces `path` with `bytes` atomically and durably.
///
/// On any error (disk full, file-size limit, permissions) the old file is
/// untouched and the temp file is removed; the error carries the OS message.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    replace(path, bytes, true)
}

/// Replaces `path` atomically but without fsync: a killed process still
/// leaves the old or the new file, only an OS crash may lose the update.
/// For files derived from durable state and rewritten often (the todo list
/// during a run, backup copies).
pub fn write_atomic_fast(path: &Path, bytes: &[u8]) -> Result<()> {
    replace(path, bytes, false)
}

fn replace(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    not_a_symlink(path)?;
    let dir = parent_dir(path);
    fs::create_dir_all(dir).with_context(|| format!("cannot create folder {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}{TEMP_MARKER}"))
        // As git and editors do: a new file gets 0666 less the umask...
        .permissions(fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temp file in {}", dir.display()))?;
    keep_mode_and_owner(path, tmp.as_file())
        .with_context(|| format!("cannot give the new {} the old one's mode", path.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| {
            if durable {
                tmp.as_file().sync_all()
            } else {
                Ok(())
            }
        })
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    if durable { sync_dir(dir) } else { Ok(()) }
}

/// ...and a rewritten file keeps its mode, and its owner where the process
/// may set it (root rewriting someone else's file).
fn keep_mode_and_owner(path: &Path, new: &File) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Ok(old) = fs::metadata(path) else {
        return Ok(());
    };
    if !old.is_file() {
        return Ok(());
    }
    new.set_permissions(fs::Permissions::from_mode(old.mode() & 0o7777))?;
    let _ = std::os::unix::fs::fchown(new, Some(old.uid()), Some(old.gid()));
    Ok(())
}

/// Refuses an owned file that is a symbolic link: writing through it would
/// change a file outside the tool's (a committed link to `~/.ssh/...`), and
/// replacing it would silently turn the link into a file. Named in the
/// error; nothing is written.
pub fn not_a_symlink(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(crate::error::InputError::in_file(
            path,
            None,
            "is a symbolic link; deploy-session writes its own files in place, never through a link",
        )
        .with_hint("replace the link with a regular file (or remove it)")
        .into()),
        _ => Ok(()),
    }
}

/// Opening options that fail on a symbolic link instead of following it
/// (closing the window between [`not_a_symlink`] and the open).
pub fn no_follow(opts: &mut fs::OpenOptions) -> &mut fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    opts.custom_flags(nix::libc::O_NOFOLLOW)
}

/// What a reader says of a FIFO, device or folder where a file should be.
pub const NOT_REGULAR: &str =
    "is not a regular file (a FIFO, device or folder); deploy-session reads files only";

/// Opens `path` for reading without blocking on it (a FIFO would hang the
/// open) and checks, on the open descriptor (so nothing can be swapped in
/// after the check), that it is a regular file: else an `InvalidInput`
/// error saying [`NOT_REGULAR`]. `None` when it does not exist.
fn open_file_only(path: &Path, follow: bool) -> std::io::Result<Option<File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = nix::libc::O_NONBLOCK | if follow { 0 } else { nix::libc::O_NOFOLLOW };
    let file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            NOT_REGULAR,
        ));
    }
    Ok(Some(file))
}

/// Reads an input file (the config, the master state, the state
/// snapshot), following links as an editor would, but never hanging on a
/// FIFO or reading a device: see [`open_file_only`]. `None` when missing.
pub fn read_regular(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let Some(mut file) = open_file_only(path, true)? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

/// An error from [`read_regular`] as the user's input error (exit 2) when
/// JSON read from a file's bytes: the text checked as UTF-8 once, whole,
/// rather than string by string (a large state or cache decodes ~10 %
/// faster); bytes that are not UTF-8 get serde's own located error.
pub fn json_from_bytes<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

/// the file is not a regular one, else as a read error in context.
pub fn read_problem(e: std::io::Error, shown: &Path) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::InvalidInput {
        crate::error::InputError::in_file(shown, None, NOT_REGULAR)
            .with_hint("replace it with the regular file it should be (or remove it)")
            .into()
    } else {
        anyhow::Error::new(e).context(format!("cannot read {}", shown.display()))
    }
}

/// Opens an owned file for reading, or `None` when it does not exist:
/// never through a symbolic link (a committed link to another repo's
/// trail would be verified as this one's), and never a FIFO or device
/// ([`open_file_only`]). Named in the error; nothing is read.
pub fn open_regular(path: &Path) -> Result<Option<File>> {
    not_a_symlink(path)?;
    match open_file_only(path, false) {
        Ok(file) => Ok(file),
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => not_a_symlink(path).map(|_| None),
        Err(e) => Err(read_problem(e, path)),
    }
}

/// Copies `path` to `path` + `.bak` (atomically) when it exists.
pub fn keep_backup(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bak = path.as_os_str().to_owned();
    bak.push(".bak");
    write_atomic_fast(Path::new(&bak), &bytes)
}

/// Copies `path` to the first free name of `path.bak`, `path.bak.1`,
/// `path.bak.2`, … and returns it: a backup that never replaces an older
/// one (for `init --force`, which may run more than once).
pub fn keep_numbered_backup(path: &Path) -> Result<std::path::PathBuf> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = |n: u32| {
        let mut s = path.as_os_str().to_owned();
        s.push(if n == 0 {
            ".bak".to_string()
        } else {
            format!(".bak.{n}")
        });
        std::path::PathBuf::from(s)
    };
    let target = (0..)
        .map(name)
        .find(|p| fs::symlink_metadata(p).is_err())
        .expect("a free backup name");
    write_atomic(&target, &bytes)?;
    Ok(target)
}

/// fsyncs a folder so a rename inside it survives a power cut.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync folder {}", dir.display()))
}

/// Removes temp files (and temp folders) left in `dir` by writers that died
/// mid-write. Only call while holding the session lock. Returns how many
/// were removed.
pub fn remove_stale_temps(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(TEMP_MARKER))
        .filter(|e| {
            let p = e.path();
            if p.is_dir() {
                fs::remove_dir_all(p).is_ok()
            } else {
                fs::remove_file(p).is_ok()
            }
        })
        .count()
}

/// Removes the temp copies a killed writer left of the file `path` (its
/// `.NAME.ds-tmp.*` siblings) — for files outside the tool's own folders,
/// where only this file's temps are the caller's to remove. Only call while
/// holding the session lock.
pub fn remove_stale_temps_of(path: &Path) -> usize {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return 0;
    };
    let prefix = format!(".{}{TEMP_MARKER}", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .filter(|e| fs::remove_file(e.path()).is_ok())
        .count()
}

/// Removes temp files in `dir` and every folder below it.
pub fn remove_stale_temps_below(dir: &Path) -> usize {
    let mut n = remove_stale_temps(dir);
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                n += remove_stale_temps_below(&e.path());
            }
        }
    }
    n
}

/// The newest entry of `dir` by name (session ids sort by time).
pub fn newest_child(dir: &Path) -> Option<std::path::PathBuf> {
    fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .max()
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewritten_file_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o664, 0o600, 0o640] {
            let p = dir.path().join(format!("f{mode:o}"));
            fs::write(&p, b"old").unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            write_atomic(&p, b"new").unwrap();
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
                mode
            );
            assert_eq!(fs::read(&p).unwrap(), b"new");
        }
    }

    #[test]
    fn replaces_content_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn backup_keeps_previous_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.md");
        fs::write(&p, b"old").unwrap();
        keep_backup(&p).unwrap();
        assert_eq!(fs::read(dir.path().join("f.md.bak")).unwrap(), b"old");
    }

    #[test]
    fn stale_temps_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".state.json.ds-tmp.abc"), b"x").unwrap();
        fs::write(dir.path().join("keep.json"), b"x").unwrap();
        assert_eq!(remove_stale_temps(dir.path()), 1);
        assert!(dir.path().join("keep.json").exists());
    }
}
