//! Command-line flags (clap derive). Raw flags only: `config` resolves them against the TOML
//! file and the defaults. Invariant: every option that also exists in the config file is an
//! `Option` here, so "not given" is distinguishable from "given the default value".

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// `--version`: the version and the gzip decoder this build inflates with.
const VERSION: &str = if cfg!(isal) {
    concat!(env!("CARGO_PKG_VERSION"), " (gzip: isa-l)")
} else {
    concat!(env!("CARGO_PKG_VERSION"), " (gzip: zlib-rs)")
};

#[derive(Debug, Parser)]
#[command(
    name = "logwarden",
    version = VERSION,
    about = "Fast, correct analysis of Apache/nginx access logs: failed requests per client, per day and per ISO week."
)]
pub struct Cli {
    #[command(flatten)]
    pub config: ConfigArg,

    #[command(subcommand)]
    pub command: Command,
}

/// `--config`, taken before or after the subcommand's name, but once: a second one would
/// silently win over the first (clap's global flags keep the last), so the two places are
/// separate flags and [`Cli::config_file`] refuses both.
#[derive(Debug, Args, Default, Clone)]
pub struct ConfigArg {
    /// Config file (TOML). Default: ./logwarden.toml, then ~/.config/logwarden/logwarden.toml.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

impl Cli {
    /// The `--config` given before or after the subcommand; `Err` when both were given.
    pub fn config_file(&self) -> Result<Option<&std::path::Path>, &'static str> {
        let after = match &self.command {
            Command::Analyze(args) => &args.config,
            Command::Collect(args) => &args.config,
            Command::Report(args) => &args.config,
        };
        match (&self.config.config, &after.config) {
            (Some(_), Some(_)) => {
                Err("the argument '--config <PATH>' cannot be used multiple times")
            }
            (before, after) => Ok(before.as_deref().or(after.as_deref())),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyze access logs (files, directories, `-` for stdin) into per-day and per-week summaries.
    Analyze(AnalyzeArgs),
    /// Copy what the web server logged since the last run into DEST/access_YYYY-MM-DD.log
    /// (rotation-safe: every line lands in exactly one archive).
    Collect(CollectArgs),
    /// Weekly (or date-range) summary for a manager, compared with the period before;
    /// optionally mailed (config [email] and [smtp]).
    Report(ReportArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Auto,
    Common,
    Combined,
    #[value(name = "vhost_combined", alias = "vhost-combined")]
    VhostCombined,
}

#[derive(Debug, Clone, Args, Default)]
pub struct DetectionArgs {
    /// Status codes that count as failed requests.
    #[arg(long, value_delimiter = ',', value_name = "LIST", value_parser = status_code)]
    pub codes: Option<Vec<u16>>,
    /// An IP is suspicious in a day or week with at least N failed requests.
    #[arg(long, value_name = "N")]
    pub threshold: Option<u64>,
    /// A day or week with at least N status-400 lines has an unusual amount of 400 errors.
    #[arg(long, value_name = "N")]
    pub bad_request_threshold: Option<u64>,
    /// Bucket lines by their UTC date instead of the date written in their own offset.
    #[arg(long, overrides_with = "no_utc")]
    pub utc: bool,
    /// Bucket lines by the date written in their own offset (the default; overrides `utc = true` in the config file).
    #[arg(long, overrides_with = "utc")]
    pub no_utc: bool,
    /// Log format; `auto` detects it per file from its first lines (`vhost-combined` is accepted for `vhost_combined`).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<FormatArg>,
    /// Lines longer than this are malformed (`oversize`) and never held in memory whole.
    #[arg(long, value_name = "BYTES")]
    pub max_line_bytes: Option<usize>,
}

impl DetectionArgs {
    /// The first of these flags given, if any (for a command that takes them only with
    /// another flag).
    pub fn first_given(&self) -> Option<&'static str> {
        [
            (self.codes.is_some(), "--codes"),
            (self.threshold.is_some(), "--threshold"),
            (
                self.bad_request_threshold.is_some(),
                "--bad-request-threshold",
            ),
            (self.utc, "--utc"),
            (self.no_utc, "--no-utc"),
            (self.format.is_some(), "--format"),
            (self.max_line_bytes.is_some(), "--max-line-bytes"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }
}

#[derive(Debug, Args, Default)]
pub struct AnalyzeArgs {
    /// Files or directories (directories: files named access*). Default: ./log
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Write the JSON report to PATH (`-` for stdout).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write the human-readable report to PATH instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Write a self-contained HTML report (charts, tables; no scripts) to PATH (`-` for stdout).
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    #[command(flatten)]
    pub detection: DetectionArgs,
    /// Worker threads (default: all cores; at most four a core are started).
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<usize>,
    /// Target chunk size in bytes for parallel scanning.
    #[arg(long, value_name = "BYTES", hide = true)]
    pub chunk_size: Option<usize>,
    /// Never memory-map for scanning; read every file with buffered reads.
    #[arg(long)]
    pub no_mmap: bool,
    /// Count content found in several inputs (identical archives, daily copies of a live log
    /// that each start with the previous copy) once per input instead of once in all.
    #[arg(long)]
    pub keep_duplicates: bool,
    #[command(flatten)]
    pub config: ConfigArg,
    /// No progress bar.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// The live access log; its rotated siblings (NAME.1, NAME.2.gz, NAME-20240101.gz) are read too.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/var/log/apache2/access.log"
    )]
    pub source: PathBuf,
    /// Where archives, the state file and the lock live.
    #[arg(long, value_name = "DIR", default_value = "log")]
    pub dest: PathBuf,
    /// Gzip archives in DEST dated more than DAYS days before today.
    #[arg(long, value_name = "DAYS")]
    pub compress_after: Option<u32>,
    /// Analyze the new archive afterwards and append the result to the history.
    #[arg(long)]
    pub analyze: bool,
    /// History file for --analyze (a JSON-lines twin, history.jsonl, goes beside it).
    #[arg(
        long,
        value_name = "PATH",
        default_value = "log/monitoring.log",
        requires = "analyze"
    )]
    pub history: PathBuf,
    /// Do not append to the history (with --analyze).
    #[arg(long, requires = "analyze")]
    pub no_history: bool,
    #[command(flatten)]
    pub detection: DetectionArgs,
    #[command(flatten)]
    pub config: ConfigArg,
    /// No progress bar.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Archives: files or directories (directories: files named access*). Default: ./log
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// `last` (the ISO week before this one) or an ISO week like 2023-W25.
    #[arg(long, value_name = "WEEK", conflicts_with_all = ["since", "until"])]
    pub week: Option<String>,
    /// First day of a custom period (YYYY-MM-DD); needs --until.
    #[arg(long, value_name = "DATE", requires = "until")]
    pub since: Option<String>,
    /// Last day of a custom period (YYYY-MM-DD); needs --since.
    #[arg(long, value_name = "DATE", requires = "since")]
    pub until: Option<String>,
    /// Write the text summary to PATH instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Write the JSON summary to PATH (`-` for stdout).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write the period as a self-contained HTML report to PATH (`-` for stdout).
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Mail the summary (text and HTML body) with the HTML, the JSON and the period's history attached.
    #[arg(long)]
    pub email: bool,
    /// With --email: write the message to an .eml file (--eml) instead of sending it.
    #[arg(long, requires = "email")]
    pub dry_run: bool,
    /// With --email: mail a period the history says was mailed already (without it, such a
    /// run sends nothing and says when and to whom it went).
    #[arg(long, requires = "email")]
    pub resend: bool,
    /// Where --dry-run writes the message. Default: logwarden-report-<period>.eml
    #[arg(long, value_name = "PATH", requires = "dry_run")]
    pub eml: Option<PathBuf>,
    /// History file: read for the attachment, appended with this run's record (not by a dry
    /// run).
    #[arg(long, value_name = "PATH", default_value = "log/monitoring.log")]
    pub history: PathBuf,
    /// Do not append to the history (its records are still attached to the mail).
    #[arg(long)]
    pub no_history: bool,
    #[command(flatten)]
    pub detection: DetectionArgs,
    #[command(flatten)]
    pub config: ConfigArg,
    /// No progress bar.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// One status of `--codes`: three digits, spaces around them allowed (`404, 401`); `+404`,
/// `0404` and `099` are no statuses.
fn status_code(s: &str) -> Result<u16, String> {
    let digits = s.trim_matches(' ');
    match digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit()) {
        true if digits.starts_with('0') => Err("an HTTP status is 100-599".into()),
        true => digits.parse().map_err(|e| format!("{e}")),
        false => Err("a status is three digits, like 404".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn status_codes_are_three_digits() {
        assert_eq!(status_code(" 401 "), Ok(401));
        assert_eq!(status_code("404"), Ok(404));
        for bad in ["+404", "0404", "40", "4o4", "", "404\t"] {
            assert_eq!(
                status_code(bad),
                Err("a status is three digits, like 404".into()),
                "{bad:?}"
            );
        }
        for bad in ["099", "000"] {
            assert_eq!(status_code(bad), Err("an HTTP status is 100-599".into()));
        }
        let cli = Cli::try_parse_from(["logwarden", "analyze", "--codes", "404, 401"]).unwrap();
        let Command::Analyze(args) = cli.command else {
            panic!("not analyze")
        };
        assert_eq!(args.detection.codes, Some(vec![404, 401]));
    }

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
