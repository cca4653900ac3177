//! File and stdout sink.
//!
//! Invariant: a file written here is either the old one or the complete new one, never half
//! written — bytes go to a temporary file in the same directory, are fsynced, renamed over
//! the target, and the directory is fsynced so the rename survives a power cut. `-` means
//! stdout. Reports and the collector's state file both go through [`write_atomic_with`]:
//! a renderer streams into it, so a large report is never held in memory a second time.

use anyhow::Context;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Buffer between a streaming renderer and its file, pipe or stdout.
const BUF_BYTES: usize = 256 * 1024;

/// Write `bytes` to `path` (`-`: stdout) as described above; errors name the path.
pub fn write_output(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_output_with(path, |w| w.write_all(bytes))
}

/// Like [`write_output`], with the bytes produced by `write` as it goes. If `write` fails,
/// an existing target keeps its old content.
pub fn write_output_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> anyhow::Result<()> {
    if path.as_os_str() == "-" {
        let mut out = buffered(io::stdout().lock(), write)?;
        out.flush()?;
        return Ok(());
    }
    write_atomic_with(path, write)
        .with_context(|| format!("cannot write {}", crate::escape::path(path)))
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Like [`write_atomic`], with the bytes produced by `write` as it goes.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    // Devices and pipes (/dev/null, /dev/stdout, a FIFO) cannot be renamed over: write directly.
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_file() {
            let f = std::fs::OpenOptions::new().write(true).open(path)?;
            return buffered(f, write).map(drop);
        }
    }
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let f = buffered(std::fs::File::create(&tmp)?, write)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Run `write` on `inner` through a buffer and flush it; give `inner` back. When `write`
/// fails, what is still buffered is dropped, not written.
fn buffered<W: Write>(
    inner: W,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<W> {
    let mut buf = BufWriter::with_capacity(BUF_BYTES, inner);
    if let Err(e) = write(&mut buf) {
        let _ = buf.into_parts();
        return Err(e);
    }
    buf.into_inner().map_err(io::IntoInnerError::into_error)
}

/// fsync a directory, so renames and creations in it survive a power cut.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// The directory a path lives in (`.` for a bare file name).
pub fn parent_dir(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_replace_and_device() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
        write_atomic(Path::new("/dev/null"), b"x").unwrap();
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn streamed_write_replaces_target_and_writes_devices() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        write_output(&p, b"old\n").unwrap();
        // Pieces smaller and larger than the buffer, in order.
        write_output_with(&p, |w| {
            w.write_all(b"head ")?;
            w.write_all(&vec![b'a'; BUF_BYTES + 3])?;
            writeln!(w, " tail {}", 42)
        })
        .unwrap();
        let mut want = b"head ".to_vec();
        want.extend(std::iter::repeat_n(b'a', BUF_BYTES + 3));
        want.extend_from_slice(b" tail 42\n");
        assert_eq!(std::fs::read(&p).unwrap(), want);
        assert_eq!(names(dir.path()), ["r.json"]);
        write_output_with(Path::new("/dev/null"), |w| w.write_all(&want)).unwrap();
    }

    #[test]
    fn failed_writer_keeps_old_target_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        write_atomic(&p, b"old report\n").unwrap();
        let tmp = dir
            .path()
            .join(format!(".r.json.tmp-{}", std::process::id()));
        let err = write_output_with(&p, |w| {
            // More than the buffer holds, so the failure comes midway through a temp file
            // that already has bytes on disk.
            w.write_all(&vec![b'x'; BUF_BYTES + 1000])?;
            assert_eq!(
                std::fs::metadata(&tmp).unwrap().len(),
                (BUF_BYTES + 1000) as u64
            );
            Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "renderer stopped",
            ))
        })
        .unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            format!("cannot write {}: renderer stopped", crate::escape::path(&p))
        );
        // The io error kind stays discoverable through the context (exit 0 on a closed pipe).
        assert!(crate::is_broken_pipe(&err));
        assert_eq!(std::fs::read(&p).unwrap(), b"old report\n");
        assert_eq!(names(dir.path()), ["r.json"]);
    }
}
