//! History sink: one timestamped record per run, appended to a human-readable file
//! (`log/monitoring.log`) and to its JSON-lines twin beside it (`history.jsonl`).
//!
//! Invariant: a record is built whole in memory and appended under an exclusive `flock`, so
//! concurrent runs never interleave; a run killed mid-write (the kernel cuts a large write
//! short at a fatal signal) leaves a partial last record, which the next writer removes
//! before it appends, so readers after it see whole records only. The twin is written
//! first, under the text file's lock, and carries the record's text and the text file's
//! state before it: a run killed between the two appends leaves a record that the next
//! writer puts into the text file while that file is still as the run left it, so each
//! record is in both files once. Records hold only our
//! own text and already-escaped strings, and every byte outside printable ASCII is escaped
//! again here, so a log can never forge a record boundary or reach a terminal raw. Neither
//! file name starts with `access`, so discovery never analyzes the history.

use anyhow::Context;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Every human-readable record starts with this, at the start of a line.
pub const RECORD_START: &str = "=== ";
pub const JSONL_NAME: &str = "history.jsonl";
/// The keys of a JSON-lines record that place its human-readable twin: its text, the name of
/// the history file it goes to, and that file's length before it was appended ([`append`]).
const TEXT_KEY: &str = "text";
const HISTORY_KEY: &str = "history";
const TEXT_AT_KEY: &str = "text_at";
/// The history file as it was then: device, inode and modification time (`dev:ino:secs.nanos`).
const TEXT_STATE_KEY: &str = "text_state";

/// One run's record.
#[derive(Debug, Clone)]
pub struct Record {
    /// RFC 3339 local time of the run.
    pub time: String,
    /// What ran, e.g. `collect --analyze` or `report 2023-W25`.
    pub title: String,
    /// Body lines (no newlines inside).
    pub lines: Vec<String>,
    /// The machine-readable twin; `time` and `title` are added to it.
    pub json: serde_json::Map<String, serde_json::Value>,
}

impl Record {
    pub fn new(title: impl Into<String>) -> Self {
        Record {
            time: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            title: title.into(),
            lines: Vec::new(),
            json: serde_json::Map::new(),
        }
    }

    /// The human-readable record: a header line, indented body lines, a blank line.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{RECORD_START}{} {}\n",
            printable(&self.time),
            printable(&self.title)
        );
        for line in &self.lines {
            out.push_str("    ");
            out.push_str(&printable(line));
            out.push('\n');
        }
        out.push('\n');
        out
    }

    /// The JSON-lines record (one line, keys sorted, ASCII only: serde_json escapes control characters,
    /// and the strings in it are already escaped).
    pub fn json_line(&self) -> anyhow::Result<String> {
        self.json_line_with(serde_json::Map::new())
    }

    /// [`Self::json_line`] with where its text goes: the history file `history` (its name),
    /// as `before` found it (its length and state), so that a run that finds the file still
    /// so, the text never written, can put it there ([`append`]).
    fn placed_json_line(&self, history: &Path, before: &TextState) -> anyhow::Result<String> {
        let mut placed = serde_json::Map::new();
        placed.insert(TEXT_KEY.into(), self.text().into());
        placed.insert(HISTORY_KEY.into(), file_name(history).into());
        placed.insert(TEXT_AT_KEY.into(), before.len.into());
        placed.insert(TEXT_STATE_KEY.into(), before.id.clone().into());
        self.json_line_with(placed)
    }

    fn json_line_with(
        &self,
        mut obj: serde_json::Map<String, serde_json::Value>,
    ) -> anyhow::Result<String> {
        obj.insert("time".into(), self.time.clone().into());
        obj.insert("title".into(), printable(&self.title).into());
        for (k, v) in &self.json {
            obj.insert(k.clone(), v.clone());
        }
        let mut line = serde_json::to_string(&obj).context("cannot encode history record")?;
        line.push('\n');
        Ok(line)
    }
}

/// Escape bytes outside printable ASCII (backslashes kept: the input is already escaped).
fn printable(s: &str) -> String {
    if s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..=0x7e).contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// A report of one period that went out: when, and to whom.
#[derive(Debug, PartialEq, Eq)]
pub struct Mailed {
    pub time: String,
    pub to: String,
}

/// The last record in `history`'s JSON-lines twin of a `report` of the period `start` to
/// `end` (as the record's `period` spells them) that was mailed. A twin that is not there
/// holds none; lines that are not our records (cut, edited) are passed over.
pub fn mailed(history: &Path, start: &str, end: &str) -> anyhow::Result<Option<Mailed>> {
    let bytes = read_twin(history)?;
    let text = |v: &serde_json::Value, pointer: &str| {
        v.pointer(pointer)
            .and_then(|s| s.as_str())
            .map(str::to_string)
    };
    // From the end: the last such record is the one wanted.
    Ok(bytes
        .rsplit(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .filter(|v| {
            text(v, "/command").as_deref() == Some("report")
                && text(v, "/period/start").as_deref() == Some(start)
                && text(v, "/period/end").as_deref() == Some(end)
        })
        .filter_map(|v| {
            Some(Mailed {
                to: text(&v, "/mailed_to")?,
                time: text(&v, "/time").unwrap_or_default(),
            })
        })
        .next())
}

/// The archives that `collect --analyze` records in `history` name as recorded (their
/// `recorded_archives`: the tokens of [`crate::collect::state::Unrecorded`]). A run killed after
/// its record was appended, before the state file noted it, leaves its archives listed as
/// unrecorded: the next run finds them here and does not record them twice.
pub fn recorded_archives(history: &Path) -> anyhow::Result<ahash::AHashSet<String>> {
    let bytes = read_twin(history)?;
    let mut ids = ahash::AHashSet::new();
    for record in bytes
        .split(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .filter(|v| v.get("command").and_then(|c| c.as_str()) == Some("collect"))
    {
        let listed = record.get("recorded_archives").and_then(|a| a.as_array());
        ids.extend(
            listed
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str())
                .map(String::from),
        );
    }
    Ok(ids)
}

/// The bytes of `history`'s JSON-lines twin; none where it is not there.
fn read_twin(history: &Path) -> anyhow::Result<Vec<u8>> {
    let path = jsonl_path(history);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", crate::escape::path(&path))),
    }
}

