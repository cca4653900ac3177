//! Input discovery: command-line paths → the ordered list of inputs to analyze.
//!
//! Invariant: the list is deterministic (directories expanded in byte order of file names),
//! a file named explicitly is always read, and inside a directory only names starting with
//! `access` are access logs — the cron output, our history and anything else stay out.
//! A path that does not exist is fatal (exit 2); a bad entry found inside a directory is
//! returned as an input carrying its error, so the rest can still be analyzed.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// One thing to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    /// A file, and what discovery found there (a stat, or the directory listing's type).
    File(PathBuf, Kind),
    /// Found in a directory but unusable (a sub-directory, a dangling link, unreadable).
    Unusable(PathBuf, String),
}

/// What discovery found at a file input's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file: opened to be held (mapped or read) with no stat of its own first
    /// (20,000 small files: 20 ms of stats).
    Regular,
    /// Anything else named on the command line (a FIFO, a device): never opened but to be
    /// read as a stream, since opening a FIFO makes this process one of its readers.
    Special,
}

impl Input {
    pub fn display(&self) -> String {
        match self {
            Input::Stdin => "-".to_string(),
            Input::File(p, _) | Input::Unusable(p, _) => crate::escape::path(p),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("{path}: no such file or directory")]
    Missing { path: String },
    /// There but not usable: no permission, a symlink loop, a path through a file. (The
    /// system's reason is the `source`, which the error chain prints after the path.)
    #[error("{path}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: cannot list directory")]
    ListDir {
        path: String,
        source: std::io::Error,
    },
    #[error("no access logs found in {paths} (looked for files named access*)")]
    NothingFound { paths: String },
    /// Two readers of one stream would each get parts of it (and the second open of a FIFO
    /// waits for a writer for ever).
    #[error("{path} is named twice; a stream (stdin, a pipe, a device) can be read once")]
    StreamTwice { path: String },
    /// Stdin takes no part in finding duplicate files: read as well, its lines would count
    /// twice.
    #[error("stdin (-) is the file {path}, which is named too; name it once")]
    StdinIsNamed { path: String },
}

/// Whether a directory entry name looks like an access log (`access.log`, `access_2023-06-19.log`,
/// `access.log.2.gz`, `access.log-20240101.gz`, ...).
pub fn is_access_log_name(name: &[u8]) -> bool {
    name.starts_with(b"access")
}

pub fn discover(paths: &[PathBuf]) -> Result<Vec<Input>, DiscoverError> {
    use std::os::unix::fs::MetadataExt;
    let mut inputs = Vec::new();
    // The streams named so far, by device and inode (stdin's is what fd 0 is).
    let mut streams: Vec<(u64, u64)> = Vec::new();
    let mut once = |path: &Path, meta: Option<fs::Metadata>| match meta {
        Some(m) if !m.is_file() && !m.is_dir() => {
            let id = (m.dev(), m.ino());
            if streams.contains(&id) {
                return Err(DiscoverError::StreamTwice {
                    path: crate::escape::path(path),
                });
            }
            streams.push(id);
            Ok(())
        }
        _ => Ok(()),
    };
    for path in paths {
        if path.as_os_str() == "-" {
            if inputs.iter().any(|i| matches!(i, Input::Stdin)) {
                return Err(DiscoverError::StreamTwice { path: "-".into() });
            }
            use std::os::fd::AsFd;
            let stdin = std::io::stdin().as_fd().try_clone_to_owned().ok();
            let meta = stdin.and_then(|fd| fs::File::from(fd).metadata().ok());
            once(path, meta)?;
            inputs.push(Input::Stdin);
            continue;
        }
        let meta = fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DiscoverError::Missing {
                path: crate::escape::path(path),
            },
            _ => DiscoverError::Unreadable {
                path: crate::escape::path(path),
                source: e,
            },
        })?;
        if meta.is_dir() {
            expand_dir(path, &mut inputs)?;
        } else {
            let kind = match meta.is_file() {
                true => Kind::Regular,
                false => Kind::Special,
            };
            once(path, Some(meta))?;
            inputs.push(Input::File(path.clone(), kind));
        }
    }
    if inputs.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| crate::escape::path(p)).collect();
        return Err(DiscoverError::NothingFound {
            paths: shown.join(", "),
        });
    }
    Ok(inputs)
}

/// With duplicate detection on: an error when stdin is redirected from a regular file that
/// is also an input (`analyze - a.log < a.log`). Stdin takes no part in the detection, so its
/// lines would count twice.
pub fn refuse_stdin_named(inputs: &[Input]) -> Result<(), DiscoverError> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    if !inputs.iter().any(|i| matches!(i, Input::Stdin)) {
        return Ok(());
    }
    let stdin = std::io::stdin().as_fd().try_clone_to_owned().ok();
    let Some(id) = stdin
        .and_then(|fd| fs::File::from(fd).metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| (m.dev(), m.ino()))
    else {
        return Ok(());
    };
    for input in inputs {
        if let Input::File(p, _) = input {
            if fs::metadata(p).is_ok_and(|m| (m.dev(), m.ino()) == id) {
                return Err(DiscoverError::StdinIsNamed {
                    path: crate::escape::path(p),
                });
            }
        }
    }
    Ok(())
}

