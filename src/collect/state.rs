//! The collect state file (`DEST/.logwarden-collect.json`) and its journal.
//!
//! It records, per source stream, a fingerprint (FNV-1a of the first `prefix_len` decompressed
//! bytes) and how far the stream was copied. A run first records its plan as `pending` (the
//! archive name it is about to create and the streams as they will be), then renames the
//! archive into place, then commits. Invariant: the archive's existence decides a pending
//! plan — present means the rename happened and the plan is committed (roll forward), absent
//! means it did not (roll back) — so a crash anywhere loses nothing and duplicates nothing.
//! Every write of this file is a temp file, fsync, rename, fsync of the directory.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = ".logwarden-collect.json";
pub const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamState {
    /// FNV-1a 64 of the first `prefix_len` bytes, as 16 hex digits.
    pub hash: String,
    pub prefix_len: u64,
    /// Decompressed bytes of the stream already copied into an archive.
    pub offset: u64,
    /// The name the stream had when last seen (for people reading the file).
    pub last_name: String,
    /// The `--source` it was collected from (made absolute, no link followed): several sources
    /// may share a destination, and a run keeps the other sources' streams as they are.
    /// Absent in state files of earlier versions: the next run's source adopts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The last bytes copied from a plain file (up to [`TAIL_BYTES`], ending at `offset`):
    /// a file edited in place since (lines removed or added before `offset`) has other bytes
    /// there, and the copy then resumes after them where they are now. Absent after a gzip
    /// file and in state files of earlier versions: no check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<Tail>,
    /// The length of a rotated plain file whose last line was left unfinished (not copied:
    /// the file may still grow). Found again at that length by the next run, the file no
    /// longer grows (its writer stopped mid-line): the line is then archived as it is. Absent
    /// otherwise, and in state files of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfinished_at: Option<u64>,
}

/// How many bytes before a stream's offset [`StreamState::tail`] fingerprints at least.
pub const TAIL_BYTES: u64 = 256;
/// How far before the offset a tail may begin, to begin at a line start: a last line longer
/// than this is fingerprinted by its last [`TAIL_BYTES`] only. Apache's default limits (8190
/// bytes for the request line and for each header) keep a combined line well under it; a
/// long tail costs little to look for, as it is hashed only where a line starts its length
/// before a newline.
pub const TAIL_LINE_MAX: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tail {
    pub len: u64,
    /// FNV-1a 64 of those bytes, as 16 hex digits.
    pub hash: String,
    /// The bytes begin at a line start (the file's, or after a newline or NUL padding), so
    /// they hold the last line collected whole, with its client and time: a search for them
    /// elsewhere in the file (edited in place) does not stop at another line that merely ends
    /// alike (long lines with one user agent end in the same 256 bytes). False in state
    /// files of earlier versions, whose tails are the last 256 bytes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub line_start: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// File name (in the destination) of the archive this plan creates.
    pub archive: String,
    pub streams: Vec<StreamState>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub streams: Vec<StreamState>,
    pub pending: Option<Pending>,
    /// Archives of `collect --analyze` runs (listed with the plan that creates them) whose
    /// analysis and history record are not written yet (a run killed during its analysis):
    /// the next such run of the same source analyzes and records them, and only then are
    /// they removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unrecorded: Vec<Unrecorded>,
    /// The source names written as given (made absolute, no link followed), sorted. State
    /// files of earlier versions named sources by their folder resolved, and a source takes
    /// its records over from such a name once; a name in this list is a source's own, never
    /// taken over (by another spelling that leads to the same file: refused instead).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources_as_given: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unrecorded {
    /// File name of the archive here (`.gz` appended once it is compressed).
    pub archive: String,
    /// The `--source` it was collected from (as the streams' `source`): its own history.
    pub source: String,
    /// Unique to this archive's making (its name, the time, the process): the history
    /// record of a run that analyzed it lists this, so the next run can tell it was recorded
    /// (not another archive made under the same name after this one was deleted). Absent
    /// in state files of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

pub fn path(dest: &Path) -> PathBuf {
    dest.join(STATE_FILE)
}

pub fn load(dest: &Path) -> anyhow::Result<State> {
    let p = path(dest);
    let shown = crate::escape::path(&p);
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(State {
                version: STATE_VERSION,
                ..State::default()
            })
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read state file {shown}")),
    };
    let state: State = serde_json::from_slice(&bytes)
        .with_context(|| format!("corrupt state file {shown} (fix or remove it)"))?;
    if state.version != STATE_VERSION {
        anyhow::bail!(
            "state file {shown} has version {}, this logwarden knows {STATE_VERSION}",
            state.version
        );
    }
    Ok(state)
}

pub fn save(dest: &Path, state: &State) -> anyhow::Result<()> {
    let p = path(dest);
    let mut bytes = serde_json::to_vec_pretty(state).context("cannot encode state")?;
    bytes.push(b'\n');
    crate::sink::file::write_atomic(&p, &bytes)
        .with_context(|| format!("cannot write state file {}", crate::escape::path(&p)))
}

pub use crate::sink::file::{parent_dir as parent, sync_dir};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let empty = load(dir.path()).unwrap();
        assert_eq!(empty.version, STATE_VERSION);
        assert!(empty.streams.is_empty());
        let s = State {
            version: STATE_VERSION,
            streams: vec![StreamState {
                hash: "00000000000000ff".into(),
                prefix_len: 12,
                offset: 10,
                last_name: "access.log".into(),
                tail: Some(Tail {
                    len: 10,
                    hash: "0123456789abcdef".into(),
                    line_start: true,
                }),
                source: Some("/var/log/apache2/access.log".into()),
                unfinished_at: Some(4096),
            }],
            pending: Some(Pending {
                archive: "access_2024-01-01.log".into(),
                streams: vec![],
            }),
            unrecorded: vec![Unrecorded {
                archive: "access_2023-12-31.log".into(),
                source: "/var/log/apache2/access.log".into(),
                token: Some("access_2023-12-31.log@1704067500.000000001-42".into()),
            }],
            sources_as_given: vec!["/var/log/apache2/access.log".into()],
        };
        save(dir.path(), &s).unwrap();
        assert_eq!(load(dir.path()).unwrap(), s);
        std::fs::write(path(dir.path()), b"{").unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("corrupt state file"));
    }
}
