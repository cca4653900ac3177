//! `collect`: copy what the web server wrote since the last run into one new archive file.
//!
//! The live log and its rotated siblings (`siblings`) are matched to the streams recorded in
//! the state file (`state`) by a fingerprint of their first 4 KiB (decompressed; after NUL
//! padding, with its length: `SourceFile::identity`), never by inode (inodes are reused).
//! Each stream is copied from its recorded offset; a file no stream knows is new and copied
//! from its start. Several files matching one stream (a `copytruncate` copy beside the live
//! file) are copies of one stream: only the longest is read. A plain file must also end what
//! was copied with the same bytes as then (its last whole lines, at least 256 bytes: a line
//! with its client and time, not only a long user agent's end); edited in place, the copy
//! resumes where they are now, or at the next line start when they are gone (from its end
//! when it is shorter now: cut); a warning and exit 1 either way. Plain files are copied up to their last newline (the server may be mid-line); gzip
//! files are final and copied whole, and so is a rotated plain file found at the length at
//! which the last run left its last line unfinished (`StreamState::unfinished_at`): it no
//! longer grows, and its line was otherwise archived only if it was compressed later.
//!
//! A rotation while the files are described or copied (they are renamed, listed anew, or a
//! plain one no longer starts as it did or is shorter: `copytruncate` cut it under the copy)
//! throws the copy away and starts again: three tries in all.
//!
//! Invariant (exactly once): data goes to a temp file (fsync), the plan is journaled in the
//! state file, the temp is renamed to a fresh `access_YYYY-MM-DD[-N].log` (fsync of the dir),
//! then the plan is committed; the archive's existence decides an interrupted plan (see
//! `state`). One run at a time per destination (`lock`). Nothing new: no archive.
//!
//! Known window (logrotate's, not ours): with `copytruncate`, lines the server writes between
//! logrotate's copy and its truncate are in neither file and cannot be collected by anyone.
//! A run in that window reads the live file past the copy's end; the copy, once rotated, is
//! then known by its fingerprint and nothing in it is new. Not when the live file was under
//! 4 KiB at the copy: the fingerprint then covers the whole file, a shorter copy matches no
//! stream, and it is collected again.

pub mod lock;
pub mod siblings;
pub mod state;

use anyhow::Context;
use chrono::NaiveDate;
use siblings::{fnv1a, SourceFile};
use state::{Pending, State, StreamState};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const TEMP_ARCHIVE: &str = ".logwarden-collect-archive.tmp";
const TEMP_COMPRESS: &str = ".logwarden-compress.tmp";

/// Test hook: stop as if the process died at this point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// The temp archive is written and fsynced; nothing else.
    AfterTempWrite,
    /// The plan is journaled as pending; the archive is not renamed yet.
    AfterPendingState,
    /// The archive is in place; the plan is not committed yet.
    AfterRename,
}

#[derive(Debug, thiserror::Error)]
#[error("simulated crash at {0:?} (test hook)")]
pub struct SimulatedCrash(pub CrashPoint);

#[derive(Debug, Clone)]
pub struct Options {
    pub source: PathBuf,
    pub dest: PathBuf,
    /// The run's date (local time): names the archive and ages archives for compression.
    pub today: NaiveDate,
    /// Gzip archives whose name date is more than this many days before `today`.
    pub compress_after: Option<u32>,
    /// The caller analyzes and records each archive committed (`collect --analyze`): they are
    /// kept in the state's `unrecorded` list until it calls [`recorded`].
    pub record: bool,
    #[doc(hidden)]
    pub crash_at: Option<CrashPoint>,
    /// Called with the source in each try once the files are described, before they are
    /// matched and copied (tests rotate the log there).
    #[doc(hidden)]
    pub before_copy: Option<fn(&Path)>,
}

/// What one source file contributed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub from: u64,
    pub bytes: u64,
    pub lines: u64,
}

#[derive(Debug, Default)]
pub struct Collected {
    /// The new archive, when there was anything new.
    pub archive: Option<PathBuf>,
    pub bytes: u64,
    pub lines: u64,
    pub parts: Vec<Part>,
    /// What recovery of an interrupted run did, if there was one.
    pub recovered: Option<String>,
    /// With [`Options::record`]: every archive committed and not yet recorded, this run's
    /// last (earlier ones: a run killed before its record, or interrupted before its commit),
    /// under its current name (`.gz` once compressed).
    pub unrecorded: Vec<PathBuf>,
    /// For each of `unrecorded`, the id its history record gives it (see
    /// [`state::Unrecorded::token`]).
    pub unrecorded_ids: Vec<String>,
    /// The destination's lock, held until the caller has recorded the archives.
    pub lock: Option<lock::DestLock>,
    pub warnings: Vec<String>,
    /// Problems that may have cost lines (each also among `warnings`): a rotated file that
    /// could not be read, an archive gone before its analysis, the last live file not found.
    /// Exit status 1.
    pub possible_losses: usize,
    pub compressed: Vec<PathBuf>,
}

/// How many times [`collect`] reads the sources when each try finds they were rotated meanwhile.
const ROTATION_TRIES: u32 = 3;

fn hex(h: u64) -> String {
    format!("{h:016x}")
}

fn matches(stream: &StreamState, sf: &SourceFile) -> bool {
    let plen = stream.prefix_len as usize;
    let by = |bytes: &[u8]| plen <= bytes.len() && hex(fnv1a(&bytes[..plen])) == stream.hash;
    // A padded file's stream recorded by an earlier version, by its first bytes (NULs): it
    // is fingerprinted anew once it is copied from.
    plen > 0
        && (by(&sf.identity) || (sf.padded() && by(&sf.prefix) && is_padded_stream(stream, sf)))
}

/// Whether `sf`, a padded file with the NULs an earlier version fingerprinted `stream` by,
/// is that stream: every padded file has them, so it must also hold what was copied as then
/// (the bytes before the offset, where they were kept; else a `.gz` of the length copied).
/// Not so: it is a new file, copied from its start.
fn is_padded_stream(stream: &StreamState, sf: &SourceFile) -> bool {
    match &stream.tail {
        Some(tail) if !sf.gzip => tail_at(sf, stream.offset, tail).unwrap_or(false),
        Some(tail) => gzip_tail_at(sf, stream.offset, tail).unwrap_or(false),
        None => sf.gzip && sf.len == stream.offset,
    }
}

/// [`tail_at`] for a `.gz` file: its text decoded up to `offset`.
fn gzip_tail_at(sf: &SourceFile, offset: u64, tail: &state::Tail) -> io::Result<bool> {
    if offset < tail.len || offset > sf.len {
        return Ok(false);
    }
    let mut r = siblings::reader(&sf.file, true)?;
    io::copy(&mut (&mut r).take(offset - tail.len), &mut io::sink())?;
    let mut bytes = Vec::with_capacity(tail.len as usize);
    r.take(tail.len).read_to_end(&mut bytes)?;
    Ok(bytes.len() as u64 == tail.len && hex(fnv1a(&bytes)) == tail.hash)
}

/// Whether the bytes `stream`'s fingerprint was taken of (`sf`'s, which it matches) hold a
/// whole line: past the padding's marker and length, for a padded file.
fn fingerprint_holds_a_line(stream: &StreamState, sf: &SourceFile) -> bool {
    let end = (stream.prefix_len as usize).min(sf.identity.len());
    let text = match sf.padded() {
        true => siblings::PADDED_HEADER.min(end),
        false => 0,
    };
    sf.identity[text..end].contains(&b'\n')
}

