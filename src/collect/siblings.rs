//! The live access log and its rotated siblings, opened and fingerprinted.
//!
//! Siblings of `access.log` are `access.log.N`, `access.log.N.gz` (numbered rotation) and
//! `access.log-DIGITS[-DIGITS...]` with an optional `.gz` (logrotate `dateext`). Invariant: the
//! list is ordered oldest first (dateext by date, then numbered by descending N, the live file
//! last), each file is held open by one descriptor for the whole try (a rename while we read
//! changes nothing; a run tries again when one did, see [`settled`]), and gzip is recognised
//! by its magic bytes, never by the name.

use crate::input::source::GzipMembers;
use anyhow::Context;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How many leading (decompressed) bytes identify a file.
pub const FINGERPRINT_BYTES: usize = 4096;

/// How [`SourceFile::identity`] opens for a padded file: a NUL and the padding's length.
pub const PADDED_HEADER: usize = 1 + 8;

/// One source file, opened.
pub struct SourceFile {
    pub path: PathBuf,
    pub name: String,
    pub file: File,
    pub gzip: bool,
    /// The first up to [`FINGERPRINT_BYTES`] decompressed bytes.
    pub prefix: Vec<u8>,
    /// What the state's fingerprint is taken of: `prefix`; or, for a file that starts with
    /// NUL padding (a writer without `O_APPEND` goes on at its offset after `copytruncate`),
    /// a NUL, the padding's length (8 bytes, little-endian) and up to [`FINGERPRINT_BYTES`]
    /// bytes after it: the first 4 KiB of every such file are NULs alike, so the rotated copy
    /// and the next live file both passed for the one stream.
    pub identity: Vec<u8>,
    /// Decompressed length at planning time.
    pub len: u64,
    /// Whether the writer may still append (a plain file): only complete lines are copied.
    pub may_grow: bool,
}

impl SourceFile {
    /// Whether it starts with NUL padding: its `identity` is not its `prefix`.
    pub fn padded(&self) -> bool {
        self.prefix.first() == Some(&0)
    }

    /// The text its `identity` holds after the padding (up to [`FINGERPRINT_BYTES`]); empty
    /// for a file without padding.
    pub fn text_after_padding(&self) -> &[u8] {
        match self.padded() {
            true => self.identity.get(PADDED_HEADER..).unwrap_or_default(),
            false => &[],
        }
    }

    /// How many NUL bytes it starts with (as far as it was read when described).
    pub fn padding(&self) -> u64 {
        match (self.padded(), self.identity.get(1..PADDED_HEADER)) {
            (true, Some(len)) => len.try_into().map_or(0, u64::from_le_bytes),
            _ => 0,
        }
    }
}

/// Sort rank: lower is older.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    DateExt(Vec<u8>),
    Numbered(std::cmp::Reverse<u64>),
    Live,
}

fn rank(base: &[u8], name: &[u8]) -> Option<Rank> {
    if name == base {
        return Some(Rank::Live);
    }
    let rest = name.strip_prefix(base)?;
    let rest = rest.strip_suffix(b".gz").unwrap_or(rest);
    if let Some(n) = rest.strip_prefix(b".") {
        if !n.is_empty() && n.iter().all(u8::is_ascii_digit) {
            let n: u64 = std::str::from_utf8(n).ok()?.parse().ok()?;
            return Some(Rank::Numbered(std::cmp::Reverse(n)));
        }
    }
    if let Some(d) = rest.strip_prefix(b"-") {
        if d.first().is_some_and(u8::is_ascii_digit)
            && d.iter().all(|b| b.is_ascii_digit() || *b == b'-')
        {
            return Some(Rank::DateExt(d.to_vec()));
        }
    }
    None
}

/// Whether `path` names `source` or one of its rotated files (`NAME.1`, `NAME-20240101.gz`,
/// ...), whether or not it exists yet, or leads to one of them (a symbolic or hard link):
/// what the collector reads as log lines.
pub fn is_log_of(source: &Path, path: &Path) -> bool {
    let rotated = rotated_as(source);
    is_log_named(source, path) || (rotated != source && is_log_named(&rotated, path))
}

