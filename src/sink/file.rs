//! File and stdout sink.
//!
//! Invariant: a file written here is either the old one or the complete new one, never half
//! written — bytes go to a temporary file in the same directory, are fsynced, renamed over
//! the target, and the directory is fsynced so the rename survives a power cut. `-` means
//! stdout. Reports and the collector's state file both go through [`write_atomic_with`]:
//! a renderer streams into it, so a large report is never held in memory a second time.
//! [`check_destinations`] keeps a command's outputs apart: one regular file named twice is an
//! error, and outputs sharing a stream are written one after the other.

use anyhow::Context;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Buffer between a streaming renderer and its file, pipe or stdout.
const BUF_BYTES: usize = 256 * 1024;

/// `-`, or a name of this process' own stdout.
pub fn is_stdout(path: &Path) -> bool {
    descriptor(path) == Some(1)
}

/// The descriptor a path names, if it is one of this process' own: `-` (stdout),
/// `/dev/stdout`, `/dev/stderr`, `/dev/stdin`, `/dev/fd/N`, `/proc/self/fd/N`. Such an output
/// is written through the descriptor, as a shell's `>/dev/stderr` is: when it leads to a
/// regular file, the path would otherwise look like a file to replace atomically, with a
/// temporary file renamed over a link in `/dev` (as root, `/dev/stderr` itself replaced).
pub fn descriptor(path: &Path) -> Option<i32> {
    let name = path.to_str()?;
    match name {
        "-" | "/dev/stdout" => return Some(1),
        "/dev/stderr" => return Some(2),
        "/dev/stdin" => return Some(0),
        _ => {}
    }
    let own = format!("/proc/{}/fd/", std::process::id());
    let number = ["/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/", &own]
        .iter()
        .find_map(|dir| name.strip_prefix(dir))?;
    if number.is_empty() || number.len() > 9 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

/// A descriptor of this process, duplicated (the caller's copy closes on drop, the original
/// stays open); an error (`EBADF`) if it is not open.
fn duplicate(fd: i32) -> io::Result<std::fs::File> {
    // SAFETY: `fcntl` on any integer is defined behaviour; a closed one fails with EBADF.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `copy` was just made by this process and nothing else owns it.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(copy) })
}

/// Why a path is not to be replaced by a renamed temporary file: a link in `/dev` that leads
/// to a regular file or nowhere (the descriptor aliases live there, and one this process
/// does not recognise as such must not be replaced by a regular file). A link there to a
/// device is written through, as any device is.
fn not_replaceable(path: &Path) -> Option<String> {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let in_dev = std::fs::canonicalize(parent_dir(path)).is_ok_and(|d| d == Path::new("/dev"));
    let to_file = std::fs::metadata(path).map_or(true, |m| m.is_file());
    (is_link && in_dev && to_file).then(|| {
        format!(
            "{} is a link in /dev; it is not replaced by a regular file (name the file it leads to)",
            crate::escape::path(path)
        )
    })
}

/// Whether a file owner can be trusted with what this run writes or reads: this process'
/// effective user, or root (another user may have planted it in a shared folder).
pub fn ours_or_roots(uid: u32) -> bool {
    // SAFETY: geteuid has no preconditions and touches no memory.
    uid == 0 || uid == unsafe { libc::geteuid() }
}

/// Why an output that leads to a device or FIFO is not written through: a symbolic link to
/// one, or a FIFO, that another user (not root) owns. Someone who can write to a shared
/// output folder could plant `out.json -> /dev/sda` (root wrote the report onto the disk) or
/// a FIFO (the run hung for ever); devices themselves only root makes. A link or FIFO of our
/// own (or root's) is followed as a shell redirection is.
fn foreign_stream(path: &Path) -> Option<String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let target = std::fs::metadata(path).ok()?;
    if target.is_file() || target.is_dir() {
        return None;
    }
    let link = std::fs::symlink_metadata(path).ok()?;
    let by_link = link.file_type().is_symlink() && !ours_or_roots(link.uid());
    let by_fifo = target.file_type().is_fifo() && !ours_or_roots(target.uid());
    (by_link || by_fifo).then(|| {
        format!(
            "{} leads to a device or FIFO through a link or FIFO of another user (uid {}): refused; name a file of your own",
            crate::escape::path(path),
            if by_link { link.uid() } else { target.uid() }
        )
    })
}

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
    match descriptor(path) {
        Some(1) => {
            let written = buffered(io::stdout().lock(), write).and_then(|mut out| out.flush());
            return written.context("cannot write to stdout");
        }
        Some(2) => {
            let written = buffered(io::stderr().lock(), write).and_then(|mut out| out.flush());
            return written.context("cannot write to stderr");
        }
        Some(fd) => {
            let written = duplicate(fd)
                .and_then(|file| buffered(file, write))
                .and_then(|mut out| out.flush());
            return written.with_context(|| format!("cannot write {}", crate::escape::path(path)));
        }
        None => {}
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
    if let Some(why) = foreign_stream(path) {
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, why));
    }
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_file() {
            let f = std::fs::OpenOptions::new().write(true).open(path)?;
            return buffered(f, write).map(drop);
        }
    }
    if let Some(why) = not_replaceable(path) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
    }
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (tmp, file) = create_temp(dir, &name)?;
    // A file replaced keeps its permissions (a 0600 report came back 0644, readable by all).
    let kept = std::fs::symlink_metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.permissions());
    let result = (|| {
        if let Some(permissions) = kept {
            file.set_permissions(permissions)?;
        }
        let f = buffered(EarlyWriteback::new(file), write)?;
        f.file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The start of the temporary files' names that [`write_atomic`] writes `name` through: the
/// name where it leaves room for the suffix (NAME_MAX is 255 bytes).
fn temp_prefix(name: &str) -> String {
    let name = if name.len() <= 200 { name } else { "logwarden" };
    format!(".{name}.tmp-")
}

/// Remove what [`write_atomic`] of `dir/name` left when its process was killed. Only for a
/// caller that no other writer of that file can run beside (it holds a lock).
pub fn remove_stale_temps(dir: &Path, name: &str) {
    use std::os::unix::ffi::OsStrExt;
    let prefix = temp_prefix(name);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_name().as_bytes().starts_with(prefix.as_bytes()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A new temporary file beside the target: `O_EXCL` with a random name, so a link planted
/// under a guessable name (in a shared directory) is never followed and written through.
fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, std::fs::File)> {
    use std::hash::{BuildHasher, Hasher};
    let mut tries = 0;
    loop {
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let tmp = dir.join(format!(
            "{}{}-{random:016x}",
            temp_prefix(name),
            std::process::id()
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 16 => tries += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Bytes written between two requests to start writing back.
const WRITEBACK_BYTES: u64 = 8 << 20;

/// A file that asks the kernel to start writing back every [`WRITEBACK_BYTES`] as they are
/// written, so the disk works while the report is still being rendered and the fsync at the
/// end waits for the last piece only (the JSON of a 16-day run is 200+ MB).
struct EarlyWriteback {
    file: std::fs::File,
    written: u64,
    started: u64,
}

impl EarlyWriteback {
    fn new(file: std::fs::File) -> Self {
        EarlyWriteback {
            file,
            written: 0,
            started: 0,
        }
    }
}

impl Write for EarlyWriteback {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= WRITEBACK_BYTES {
            start_writeback(&self.file, self.started, self.written - self.started);
            self.started = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Start (not wait for) writing `len` bytes at `offset` of `file` to disk. Only a hint: an
/// error here comes back from the fsync that follows.
#[cfg(target_os = "linux")]
fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: a plain syscall on an open descriptor; it reads no memory of ours.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &std::fs::File, _offset: u64, _len: u64) {}

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

/// Where a command's text report goes: `report` if given; else stdout, unless another output
/// (JSON, HTML) already owns stdout, and then nowhere.
pub fn text_report_place<'a>(
    report: Option<&'a Path>,
    others: &[Option<&Path>],
) -> Option<&'a Path> {
    match report {
        Some(path) => Some(path),
        None if others.iter().any(|p| p.is_some_and(is_stdout)) => None,
        None => Some(Path::new("-")),
    }
}

/// Whether two outputs go to one stream (stdout, a FIFO, however each is named) or to two
/// character devices (maybe one terminal): then they are written one after the other; an error if two name one regular file,
/// however it is spelled (`out.json`, `./out.json`, a hard link, `-` with stdout redirected
/// into it): the second would silently replace the first, or the stream write into a file
/// replaced under it; an error if one names a directory or a descriptor that is not open
/// (found before a long run, not after it). `/dev/null` can take any number.
pub fn check_destinations(outputs: &[(&str, Option<&Path>)]) -> anyhow::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    /// Written through (a descriptor, a device, a FIFO) or replaced (a regular file, or a
    /// name not made yet), and what it is: device and inode where it exists.
    #[derive(PartialEq)]
    enum Key {
        Id(u64, u64),
        Path(PathBuf),
    }
    enum Place {
        /// Written through; `true` for a character device: a terminal, maybe the one
        /// another output names differently (`/dev/tty` is its own device, not the
        /// `/dev/pts/N` on stdout that it reaches).
        Stream(Key, bool),
        File(Key),
    }
    let null = std::fs::metadata("/dev/null").ok().map(|m| m.rdev());
    let is_null = |m: &std::fs::Metadata| {
        use std::os::unix::fs::FileTypeExt;
        m.file_type().is_char_device() && Some(m.rdev()) == null
    };
    let id = |m: &std::fs::Metadata| Key::Id(m.dev(), m.ino());
    let stream = |m: &std::fs::Metadata| {
        use std::os::unix::fs::FileTypeExt;
        Place::Stream(id(m), m.file_type().is_char_device())
    };
    let place = |flag: &str, p: &Path| -> anyhow::Result<Option<Place>> {
        if let Some(fd) = descriptor(p) {
            let meta = duplicate(fd).and_then(|f| f.metadata()).map_err(|e| {
                anyhow::anyhow!(
                    "{flag} names {}, a descriptor that is not open ({})",
                    crate::escape::path(p),
                    crate::escape::text(&e.to_string())
                )
            })?;
            // Open for reading only (`3<file`, a directory): found now, not after the run.
            // SAFETY: `fcntl` on any integer is defined behaviour; `fd` is open (above).
            let mode = unsafe { libc::fcntl(fd, libc::F_GETFL) } & libc::O_ACCMODE;
            if mode == libc::O_RDONLY {
                anyhow::bail!(
                    "{flag} names {}, a descriptor open for reading only",
                    crate::escape::path(p)
                );
            }
            return Ok((!is_null(&meta)).then(|| stream(&meta)));
        }
        if let Some(why) = not_replaceable(p).or_else(|| foreign_stream(p)) {
            anyhow::bail!("{flag}: {why}");
        }
        Ok(match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                anyhow::bail!("{flag} names a directory: {}", crate::escape::path(p))
            }
            Ok(m) if is_null(&m) => None,
            Ok(m) if !m.is_file() => Some(stream(&m)),
            Ok(m) => Some(Place::File(id(&m))),
            Err(_) => {
                let dir = parent_dir(p);
                Some(Place::File(Key::Path(
                    match (std::fs::canonicalize(dir), p.file_name()) {
                        (Ok(dir), Some(name)) => dir.join(name),
                        // A directory not made yet (the run makes it): `./new/x` is `new/x`.
                        _ => std::env::current_dir()
                            .unwrap_or_default()
                            .join(p)
                            .components()
                            .filter(|c| !matches!(c, std::path::Component::CurDir))
                            .collect(),
                    },
                )))
            }
        })
    };
    let mut seen: Vec<(&str, Place)> = Vec::new();
    let mut shared_stream = false;
    for (flag, path) in outputs {
        let Some(path) = path else { continue };
        let Some(here) = place(flag, path)? else {
            continue;
        };
        for (other, there) in &seen {
            match (&here, there) {
                // One stream, or two devices that may be one terminal: writing them one
                // after the other costs little, interleaving would garble both.
                (Place::Stream(a, tty_a), Place::Stream(b, tty_b))
                    if a == b || (*tty_a && *tty_b) =>
                {
                    shared_stream = true
                }
                (Place::File(a), Place::File(b)) if a == b => anyhow::bail!(
                    "{other} and {flag} name the same file ({}); give each output its own",
                    crate::escape::path(path)
                ),
                // A stream into a regular file that the other output replaces (`--json -
                // --report F > F`): what the stream writes would go to the file unlinked.
                (Place::Stream(a, _), Place::File(b)) | (Place::File(b), Place::Stream(a, _))
                    if a == b =>
                {
                    anyhow::bail!(
                        "{other} and {flag} go to the same file ({}); give each output its own",
                        crate::escape::path(path)
                    )
                }
                _ => {}
            }
        }
        seen.push((flag, here));
    }
    Ok(shared_stream)
}

/// An error if an output names an existing file that is also an input (however either is
/// spelled: compared by device and inode): it would replace the log with the report.
pub fn refuse_inputs_as_outputs(
    inputs: &[crate::input::Input],
    outputs: &[(&str, Option<&Path>)],
) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| (m.dev(), m.ino()))
    };
    // stdin, stdout and other descriptors as what they are (`< access.log`, `>> access.log`).
    let fd_id = |fd: i32| {
        let m = duplicate(fd)
            .ok()?
            .metadata()
            .ok()
            .filter(|m| m.is_file())?;
        Some((m.dev(), m.ino()))
    };
    let written: Vec<(&str, &Path, (u64, u64))> = outputs
        .iter()
        .filter_map(|&(flag, path)| {
            let path = path?;
            let id = match descriptor(path) {
                Some(fd) => fd_id(fd),
                None => id(path),
            };
            Some((flag, path, id?))
        })
        .collect();
    if written.is_empty() {
        // No output is a file yet: none can be an input (and 20,000 inputs are not looked at).
        return Ok(());
    }
    let read: Vec<(u64, u64)> = inputs
        .iter()
        .filter_map(|i| match i {
            crate::input::Input::File(p, _) => id(p),
            crate::input::Input::Stdin => fd_id(0),
            crate::input::Input::Unusable(..) => None,
        })
        .collect();
    for (flag, path, written) in written {
        if read.contains(&written) {
            match is_stdout(path) {
                true => anyhow::bail!(
                    "stdout (where {flag} goes) is one of the inputs: the report would be written into it"
                ),
                false => anyhow::bail!(
                    "{flag} names {}, which is one of the inputs: the report would be written into it",
                    crate::escape::path(path)
                ),
            }
        }
    }
    Ok(())
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
        // A file replaced keeps its permissions.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&p, b"three").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            (std::fs::read(&p).unwrap(), mode),
            (b"three".to_vec(), 0o600)
        );
    }

    #[test]
    fn a_file_written_back_early_has_every_byte_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.json");
        // Pieces of odd sizes across several writeback steps, one larger than a step.
        let pieces: Vec<Vec<u8>> = (0..40u32)
            .map(|i| vec![b'a' + (i % 26) as u8; 1 + (i as usize * 7919 * 97) % (3 << 20)])
            .chain(std::iter::once(vec![b'z'; 9 << 20]))
            .collect();
        write_atomic_with(&p, |w| {
            pieces.iter().try_for_each(|piece| w.write_all(piece))
        })
        .unwrap();
        let want = pieces.concat();
        assert!(want.len() as u64 > 3 * WRITEBACK_BYTES);
        assert_eq!(std::fs::read(&p).unwrap(), want);
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
    fn links_planted_under_temp_names_are_not_followed() {
        // The names the temp file once had (PID and a counter): guessable, and opened with
        // O_TRUNC through any link there.
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "keep me").unwrap();
        for n in 0..2048 {
            let planted = dir
                .path()
                .join(format!(".r.txt.tmp-{}-{n}", std::process::id()));
            std::os::unix::fs::symlink(&victim, planted).unwrap();
        }
        let p = dir.path().join("r.txt");
        write_atomic(&p, b"report").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        assert!(std::fs::symlink_metadata(&p).unwrap().is_file());
        assert_eq!(std::fs::read(&p).unwrap(), b"report");
    }

    #[test]
    fn a_long_output_name_leaves_room_for_the_temp_suffix() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(format!("{}.json", "r".repeat(245)));
        write_atomic(&p, b"long").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"long");
    }

    #[test]
    fn an_output_that_is_an_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        std::fs::write(&log, "x\n").unwrap();
        let inputs = [crate::input::Input::File(
            log.clone(),
            crate::input::Kind::Regular,
        )];
        let other = dir.path().join("r.json");
        let same = dir
            .path()
            .join("../")
            .join(dir.path().file_name().unwrap())
            .join("access.log");
        assert!(refuse_inputs_as_outputs(&inputs, &[("--json", Some(&other))]).is_ok());
        let err = refuse_inputs_as_outputs(
            &inputs,
            &[("--json", Some(&other)), ("--report", Some(&same))],
        )
        .unwrap_err();
        assert!(format!("{err}").starts_with("--report names "), "{err}");
        assert!(
            format!("{err}").ends_with(
                "access.log, which is one of the inputs: the report would be written into it"
            ),
            "{err}"
        );
        // A hard link is the same file.
        let linked = dir.path().join("linked");
        std::fs::hard_link(&log, &linked).unwrap();
        assert!(refuse_inputs_as_outputs(&inputs, &[("--html", Some(&linked))]).is_err());
        assert!(refuse_inputs_as_outputs(&inputs, &[("--json", Some(Path::new("-")))]).is_ok());
    }

    #[test]
    fn failed_writer_keeps_old_target_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        write_atomic(&p, b"old report\n").unwrap();
        let err = write_output_with(&p, |w| {
            // More than the buffer holds, so the failure comes midway through a temp file
            // that already has bytes on disk.
            w.write_all(&vec![b'x'; BUF_BYTES + 1000])?;
            let temp: Vec<u64> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap())
                .filter(|e| e.file_name().to_string_lossy().starts_with(".r.json.tmp-"))
                .map(|e| e.metadata().unwrap().len())
                .collect();
            assert_eq!(temp, [(BUF_BYTES + 1000) as u64]);
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

    #[test]
    fn descriptor_names() {
        let own = format!("/proc/{}/fd/5", std::process::id());
        for (name, fd) in [
            ("-", Some(1)),
            ("/dev/stdout", Some(1)),
            ("/dev/fd/1", Some(1)),
            ("/proc/self/fd/1", Some(1)),
            ("/dev/stderr", Some(2)),
            ("/dev/stdin", Some(0)),
            ("/dev/fd/12", Some(12)),
            ("/proc/thread-self/fd/3", Some(3)),
            (own.as_str(), Some(5)),
            ("/dev/fd/", None),
            ("/dev/fd/x", None),
            ("/dev/fd/1/x", None),
            ("/dev/fd/-1", None),
            ("/dev/fd/9999999999", None),
            ("/proc/1/fd/1", None),
            ("out.json", None),
            ("./-", None),
        ] {
            assert_eq!(descriptor(Path::new(name)), fd, "{name}");
        }
    }

    #[test]
    fn destinations_shared_streams_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out");
        let dotted = dir.path().join(".").join("out");
        let other = dir.path().join("other");
        let check = |places: &[Option<&Path>]| {
            let flags = ["--json", "--html", "--report"];
            let outputs: Vec<(&str, Option<&Path>)> =
                flags.iter().copied().zip(places.iter().copied()).collect();
            check_destinations(&outputs).map_err(|e| e.to_string())
        };
        let (dash, null, dev_stdout) = (
            Some(Path::new("-")),
            Some(Path::new("/dev/null")),
            Some(Path::new("/dev/stdout")),
        );
        assert_eq!(check(&[null, null, null]), Ok(false));
        assert_eq!(check(&[dash, None, dash]), Ok(true));
        assert_eq!(check(&[dev_stdout, None, dash]), Ok(true));
        assert_eq!(check(&[dash, Some(&file), Some(&other)]), Ok(false));
        assert_eq!(check(&[Some(&file), null, dash]), Ok(false));
        // Two character devices (a terminal named as `/dev/tty` and as `/dev/pts/N`) are
        // written one after the other.
        let (zero, full) = (Some(Path::new("/dev/zero")), Some(Path::new("/dev/full")));
        assert_eq!(check(&[zero, None, full]), Ok(true));
        assert_eq!(check(&[zero, Some(&file), None]), Ok(false));
        let err = check(&[Some(&file), None, Some(&dotted)]).unwrap_err();
        assert!(
            err.starts_with("--json and --report name the same file"),
            "{err}"
        );
        assert!(check(&[None, Some(&other), Some(&other)]).is_err());
        // A hard link is the same file; a descriptor not open is found before any run.
        std::fs::write(&file, "x").unwrap();
        let linked = dir.path().join("linked");
        std::fs::hard_link(&file, &linked).unwrap();
        let err = check(&[Some(&file), Some(&linked), None]).unwrap_err();
        assert!(
            err.starts_with("--json and --html name the same file"),
            "{err}"
        );
        let err = check(&[Some(Path::new("/dev/fd/987654")), None, None]).unwrap_err();
        assert!(
            err.starts_with("--json names /dev/fd/987654, a descriptor that is not open ("),
            "{err}"
        );
    }
}