pub fn collect(opts: &Options) -> anyhow::Result<Collected> {
    let live = siblings::open_live(&opts.source, siblings::LIVE_WAIT)?;
    let dest = &opts.dest;
    std::fs::create_dir_all(dest)
        .with_context(|| format!("cannot create {}", crate::escape::path(dest)))?;
    let lock = lock::acquire(dest)?;
    let mut st = state::load(dest)?;
    let mut out = Collected {
        recovered: recover(dest, &mut st)?,
        ..Collected::default()
    };

    // Described, matched and copied again if a rotation ran meanwhile (see
    // `siblings::settled`): while the files were described, or while they were copied
    // (`copytruncate` cuts the live file under the copy, which then reads the new lines in
    // place of the old, and the state would call the old ones collected). After three tries
    // in all the run stops rather than archive a mix: nothing is lost, the next run collects.
    // A stream of an earlier state file has no source: any source may match it (and then
    // owns it), and it is kept while none does.
    let me = source_id(&opts.source);
    adopt_earlier_name(&mut st, &me, &opts.source);
    if let Some(other) = same_file_by_another_name(&st, &me, &opts.source) {
        anyhow::bail!(
            "{} is the file that {} collects as {other}: collect it by that name, or into another --dest (collected under two names, its lines would be archived twice)",
            crate::escape::path(&opts.source),
            crate::escape::path(dest)
        );
    }
    let mine = |s: &StreamState| s.source.as_deref() == Some(me.as_str());
    let matchable = |s: &StreamState| s.source.is_none() || mine(s);
    let (warnings_before, losses_before) = (out.warnings.len(), out.possible_losses);
    let mut live = Some(live);
    let mut tries = 0;
    let (found, mut streams, merged, touched, temp, temp_path) = loop {
        tries += 1;
        if tries > 1 {
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        let live = match live.take() {
            Some(file) => file,
            None => siblings::open_live(&opts.source, siblings::LIVE_WAIT)?,
        };
        let found = siblings::find(&opts.source, live)?;
        if !siblings::settled(&found) {
            if tries == ROTATION_TRIES {
                return Err(rotated_too_often(&opts.source, "read", tries));
            }
            continue;
        }
        out.warnings.extend(
            found
                .unreadable
                .iter()
                .map(|u| format!("skipped unreadable rotated file {u}")),
        );
        out.possible_losses = losses_before + found.unreadable.len();
        if let Some(hook) = opts.before_copy {
            hook(&opts.source);
        }
        let files = &found.files;
        let known = st.streams.len();

        // Match files to this source's streams (see `matchable`).
        let mut streams = st.streams.clone();
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new(); // (stream, files) in file order
        let mut merged: Vec<usize> = Vec::new();
        for (i, sf) in files.iter().enumerate() {
            if sf.len == 0 {
                continue;
            }
            let mut candidates: Vec<usize> = Vec::new();
            for (j, stream) in streams.iter().enumerate() {
                if merged.contains(&j) || !matchable(stream) || !matches(stream, sf) {
                    continue;
                }
                // A stream of the state file that has nothing collected and is known by part
                // of a first line (a collect ran while the live file held less than a line) is
                // no sign of the same file: the next live file may start with the same client
                // and second, and the two passed for copies of one. It is dropped, and each
                // file is new, read from its start, as that stream would be.
                if j < known && stream.offset == 0 && !fingerprint_holds_a_line(stream, sf) {
                    merged.push(j);
                    continue;
                }
                candidates.push(j);
            }
            candidates.sort_by_key(|&j| (streams[j].prefix_len, streams[j].offset));
            let j = match candidates.pop() {
                Some(best) => {
                    // Older, shorter fingerprints of the same stream: fold them in.
                    for other in candidates {
                        // The furthest offset, with the bytes that end it.
                        if streams[other].offset > streams[best].offset {
                            streams[best].offset = streams[other].offset;
                            streams[best].tail = streams[other].tail.clone();
                            streams[best].unfinished_at = streams[other].unfinished_at;
                        }
                        merged.push(other);
                        if let Some(g) = groups.iter().position(|(s, _)| *s == other) {
                            let (_, fs) = groups.remove(g);
                            match groups.iter_mut().find(|(s, _)| *s == best) {
                                Some((_, bf)) => bf.extend(fs),
                                None => groups.push((best, fs)),
                            }
                        }
                    }
                    best
                }
                None => {
                    streams.push(StreamState {
                        hash: hex(fnv1a(&sf.identity)),
                        prefix_len: sf.identity.len() as u64,
                        offset: 0,
                        last_name: sf.name.clone(),
                        source: Some(me.clone()),
                        tail: None,
                        unfinished_at: None,
                    });
                    streams.len() - 1
                }
            };
            match groups.iter_mut().find(|(s, _)| *s == j) {
                Some((_, fs)) => fs.push(i),
                None => groups.push((j, vec![i])),
            }
        }

        // The live file as a new stream while the one that was live at the last run is found in
        // no file: its first bytes changed (edited in place). Where it still ends a line with
        // the bytes last collected, it is that stream, resumed after them (copied from its
        // start, it was archived twice).
        if let Some(live) = files.len().checked_sub(1) {
            let adopted = adopt_edited_live(
                live,
                files,
                &mut streams,
                &mut groups,
                &merged,
                known,
                &mine,
                &mut out,
            );
            // It reads the live file where it was described: one cut since (`copytruncate`)
            // fails the read, which is a rotation, as for a failed copy (the run stopped with
            // "failed to fill whole buffer" and did not say that nothing was collected).
            if let Err(e) = adopted {
                if siblings::unchanged_since_found(&found) {
                    return Err(e);
                }
                out.warnings.truncate(warnings_before);
                out.possible_losses = losses_before;
                if tries == ROTATION_TRIES {
                    return Err(rotated_too_often(&opts.source, "read", tries));
                }
                continue;
            }
        }

        // Copy each stream's new bytes into the temp archive, oldest stream first.
        let temp_path = dest.join(TEMP_ARCHIVE);
        // Readable by whom the live log is (an archive of a 0640 log was 0644).
        let mode = files.last().map_or(0o600, |live| live_mode(&live.file));
        let mut temp = create_fresh(&temp_path, mode)
            .with_context(|| format!("cannot create {}", crate::escape::path(&temp_path)))?;
        let mut touched = vec![false; streams.len()];
        // Nothing is journaled yet: a failed copy (a full disk, a read error) removes the temp
        // now rather than leaving its space taken until the next run.
        let copied = copy_streams(
            &groups,
            files,
            &mut streams,
            &mut touched,
            &mut temp,
            &temp_path,
            &mut out,
        )
        .and_then(|()| match out.bytes {
            0 => Ok(()),
            _ => temp
                .sync_all()
                .with_context(|| format!("cannot write {}", crate::escape::path(&temp_path))),
        });
        // A file cut under the copy may also fail it (its last bytes are not there to read):
        // that is a rotation too.
        let unchanged = siblings::unchanged_since_found(&found);
        match copied {
            Ok(()) if unchanged => break (found, streams, merged, touched, temp, temp_path),
            Err(e) if unchanged => {
                drop(temp);
                let _ = std::fs::remove_file(&temp_path);
                return Err(e);
            }
            _ => {}
        }
        // Not journaled: the temp goes, and what this try said and copied with it.
        drop(temp);
        let _ = std::fs::remove_file(&temp_path);
        out.warnings.truncate(warnings_before);
        out.possible_losses = losses_before;
        out.parts.clear();
        (out.bytes, out.lines) = (0, 0);
        if tries == ROTATION_TRIES {
            return Err(rotated_too_often(&opts.source, "copied", tries));
        }
    };
    let files = &found.files;
    // A stream matched (and so read) here is this source's, an adopted one from an earlier
    // state file too.
    for (stream, _) in streams.iter_mut().zip(&touched).filter(|(_, t)| **t) {
        stream.source = Some(me.clone());
    }
    // This source's streams no file matches any more are gone (rotated away) — unless a
    // sibling could not be read, in which case it may be that one and its record must stay.
    let keep_untouched = !found.unreadable.is_empty();
    // One that was the live file at the last run, gone now, was not rotated where its
    // siblings are (logrotate's `olddir`, another name) or was deleted: what the server wrote
    // to it after that run cannot be collected. Said, and exit 1: it may hold lines.
    let live_name = files.last().map(|sf| sf.name.as_str());
    for (j, stream) in streams.iter().enumerate() {
        let vanished = !touched[j] && !merged.contains(&j) && mine(stream) && !keep_untouched;
        if vanished && Some(stream.last_name.as_str()) == live_name {
            out.possible_losses += 1;
            out.warnings.push(format!(
                "the file that was {} at the last collect (read up to byte {}) is not found any more: moved elsewhere, deleted or emptied (lines written to it after that collect, if any, are not collected), or changed in its first 4 KiB (then read again from its start: its lines are archived twice)",
                stream.last_name, stream.offset
            ));
        }
    }
    let new_streams: Vec<StreamState> = streams
        .into_iter()
        .enumerate()
        .filter(|(j, s)| !merged.contains(j) && (touched[*j] || keep_untouched || !mine(s)))
        .map(|(_, s)| s)
        .collect();

    if out.bytes == 0 {
        drop(temp);
        let _ = std::fs::remove_file(&temp_path);
        // Saved even unchanged: its time is when everything logged so far was collected,
        // which `report` reads when no archive is newer (a quiet site's Monday report).
        st.streams = new_streams;
        state::save(dest, &st)?;
    } else {
        drop(temp);
        crash_point(opts, CrashPoint::AfterTempWrite)?;
        let name = archive_name(dest, opts.today);
        let archive = dest.join(&name);
        st.pending = Some(Pending {
            archive: name.clone(),
            streams: new_streams.clone(),
        });
        // Listed with the plan: an interrupted run's archive, once rolled forward by any run,
        // is still recorded by the next `--analyze` run of this source.
        if opts.record {
            // The name is free, so an entry under it is stale (its archive was deleted).
            st.unrecorded.retain(|u| u.archive != name);
            let made = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            st.unrecorded.push(state::Unrecorded {
                archive: name.clone(),
                source: me.clone(),
                token: Some(format!(
                    "{name}@{}.{:09}-{}",
                    made.as_secs(),
                    made.subsec_nanos(),
                    std::process::id()
                )),
            });
        }
        // Not journaled (the old state file stands): the temp goes, as after a failed copy.
        if let Err(e) = state::save(dest, &st) {
            let _ = std::fs::remove_file(&temp_path);
            return Err(e);
        }
        crash_point(opts, CrashPoint::AfterPendingState)?;
        std::fs::rename(&temp_path, &archive)
            .and_then(|()| state::sync_dir(dest))
            .with_context(|| format!("cannot create {}", crate::escape::path(&archive)))?;
        crash_point(opts, CrashPoint::AfterRename)?;
        st.pending = None;
        st.streams = new_streams;
        // The archive is in place and the plan journaled: the next run rolls it forward.
        state::save(dest, &st).with_context(|| {
            format!(
                "{} was created, but its commit could not be saved: the next run records it",
                crate::escape::path(&archive)
            )
        })?;
        out.archive = Some(archive);
    }
    // The archive is committed: a failed compression (a full disk) is a warning, so the run
    // still analyzes and records what it collected; the next run compresses again.
    if let Some(days) = opts.compress_after {
        match compress_old(dest, opts.today, days) {
            Ok(done) => out.compressed = done,
            Err(e) => out.warnings.push(format!("{e:#}")),
        }
    }
    // Under their current names: an archive old enough was compressed (now, or since). One
    // that is gone altogether cannot be analyzed: it leaves the list, with a warning.
    let mut gone = Vec::new();
    for u in st
        .unrecorded
        .iter()
        .filter(|u| opts.record && u.source == me)
    {
        let plain = dest.join(&u.archive);
        let gz = dest.join(format!("{}.gz", u.archive));
        let now = match (plain.exists(), gz.exists()) {
            (true, _) => plain,
            (false, true) => gz,
            (false, false) => {
                gone.push(u.archive.clone());
                continue;
            }
        };
        out.unrecorded_ids
            .push(u.token.clone().unwrap_or_else(|| archive_id(&now)));
        out.unrecorded.push(now);
    }
    if !gone.is_empty() {
        // Lines never analyzed: exit 1, as for a rotated file that cannot be read.
        out.possible_losses += gone.len();
        for name in &gone {
            out.warnings.push(format!(
                "archive {} is gone before it was analyzed",
                crate::escape::path(&dest.join(name))
            ));
        }
        st.unrecorded.retain(|u| !gone.contains(&u.archive));
        state::save(dest, &st)?;
    }
    out.lock = Some(lock);
    Ok(out)
}

/// `archives` (of [`Collected::unrecorded`]) are analyzed and recorded: out of the state's
/// `unrecorded` list. Called while the [`Collected`] still holds the destination's lock.
pub fn recorded(dest: &Path, archives: &[PathBuf]) -> anyhow::Result<()> {
    let mut st = state::load(dest)?;
    let done: Vec<String> = archives
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| {
            let n = n.to_string_lossy();
            n.strip_suffix(".gz").unwrap_or(&n).to_string()
        })
        .collect();
    st.unrecorded.retain(|u| !done.contains(&u.archive));
    state::save(dest, &st)
}