/// Take the lock a report that mails holds, from the check whether its period was mailed
/// already to its record: two runs at once (a retry during a long analysis, cron and a timer
/// both installed) both found the period unmailed and both mailed it. The lock is the
/// history's folder itself (`flock` on it): no lock file that another user (root running
/// one report by hand) could own, or plant a link at. Waits, and says so, while another run
/// holds it; released when the handle is dropped, or by the kernel when the process dies.
pub fn lock_mailing(history: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = crate::collect::state::parent(history);
    let shown = crate::escape::path(dir);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {shown}"))?;
    let folder = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
        .with_context(|| format!("cannot open the folder {shown} to lock it"))?;
    // SAFETY: flock on a descriptor we own; it changes no memory.
    if unsafe { libc::flock(folder.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        crate::stderr_line!(
            "logwarden: another report run is mailing (it holds a lock on the folder {shown}): waiting for it"
        );
        lock_exclusive(&folder).with_context(|| format!("cannot lock the folder {shown}"))?;
    }
    Ok(folder)
}

/// The JSON-lines twin of a history file.
pub fn jsonl_path(history: &Path) -> PathBuf {
    crate::collect::state::parent(history).join(JSONL_NAME)
}

/// Append `bytes`, a whole record ending in `end`, to `path` under an exclusive `flock`.
/// A record cut short by a killed writer (the kernel stops a large write at a fatal signal)
/// is removed first: from the last line starting with `start` (or the last `end`, when
/// `start` is empty) to the end of the file, when what is there can only be the beginning
/// of one of ours. Content that is not ours is never cut.
pub fn append_once(path: &Path, bytes: &[u8], start: &[u8], end: &[u8]) -> anyhow::Result<()> {
    let mut file = open_locked(path, start, end)?;
    write_record(&mut file, path, bytes)
    // Closing the file releases the lock.
}

/// `path` opened to append, under an exclusive `flock` (held until the file is closed), a
/// record cut short at its end removed (see [`append_once`]).
fn open_locked(path: &Path, start: &[u8], end: &[u8]) -> anyhow::Result<std::fs::File> {
    let file = open_and_lock(path)?;
    cut_torn(&file, path, start, end, |_| true)?;
    Ok(file)
}

/// `path` opened to append, under an exclusive `flock` (held until the file is closed), and
/// still the file at `path`: one renamed away (rotated) while this run waited for its lock
/// took this run's record after a newer one written to the new file.
fn open_and_lock(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::MetadataExt;
    let shown = crate::escape::path(path);
    let mut tries = 0;
    loop {
        let file = open_for_append(path)?;
        lock_exclusive(&file).with_context(|| format!("cannot lock history {shown}"))?;
        let locked = file.metadata()?;
        let named = std::fs::symlink_metadata(path).ok();
        tries += 1;
        if named.is_some_and(|n| (n.dev(), n.ino()) == (locked.dev(), locked.ino())) || tries == 8 {
            return Ok(file);
        }
    }
}

/// Remove a record cut short at the end of `file` (locked), where `may_cut` agrees with the
/// bytes to be cut: where it was cut, if it was.
fn cut_torn(
    file: &std::fs::File,
    path: &Path,
    start: &[u8],
    end: &[u8],
    may_cut: impl Fn(&[u8]) -> bool,
) -> anyhow::Result<Option<u64>> {
    use std::os::unix::fs::FileExt;
    let shown = crate::escape::path(path);
    let torn = torn_record(file, start, end)
        .and_then(|torn| {
            let Some(cut) = torn else { return Ok(None) };
            let mut tail = vec![0u8; (file.metadata()?.len() - cut) as usize];
            file.read_exact_at(&mut tail, cut)?;
            Ok(may_cut(&tail).then_some(cut))
        })
        .with_context(|| format!("cannot read history {shown}"))?;
    if let Some(cut) = torn {
        file.set_len(cut)
            .with_context(|| format!("cannot repair history {shown}"))?;
    }
    Ok(torn)
}

/// A history file's length and identity at one moment: what a record's run found before it
/// appended (kept in the twin), compared by the next run.
struct TextState {
    len: u64,
    /// Device, inode and modification time: a file rotated (renamed, or cut by
    /// `copytruncate`), edited or written by anybody since has another.
    id: String,
}

impl TextState {
    fn of(file: &std::fs::File) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = file.metadata()?;
        Ok(TextState {
            len: m.len(),
            id: format!(
                "{}:{}:{}.{:09}",
                m.dev(),
                m.ino(),
                m.mtime(),
                m.mtime_nsec()
            ),
        })
    }
}

/// Append one whole record, `bytes`, to `file` (opened by [`open_locked`] from `path`).
fn write_record(file: &mut std::fs::File, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let shown = crate::escape::path(path);
    // Somebody else's text without a final newline: ours starts on a line of its own, where
    // a reader of records looks for it.
    let separate = ends_mid_line(file).with_context(|| format!("cannot read history {shown}"))?;
    let record = [if separate { &b"\n"[..] } else { b"" }, bytes].concat();
    file.write_all(&record)
        .with_context(|| format!("cannot append to history {shown}"))
}

