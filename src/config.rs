//! Configuration: flags + TOML file + defaults → one resolved [`Config`].
//!
//! Precedence: a flag given on the command line, then the config file, then the built-in
//! default. Invariant: every value is validated here (codes are real statuses, thresholds
//! and sizes positive), so the rest of the program never sees an impossible setting.

use crate::cli::{DetectionArgs, FormatArg};
use crate::scan::Format;
use anyhow::{bail, Context};
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const DEFAULT_CODES: [u16; 5] = [400, 401, 403, 404, 409];
pub const DEFAULT_THRESHOLD: u64 = 5;
pub const DEFAULT_MAX_LINE_BYTES: usize = 4 * 1024 * 1024;
pub const DEFAULT_CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// The largest a mapped file's chunks grow to by default (see `engine::ScanSettings`).
pub const MAP_CHUNK_MAX: usize = 16 * 1024 * 1024;

/// The config file, as [`load_file`] reads it. Unknown keys are errors, so a typo never
/// silently falls back to a default.
#[derive(Debug, Default)]
pub struct FileConfig {
    pub analyze: AnalyzeFile,
    pub email: Option<EmailFile>,
    pub smtp: Option<SmtpFile>,
    /// Why `[email]` or `[smtp]` could not be read, when they could not: `report --email`
    /// stops with it; the other commands, which do not use them, only warn.
    pub mail_invalid: Option<String>,
}

/// `[email]`: who the weekly report goes to. `subject` may contain `{week}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailFile {
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
    pub subject: Option<String>,
    /// The largest message sent whole (bytes); a larger one is cut to fit.
    pub max_message_bytes: Option<u64>,
}

/// `[smtp]`: how to reach the mail server. The password comes from `password_env` (the name
/// of an environment variable) or `password_file`, never from the command line.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpFile {
    pub host: Option<String>,
    pub port: Option<u16>,
    /// `none`, `starttls` or `tls`.
    pub security: Option<String>,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeFile {
    pub codes: Option<Vec<u16>>,
    pub threshold: Option<u64>,
    pub bad_request_threshold: Option<u64>,
    pub utc: Option<bool>,
    pub format: Option<String>,
    pub max_line_bytes: Option<usize>,
    pub threads: Option<usize>,
    pub paths: Option<Vec<PathBuf>>,
    /// The file these values came from (escaped), for errors that name a bad value's place.
    #[serde(skip)]
    pub file: Option<String>,
    /// Why the `[analyze]` table could not be read (a value of the wrong type, an unknown
    /// key), when it could not: the defaults stand in, and every command that uses these
    /// settings stops with this error (`collect` without `--analyze` only warns; see
    /// [`Self::usable`]).
    #[serde(skip)]
    pub invalid: Option<String>,
}

/// The config file as read first: which tables it has. Each command's own tables are then
/// read apart (see [`AnalyzeFile::invalid`], [`FileConfig::mail_invalid`]), so a bad value
/// stops only the commands that use it; an unknown table stops every command.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTables {
    #[serde(default)]
    analyze: Option<toml::Table>,
    #[serde(default)]
    email: Option<toml::Table>,
    #[serde(default)]
    smtp: Option<toml::Table>,
}

/// Only `[email]` and `[smtp]`, read from the file's text.
#[derive(Deserialize)]
struct MailTables {
    #[serde(default)]
    email: Option<EmailFile>,
    #[serde(default)]
    smtp: Option<SmtpFile>,
}

/// Only `[analyze]`, read from the file's text (so that its errors point into the file).
#[derive(Deserialize)]
struct AnalyzeTable {
    #[serde(default)]
    analyze: AnalyzeFile,
}

impl AnalyzeFile {
    /// An error when the table could not be read (see [`Self::invalid`]).
    fn usable(&self) -> anyhow::Result<()> {
        match &self.invalid {
            Some(why) => Err(anyhow::anyhow!("{why}")),
            None => Ok(()),
        }
    }