/// How an archive listed by a state file of an earlier version (without a token) is named
/// in the history's records of the runs that recorded it: its folder made absolute and its
/// name without `.gz` (compressed since, it is the same archive).
fn archive_id(archive: &Path) -> String {
    let name = archive.file_name().unwrap_or_default().to_string_lossy();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let dir = match archive.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    crate::escape::path(&dir.join(name))
}

/// How a source is named in the state file: its path made absolute against the working
/// directory (a cron job and a person may name it differently), no link followed — neither
/// in its folders nor its file name. It is the name the log is collected through:
/// `rotatelogs -L` points a link at each day's new file, a deploy points `current` at each
/// release's folder, an admin moves the log folder to another disk and links it back; the
/// source stays the same one through each (its streams, the files it led to before, are
/// still its own). See [`same_file_by_another_name`].
fn source_id(source: &Path) -> String {
    use std::path::Component;
    let absolute = std::path::absolute(source).unwrap_or_else(|_| source.to_path_buf());
    // `..` taken by name (`/var/log/x/../apache2` is `/var/log/apache2`), as a person reads
    // it: a link before it is not followed either.
    let mut named = PathBuf::new();
    for part in absolute.components() {
        match part {
            Component::ParentDir => {
                named.pop();
            }
            Component::CurDir => {}
            other => named.push(other),
        }
    }
    crate::escape::path(&named)
}

/// How earlier versions named the source: its folder resolved (links followed), so a
/// folder moved and linked back, or a folder link moved on, made it another source.
fn source_id_resolving_folders(source: &Path) -> String {
    let dir = match source.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    crate::escape::path(&dir.join(source.file_name().unwrap_or_default()))
}

/// Records of this source under the name an earlier version gave it, renamed to `me`: as
/// long as its folder resolves as it did, that name is this source's. Not a name this
/// version wrote as given (`st.sources_as_given`): `/srv/real/access.log`, collected by that
/// name, is not taken over by a second name for its file (`/srv/link/access.log`), which is
/// refused instead. `me` is listed as given from now on.
fn adopt_earlier_name(st: &mut State, me: &str, source: &Path) {
    if let Err(at) = st.sources_as_given.binary_search_by(|s| s.as_str().cmp(me)) {
        st.sources_as_given.insert(at, me.to_string());
    }
    let earlier = source_id_resolving_folders(source);
    if earlier == me
        || st
            .sources_as_given
            .binary_search_by(|s| s.as_str().cmp(&earlier))
            .is_ok()
    {
        return;
    }
    for s in st.streams.iter_mut() {
        if s.source.as_deref() == Some(earlier.as_str()) {
            s.source = Some(me.to_string());
        }
    }
    for u in st.unrecorded.iter_mut() {
        if u.source == earlier {
            u.source = me.to_string();
        }
    }
}