/// [`is_log_of`] for one name of the source.
fn is_log_named(source: &Path, path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let dir_of = |p: &Path| std::fs::canonicalize(crate::sink::file::parent_dir(p)).ok();
    let (Some(base), Some(dir)) = (source.file_name(), dir_of(source)) else {
        return false;
    };
    let named = |p: &Path| {
        p.file_name().is_some_and(|name| {
            dir_of(p).as_ref() == Some(&dir) && rank(base.as_bytes(), name.as_bytes()).is_some()
        })
    };
    // The name as given, and the file it leads to.
    if named(path) || std::fs::canonicalize(path).is_ok_and(|p| named(&p)) {
        return true;
    }
    // Another name of the source or of a rotated file (a hard link), by device and inode.
    let Ok(target) = std::fs::metadata(path) else {
        return false;
    };
    let logs = list(source).unwrap_or_default();
    std::iter::once(source.to_path_buf())
        .chain(logs.into_iter().map(|(_, p, _)| p))
        .filter_map(|p| std::fs::metadata(p).ok())
        .any(|m| (m.dev(), m.ino()) == (target.dev(), target.ino()))
}

/// FNV-1a, 64 bits: stable across versions and platforms (the state file outlives builds).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// How long a missing live source is waited for where its rotated files are there.
pub const LIVE_WAIT: Duration = Duration::from_secs(2);