/// `path` opened to read and append, made (with its directory) where missing; a link or
/// anything but a regular file is refused ([`check_file`]).
fn open_for_append(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = crate::collect::state::parent(path);
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create {}", crate::escape::path(dir)))?;
    check_file(path)?;
    // `O_NOFOLLOW` and the `fstat` again for one planted between the check and the open.
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .with_context(|| format!("cannot open history {}", crate::escape::path(path)))?;
    if !file.metadata()?.is_file() {
        anyhow::bail!(not_regular(path));
    }
    Ok(file)
}

/// An error unless `history` and its JSON-lines twin can be opened for appending (each is
/// made where missing, as [`append`] would, and kept: a history named among the inputs,
/// `log/access_history.log`, is then refused by this very run, not by every run after the
/// first record): checked before work that cannot be undone, a mail sent, so that no
/// permission or directory fails the record after it. (A disk that fills in between can
/// still fail it.)
pub fn check_appendable(history: &Path) -> anyhow::Result<()> {
    check_names(history)?;
    open_for_append(history)?;
    open_for_append(&jsonl_path(history))?;
    Ok(())
}

/// An error if `history` (or its twin) is there and no regular file: a device or FIFO takes
/// records and gives none back (`/dev/zero` was read for the mail until memory ran out).
pub fn check_regular(history: &Path) -> anyhow::Result<()> {
    check_names(history)?;
    check_file(history)?;
    check_file(&jsonl_path(history))
}

/// An error when `history` is named as one of the files it may not be: its own JSON-lines
/// twin (`history.jsonl` beside it: a run held one lock and waited for the other on the
/// same file, for ever), or one of `collect`'s own files (its lock: the same; its state:
/// records appended to it made every later collect fail).
pub fn check_names(history: &Path) -> anyhow::Result<()> {
    let name = history.file_name().unwrap_or_default();
    let shown = crate::escape::path(history);
    if name == JSONL_NAME {
        anyhow::bail!(
            "history {shown} has the name of its own JSON-lines twin ({JSONL_NAME}, made beside the history): name another file"
        );
    }
    if name.as_encoded_bytes().starts_with(b".logwarden-collect") {
        anyhow::bail!(
            "history {shown} has the name of one of collect's own files (its state or lock): name another file"
        );
    }
    Ok(())
}

/// [`check_regular`] for one of the two files; a symbolic link is refused too (one planted
/// in a shared folder had root append records, log text among them, wherever it led).
pub fn check_file(path: &Path) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => anyhow::bail!(
            "history {} is a symbolic link: refused (one planted in a shared folder would have records appended wherever it leads); name the file itself",
            crate::escape::path(path)
        ),
        Ok(m) if !m.is_file() => anyhow::bail!(not_regular(path)),
        _ => Ok(()),
    }
}

fn not_regular(path: &Path) -> String {
    format!(
        "history {} is not a regular file (--no-history keeps no history)",
        crate::escape::path(path)
    )
}

/// Whether `file` is not empty and its last byte is not a newline.
fn ends_mid_line(file: &std::fs::File) -> std::io::Result<bool> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, len - 1)?;
    Ok(last[0] != b'\n')
}

/// Block until this process holds the exclusive advisory lock of `file`.
fn lock_exclusive(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: flock on a descriptor we own; it changes no memory.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Where a cut-off last record of ours starts, if the file ends inside one. The candidate is
/// the last line beginning with `start` (the text after the last `end` when `start` is empty;
/// the file start when there is none), and it is cut only if what follows it could be the
/// beginning of one of our records ([`is_torn`]): a whole record followed by somebody else's
/// text, or text that merely starts like ours, is left alone.
fn torn_record(file: &std::fs::File, start: &[u8], end: &[u8]) -> std::io::Result<Option<u64>> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let tail_len = end.len().min(len as usize);
    let mut tail = vec![0u8; tail_len];
    file.read_exact_at(&mut tail, len - tail_len as u64)?;
    if tail == end {
        return Ok(None);
    }
    // Search backwards block by block for "\n" + start (or for `end`).
    let needle: Vec<u8> = if start.is_empty() {
        end.to_vec()
    } else {
        [b"\n".as_slice(), start].concat()
    };
    const BLOCK: u64 = 64 * 1024;
    let mut hi = len;
    let mut buf = Vec::new();
    let candidate = loop {
        let lo = hi.saturating_sub(BLOCK);
        let upto = (hi + needle.len() as u64 - 1).min(len);
        buf.resize((upto - lo) as usize, 0);
        file.read_exact_at(&mut buf, lo)?;
        if let Some(i) = memchr::memmem::rfind(&buf, &needle) {
            let at = lo + i as u64;
            break if start.is_empty() {
                at + end.len() as u64
            } else {
                at + 1
            };
        }
        if lo == 0 {
            break 0;
        }
        hi = lo;
    };
    // A record is built in memory and written whole: one far larger than any of ours is not.
    const MAX_RECORD: u64 = 16 << 20;
    if len - candidate > MAX_RECORD {
        return Ok(None);
    }
    let mut rest = vec![0u8; (len - candidate) as usize];
    file.read_exact_at(&mut rest, candidate)?;
    Ok(is_torn(&rest, start).then_some(candidate))
}