/// A source name of `st` (of its streams or unrecorded archives) other than `me` that
/// leads to the same file as `source` now, symbolic links resolved: a cron job that names a
/// link and a person who names its target (or another link to it). Each would take the other
/// for another source and archive all its lines again, with the rotated files; one name is
/// refused instead. (Taken for one source, the names went wrong later: a link moved on, or
/// removed, left the other name's records to nobody, or its lost lines unsaid.) A name that
/// is not a plain path (escaped bytes) or leads nowhere now is not compared.
fn same_file_by_another_name(st: &State, me: &str, source: &Path) -> Option<String> {
    let real = std::fs::canonicalize(source).ok()?;
    let mut recorded = st
        .streams
        .iter()
        .filter_map(|s| s.source.as_deref())
        .chain(st.unrecorded.iter().map(|u| u.source.as_str()));
    recorded
        .find(|&name| {
            name != me
                && !name.contains('\\')
                && std::fs::canonicalize(name).is_ok_and(|other| other == real)
        })
        .map(str::to_string)
}

fn crash_point(opts: &Options, at: CrashPoint) -> anyhow::Result<()> {
    if opts.crash_at == Some(at) {
        return Err(SimulatedCrash(at).into());
    }
    Ok(())
}

/// Finish or undo an interrupted run, and remove its temp files: what was done. An archive
/// rolled back leaves the `unrecorded` list its plan put it on.
fn recover(dest: &Path, st: &mut State) -> anyhow::Result<Option<String>> {
    for temp in [TEMP_ARCHIVE, TEMP_COMPRESS] {
        let _ = std::fs::remove_file(dest.join(temp));
    }
    // A state file being saved when its run was killed (only the lock's holder saves it).
    crate::sink::file::remove_stale_temps(dest, state::STATE_FILE);
    let Some(pending) = st.pending.take() else {
        return Ok(None);
    };
    let archive = dest.join(&pending.archive);
    let shown = crate::escape::path(&archive);
    let gz = dest.join(format!("{}.gz", pending.archive));
    let msg = if archive.exists() || gz.exists() {
        st.streams = pending.streams;
        format!(
            "a previous run was interrupted after creating {shown}; its progress is now recorded"
        )
    } else {
        st.unrecorded.retain(|u| u.archive != pending.archive);
        "a previous run was interrupted before creating its archive; its lines are collected now"
            .to_string()
    };
    state::save(dest, st)?;
    Ok(Some(msg))
}

/// `access_YYYY-MM-DD.log`, or `-2`, `-3`, ... before `.log` when taken (plain or gzipped).
pub fn archive_name(dest: &Path, today: NaiveDate) -> String {
    let taken = |n: &str| dest.join(n).exists() || dest.join(format!("{n}.gz")).exists();
    let first = format!("access_{today}.log");
    if !taken(&first) {
        return first;
    }
    (2u64..)
        .map(|k| format!("access_{today}-{k}.log"))
        .find(|n| !taken(n))
        .unwrap_or(first)
}

/// Copy each stream's new bytes (from its longest file) into `temp`, oldest stream first,
/// and move the streams' offsets on.
fn copy_streams(
    groups: &[(usize, Vec<usize>)],
    files: &[SourceFile],
    streams: &mut [StreamState],
    touched: &mut [bool],
    temp: &mut File,
    temp_path: &Path,
    out: &mut Collected,
) -> anyhow::Result<()> {
    for (j, fs) in groups {
        let Some(&longest) = fs
            .iter()
            .max_by_key(|&&i| (files[i].len, std::cmp::Reverse(i)))
        else {
            continue;
        };
        let sf = &files[longest];
        let stream = &mut streams[*j];
        let live = longest + 1 == files.len();
        // The live file among the stream's files, the longest or not (a copy as long as it,
        // made by logrotate's `copy`, or by `copytruncate` before its truncate, is listed
        // first and wins the tie): the stream may still grow.
        let grows_live = fs.contains(&(files.len() - 1));
        if sf.len < stream.offset && !live {
            // A rotated copy shorter than what was collected: a copytruncate copy made before
            // the last run read the live file further. Nothing in it is new.
            stream.last_name = sf.name.clone();
            stream.unfinished_at = None;
            touched[*j] = true;
            continue;
        }
        let read_err = || format!("cannot read {}", crate::escape::path(&sf.path));
        // Where the bytes last copied end now: where they were, unless the file was edited
        // in place (a log only grows; its first bytes matched, so it is the same log).
        let resumed = match (&stream.tail, sf.gzip) {
            (Some(tail), false) if stream.offset > 0 => {
                match tail_at(sf, stream.offset, tail).with_context(read_err)? {
                    true => Some(stream.offset),
                    false => find_tail(sf, stream.offset, tail).with_context(read_err)?,
                }
            }
            _ => (sf.len >= stream.offset).then_some(stream.offset),
        };
        let start = match resumed {
            Some(at) if at == stream.offset => at,
            Some(at) => {
                out.possible_losses += 1;
                out.warnings.push(format!(
                    "{} was changed before the part already collected (edited in place?): its last collected line is now at byte {at}, not {}; collected after it, and lines added before it are not collected",
                    sf.name, stream.offset
                ));
                at
            }
            // The last collected line is gone: edited, or cut (`truncate -s`, a restore) when
            // shorter. Read from the first line start after the old offset (none when
            // shorter: what is added to it later is new).
            // A gzip file read live (a `--source` that is one): no bytes to look for, and
            // its offsets are of the inflated text. Shorter now: read from its start.
            None if sf.gzip => {
                out.possible_losses += 1;
                out.warnings.push(format!(
                    "{} is shorter than what was collected from it ({} < {} bytes): rewritten, collected from its start (lines collected before may be archived twice)",
                    sf.name, sf.len, stream.offset
                ));
                0
            }
            None => {
                let at = match sf.len < stream.offset {
                    true => line_start_at_or_before(sf, sf.len),
                    false => line_start_at_or_after(sf, stream.offset),
                }
                .with_context(read_err)?;
                out.possible_losses += 1;
                out.warnings.push(format!(
                    "{} was changed before the part already collected (cut, or edited in place?): its last collected line is gone; collected from byte {at} (it had {} bytes collected, it has {} now), and lines added before that are not collected",
                    sf.name, stream.offset, sf.len
                ));
                at
            }
        };
        // Never the NUL padding a file starts with (a writer without `O_APPEND` goes on at its
        // offset after `copytruncate`): the hole is as long as all it wrote before, so each
        // archive held the text of every earlier one again in NULs (4 cycles: 0, 9, 19 and
        // 28 KB of NULs with 11 KB of text each). `analyze` skips it; `grep` took the
        // archives for binary files.
        let start = start.max(sf.padding());
        // A rotated plain file as long as when the last run left its last line unfinished:
        // it no longer grows (its writer stopped mid-line), so the line is archived as it is.
        // Left for ever, it was archived only if the file was compressed later, and lost when
        // it was not (a rotation without `compress`).
        // Only a rotated plain file's last line can be unfinished for good.
        let may_stop_unfinished = !grows_live && !sf.gzip;
        let unfinished_for_good =
            may_stop_unfinished && stream.unfinished_at == Some(sf.len) && start < sf.len;
        let grows = sf.may_grow && !unfinished_for_good;
        let (consumed, written, lines) = copy_part(sf, start, grows, temp, temp_path)?;
        if unfinished_for_good && start + consumed == sf.len {
            out.warnings.push(format!(
                "{} ends with an unfinished line that did not change since the last collect: a rotated file no longer grows (its writer stopped mid-line?), so the line is archived as it is, with a newline added",
                sf.name
            ));
        }
        if written > 0 {
            out.parts.push(Part {
                name: sf.name.clone(),
                from: start,
                bytes: written,
                lines,
            });
        }
        out.bytes += written;
        out.lines += lines;
        stream.hash = hex(fnv1a(&sf.identity));
        stream.prefix_len = sf.identity.len() as u64;
        stream.offset = start + consumed;
        stream.unfinished_at = (may_stop_unfinished && stream.offset < sf.len).then_some(sf.len);
        stream.last_name = sf.name.clone();
        stream.tail = match sf.gzip {
            true => None,
            false => tail_before(sf, stream.offset).with_context(read_err)?,
        };
        touched[*j] = true;
    }
    Ok(())
}