fn expand_dir(dir: &Path, inputs: &mut Vec<Input>) -> Result<(), DiscoverError> {
    let list_err = |source| DiscoverError::ListDir {
        path: crate::escape::path(dir),
        source,
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(list_err)? {
        let entry = entry.map_err(list_err)?;
        let name = entry.file_name();
        if is_access_log_name(name.as_bytes()) {
            // The listing's own file type: no stat (a link or an unknown type is looked at).
            let regular = entry.file_type().is_ok_and(|t| t.is_file());
            names.push((name, regular));
        }
    }
    // By name (unique in a folder, so unstable is stable), joined to the folder after.
    names.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for (name, regular) in names {
        let path = dir.join(name);
        if regular {
            // A regular file, not a link: what a stat would say (20,000 stats: 20 ms).
            inputs.push(Input::File(path, Kind::Regular));
            continue;
        }
        inputs.push(match fs::metadata(&path) {
            Ok(m) if m.is_dir() => {
                Input::Unusable(path, "is a directory (not searched recursively)".into())
            }
            // A FIFO or device found by a directory scan could block forever; naming it
            // explicitly reads it.
            Ok(m) if !m.is_file() => Input::Unusable(
                path,
                "not a regular file (name it explicitly to read a pipe or device)".into(),
            ),
            Ok(_) => Input::File(path, Kind::Regular),
            Err(e) => {
                let why = match (fs::symlink_metadata(&path).is_ok(), e.raw_os_error()) {
                    (true, Some(libc::ELOOP)) => format!("symbolic link loop ({e})"),
                    (true, _) => format!("dangling symbolic link ({e})"),
                    _ => e.to_string(),
                };
                Input::Unusable(path, why)
            }
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_named_twice_is_refused() {
        let err = |paths: &[&str]| {
            let paths: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
            discover(&paths).err().map(|e| e.to_string())
        };
        assert_eq!(
            err(&["-", "-"]).as_deref(),
            Some("- is named twice; a stream (stdin, a pipe, a device) can be read once")
        );
        assert!(err(&["/dev/null", "/dev/null"])
            .unwrap()
            .starts_with("/dev/null is named twice"));
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("access.fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: a plain syscall on a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let again = dir.path().join(".").join("access.fifo");
        let paths = [fifo.clone(), again];
        assert!(matches!(
            discover(&paths),
            Err(DiscoverError::StreamTwice { .. })
        ));
        // One of each is fine, and a regular file named twice is left to duplicate detection.
        let log = dir.path().join("access.log");
        fs::write(&log, "x\n").unwrap();
        // Only the regular file is marked to be held without a look of its own.
        assert_eq!(
            discover(&[fifo.clone(), log.clone(), log.clone()]).unwrap(),
            [
                Input::File(fifo, Kind::Special),
                Input::File(log.clone(), Kind::Regular),
                Input::File(log, Kind::Regular)
            ]
        );
    }

    #[test]
    fn directory_expansion_filters_and_sorts() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "access.log.2.gz",
            "access_2023-06-19.log",
            "cronjob_logs",
            "monitoring.log",
            "access.log",
            "history.jsonl",
        ] {
            fs::write(dir.path().join(name), b"").unwrap();
        }
        fs::create_dir(dir.path().join("access_old")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/x", dir.path().join("access.log.9")).unwrap();
        let found = discover(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<String> = found
            .iter()
            .map(|i| match i {
                // From the listing's type: a regular file, opened with no look of its own.
                Input::File(p, kind) => {
                    assert_eq!(*kind, Kind::Regular, "{p:?}");
                    p.file_name().unwrap().to_string_lossy().into_owned()
                }
                Input::Unusable(p, _) => format!("!{}", p.file_name().unwrap().to_string_lossy()),
                Input::Stdin => "-".into(),
            })
            .collect();
        assert_eq!(
            names,
            [
                "access.log",
                "access.log.2.gz",
                "!access.log.9",
                "access_2023-06-19.log",
                "!access_old"
            ]
        );
    }

    #[test]
    fn explicit_files_always_read_and_missing_is_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("cronjob_logs");
        fs::write(&other, b"x").unwrap();
        assert_eq!(
            discover(std::slice::from_ref(&other)).unwrap(),
            vec![Input::File(other, Kind::Regular)]
        );
        assert!(matches!(
            discover(&[dir.path().join("nope")]),
            Err(DiscoverError::Missing { .. })
        ));
        // There but unusable (a path through a file; as root, no permission error to make):
        // the system's reason, not "no such file".
        let through = dir.path().join("cronjob_logs/x");
        let err = discover(&[through]).unwrap_err();
        assert!(matches!(err, DiscoverError::Unreadable { .. }));
        let chain = format!("{:#}", anyhow::Error::from(err));
        assert!(
            chain.ends_with("cronjob_logs/x: Not a directory (os error 20)"),
            "{chain}"
        );
        assert!(matches!(
            discover(&[dir.path().to_path_buf()]),
            Err(DiscoverError::NothingFound { .. })
        ));
    }
}