/// Whether `rest` (from a candidate record start to the end of the file, not ending in the
/// record end) is a cut-off beginning of one of our records. A history record is its header
/// line (`start` ...), body lines indented four spaces, then a blank line: so no blank line
/// yet, every whole line after the header indented, and the last, partial line indented or
/// a beginning of the indent. A JSON-lines record is one object on one line.
fn is_torn(rest: &[u8], start: &[u8]) -> bool {
    const INDENT: &[u8] = b"    ";
    if start.is_empty() {
        // A whole object (one added by hand without its newline) is nobody's cut record.
        return rest.first() == Some(&b'{')
            && !rest.contains(&b'\n')
            && serde_json::from_slice::<serde::de::IgnoredAny>(rest).is_err();
    }
    if !rest.starts_with(start) || memchr::memmem::find(rest, b"\n\n").is_some() {
        return false;
    }
    let mut lines = rest.split(|&b| b == b'\n').skip(1);
    lines.all(|line| line.starts_with(INDENT) || INDENT.starts_with(line))
}

/// Why [`append`] failed: before the record was in the history, or after (it is in the
/// JSON-lines twin, which later runs consult, and only the text file is missing it; the next
/// record's run copies it there). A caller that notes what it recorded (`collect`'s list of
/// archives to record) notes it in the second case too: the twin says it is recorded.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(transparent)]
    NotRecorded(anyhow::Error),
    #[error(transparent)]
    TextMissing(anyhow::Error),
}

/// Append the record to `history`'s JSON-lines twin, then to `history` itself.
///
/// The twin first, because it is what later runs consult (the archives recorded, the periods
/// mailed); and both under `history`'s lock. The twin's record carries its text and where it
/// goes (`history`'s name, and its length and state before it): a run killed between the
/// two appends (or whose text append failed) leaves a last twin record whose text is not
/// there, and the next run that writes to `history` ([`append`], [`repair`]) puts it there
/// first, while `history` is as that run left it ([`TwinRecord::missing_from`]). Each record is then in
/// both files once. (Text first, as before, a run killed in between left the twin
/// without the record, and the next run recorded the same archives again.)
pub fn append(history: &Path, record: &Record) -> Result<(), AppendError> {
    use AppendError::{NotRecorded, TextMissing};
    let twin = jsonl_path(history);
    let mut text_file = open_repaired(history, &twin).map_err(NotRecorded)?;
    let before = TextState::of(&text_file)
        .with_context(|| format!("cannot read history {}", crate::escape::path(history)))
        .map_err(NotRecorded)?;
    let json = record
        .placed_json_line(history, &before)
        .map_err(NotRecorded)?;
    append_once(&twin, json.as_bytes(), b"", b"\n").map_err(NotRecorded)?;
    write_record(&mut text_file, history, record.text().as_bytes()).map_err(TextMissing)
    // Closing `text_file` releases its lock.
}

/// Put back into `history` a record its twin holds and it lacks (see [`append`]): for a
/// reader of `history` about to write to it (a report attaches its records).
pub fn repair(history: &Path) -> anyhow::Result<()> {
    open_repaired(history, &jsonl_path(history)).map(drop)
}

/// `history` opened and locked ([`open_locked`]), the twin's last record put back into it
/// where it is missing.
fn open_repaired(history: &Path, twin: &Path) -> anyhow::Result<std::fs::File> {
    // A link or a device as the twin is refused before it is read, as its append would.
    check_names(history)?;
    check_file(twin)?;
    let shown = crate::escape::path(history);
    let mut text_file = open_and_lock(history)?;
    // Read under the lock: a writer of this history appends to the twin only holding it.
    let last = TwinRecord::last_of(history, twin)
        .with_context(|| format!("cannot read {}", crate::escape::path(twin)))?;
    // A cut-off record is this history's last in the twin, which a run writes first: text
    // that is not its start (a line `=== ...` added by hand) is not cut. (Without a twin
    // record of this history, as an earlier version left it: as before.)
    let cut = cut_torn(
        &text_file,
        history,
        RECORD_START.as_bytes(),
        b"\n\n",
        |tail| {
            last.as_ref()
                .is_none_or(|r| r.text.as_bytes().starts_with(tail))
        },
    )?;
    let missing = match &last {
        Some(record) => record
            .missing_from(&text_file, cut)
            .with_context(|| format!("cannot read history {shown}"))?,
        None => false,
    };
    if let Some(record) = last.filter(|_| missing) {
        write_record(&mut text_file, history, record.text.as_bytes())?;
    }
    Ok(text_file)
}

/// The twin's last record, as far as putting its text back goes.
struct TwinRecord {
    text: String,
    /// `text_at` and `text_state` ([`TextState`]), where the record has them.
    before: Option<(u64, String)>,
}

impl TwinRecord {
    /// The twin's last record when it is `history`'s and has a text. `None` when
    /// the twin is missing or ends in a cut record (that run recorded nothing), or when its
    /// last record is another file's (two histories in one folder share it) or has no text
    /// (an earlier version's).
    fn last_of(history: &Path, twin: &Path) -> std::io::Result<Option<Self>> {
        let Some(line) = last_line(twin)? else {
            return Ok(None);
        };
        let Ok(record) = serde_json::from_slice::<serde_json::Value>(&line) else {
            return Ok(None);
        };
        let str_of = |key: &str| record.get(key).and_then(|v| v.as_str());
        match (str_of(HISTORY_KEY), str_of(TEXT_KEY)) {
            (Some(name), Some(text)) if name == file_name(history) => {
                let at = record.get(TEXT_AT_KEY).and_then(|a| a.as_u64());
                let state = str_of(TEXT_STATE_KEY).map(str::to_string);
                Ok(Some(TwinRecord {
                    text: text.to_string(),
                    before: at.zip(state),
                }))
            }
            _ => Ok(None),
        }
    }