/// Why a run stops after [`ROTATION_TRIES`] tries that each saw `source` rotated while it
/// was `read` or `copied`.
fn rotated_too_often(source: &Path, while_it_was: &str, tries: u32) -> anyhow::Error {
    anyhow::anyhow!(
        "{} was rotated while it was {while_it_was}, {tries} times: nothing collected, run again",
        crate::escape::path(source)
    )
}

/// See the call in [`collect`]: `known` streams were in the state file, the rest are new.
#[allow(clippy::too_many_arguments)]
fn adopt_edited_live(
    live: usize,
    files: &[SourceFile],
    streams: &mut Vec<StreamState>,
    groups: &mut Vec<(usize, Vec<usize>)>,
    merged: &[usize],
    known: usize,
    mine: &dyn Fn(&StreamState) -> bool,
    out: &mut Collected,
) -> anyhow::Result<()> {
    let sf = &files[live];
    // The live file alone in a stream made this run: the last one made (it is the last file).
    let Some(at) = groups
        .iter()
        .position(|(j, fs)| *j >= known && *j + 1 == streams.len() && fs == &[live])
    else {
        return Ok(());
    };
    if sf.gzip {
        return Ok(());
    }
    let in_use: Vec<usize> = groups.iter().map(|(j, _)| *j).collect();
    let Some(old) = (0..known).find(|&j| {
        !in_use.contains(&j)
            && !merged.contains(&j)
            && mine(&streams[j])
            && streams[j].last_name == sf.name
            && streams[j].tail.is_some()
    }) else {
        return Ok(());
    };
    let (offset, tail) = (streams[old].offset, streams[old].tail.clone());
    let read_err = || format!("cannot read {}", crate::escape::path(&sf.path));
    let Some(resume) = tail
        .map(|tail| find_tail(sf, offset, &tail))
        .transpose()
        .with_context(read_err)?
        .flatten()
    else {
        return Ok(());
    };
    // The fresh stream was the last one pushed; the file goes to the old one, resumed.
    let (fresh, _) = groups.remove(at);
    streams.truncate(fresh);
    streams[old].offset = resume;
    streams[old].tail = None; // just found; checked again after this copy
    groups.push((old, vec![live]));
    out.possible_losses += 1;
    out.warnings.push(format!(
        "{} was changed in its first bytes (edited in place?): resumed after its last collected line, now at byte {resume} (it had {offset} bytes collected); lines added before it are not collected",
        sf.name
    ));
    Ok(())
}

/// A new file at `path` (a fixed name in DEST, which others may be able to write to): what is
/// there is removed first, and the file is made with `O_EXCL`, which never follows a link.
/// A name planted between the two fails the run; nothing is written through it (a link to a
/// root-only file was truncated and filled with log lines).
fn create_fresh(path: &Path, mode: u32) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
}

/// An existing regular file of DEST opened for reading: a symbolic link is refused.
fn open_no_follow(path: &Path) -> io::Result<File> {
    crate::input::source::open_regular_with(path, libc::O_NOFOLLOW)
}

/// The read and write permission bits of an open file (to give its copy the same).
fn live_mode(file: &File) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    file.metadata()
        .map_or(0o600, |m| m.permissions().mode() & 0o666)
}

/// The [`state::Tail`] of the plain file `sf` before byte `offset`; `None` at its start.
/// Whole lines, at least [`state::TAIL_BYTES`] of them, where they begin within
/// [`state::TAIL_LINE_MAX`] bytes of `offset`; else the last `TAIL_BYTES`.
fn tail_before(sf: &SourceFile, offset: u64) -> io::Result<Option<state::Tail>> {
    use std::os::unix::fs::FileExt;
    // One byte more than the reach: the newline before a line of exactly that length.
    let reach = offset.min(state::TAIL_LINE_MAX + 1) as usize;
    if reach == 0 {
        return Ok(None);
    }
    let mut bytes = vec![0u8; reach];
    sf.file.read_exact_at(&mut bytes, offset - reach as u64)?;
    let least = reach.min(state::TAIL_BYTES as usize);
    // A line starts after a newline, or after NUL padding (a writer without `O_APPEND` goes
    // on past a `copytruncate` at its old offset: its first line follows a hole).
    let start = match memchr::memrchr2(b'\n', 0, &bytes[..reach - least]) {
        Some(i) => Some(i + 1),
        None if offset <= state::TAIL_LINE_MAX => Some(0), // the file's start
        None => None,
    };
    let (from, line_start) = start.map_or((reach - least, false), |i| (i, true));
    Ok(Some(state::Tail {
        len: (reach - from) as u64,
        hash: hex(fnv1a(&bytes[from..])),
        line_start,
    }))
}

/// Whether the plain file `sf` has `tail`'s bytes right before `offset`.
fn tail_at(sf: &SourceFile, offset: u64, tail: &state::Tail) -> io::Result<bool> {
    use std::os::unix::fs::FileExt;
    if offset < tail.len || offset > sf.len {
        return Ok(false);
    }
    let mut bytes = vec![0u8; tail.len as usize];
    sf.file.read_exact_at(&mut bytes, offset - tail.len)?;
    Ok(hex(fnv1a(&bytes)) == tail.hash)
}

/// Where `tail`'s bytes end a line in the plain file `sf` (up to its planned length) now,
/// nearest `near`: one pass over the file, on the rare path of a file edited in place.
fn find_tail(sf: &SourceFile, near: u64, tail: &state::Tail) -> io::Result<Option<u64>> {
    use std::os::unix::fs::FileExt;
    let keep = tail.len as usize;
    // The `keep` bytes before `pos` and the one before them, then a block.
    let mut window: Vec<u8> = Vec::new();
    let mut block = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    let mut best: Option<u64> = None;
    while pos < sf.len {
        let n = block.len().min((sf.len - pos) as usize);
        sf.file.read_exact_at(&mut block[..n], pos)?;
        let before = window.len();
        window.extend_from_slice(&block[..n]);
        for i in memchr::memchr_iter(b'\n', &window[before..]) {
            let end = before + i + 1;
            let at = pos + (i + 1) as u64;
            if end < keep {
                continue;
            }
            // A tail that begins at a line start is looked for only there (a hash per line
            // of its length, not per line).
            let begins_a_line =
                at == keep as u64 || matches!(window[..end - keep].last(), Some(b'\n' | 0));
            if (!tail.line_start || begins_a_line)
                && hex(fnv1a(&window[end - keep..end])) == tail.hash
                && best.is_none_or(|b| at.abs_diff(near) < b.abs_diff(near))
            {
                best = Some(at);
            }
        }
        pos += n as u64;
        window.drain(..window.len().saturating_sub(keep + 1));
    }
    Ok(best)
}

