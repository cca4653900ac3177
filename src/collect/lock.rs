//! The collect lock: `DEST/.logwarden-collect.lock`, held with `flock(LOCK_EX | LOCK_NB)`.
//!
//! Invariant: at most one collect works on a destination at a time; the lock belongs to the
//! open file description, so the kernel releases it when the process dies (no stale locks to
//! clean up by hand). The file itself is left in place on purpose: deleting it would let two
//! runs lock two different inodes.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

pub const LOCK_FILE: &str = ".logwarden-collect.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another logwarden collect is already running on {dest} (lock {lock} is held); try again when it has finished")]
    Busy { dest: String, lock: String },
    #[error("cannot lock {lock}")]
    Io {
        lock: String,
        source: std::io::Error,
    },
}

/// Held while alive.
#[derive(Debug)]
pub struct DestLock {
    _file: File,
    pub path: PathBuf,
}

pub fn acquire(dest: &Path) -> Result<DestLock, LockError> {
    let path = dest.join(LOCK_FILE);
    let io_err = |source| LockError::Io {
        lock: crate::escape::path(&path),
        source,
    };
    // Not through a link planted in its name (root made or truncated the file it led to).
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(&path)
        .map_err(io_err)?;
    // SAFETY: flock on a descriptor we own; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(LockError::Busy {
                dest: crate::escape::path(dest),
                lock: crate::escape::path(&path),
            });
        }
        return Err(io_err(err));
    }
    Ok(DestLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_release() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path()).unwrap();
        let second = acquire(dir.path()).unwrap_err();
        assert!(matches!(second, LockError::Busy { .. }));
        assert!(second.to_string().contains("already running"));
        drop(first);
        assert!(acquire(dir.path()).is_ok());
    }

    #[test]
    fn an_unusable_lock_path_gives_its_reason_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(LOCK_FILE)).unwrap();
        let err = anyhow::Error::from(acquire(dir.path()).unwrap_err());
        let lock = crate::escape::path(&dir.path().join(LOCK_FILE));
        assert_eq!(
            format!("{err:#}"),
            format!("cannot lock {lock}: Is a directory (os error 21)")
        );
    }
}