    /// Whether its run was killed before it wrote the text to `text_file` (locked): the file
    /// is as that run found it (the same length, device, inode and modification time), or
    /// was so until the record's own cut-off start was removed from it (`cut`, by
    /// [`cut_torn`]). Not whenever the file changed otherwise since (rotated, cut, edited,
    /// written by somebody else): putting the record back then could only guess, and a
    /// guess put records in twice. A record in the file at its place has made it longer.
    fn missing_from(&self, text_file: &std::fs::File, cut: Option<u64>) -> std::io::Result<bool> {
        // Only a record's own text goes into the history (not an edited or forged line's).
        let Some((at, state)) = self.before.as_ref().filter(|_| is_record_text(&self.text)) else {
            return Ok(false);
        };
        let (at, state) = (*at, state.as_str());
        let now = TextState::of(text_file)?;
        let untouched = now.len == at && now.id == state && fine_grained(state);
        // Cut where the record starts (after the newline that separated it from text
        // without one): the record's own text was being written. The same file (device and
        // inode).
        let same_file = |id: &str| id.rsplit_once(':').map(|(file, _)| file.to_string());
        let own_text_cut = cut.is_some_and(|c| c == at || c == at + 1)
            && (now.len == at || now.len == at + 1)
            && same_file(&now.id) == same_file(state);
        Ok(untouched || own_text_cut)
    }
}

/// Whether a [`TextState`]'s modification time tells changes apart within a second. A file
/// system that keeps whole seconds (nanoseconds 0: ext4 with small inodes, some network file
/// systems) gave a file emptied by `copytruncate` in the second of its one record the state
/// it had before that record, which was then put back into it. There the state is never
/// trusted. (A time of exactly 0 ns on a fine-grained one is one in a billion.)
fn fine_grained(state: &str) -> bool {
    !state.ends_with(".000000000")
}

/// Whether `text` is a record as [`Record::text`] makes it: a header line, body lines of
/// printable ASCII, a blank line at the end and none before. Anything else in the twin (an
/// edited or forged line) is not put into the history, which holds only such records.
fn is_record_text(text: &str) -> bool {
    let Some(body) = text.strip_suffix("\n\n") else {
        return false;
    };
    text.starts_with(RECORD_START)
        && body
            .split('\n')
            .all(|line| !line.is_empty() && line.bytes().all(|b| (0x20..=0x7e).contains(&b)))
}

/// A history file's name as its twin's records give it: escaped byte for byte, so that two
/// names are never given alike (a lossy decoding gave two non-UTF-8 names one).
fn file_name(history: &Path) -> String {
    crate::escape::path(Path::new(history.file_name().unwrap_or_default()))
}

/// The last line of `path` without its newline: `None` when the file is missing, empty, does
/// not end in a newline (a record cut short) or its last line is longer than any record.
fn last_line(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    // Opened as `open_for_append` does: a FIFO planted there must not block the open.
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    let len = meta.len();
    if !meta.is_file() || len == 0 {
        return Ok(None);
    }
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, len - 1)?;
    if last[0] != b'\n' {
        return Ok(None);
    }
    // Windows doubling back from the end: a line is read at most about twice.
    // A record holds every suspicious client of a period: a million of them is ~250 MB.
    const MAX_RECORD: u64 = 1 << 30;
    let end = len - 1;
    let mut window = 64 * 1024;
    loop {
        let from = end.saturating_sub(window);
        let mut buf = vec![0u8; (end - from) as usize];
        file.read_exact_at(&mut buf, from)?;
        if let Some(nl) = memchr::memrchr(b'\n', &buf) {
            return Ok(Some(buf.split_off(nl + 1)));
        }
        if from == 0 {
            return Ok(Some(buf));
        }
        if window >= MAX_RECORD {
            return Ok(None);
        }
        window *= 2;
    }
}