/// The start of the line holding byte `at - 1` of the plain file `sf`: `at` itself after a
/// newline, else just after the newline before it (0 when none).
fn line_start_at_or_before(sf: &SourceFile, at: u64) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut end = at;
    let mut block = vec![0u8; 64 * 1024];
    while end > 0 {
        let from = end.saturating_sub(block.len() as u64);
        let part = &mut block[..(end - from) as usize];
        sf.file.read_exact_at(part, from)?;
        if let Some(i) = memchr::memrchr(b'\n', part) {
            return Ok(from + i as u64 + 1);
        }
        end = from;
    }
    Ok(0)
}

/// The first line start at or after byte `at` of the plain file `sf`; when no newline
/// follows, the start of its unterminated last line (being written: read whole once it ends,
/// not from `at` as a fragment).
fn line_start_at_or_after(sf: &SourceFile, at: u64) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    if at == 0 {
        return Ok(0);
    }
    let mut pos = at - 1; // a newline there makes `at` a line start
    let mut block = vec![0u8; 64 * 1024];
    while pos < sf.len {
        let n = block.len().min((sf.len - pos) as usize);
        sf.file.read_exact_at(&mut block[..n], pos)?;
        if let Some(i) = memchr::memchr(b'\n', &block[..n]) {
            return Ok(pos + i as u64 + 1);
        }
        pos += n as u64;
    }
    line_start_at_or_before(sf, sf.len)
}

/// Copy `sf` from decompressed offset `start` to the end of the planned length into `out`.
/// Returns (source bytes consumed, bytes written, lines written). A file that may still grow
/// (`grows`) is cut after its last newline; a final one (gzip, or a rotated file that stopped
/// growing) is copied whole, a missing last newline added.
/// Errors name the source when reading it failed and `out_path` when writing did (a full
/// disk is not the source's fault).
fn copy_part(
    sf: &SourceFile,
    start: u64,
    grows: bool,
    out: &mut File,
    out_path: &Path,
) -> anyhow::Result<(u64, u64, u64)> {
    let read_err = || format!("cannot read {}", crate::escape::path(&sf.path));
    let write_err = || format!("cannot write {}", crate::escape::path(out_path));
    let base = out.stream_position().with_context(write_err)?;
    let mut r = siblings::reader(&sf.file, sf.gzip).with_context(read_err)?;
    if sf.gzip {
        let skipped =
            io::copy(&mut (&mut r).take(start), &mut io::sink()).with_context(read_err)?;
        if skipped < start {
            return Ok((0, 0, 0));
        }
    } else {
        drop(r);
        let mut f = &sf.file;
        f.seek(SeekFrom::Start(start)).with_context(read_err)?;
        r = Box::new(f);
    }
    let mut limited = r.take(sf.len.saturating_sub(start));
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    let mut lines = 0u64;
    let mut last_nl: Option<u64> = None;
    let mut last_byte = b'\n';
    loop {
        let n = match limited.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(read_err),
        };
        let chunk = &buf[..n];
        out.write_all(chunk).with_context(write_err)?;
        for pos in memchr::memchr_iter(b'\n', chunk) {
            lines += 1;
            last_nl = Some(total + pos as u64);
        }
        last_byte = chunk[n - 1];
        total += n as u64;
    }
    if grows {
        let keep = last_nl.map_or(0, |p| p + 1);
        if keep < total {
            out.set_len(base + keep)
                .and_then(|()| out.seek(SeekFrom::Start(base + keep)))
                .with_context(write_err)?;
        }
        Ok((keep, keep, lines))
    } else if total > 0 && last_byte != b'\n' {
        out.write_all(b"\n").with_context(write_err)?;
        Ok((total, total + 1, lines + 1))
    } else {
        Ok((total, total, lines))
    }
}