/// Open the live source; a missing or unreadable one is an error naming it. A missing one
/// whose rotated files are there is waited for (up to `wait`): logrotate renames the log
/// and then creates the new one, and a run that fell between the two stopped (exit 2) where
/// a moment later it would have collected. Still missing, the error names those files.
pub fn open_live(source: &Path, wait: Duration) -> anyhow::Result<File> {
    let start = Instant::now();
    let mut siblings: Option<Vec<String>> = None;
    loop {
        let err = match crate::input::source::open_regular(source) {
            Ok(file) => return Ok(file),
            Err(e) => e,
        };
        if err.kind() != io::ErrorKind::NotFound {
            return Err(anyhow::Error::new(err).context(format!(
                "cannot read source {}",
                crate::escape::path(source)
            )));
        }
        let rotated = rotated_as(source);
        let context = || {
            let link = match rotated != source {
                true => format!(" (a symbolic link to {})", crate::escape::path(&rotated)),
                false => String::new(),
            };
            format!("cannot read source {}{link}", crate::escape::path(source))
        };
        // Rotated files only: a folder of such a name is no sign of a rotation.
        let names = siblings.get_or_insert_with(|| match list(&rotated) {
            Ok(listing) => listing
                .into_iter()
                .filter(|(_, path, _)| path.metadata().is_ok_and(|m| m.is_file()))
                .map(|(_, _, name)| name)
                .collect(),
            Err(_) => Vec::new(),
        });
        if names.is_empty() {
            return Err(anyhow::Error::new(err).context(context()));
        }
        if start.elapsed() >= wait {
            let shown: Vec<&str> = names.iter().rev().take(3).map(String::as_str).collect();
            return Err(anyhow::anyhow!(
                "{}: {err}, still after {:.1} s, while its rotated file(s) {}{} are there (a rotation that has not created the new log yet?). Nothing was collected: a run that finds the log collects what is new in them",
                context(),
                wait.as_secs_f64(),
                shown.join(", "),
                if names.len() > shown.len() { ", ..." } else { "" }
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A decompressing (if gzip) reader over `file` from its start.
pub fn reader(file: &File, gzip: bool) -> io::Result<Box<dyn Read + '_>> {
    let mut f = file;
    f.seek(SeekFrom::Start(0))?;
    Ok(if gzip {
        Box::new(GzipMembers::new(BufReader::new(f)))
    } else {
        Box::new(f)
    })
}

fn is_gzip(file: &File) -> io::Result<bool> {
    let mut magic = [0u8; 2];
    let mut f = file;
    f.seek(SeekFrom::Start(0))?;
    let mut got = 0;
    while got < 2 {
        let n = f.read(&mut magic[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got == 2 && magic == [0x1f, 0x8b])
}

fn describe(path: PathBuf, name: String, file: File) -> io::Result<SourceFile> {
    let gzip = is_gzip(&file)?;
    let mut prefix = Vec::with_capacity(FINGERPRINT_BYTES);
    let mut r = reader(&file, gzip)?;
    (&mut r)
        .take(FINGERPRINT_BYTES as u64)
        .read_to_end(&mut prefix)?;
    let mut read = prefix.len() as u64;
    let identity = match prefix.first() {
        Some(0) => {
            let (padding, text) = past_padding(&prefix, &mut r, &mut read)?;
            [&[0u8][..], &padding.to_le_bytes(), &text].concat()
        }
        _ => prefix.clone(),
    };
    let len = if gzip {
        read + io::copy(&mut r, &mut io::sink())?
    } else {
        file.metadata()?.len()
    };
    drop(r);
    Ok(SourceFile {
        path,
        name,
        file,
        gzip,
        prefix,
        identity,
        len,
        may_grow: !gzip,
    })
}

/// The length of the NUL padding that `head` (the first bytes read from `r`) starts with,
/// read on through `r` as far as it goes, and up to [`FINGERPRINT_BYTES`] bytes after it.
/// `read` counts the bytes taken from `r`.
fn past_padding(head: &[u8], r: &mut dyn Read, read: &mut u64) -> io::Result<(u64, Vec<u8>)> {
    let nuls = head.iter().take_while(|&&b| b == 0).count();
    let mut padding = nuls as u64;
    let mut text = head[nuls..].to_vec();
    let mut block = Vec::new();
    while text.is_empty() {
        block.resize(64 << 10, 0);
        let n = match r.read(&mut block) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        *read += n as u64;
        let nuls = block[..n].iter().take_while(|&&b| b == 0).count();
        padding += nuls as u64;
        text.extend_from_slice(&block[nuls..n]);
    }
    if text.len() < FINGERPRINT_BYTES {
        let more = r
            .take((FINGERPRINT_BYTES - text.len()) as u64)
            .read_to_end(&mut text)?;
        *read += more as u64;
    }
    text.truncate(FINGERPRINT_BYTES);
    Ok((padding, text))
}

/// What was found: the files in age order, and the siblings that could not be read.
pub struct Found {
    pub files: Vec<SourceFile>,
    pub unreadable: Vec<String>,
    /// A listed sibling was gone when it was opened: renamed (logrotate gzips `.1` after its
    /// `postrotate`) or deleted. The listing is then stale (see [`settled`]).
    pub vanished: bool,
    /// The path the siblings are listed for ([`rotated_as`]), and their paths as listed (see
    /// [`settled`]).
    source: PathBuf,
    listed: Vec<PathBuf>,
}

/// Open and fingerprint the live file (already opened by [`open_live`]) and its siblings.
pub fn find(source: &Path, live: File) -> anyhow::Result<Found> {
    let rotated = rotated_as(source);
    let listing = list(&rotated)?;
    open_listed(source, &rotated, live, listing)
}

/// The path whose rotated files are the source's: the source itself, or for a source that is
/// a symbolic link (`/var/log/apache2/access.log` -> `/srv/logs/site.log`) the file it leads
/// to. That file is what the server writes and what logrotate renames (it does not rotate
/// links), so its `.1` is beside it under its own name; looked for beside the link, the old
/// file was never found and its last lines were lost without a word.
///
/// A link to nothing (its file renamed by a rotation, the new one not created yet) leads to
/// the path it names, followed link by link: the rotated files are beside that path.
pub fn rotated_as(source: &Path) -> PathBuf {
    match source.symlink_metadata() {
        Ok(m) if m.file_type().is_symlink() => {
            std::fs::canonicalize(source).unwrap_or_else(|_| link_end(source))
        }
        _ => source.to_path_buf(),
    }
}

/// Where the links from `path` end, whether or not something is there (at most 40 links,
/// as the kernel follows).
fn link_end(path: &Path) -> PathBuf {
    let mut at = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::read_link(&at) {
            Ok(target) => at = crate::sink::file::parent_dir(&at).join(target),
            Err(_) => break,
        }
    }
    at
}

/// The source's rotated siblings by name, oldest first: (rank, path, name for messages).
type Listing = Vec<(Rank, PathBuf, String)>;

fn list(source: &Path) -> anyhow::Result<Listing> {
    let dir = match source.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = source
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_default();
    let mut ranked: Listing = Vec::new();
    let entries = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", crate::escape::path(&dir)))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", crate::escape::path(&dir)))?;
        let name = entry.file_name();
        let bytes = name.as_bytes();
        if bytes == base.as_slice() {
            continue;
        }
        if let Some(r) = rank(&base, bytes) {
            ranked.push((r, entry.path(), crate::escape::bytes(bytes)));
        }
    }
    ranked.sort();
    Ok(ranked)
}

fn open_listed(
    source: &Path,
    rotated: &Path,
    live: File,
    ranked: Listing,
) -> anyhow::Result<Found> {
    let mut found = Found {
        files: Vec::new(),
        unreadable: Vec::new(),
        vanished: false,
        source: rotated.to_path_buf(),
        listed: ranked.iter().map(|(_, path, _)| path.clone()).collect(),
    };
    for (_, path, name) in ranked {
        let opened = crate::input::source::open_regular(&path)
            .and_then(|f| describe(path.clone(), name.clone(), f));
        match opened {
            Ok(sf) => found.files.push(sf),
            // Gone since the listing: not an error, but it may be under a new name now (the
            // `.gz` of it), which this listing lacks. A link to nothing is just unreadable.
            // (Renamed meanwhile, another file may have taken the name: only a link there
            // is one to nothing.)
            Err(e) if e.kind() == io::ErrorKind::NotFound => match path.symlink_metadata() {
                Ok(m) if m.file_type().is_symlink() => found
                    .unreadable
                    .push(format!("{name}: dangling symbolic link")),
                _ => found.vanished = true,
            },
            // A `.gz` beside its plain file: gzip is still writing it (logrotate's `compress`
            // without `delaycompress`), so it is cut short, and its text is the plain file's,
            // which is read. Counted as unreadable, it made the run warn of a possible loss
            // and exit 1. The next run finds it whole, or the plain file still there.
            Err(_) if is_compression_in_progress(&path, &found.listed) => {}
            Err(e) => found
                .unreadable
                .push(format!("{name}: {}", crate::escape::text(&e.to_string()))),
        }
    }
    let name = crate::escape::bytes(source.file_name().map_or(&[][..], |n| n.as_bytes()));
    let live = describe(source.to_path_buf(), name, live)
        .with_context(|| format!("cannot read source {}", crate::escape::path(source)))?;
    found.files.push(live);
    Ok(found)
}

/// Whether `path` is a `NAME.gz` being written from `NAME`: `listed` holds `NAME` too, and
/// what can be read of the `.gz` (its first up to 4 KiB, decoded) is how `NAME` starts. A
/// broken `.gz` of other text beside a plain file of the same name is not one.
fn is_compression_in_progress(path: &Path, listed: &[PathBuf]) -> bool {
    let bytes = path.as_os_str().as_bytes();
    let Some(plain) = bytes.strip_suffix(b".gz") else {
        return false;
    };
    let Some(plain) = listed
        .iter()
        .find(|other| other.as_os_str().as_bytes() == plain)
    else {
        return false;
    };
    let decoded = || -> io::Result<Vec<u8>> {
        let file = crate::input::source::open_regular(path)?;
        let mut head = Vec::new();
        // Up to where the stream breaks off: what was read before the error is kept.
        let _ = reader(&file, true)?.take(4096).read_to_end(&mut head);
        Ok(head)
    };
    let starts = |head: &[u8]| -> io::Result<bool> {
        let mut text = vec![0u8; head.len()];
        crate::input::source::open_regular(plain)?.read_exact(&mut text)?;
        Ok(text == head)
    };
    decoded().and_then(|head| starts(&head)).unwrap_or(false)
}

/// Whether every file of `found` is still under the name it was found by. Not so when a
/// rotation ran while the files were described (a `.gz` is decompressed whole, so that takes
/// seconds): the live handle may then be the file now called `.1`, and `.1`'s the file now
/// `.2`, which matches no stream this run, so its stream would be forgotten and the file
/// copied again, whole, on the next run. Nor when a listed sibling vanished before it was
/// opened: compressed meanwhile, its stream is under a name this listing lacks. Nor when the
/// siblings listed now are not those listed then: `copytruncate` renames nothing, but its copy
/// holds the live file's old lines, now cut from the live handle, under a name this listing
/// lacks (and a numbered one moves `.1` to `.2` first): their stream would match no file and
/// be forgotten, and the copy collected again, whole, on the next run.
pub fn settled(found: &Found) -> bool {
    use std::os::unix::fs::MetadataExt;
    let listed_now = list(&found.source)
        .is_ok_and(|now| now.iter().map(|(_, path, _)| path).eq(found.listed.iter()));
    !found.vanished
        && listed_now
        && found.files.iter().all(
            |sf| match (sf.file.metadata(), std::fs::metadata(&sf.path)) {
                (Ok(held), Ok(named)) => (held.dev(), held.ino()) == (named.dev(), named.ino()),
                _ => false,
            },
        )
}

/// Whether `found` still describes its files after they were copied: [`settled`], and each
/// plain file still starts with the bytes it started with and is no shorter. Not so when
/// `copytruncate` cut the live file while it was copied: the copy then read the server's
/// new lines in place of the old ones (whose `.1` copy would pass for collected).
pub fn unchanged_since_found(found: &Found) -> bool {
    use std::os::unix::fs::FileExt;
    let still = |sf: &SourceFile, at: u64, bytes: &[u8]| {
        let mut now = vec![0u8; bytes.len()];
        sf.file.read_exact_at(&mut now, at).is_ok() && now == bytes
    };
    settled(found)
        && found.files.iter().filter(|sf| !sf.gzip).all(|sf| {
            still(sf, 0, &sf.prefix)
                // A padded file's first 4 KiB are NULs before and after a `copytruncate`
                // (its writer goes on at its offset, past a longer hole): the text after the
                // padding tells. Read in the hole, the copy archived NULs for the lines cut.
                && (!sf.padded() || still(sf, sf.padding(), sf.text_after_padding()))
                && sf.file.metadata().is_ok_and(|m| m.len() >= sf.len)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `copytruncate` of a file padded past its first 4 KiB, with a writer that goes on at its
    /// offset: the new file is a longer hole, NULs where the text was, and its first 4 KiB
    /// are NULs as before. The copy is not taken as made from the file described.
    #[test]
    fn a_copytruncate_of_a_padded_file_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("access.log");
        let text = b"10.0.0.1 - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1\n";
        let padded = [&vec![0u8; 8192][..], text].concat();
        std::fs::write(&live, &padded).unwrap();
        let found = find(&live, open_live(&live, Duration::ZERO).unwrap()).unwrap();
        assert_eq!(found.files[0].padding(), 8192);
        assert!(unchanged_since_found(&found));
        // Grown only: unchanged.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&live)
            .unwrap();
        std::io::Write::write_all(&mut f, text).unwrap();
        assert!(unchanged_since_found(&found));
        // Cut, and written on at the writer's offset.
        let offset = std::fs::metadata(&live).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&live).unwrap();
        f.set_len(0).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&f, text, offset).unwrap();
        assert!(!unchanged_since_found(&found));
    }

    #[test]
    fn a_rotation_while_describing_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("access.log");
        std::fs::write(dir.path().join("access.log.1"), "old\n").unwrap();
        std::fs::write(&live, "new\n").unwrap();
        let found = find(&live, open_live(&live, Duration::ZERO).unwrap()).unwrap();
        assert_eq!(found.files.len(), 2);
        assert!(settled(&found));
        // logrotate: .1 -> .2, live -> .1, a new live file.
        std::fs::rename(
            dir.path().join("access.log.1"),
            dir.path().join("access.log.2"),
        )
        .unwrap();
        std::fs::rename(&live, dir.path().join("access.log.1")).unwrap();
        std::fs::write(&live, "").unwrap();
        assert!(!settled(&found));
        let again = find(&live, open_live(&live, Duration::ZERO).unwrap()).unwrap();
        assert_eq!(again.files.len(), 3);
        assert!(settled(&again));
    }

    #[test]
    fn a_copytruncate_while_describing_is_noticed() {
        for numbered in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let live = dir.path().join("access.log");
            let (first, second) = (
                dir.path().join("access.log.1"),
                dir.path().join("access.log.2"),
            );
            if numbered {
                std::fs::write(&first, "older\n").unwrap();
            }
            std::fs::write(&live, "old\n").unwrap();
            let found = find(&live, open_live(&live, Duration::ZERO).unwrap()).unwrap();
            assert!(settled(&found));
            // logrotate copytruncate: (.1 -> .2,) live copied to .1, live cut to nothing.
            if numbered {
                std::fs::rename(&first, &second).unwrap();
            }
            std::fs::copy(&live, &first).unwrap();
            std::fs::write(&live, "").unwrap();
            assert!(!settled(&found), "numbered: {numbered}");
            let again = find(&live, open_live(&live, Duration::ZERO).unwrap()).unwrap();
            assert_eq!(again.files.len(), 2 + usize::from(numbered));
            assert!(settled(&again));
        }
    }

    #[test]
    fn a_sibling_gone_before_it_is_opened_is_noticed() {
        // logrotate's order: rename, reload, then gzip `.1` (which removes `.1`).
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("access.log");
        let rotated = dir.path().join("access.log.1");
        std::fs::write(&rotated, "old\n").unwrap();
        std::fs::write(&live, "new\n").unwrap();
        let listing = list(&live).unwrap();
        assert_eq!(listing.len(), 1);
        std::fs::rename(&rotated, dir.path().join("access.log.1.gz")).unwrap();
        let found = open_listed(
            &live,
            &live,
            open_live(&live, Duration::ZERO).unwrap(),
            listing,
        )
        .unwrap();
        assert_eq!(found.files.len(), 1);
        assert!(found.vanished);
        assert!(!settled(&found));
        let again = find(&live, open_live(&live, Duration::ZERO).unwrap()).unwrap();
        assert_eq!(
            again
                .files
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>(),
            ["access.log.1.gz", "access.log"]
        );
        assert!(settled(&again));
    }

    #[test]
    fn a_dangling_link_among_the_siblings_is_unreadable_not_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("access.log");
        std::fs::write(&live, "new\n").unwrap();
        std::os::unix::fs::symlink("/nonexistent", dir.path().join("access.log.1")).unwrap();
        let found = find(&live, open_live(&live, Duration::ZERO).unwrap()).unwrap();
        assert!(settled(&found));
        assert_eq!(found.unreadable, ["access.log.1: dangling symbolic link"]);
    }

    #[test]
    fn ranks_order_oldest_first() {
        let base = b"access.log";
        let mut names: Vec<&[u8]> = vec![
            b"access.log",
            b"access.log.1",
            b"access.log.10.gz",
            b"access.log.2.gz",
            b"access.log-20240102.gz",
            b"access.log-20240101",
        ];
        names.sort_by_key(|n| rank(base, n));
        assert_eq!(
            names,
            vec![
                &b"access.log-20240101"[..],
                b"access.log-20240102.gz",
                b"access.log.10.gz",
                b"access.log.2.gz",
                b"access.log.1",
                b"access.log",
            ]
        );
        assert_eq!(rank(base, b"access.log.old"), None);
        assert_eq!(rank(base, b"access.log.gz"), None);
        assert_eq!(rank(base, b"access.log-"), None);
        assert_eq!(rank(base, b"error.log.1"), None);
    }

    #[test]
    fn fnv_known_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