    /// Where a setting was given: the flag, or the key in the config file.
    fn origin(&self, flag_given: bool, flag: &str, key: &str) -> String {
        match (flag_given, &self.file) {
            (true, _) => flag.to_string(),
            (false, Some(file)) => format!("{key} (config file {file})"),
            (false, None) => key.to_string(),
        }
    }
}

/// Detection and scanning settings, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub codes: Vec<u16>,
    pub threshold: u64,
    pub bad_request_threshold: u64,
    pub utc: bool,
    pub format: Option<Format>,
    /// The format as the user named it (`auto`, `common`, `combined`, `vhost_combined`).
    pub format_label: &'static str,
    pub max_line_bytes: usize,
}

/// Load the config file: the explicit one (must exist), else the first default that exists.
pub fn load_file(explicit: Option<&Path>) -> anyhow::Result<FileConfig> {
    let path = match explicit {
        Some(p) => Some(p.to_path_buf()),
        // The first default that is there at all: one that is there but cannot be read (a
        // directory, a dangling link) is an error, not skipped for the next one.
        None => default_paths()
            .into_iter()
            .find(|p| p.symlink_metadata().is_ok()),
    };
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let shown = crate::escape::path(&path);
    let text = match explicit {
        // `--config <(...)` is a pipe, read as given.
        Some(_) => std::fs::read_to_string(&path),
        // A default found by its name alone is read only if it is a regular file: a FIFO
        // there would block every run with no word of why.
        None => crate::input::source::open_regular(&path).and_then(|mut f| {
            refuse_foreign(&f)?;
            let mut text = String::new();
            std::io::Read::read_to_string(&mut f, &mut text).map(|_| text)
        }),
    }
    .with_context(|| format!("cannot read config file {shown}"))?;
    let invalid =
        |e: toml::de::Error| format!("invalid config file {shown}: {}", toml_error(&text, &e));
    let tables: FileTables = toml::from_str(&text).map_err(|e| anyhow::anyhow!(invalid(e)))?;
    // `[analyze]` apart: a bad value there stops only the commands that use it, so a typo in
    // a shared file does not stop the nightly `collect` (which then only warns).
    let analyze = match tables.analyze {
        None => AnalyzeFile::default(),
        Some(_) => match toml::from_str::<AnalyzeTable>(&text) {
            Ok(table) => table.analyze,
            Err(e) => AnalyzeFile {
                invalid: Some(invalid(e)),
                ..AnalyzeFile::default()
            },
        },
    };
    let (email, smtp, mail_invalid) = match (tables.email, tables.smtp) {
        (None, None) => (None, None, None),
        _ => match toml::from_str::<MailTables>(&text) {
            Ok(mail) => (mail.email, mail.smtp, None),
            Err(e) => (None, None, Some(invalid(e))),
        },
    };
    Ok(FileConfig {
        analyze: AnalyzeFile {
            file: Some(shown),
            ..analyze
        },
        email,
        smtp,
        mail_invalid,
    })
}

/// A TOML error on one line: where it is in `text` (line and column) and what it is, escaped
/// as all text we print (the parser's own message quotes the file over several lines).
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let lines: Vec<&str> = e.message().lines().map(str::trim).collect();
    let message = crate::escape::text(&lines.join("; "));
    match e.span() {
        Some(span) => {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let column = before.len()
                - before
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1)
                + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// A default config file (found by its name alone, `./logwarden.toml` in whatever directory
/// the job runs) must be ours or root's, and not writable by everyone: another user's file in
/// a shared directory chose the SMTP server and the password file, and root mailed them the
/// password. One named with `--config` is the user's choice.
fn refuse_foreign(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata()?;
    let why = if !crate::sink::file::ours_or_roots(meta.uid()) {
        format!(
            "owned by another user (uid {}): not read; name it with --config to use it",
            meta.uid()
        )
    } else if meta.mode() & 0o002 != 0 {
        // (Group-writable is left alone: with a umask of 002 every file of a user is, in a
        // group of their own.)
        "writable by every user: not read (chmod o-w it, or name it with --config)".to_string()
    } else {
        return Ok(());
    };
    Err(std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        why,
    ))
}