/// Gzip `access_YYYY-MM-DD*.log` archives dated more than `days` before `today`.
/// Each: temp, fsync, rename to `NAME.gz`, fsync dir, remove `NAME`. Interrupted, it leaves
/// both and the next run redoes it from the plain file (the source of truth).
fn compress_old(dest: &Path, today: NaiveDate, days: u32) -> anyhow::Result<Vec<PathBuf>> {
    use std::os::unix::ffi::OsStrExt;
    // More days than the calendar holds before `today`: no archive is that old.
    let cutoff = today
        .checked_sub_days(chrono::Days::new(u64::from(days)))
        .unwrap_or(NaiveDate::MIN);
    let mut done = Vec::new();
    let entries = std::fs::read_dir(dest)
        .with_context(|| format!("cannot list {}", crate::escape::path(dest)))?;
    let mut names: Vec<String> = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", crate::escape::path(dest)))?;
        let name = entry.file_name();
        let Ok(name) = std::str::from_utf8(name.as_bytes()) else {
            continue;
        };
        let Some(date) = name
            .strip_prefix("access_")
            .filter(|_| name.ends_with(".log"))
            .and_then(|rest| rest.get(..10))
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        else {
            continue;
        };
        if date < cutoff {
            names.push(name.to_string());
        }
    }
    names.sort();
    for name in names {
        let plain = dest.join(&name);
        let gz = dest.join(format!("{name}.gz"));
        let temp = dest.join(TEMP_COMPRESS);
        let shown = crate::escape::path(&plain);
        (|| -> io::Result<()> {
            // Our archive, not a link planted in its name (root gzipped the file it led to
            // into a file anyone could read).
            let mut input = open_no_follow(&plain)?;
            let mode = live_mode(&input);
            let mut enc = flate2::write::GzEncoder::new(
                create_fresh(&temp, mode)?,
                flate2::Compression::default(),
            );
            io::copy(&mut input, &mut enc)?;
            enc.finish()?.sync_all()?;
            std::fs::rename(&temp, &gz)?;
            state::sync_dir(dest)?;
            std::fs::remove_file(&plain)?;
            state::sync_dir(dest)
        })()
        .with_context(|| format!("cannot compress {shown}"))?;
        done.push(gz);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compress_after_more_days_than_the_calendar_has_compresses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("access_2023-06-19.log");
        std::fs::write(&archive, "x\n").unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        assert!(compress_old(dir.path(), today, u32::MAX)
            .unwrap()
            .is_empty());
        assert!(archive.exists());
        // And a cut-off it can reach compresses as before.
        assert_eq!(compress_old(dir.path(), today, 30).unwrap().len(), 1);
    }

    fn options(source: &Path, dest: &Path) -> Options {
        Options {
            source: source.to_path_buf(),
            dest: dest.to_path_buf(),
            today: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            compress_after: None,
            record: false,
            crash_at: None,
            before_copy: None,
        }
    }

    /// A link planted at a fixed temp name is replaced, never written through.
    #[test]
    fn create_fresh_never_writes_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "root:SECRET\n").unwrap();
        let temp = dir.path().join(TEMP_ARCHIVE);
        std::os::unix::fs::symlink(&victim, &temp).unwrap();
        let mut file = create_fresh(&temp, 0o640).unwrap();
        file.write_all(b"log line\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root:SECRET\n");
        let meta = std::fs::symlink_metadata(&temp).unwrap();
        assert!(meta.is_file());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o640 & !umask());
    }

    /// The process' umask, as /proc says (setting it to read it would race other tests).
    fn umask() -> u32 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
        u32::from_str_radix(line["Umask:".len()..].trim(), 8).unwrap()
    }

    /// Two recorded streams match one file (an older, shorter fingerprint too): the copy
    /// resumes at the furthest offset, and the bytes checked before it are that offset's (with
    /// the other's, the check failed and the copy went back to the other's offset: its lines
    /// archived twice, with an "edited" warning).
    #[test]
    fn folded_streams_keep_the_furthest_offset_with_its_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dest) = (dir.path().join("access.log"), dir.path().join("log"));
        let text: Vec<u8> = (0..200)
            .flat_map(|n| format!("line {n:04} of the log\n").into_bytes())
            .collect();
        std::fs::write(&src, &text).unwrap();
        let stream = |prefix_len: usize, offset: usize| StreamState {
            hash: hex(fnv1a(&text[..prefix_len])),
            prefix_len: prefix_len as u64,
            offset: offset as u64,
            last_name: "access.log".into(),
            source: Some(source_id(&src)),
            tail: Some(state::Tail {
                len: 256,
                hash: hex(fnv1a(&text[offset - 256..offset])),
                line_start: false,
            }),
            unfinished_at: None,
        };
        let line = text.len() / 200;
        std::fs::create_dir_all(&dest).unwrap();
        let st = State {
            version: state::STATE_VERSION,
            // The shorter fingerprint is further: its offset wins, with its tail.
            streams: vec![stream(100, 150 * line), stream(4096, 100 * line)],
            ..State::default()
        };
        state::save(&dest, &st).unwrap();
        let got = collect(&options(&src, &dest)).unwrap();
        assert_eq!(got.warnings, Vec::<String>::new());
        assert_eq!(got.possible_losses, 0);
        let archive = std::fs::read(got.archive.unwrap()).unwrap();
        assert_eq!(archive, text[150 * line..]);
    }

    #[test]
    fn sources_sharing_a_destination_keep_each_others_streams() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, dest) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("log"),
        );
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let (a_log, b_log) = (a.join("access.log"), b.join("other_vhosts_access.log"));
        std::fs::write(&a_log, "a1\na2\na3\n").unwrap();
        std::fs::write(&b_log, "b1\n").unwrap();
        let lines = |src: &Path| collect(&options(src, &dest)).unwrap().lines;
        assert_eq!(lines(&a_log), 3);
        assert_eq!(lines(&b_log), 1);
        // B's run dropped A's stream, so A's whole file was collected again.
        assert_eq!(lines(&a_log), 0);
        assert_eq!(lines(&b_log), 0);
        // Another name of the same source is the same source.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&a_log)
            .unwrap()
            .write_all(b"a4\n")
            .unwrap();
        assert_eq!(lines(&dir.path().join("b/../a/access.log")), 1);
        let st = state::load(&dest).unwrap();
        assert_eq!(st.streams.len(), 2);
        // A state file of the version before (no sources): each source adopts the streams
        // its files match, and keeps the others (B's run once dropped A's, and the reverse).
        let mut old = st.clone();
        old.streams.iter_mut().for_each(|s| s.source = None);
        state::save(&dest, &old).unwrap();
        assert_eq!(lines(&b_log), 0);
        assert_eq!(lines(&a_log), 0);
        assert_eq!(lines(&b_log), 0);
        let adopted = state::load(&dest).unwrap();
        assert!(
            adopted.streams.iter().all(|s| s.source.is_some()),
            "{adopted:?}"
        );
        assert_eq!(adopted.streams.len(), 2);
    }

    #[test]
    fn a_failed_compression_after_the_commit_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dest) = (dir.path().join("access.log"), dir.path().join("log"));
        std::fs::write(&src, "x\n").unwrap();
        // An "archive" that cannot be compressed: a directory under an archive's name.
        std::fs::create_dir_all(dest.join("access_2020-01-01.log")).unwrap();
        let got = collect(&Options {
            compress_after: Some(7),
            ..options(&src, &dest)
        })
        .unwrap();
        assert_eq!(got.lines, 1);
        assert!(got.archive.is_some());
        assert_eq!(got.warnings.len(), 1);
        assert!(
            got.warnings[0].starts_with("cannot compress "),
            "{:?}",
            got.warnings
        );
    }

    /// A run between logrotate's rename and its create finds the rotated file but no live
    /// one: it waits for the new log and collects both (it stopped, exit 2).
    #[test]
    fn a_live_log_created_just_after_the_run_started_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dest) = (dir.path().join("access.log"), dir.path().join("log"));
        std::fs::write(dir.path().join("access.log.1"), "old 1\nold 2\n").unwrap();
        let creator = write_later(src.clone(), "new 1\n");
        let got = collect(&options(&src, &dest)).unwrap();
        creator.join().unwrap();
        assert_collected_alone(got, "old 1\nold 2\nnew 1\n");
    }

    /// Writes `text` to `path` 300 ms from now (the new log a rotation creates).
    fn write_later(path: PathBuf, text: &'static str) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            std::fs::write(&path, text).unwrap();
        })
    }

    /// `got` archived `text`, with no warning.
    fn assert_collected_alone(got: Collected, text: &str) {
        assert_eq!(got.warnings, Vec::<String>::new());
        assert_eq!(got.lines, text.lines().count() as u64);
        let archive = std::fs::read_to_string(got.archive.unwrap()).unwrap();
        assert_eq!(archive, text);
    }

    /// Missing for good beside its rotated files: the error names them, and nothing is
    /// written. Without rotated files, a missing source is an error at once.
    #[test]
    fn a_live_log_missing_beside_its_rotated_files_is_named_with_them() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dest) = (dir.path().join("access.log"), dir.path().join("log"));
        let err = siblings::open_live(&src, std::time::Duration::ZERO).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            format!(
                "cannot read source {}: No such file or directory (os error 2)",
                src.display()
            )
        );
        for n in 1..=4 {
            std::fs::write(dir.path().join(format!("access.log.{n}.gz")), "").unwrap();
        }
        let err = siblings::open_live(&src, std::time::Duration::from_millis(120)).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            format!(
                "cannot read source {}: No such file or directory (os error 2), still after 0.1 s, \
                 while its rotated file(s) access.log.1.gz, access.log.2.gz, access.log.3.gz, ... \
                 are there (a rotation that has not created the new log yet?). Nothing was \
                 collected: a run that finds the log collects what is new in them",
                src.display()
            )
        );
        assert!(collect(&options(&src, &dest)).is_err());
        assert!(!dest.exists(), "nothing written");
    }

    /// A source that is a link to the log is rotated where the log is: a run between the
    /// rename and the create finds a link to nothing, and waits too (it stopped at once:
    /// the rotated files were looked for beside the link). A folder named like a rotated
    /// file is no sign of a rotation, and a link to nothing says so.
    #[test]
    fn a_linked_live_log_mid_rotation_is_waited_for_where_the_log_is() {
        let dir = tempfile::tempdir().unwrap();
        let (real, dest) = (dir.path().join("real"), dir.path().join("log"));
        std::fs::create_dir_all(&real).unwrap();
        let src = dir.path().join("access.log");
        std::os::unix::fs::symlink("real/site.log", &src).unwrap();
        std::fs::write(real.join("site.log"), "old 1\n").unwrap();
        assert_eq!(collect(&options(&src, &dest)).unwrap().lines, 1);
        std::fs::write(real.join("site.log"), "old 1\nold 2\n").unwrap();
        std::fs::rename(real.join("site.log"), real.join("site.log.1")).unwrap();
        let creator = write_later(real.join("site.log"), "new 1\n");
        let got = collect(&options(&src, &dest)).unwrap();
        creator.join().unwrap();
        assert_collected_alone(got, "old 2\nnew 1\n");

        std::fs::remove_file(real.join("site.log")).unwrap();
        std::fs::remove_file(real.join("site.log.1")).unwrap();
        std::fs::create_dir(real.join("site.log.1")).unwrap();
        std::fs::write(dir.path().join("access.log.1"), "beside the link\n").unwrap();
        let err = siblings::open_live(&src, std::time::Duration::from_secs(60)).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            format!(
                "cannot read source {} (a symbolic link to {}): No such file or directory (os error 2)",
                src.display(),
                dir.path().join("real/site.log").display()
            )
        );
    }

    #[test]
    fn a_state_save_cut_by_a_kill_leaves_no_temp_file_behind() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dest) = (dir.path().join("access.log"), dir.path().join("log"));
        std::fs::write(&src, "x\n").unwrap();
        std::fs::create_dir_all(&dest).unwrap();
        let temp = dest.join("..logwarden-collect.json.tmp-29768-8f588897c6131524");
        let other = dest.join(".logwarden-collect.json.bak");
        std::fs::write(&temp, "{").unwrap();
        std::fs::write(&other, "{").unwrap();
        collect(&options(&src, &dest)).unwrap();
        assert!(!temp.exists());
        assert!(other.exists(), "only the state's temp files are removed");
    }

    /// `text` written to `dir/access.log`, opened as a plain source file.
    fn plain_source(dir: &Path, text: &[u8]) -> SourceFile {
        let src = dir.join("access.log");
        std::fs::write(&src, text).unwrap();
        SourceFile {
            path: src.clone(),
            name: "access.log".into(),
            file: File::open(&src).unwrap(),
            gzip: false,
            prefix: Vec::new(),
            identity: Vec::new(),
            len: text.len() as u64,
            may_grow: true,
        }
    }

    /// A tail is the whole lines (at least 256 bytes of them) before the offset where they
    /// begin within `TAIL_LINE_MAX` of it, the file's start included; else its last 256 bytes.
    #[test]
    fn a_tail_begins_at_a_line_start_within_its_reach() {
        let dir = tempfile::tempdir().unwrap();
        let tail = |text: &[u8], offset: usize| {
            let sf = plain_source(dir.path(), text);
            tail_before(&sf, offset as u64).unwrap()
        };
        let expect = |text: &[u8], from: usize, to: usize, line_start: bool| state::Tail {
            len: (to - from) as u64,
            hash: hex(fnv1a(&text[from..to])),
            line_start,
        };
        // Lines of 100 bytes: three make the 256, the third from the end begins them.
        let lines: Vec<u8> = (0..50)
            .flat_map(|n| format!("{n:099}\n").into_bytes())
            .collect();
        assert_eq!(tail(&lines, 5000), Some(expect(&lines, 4700, 5000, true)));
        assert_eq!(tail(&lines, 300), Some(expect(&lines, 0, 300, true)));
        assert_eq!(tail(&lines, 200), Some(expect(&lines, 0, 200, true)));
        assert_eq!(tail(&lines, 0), None);
        let reach = state::TAIL_LINE_MAX as usize;
        // One line longer than the reach: no line start within it.
        let long = [vec![b'x'; reach + 903], vec![b'\n'], lines.clone()].concat();
        let end = reach + 904;
        assert_eq!(tail(&long, end), Some(expect(&long, end - 256, end, false)));
        // A line as long as the reach that begins the file: the whole of it.
        let first = [vec![b'x'; reach - 1], vec![b'\n'], lines.clone()].concat();
        assert_eq!(tail(&first, reach), Some(expect(&first, 0, reach, true)));
        // After NUL padding (a writer without `O_APPEND`, past a `copytruncate`): the line
        // after the hole starts there.
        let padded = [vec![0u8; 6000], lines[..300].to_vec()].concat();
        assert_eq!(tail(&padded, 6300), Some(expect(&padded, 6000, 6300, true)));
        // A line as long as the reach after a newline, and one a byte longer.
        let edge = [vec![b'\n'], vec![b'y'; reach - 1], vec![b'\n']].concat();
        assert_eq!(
            tail(&edge, reach + 1),
            Some(expect(&edge, 1, reach + 1, true))
        );
        let edge = [vec![b'\n'], vec![b'y'; reach], vec![b'\n']].concat();
        let end = reach + 2;
        assert_eq!(tail(&edge, end), Some(expect(&edge, end - 256, end, false)));
    }

    /// A tail that begins at a line start is found only where it still does; one of an
    /// earlier version (the last 256 bytes) wherever it ends a line.
    #[test]
    fn a_tail_is_found_where_it_begins_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let line = format!("{}\n", "z".repeat(299));
        let whole = format!("a{line}");
        // "a" + the line, then the line alone (the tail's bytes, but not at a line start),
        // then "a" + the line again at a line start.
        let text = format!("{whole}{line}{whole}");
        let sf = plain_source(dir.path(), text.as_bytes());
        let tail = |line_start: bool, bytes: &str| state::Tail {
            len: bytes.len() as u64,
            hash: hex(fnv1a(bytes.as_bytes())),
            line_start,
        };
        let len = text.len() as u64;
        assert_eq!(find_tail(&sf, 0, &tail(true, &whole)).unwrap(), Some(301));
        assert_eq!(find_tail(&sf, len, &tail(true, &whole)).unwrap(), Some(len));
        assert_eq!(find_tail(&sf, 0, &tail(true, &line)).unwrap(), Some(601));
        assert_eq!(find_tail(&sf, 0, &tail(false, &line)).unwrap(), Some(301));
        assert_eq!(find_tail(&sf, 0, &tail(true, "nowhere\n")).unwrap(), None);
        // A line after NUL padding starts a line.
        let text = format!("{}{line}{whole}", "\0".repeat(5000));
        let sf = plain_source(dir.path(), text.as_bytes());
        assert_eq!(find_tail(&sf, 0, &tail(true, &line)).unwrap(), Some(5300));
    }

    /// Copied in many pieces after another source's lines, every byte arrives once and in
    /// order: a 5.3 MiB source after 1 MiB + 7 bytes of archive, from its start and resumed
    /// mid-file; its last, unfinished line is left for the next run.
    #[test]
    fn large_copies_arrive_whole_whatever_the_archive_held_before() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = Vec::new();
        let mut lines = 0u64;
        while text.len() < 5_300_000 {
            text.extend_from_slice(
                format!(
                    "10.0.0.{} {}\n",
                    lines % 256,
                    "x".repeat((lines % 97) as usize)
                )
                .as_bytes(),
            );
            lines += 1;
        }
        let whole = text.len();
        text.extend_from_slice(b"10.9.9.9 unfinished");
        let sf = plain_source(dir.path(), &text);
        let out_path = dir.path().join("archive.log");
        let before = vec![b'a'; (1 << 20) + 7];
        for start in [0usize, 1_234_567] {
            std::fs::write(&out_path, &before).unwrap();
            // Positioned at its end, as the run's temp file is after an earlier source.
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .open(&out_path)
                .unwrap();
            out.seek(SeekFrom::End(0)).unwrap();
            let done = copy_part(&sf, start as u64, sf.may_grow, &mut out, &out_path).unwrap();
            let copied = (whole - start) as u64;
            let lines_copied = text[start..whole].iter().filter(|&&b| b == b'\n').count() as u64;
            assert_eq!(done, (copied, copied, lines_copied), "from {start}");
            let archive = std::fs::read(&out_path).unwrap();
            assert_eq!(archive.len(), before.len() + whole - start);
            assert!(archive[..before.len()] == before[..]);
            assert!(
                archive[before.len()..] == text[start..whole],
                "from {start}"
            );
        }
    }

    #[test]
    fn a_full_disk_is_named_as_the_archive_not_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let sf = plain_source(dir.path(), "1.2.3.4 - - x\n".repeat(10_000).as_bytes());
        // Every write to /dev/full fails with "No space left on device".
        let full = Path::new("/dev/full");
        let mut out = std::fs::OpenOptions::new().write(true).open(full).unwrap();
        let err = format!(
            "{:#}",
            copy_part(&sf, 0, sf.may_grow, &mut out, full).unwrap_err()
        );
        assert!(err.starts_with("cannot write /dev/full: "), "{err}");
        assert!(!err.contains("access.log"), "{err}");
    }
}