/// Split a human-readable history into whole records (each starting with [`RECORD_START`]).
pub fn records(text: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = Vec::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with(RECORD_START) {
            starts.push(pos);
        }
        pos += line.len();
    }
    starts.push(text.len());
    starts.windows(2).map(|w| &text[w[0]..w[1]]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_text_and_json_are_escaped() {
        let mut r = Record::new("collect --analyze");
        r.time = "2024-01-02T00:05:00+01:00".into();
        r.lines
            .push("archive access_2024-01-02.log: 3 lines".into());
        r.lines.push("evil\n=== forged\x1b[2J".into());
        r.json.insert("lines".into(), 3.into());
        assert_eq!(
            r.text(),
            "=== 2024-01-02T00:05:00+01:00 collect --analyze\n    archive access_2024-01-02.log: 3 lines\n    evil\\x0a=== forged\\x1b[2J\n\n"
        );
        assert_eq!(
            r.json_line().unwrap(),
            "{\"lines\":3,\"time\":\"2024-01-02T00:05:00+01:00\",\"title\":\"collect --analyze\"}\n"
        );
        assert_eq!(records(&(r.text() + &r.text())).len(), 2);
    }

    #[test]
    fn the_last_mailed_report_of_the_period_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let history = dir.path().join("monitoring.log");
        assert_eq!(mailed(&history, "2023-06-19", "2023-06-25").unwrap(), None);
        let week = r#""period":{"end":"2023-06-25","label":"2023-W25","start":"2023-06-19"}"#;
        let lines = [
            format!(r#"{{"command":"report","mailed_to":"a@example.org",{week},"time":"t1"}}"#),
            format!(r#"{{"command":"report","mailed_to":"b@example.org",{week},"time":"t2"}}"#),
            // Not mailed, another period, another command, and a line cut short.
            format!(r#"{{"command":"report","mailed_to":null,{week},"time":"t3"}}"#),
            r#"{"command":"report","mailed_to":"c@example.org","period":{"end":"2023-06-18","start":"2023-06-12"},"time":"t4"}"#.to_string(),
            format!(r#"{{"command":"collect --analyze","mailed_to":"d@example.org",{week},"time":"t5"}}"#),
            format!(r#"{{"command":"report","mailed_to":"e@example.org",{week},"#),
        ];
        std::fs::write(dir.path().join(JSONL_NAME), lines.join("\n")).unwrap();
        assert_eq!(
            mailed(&history, "2023-06-19", "2023-06-25").unwrap(),
            Some(Mailed {
                time: "t2".into(),
                to: "b@example.org".into()
            })
        );
        assert_eq!(mailed(&history, "2023-06-19", "2023-06-24").unwrap(), None);
    }

    #[test]
    fn appends_beside() {
        let dir = tempfile::tempdir().unwrap();
        let h = dir.path().join("monitoring.log");
        let r = Record::new("t");
        append(&h, &r).unwrap();
        append(&h, &r).unwrap();
        let text = std::fs::read_to_string(&h).unwrap();
        assert_eq!(records(&text).len(), 2);
        let jl = std::fs::read_to_string(dir.path().join("history.jsonl")).unwrap();
        assert_eq!(jl.lines().count(), 2);
    }

    #[test]
    fn a_cut_off_record_is_removed_by_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("monitoring.log");
        let mut whole = Record::new("first");
        whole.time = "T1".into();
        whole.lines.push("a".into());
        append(&path, &whole).unwrap();
        // A killed writer left half a record in both files.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"=== T2 second\n    half a li").unwrap();
        let jsonl = jsonl_path(&path);
        let mut j = OpenOptions::new().append(true).open(&jsonl).unwrap();
        j.write_all(b"{\"time\":\"T2\",\"ti").unwrap();
        let mut next = Record::new("third");
        next.time = "T3".into();
        append(&path, &next).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "=== T1 first\n    a\n\n=== T3 third\n\n"
        );
        // (Without each record's `text_state`, which names the file's inode and times.)
        let twin: Vec<String> = std::fs::read_to_string(&jsonl)
            .unwrap()
            .lines()
            .map(|line| {
                let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
                let state = v.as_object_mut().unwrap().remove(TEXT_STATE_KEY).unwrap();
                assert_eq!(state.as_str().unwrap().split(':').count(), 3, "{state}");
                v.to_string()
            })
            .collect();
        assert_eq!(
            twin,
            [
                "{\"history\":\"monitoring.log\",\"text\":\"=== T1 first\\n    a\\n\\n\",\"text_at\":0,\"time\":\"T1\",\"title\":\"first\"}",
                "{\"history\":\"monitoring.log\",\"text\":\"=== T3 third\\n\\n\",\"text_at\":20,\"time\":\"T3\",\"title\":\"third\"}"
            ]
        );
        // Somebody else's text (the old cron script's output) is never cut.
        // (In a folder of its own: a history's twin is the folder's `history.jsonl`.)
        std::fs::create_dir(dir.path().join("old")).unwrap();
        let foreign = dir.path().join("old/old.log");
        std::fs::write(&foreign, "Detection complete.").unwrap();
        append(&foreign, &next).unwrap();
        assert_eq!(
            std::fs::read_to_string(&foreign).unwrap(),
            "Detection complete.\n=== T3 third\n\n"
        );
    }

    fn collect_record(time: &str, line: &str) -> Record {
        let mut r = Record::new("collect --analyze");
        r.time = time.into();
        r.lines.push(line.into());
        r
    }

    /// What a run killed between its two appends leaves: its record in the twin only.
    fn append_twin_only(path: &Path, record: &Record) {
        let line = record.placed_json_line(path, &state_of(path)).unwrap();
        OpenOptions::new()
            .append(true)
            .create(true)
            .open(jsonl_path(path))
            .unwrap()
            .write_all(line.as_bytes())
            .unwrap();
    }

    /// The text file's state now (made where missing, as a run's first check makes it).
    fn state_of(path: &Path) -> TextState {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap();
        TextState::of(&file).unwrap()
    }

    fn append_text(path: &Path, text: &str) {
        OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    fn twin_times(path: &Path) -> Vec<String> {
        std::fs::read_to_string(jsonl_path(path))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["time"].to_string())
            .collect()
    }

    /// A run killed after its twin's append and before its text's: the next run that writes
    /// to the text file puts the record there first, so both files hold every record once,
    /// in the same order.
    #[test]
    fn a_record_only_in_the_twin_is_put_back_by_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("monitoring.log");
        // Killed in the first run of all: the text file is empty (made, not written).
        std::fs::write(&path, "").unwrap();
        append_twin_only(&path, &collect_record("T1", "one"));
        append(&path, &collect_record("T2", "two")).unwrap();
        let text = "=== T1 collect --analyze\n    one\n\n=== T2 collect --analyze\n    two\n\n";
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        // Killed again, with a record the same as the one before (two runs in one second
        // that found nothing); put back by `repair` (a report, before it attaches them).
        append_twin_only(&path, &collect_record("T2", "two"));
        repair(&path).unwrap();
        let text = format!("{text}=== T2 collect --analyze\n    two\n\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        assert_eq!(twin_times(&path), ["\"T1\"", "\"T2\"", "\"T2\""]);
        // In sync: the next record adds only itself, however much of somebody else's text
        // follows the last one.
        let foreign = "cron: done\n".repeat(10_000);
        append_text(&path, &foreign);
        append(&path, &collect_record("T3", "three")).unwrap();
        repair(&path).unwrap();
        let text = format!("{text}{foreign}=== T3 collect --analyze\n    three\n\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        // Killed in the middle of its text: the cut record is removed, then put back whole.
        append_twin_only(&path, &collect_record("T4", "four"));
        append_text(&path, "=== T4 collect --analyze\n    fo");
        append(&path, &collect_record("T5", "five")).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{text}=== T4 collect --analyze\n    four\n\n=== T5 collect --analyze\n    five\n\n")
        );
        // Killed, then somebody else's text: the file is no longer as the run left it, so
        // the record is left in the twin alone (a guess there put records in twice).
        append_twin_only(&path, &collect_record("T4b", "fourb"));
        append_text(&path, "cron: after the kill\n");
        repair(&path).unwrap();
        append(&path, &collect_record("T4c", "fourc")).unwrap();
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .ends_with("five\n\ncron: after the kill\n=== T4c collect --analyze\n    fourc\n\n"));
        // After somebody else's text without a final newline: put back on a line of its own.
        append_text(&path, "no newline");
        append_twin_only(&path, &collect_record("T6", "six"));
        append(&path, &collect_record("T7", "seven")).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().ends_with(
            "fourc\n\nno newline\n=== T6 collect --analyze\n    six\n\n=== T7 collect --analyze\n    seven\n\n"
        ));
        assert_eq!(twin_times(&path).len(), 10);
        // Rotated after one record (renamed and made again, or cut by `copytruncate`): the
        // new file is as long as the old one was before it, but not the same file.
        for rotate in ["rename", "copytruncate"] {
            let log = dir.path().join(format!("{rotate}.log"));
            append(&log, &collect_record("R1", "one")).unwrap();
            match rotate {
                "rename" => std::fs::rename(&log, dir.path().join("old.1")).unwrap(),
                _ => std::fs::File::options()
                    .write(true)
                    .open(&log)
                    .unwrap()
                    .set_len(0)
                    .unwrap(),
            }
            // (A modification time in another tick than the record's state.)
            std::thread::sleep(std::time::Duration::from_millis(20));
            std::fs::write(&log, "").unwrap();
            append(&log, &collect_record("R2", "two")).unwrap();
            assert_eq!(
                std::fs::read_to_string(&log).unwrap(),
                "=== R2 collect --analyze\n    two\n\n",
                "{rotate}"
            );
        }
        // Edited by hand (its oldest record deleted): left as it is.
        let log = dir.path().join("edited.log");
        for n in 1..=3 {
            append(&log, &collect_record(&format!("E{n}"), "e")).unwrap();
        }
        let kept = std::fs::read_to_string(&log).unwrap()[20..].to_string();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&log, &kept).unwrap();
        append(&log, &collect_record("E4", "e")).unwrap();
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            format!("{kept}=== E4 collect --analyze\n    e\n\n")
        );
    }

    /// What is not put back: a record of another history file in the same folder (they share
    /// the twin), one placed past the text file's end (rotated away or cut since), one of an
    /// earlier version (no place), and a twin whose last record is cut short (its run
    /// recorded nothing).
    #[test]
    fn only_this_files_last_record_is_put_back_where_it_was_to_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("monitoring.log");
        let other = dir.path().join("weekly.log");
        let jsonl = jsonl_path(&path);
        // Two histories, one twin: each run's own record only, no kill.
        for n in 0..3 {
            append(&path, &collect_record(&format!("C{n}"), "c")).unwrap();
            append(&other, &collect_record(&format!("R{n}"), "r")).unwrap();
        }
        let mine = std::fs::read_to_string(&path).unwrap();
        assert_eq!(records(&mine).len(), 3, "{mine}");
        assert!(!mine.contains("=== R"), "{mine}");
        assert_eq!(records(&std::fs::read_to_string(&other).unwrap()).len(), 3);
        // Names that decode alike (not UTF-8): told apart all the same.
        use std::os::unix::ffi::OsStrExt;
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let [one, two] = [b"pr\xfcfung.log", b"pr\xf6fung.log"]
            .map(|n| sub.join(std::ffi::OsStr::from_bytes(n)));
        for n in 0..2 {
            append(&one, &collect_record(&format!("U{n}"), "u")).unwrap();
            append(&two, &collect_record(&format!("V{n}"), "v")).unwrap();
        }
        let one_text = std::fs::read_to_string(&one).unwrap();
        assert_eq!(
            one_text,
            "=== U0 collect --analyze\n    u\n\n=== U1 collect --analyze\n    u\n\n"
        );
        // Rotated away: its last record was placed far past the new file's end.
        std::fs::write(&path, "").unwrap();
        append_twin_only(&other, &collect_record("R9", "r"));
        std::fs::write(&other, "").unwrap();
        append(&other, &collect_record("R10", "r")).unwrap();
        assert_eq!(
            std::fs::read_to_string(&other).unwrap(),
            "=== R10 collect --analyze\n    r\n\n"
        );
        std::fs::write(&path, "=== T1 x\n\n").unwrap();
        let state = state_of(&path).id;
        let twin_line = |text: &str, at: u64, end: &str| {
            format!("{{\"history\":\"monitoring.log\",\"text\":{},\"text_at\":{at},\"text_state\":\"{state}\",\"time\":\"T0\"}}{end}", serde_json::to_string(text).unwrap())
        };
        for twin_end in [
            "{\"text\":\"=== T0 y\\n\\n\",\"time\":\"T0\"}\n".to_string(),
            // Not a record's text: a control byte, an empty line inside, no blank line at
            // the end, no header.
            twin_line("=== T0 \x1b[2J\n\n", 10, "\n"),
            twin_line("=== T0 y\n\n    z\n\n", 10, "\n"),
            twin_line("=== T0 y\n", 10, "\n"),
            twin_line("T0 y\n\n", 10, "\n"),
            // Another place, a cut line.
            twin_line("=== T0 y\n\n", 0, "\n"),
            twin_line("=== T0 y\n\n", 10, ""),
        ] {
            std::fs::write(&jsonl, &twin_end).unwrap();
            repair(&path).unwrap();
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                "=== T1 x\n\n",
                "{twin_end:?}"
            );
        }
        // Its place and state, a record's text: put back.
        std::fs::write(&jsonl, twin_line("=== T0 y\n\n", 10, "\n")).unwrap();
        repair(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "=== T1 x\n\n=== T0 y\n\n"
        );
        // A last line longer than the first window is found by wider ones.
        std::fs::write(&jsonl, format!("{}\n", "x".repeat(100_000))).unwrap();
        assert_eq!(last_line(&jsonl).unwrap().map(|l| l.len()), Some(100_000));
        std::fs::write(&jsonl, "a\nbc\n").unwrap();
        assert_eq!(last_line(&jsonl).unwrap(), Some(b"bc".to_vec()));
        std::fs::write(&jsonl, "bc").unwrap();
        assert_eq!(last_line(&jsonl).unwrap(), None);
    }

    #[test]
    fn a_history_may_not_be_named_as_its_twin_or_collects_files() {
        for bad in [
            "log/history.jsonl",
            "history.jsonl",
            "log/.logwarden-collect.json",
            "log/.logwarden-collect.lock",
        ] {
            assert!(check_names(Path::new(bad)).is_err(), "{bad}");
        }
        for good in [
            "log/monitoring.log",
            "history.jsonl.txt",
            "log/logwarden-collect.log",
        ] {
            assert!(check_names(Path::new(good)).is_ok(), "{good}");
        }
    }

    /// A run that waited for the lock of a file renamed away meanwhile (rotated) appends to
    /// the file now at the path, not to the rotated one (its record came after a newer one).
    #[test]
    fn a_writer_waiting_for_a_rotated_file_appends_to_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("monitoring.log");
        append(&path, &collect_record("T1", "one")).unwrap();
        let held = OpenOptions::new().read(true).open(&path).unwrap();
        lock_exclusive(&held).unwrap();
        let waiting = {
            let path = path.clone();
            std::thread::spawn(move || append(&path, &collect_record("T2", "two")).unwrap())
        };
        // Let it open the file and wait for the lock (it cannot take it before the release).
        std::thread::sleep(std::time::Duration::from_millis(200));
        std::fs::rename(&path, dir.path().join("monitoring.log.1")).unwrap();
        drop(held);
        waiting.join().unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("monitoring.log.1")).unwrap(),
            "=== T1 collect --analyze\n    one\n\n"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "=== T2 collect --analyze\n    two\n\n"
        );
    }

    /// A line `=== ...` added by hand after the last record looks like a record cut off by
    /// a kill, but it is not the start of the twin's last record: it is kept.
    #[test]
    fn a_header_added_by_hand_is_not_taken_for_a_cut_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("monitoring.log");
        append(&path, &collect_record("T1", "one")).unwrap();
        for note in ["=== note by the admin\n", "=== note", "=== T1 collect"] {
            let before = std::fs::read_to_string(&path).unwrap();
            append_text(&path, note);
            append(&path, &collect_record("T2", "two")).unwrap();
            let sep = if note.ends_with('\n') { "" } else { "\n" };
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                format!("{before}{note}{sep}=== T2 collect --analyze\n    two\n\n"),
                "{note:?}"
            );
        }
    }

    #[test]
    fn a_state_in_whole_seconds_is_not_trusted() {
        assert!(fine_grained("2049:12:1795948177.916993565"));
        assert!(!fine_grained("2049:12:1795948177.000000000"));
    }

    #[test]
    fn whole_records_and_text_after_them_are_never_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut next = Record::new("next");
        next.time = "T9".into();
        for (before, kept) in [
            // A whole record, then somebody else's lines (cron output sent to the same file).
            (
                "=== T1 x\n    a\n\nforeign\n",
                "=== T1 x\n    a\n\nforeign\n",
            ),
            ("=== T1 x\n    a\n\nforeign", "=== T1 x\n    a\n\nforeign\n"),
            // Text that only starts like a record: its second line is not indented.
            ("=== not ours\nplain text", "=== not ours\nplain text\n"),
            (
                "x\n=== T1 x\n    a\n\n=== T2 y\nfree text",
                "x\n=== T1 x\n    a\n\n=== T2 y\nfree text\n",
            ),
            // Cut off: removed, from its header on.
            ("=== T1 x\n    a\n\n=== T2 y\n  ", "=== T1 x\n    a\n\n"),
            (
                "=== T1 x\n    a\n\n=== T2 y\n    b\n",
                "=== T1 x\n    a\n\n",
            ),
            ("=== T2 y", ""),
        ] {
            let path = dir.path().join("h.log");
            std::fs::write(&path, before).unwrap();
            append(&path, &next).unwrap();
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                format!("{kept}=== T9 next\n\n"),
                "{before:?}"
            );
            std::fs::remove_file(&path).unwrap();
            std::fs::remove_file(jsonl_path(&path)).unwrap();
        }
        // The JSON-lines twin: a partial object is ours and removed, other text is kept.
        let jsonl = dir.path().join("history.jsonl");
        for (before, kept) in [
            ("{\"a\":1}\n{\"time\":\"T", "{\"a\":1}\n"),
            ("{\"a\":1}\nnot json", "{\"a\":1}\nnot json\n"),
            // A whole object without its newline (added by hand) is nobody's cut record.
            ("{\"a\":1}\n{\"hand\":1}", "{\"a\":1}\n{\"hand\":1}\n"),
        ] {
            std::fs::write(&jsonl, before).unwrap();
            append_once(&jsonl, b"{\"b\":2}\n", b"", b"\n").unwrap();
            assert_eq!(
                std::fs::read_to_string(&jsonl).unwrap(),
                format!("{kept}{{\"b\":2}}\n"),
                "{before:?}"
            );
        }
    }
}