fn default_paths() -> Vec<PathBuf> {
    let mut paths = vec![PathBuf::from("logwarden.toml")];
    // An empty HOME is no home (joined, it made the second default relative to the current
    // directory).
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        paths.push(PathBuf::from(home).join(".config/logwarden/logwarden.toml"));
    }
    paths
}

pub fn resolve_detection(args: &DetectionArgs, file: &AnalyzeFile) -> anyhow::Result<Detection> {
    file.usable()?;
    let mut codes = args
        .codes
        .clone()
        .or_else(|| file.codes.clone())
        .unwrap_or_else(|| DEFAULT_CODES.to_vec());
    codes.sort_unstable();
    codes.dedup();
    let origin = file.origin(args.codes.is_some(), "--codes", "[analyze] codes");
    if codes.is_empty() {
        bail!("{origin} needs at least one status code");
    }
    if let Some(bad) = codes.iter().find(|c| !(100..=599).contains(*c)) {
        bail!("{origin}: {bad} is not an HTTP status (100-599)");
    }
    let threshold = args
        .threshold
        .or(file.threshold)
        .unwrap_or(DEFAULT_THRESHOLD);
    let bad_request_threshold = args
        .bad_request_threshold
        .or(file.bad_request_threshold)
        .unwrap_or(DEFAULT_THRESHOLD);
    if threshold == 0 {
        let origin = file.origin(
            args.threshold.is_some(),
            "--threshold",
            "[analyze] threshold",
        );
        bail!("{origin} must be at least 1");
    }
    if bad_request_threshold == 0 {
        let origin = file.origin(
            args.bad_request_threshold.is_some(),
            "--bad-request-threshold",
            "[analyze] bad_request_threshold",
        );
        bail!("{origin} must be at least 1");
    }
    let format = match args.format {
        Some(f) => f,
        None => match file.format.as_deref() {
            None | Some("auto") => FormatArg::Auto,
            Some("common") => FormatArg::Common,
            Some("combined") => FormatArg::Combined,
            // As the flag: `vhost-combined` is accepted too.
            Some("vhost_combined" | "vhost-combined") => FormatArg::VhostCombined,
            Some(other) => bail!(
                "{}: unknown format {} (auto, common, combined, vhost_combined)",
                file.origin(false, "--format", "[analyze] format"),
                crate::escape::quoted(other)
            ),
        },
    };
    let (format, format_label) = match format {
        FormatArg::Auto => (None, "auto"),
        FormatArg::Common => (Some(Format::Combined), "common"),
        FormatArg::Combined => (Some(Format::Combined), "combined"),
        FormatArg::VhostCombined => (Some(Format::VhostCombined), "vhost_combined"),
    };
    let max_line_bytes = args
        .max_line_bytes
        .or(file.max_line_bytes)
        .unwrap_or(DEFAULT_MAX_LINE_BYTES);
    if max_line_bytes < 64 {
        let origin = file.origin(
            args.max_line_bytes.is_some(),
            "--max-line-bytes",
            "[analyze] max_line_bytes",
        );
        bail!("{origin} must be at least 64");
    }
    Ok(Detection {
        codes,
        threshold,
        bad_request_threshold,
        utc: resolve_utc(args, file),
        format,
        format_label,
        max_line_bytes,
    })
}

/// Whether lines go into their UTC days: `--no-utc` wins, then `--utc`, then `utc` in the
/// file (default off).
pub fn resolve_utc(args: &DetectionArgs, file: &AnalyzeFile) -> bool {
    !args.no_utc && (args.utc || file.utc.unwrap_or(false))
}

/// The most worker threads `--threads` takes: each has its own table (about 1 MiB at
/// least), and tens of thousands of threads exhausted memory or hung before any work.
pub const MAX_THREADS: usize = 1024;

/// Threads started per core at most, whatever `--threads` asks: more only wait. Idle rayon
/// workers spin stealing, and each steal walks every worker's epoch record, so with 1024
/// threads on 2 cores a 432-line sample took 10 s (512: 1.2 s; 128: 0.06 s).
pub const THREADS_PER_CORE: usize = 4;

/// The worker threads a run starts: `--threads`, else `[analyze] threads`, else one per core
/// (also for 0); at most [`THREADS_PER_CORE`] per core. Over [`MAX_THREADS`] is an error.
pub fn resolve_threads(flag: Option<usize>, file: &AnalyzeFile) -> anyhow::Result<usize> {
    file.usable()?;
    // Asked only where it matters: it reads the cgroup's CPU quota from /proc and /sys.
    let cores = || std::thread::available_parallelism().map_or(1, |n| n.get());
    match flag.or(file.threads) {
        Some(n) if n > MAX_THREADS => {
            let origin = file.origin(flag.is_some(), "--threads", "[analyze] threads");
            bail!("{origin}: at most {MAX_THREADS} (0: all cores)")
        }
        Some(n) if n <= THREADS_PER_CORE && n > 0 => Ok(n),
        Some(n) if n > 0 => Ok(n.min(THREADS_PER_CORE * cores())),
        _ => Ok(cores()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` read as a config file by [`load_file`].
    fn file_config(text: &str) -> FileConfig {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lw.toml");
        std::fs::write(&path, text).unwrap();
        load_file(Some(&path)).unwrap()
    }

    #[test]
    fn precedence_flag_file_default() {
        let file =
            file_config("[analyze]\nthreshold = 7\ncodes = [401]\nformat = \"vhost_combined\"\n");
        let args = DetectionArgs {
            threshold: Some(3),
            ..Default::default()
        };
        let d = resolve_detection(&args, &file.analyze).unwrap();
        assert_eq!(
            (d.threshold, d.codes.clone(), d.bad_request_threshold),
            (3, vec![401], 5)
        );
        assert_eq!(d.format, Some(Format::VhostCombined));
        let d = resolve_detection(&DetectionArgs::default(), &AnalyzeFile::default()).unwrap();
        assert_eq!(d.codes, DEFAULT_CODES.to_vec());
        let file = file_config("[analyze]\nutc = true\nformat = \"common\"\n");
        let d = resolve_detection(&DetectionArgs::default(), &file.analyze).unwrap();
        assert_eq!(
            (d.utc, d.format, d.format_label),
            (true, Some(Format::Combined), "common")
        );
        let off = DetectionArgs {
            no_utc: true,
            ..Default::default()
        };
        assert!(!resolve_detection(&off, &file.analyze).unwrap().utc);
    }

    #[test]
    fn email_and_smtp_sections() {
        let file = file_config(
            "[email]\nfrom = \"a@example.org\"\nto = [\"m@example.org\"]\nsubject = \"R {week}\"\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = 2525\nsecurity = \"none\"\nusername = \"u\"\n\
             password_env = \"LOGWARDEN_SMTP_PASSWORD\"\n",
        );
        assert_eq!(file.mail_invalid, None);
        let email = file.email.unwrap();
        assert_eq!(email.to, vec!["m@example.org".to_string()]);
        assert_eq!(email.subject.as_deref(), Some("R {week}"));
        let smtp = file.smtp.unwrap();
        assert_eq!(
            (smtp.host.as_deref(), smtp.port),
            (Some("127.0.0.1"), Some(2525))
        );
        // A password in the file is refused (by the commands that mail).
        let file = file_config("[smtp]\npassword = \"x\"\n");
        assert!(file.smtp.is_none());
        assert!(
            file.mail_invalid
                .as_deref()
                .is_some_and(|why| why.contains("line 2, column 1: unknown field `password`")),
            "{:?}",
            file.mail_invalid
        );
    }

    #[test]
    fn rejects_bad_values() {
        let file = file_config("[analyze]\nthreshhold = 7\n");
        let err = resolve_detection(&DetectionArgs::default(), &file.analyze).unwrap_err();
        assert!(
            format!("{err:#}").contains("line 2, column 1: unknown field `threshhold`"),
            "{err:#}"
        );
        assert!(resolve_threads(None, &file.analyze).is_err());
        let bad = DetectionArgs {
            codes: Some(vec![999]),
            ..Default::default()
        };
        assert!(resolve_detection(&bad, &AnalyzeFile::default()).is_err());
        let zero = DetectionArgs {
            threshold: Some(0),
            ..Default::default()
        };
        assert!(resolve_detection(&zero, &AnalyzeFile::default()).is_err());
    }

    #[test]
    fn threads_are_capped() {
        let file = AnalyzeFile::default();
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(resolve_threads(None, &file).unwrap(), cores);
        assert_eq!(resolve_threads(Some(0), &file).unwrap(), cores);
        // More than four a core are four a core.
        assert_eq!(
            resolve_threads(Some(MAX_THREADS), &file).unwrap(),
            MAX_THREADS.min(4 * cores)
        );
        assert_eq!(resolve_threads(Some(4 * cores), &file).unwrap(), 4 * cores);
        assert_eq!(
            resolve_threads(Some(4 * cores + 1), &file).unwrap(),
            4 * cores
        );
        assert_eq!(
            resolve_threads(Some(MAX_THREADS + 1), &file)
                .unwrap_err()
                .to_string(),
            "--threads: at most 1024 (0: all cores)"
        );
        let file = AnalyzeFile {
            threads: Some(100_000),
            file: Some("lw.toml".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve_threads(None, &file).unwrap_err().to_string(),
            "[analyze] threads (config file lw.toml): at most 1024 (0: all cores)"
        );
        assert_eq!(resolve_threads(Some(3), &file).unwrap(), 3);
    }

    #[test]
    fn a_bad_value_names_its_flag_or_its_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lw.toml");
        let shown = crate::escape::path(&path);
        let err_of = |toml: &str, args: &DetectionArgs| {
            std::fs::write(&path, toml).unwrap();
            let file = load_file(Some(&path)).unwrap();
            format!("{:#}", resolve_detection(args, &file.analyze).unwrap_err())
        };
        let none = DetectionArgs::default();
        for (toml, expected) in [
            ("[analyze]\ncodes = [99]\n", "[analyze] codes (config file {f}): 99 is not an HTTP status (100-599)"),
            ("[analyze]\ncodes = []\n", "[analyze] codes (config file {f}) needs at least one status code"),
            ("[analyze]\nthreshold = 0\n", "[analyze] threshold (config file {f}) must be at least 1"),
            ("[analyze]\nbad_request_threshold = 0\n", "[analyze] bad_request_threshold (config file {f}) must be at least 1"),
            ("[analyze]\nmax_line_bytes = 10\n", "[analyze] max_line_bytes (config file {f}) must be at least 64"),
            ("[analyze]\nformat = \"nginx\"\n", "[analyze] format (config file {f}): unknown format \"nginx\" (auto, common, combined, vhost_combined)"),
        ] {
            assert_eq!(err_of(toml, &none), expected.replace("{f}", &shown), "{toml}");
        }
        // The flag's bad value is the flag's, whatever the file says.
        let flag = DetectionArgs {
            threshold: Some(0),
            ..Default::default()
        };
        assert_eq!(
            err_of("[analyze]\nthreshold = 3\n", &flag),
            "--threshold must be at least 1"
        );
        // `vhost-combined` in the file, as on the command line.
        std::fs::write(&path, "[analyze]\nformat = \"vhost-combined\"\n").unwrap();
        let file = load_file(Some(&path)).unwrap();
        let d = resolve_detection(&none, &file.analyze).unwrap();
        assert_eq!(
            (d.format, d.format_label),
            (Some(Format::VhostCombined), "vhost_combined")
        );
    }
}
