//! Command-line flags (clap derive). Raw flags only: `config` resolves them against the TOML
//! file and the defaults. Invariant: every option that also exists in the config file is an
//! `Option` here, so "not given" is distinguishable from "given the default value".

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "logwarden",
    version,
    about = "Fast, correct analysis of Apache/nginx access logs: failed requests per client, per day and per ISO week."
)]
pub struct Cli {
    /// Config file (TOML). Default: ./logwarden.toml, then ~/.config/logwarden/logwarden.toml.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyze access logs (files, directories, `-` for stdin) into per-day and per-week summaries.
    Analyze(AnalyzeArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Auto,
    Common,
    Combined,
    VhostCombined,
}

#[derive(Debug, Args, Default)]
pub struct DetectionArgs {
    /// Status codes that count as failed requests.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub codes: Option<Vec<u16>>,
    /// An IP is suspicious in a day or week with at least N failed requests.
    #[arg(long, value_name = "N")]
    pub threshold: Option<u64>,
    /// A day or week with at least N status-400 lines has an unusual amount of 400 errors.
    #[arg(long, value_name = "N")]
    pub bad_request_threshold: Option<u64>,
    /// Bucket lines by their UTC date instead of the date written in their own offset.
    #[arg(long)]
    pub utc: bool,
    /// Log format; `auto` detects it per file from its first lines.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<FormatArg>,
    /// Lines longer than this are malformed (`oversize`) and never held in memory whole.
    #[arg(long, value_name = "BYTES")]
    pub max_line_bytes: Option<usize>,
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
    #[command(flatten)]
    pub detection: DetectionArgs,
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<usize>,
    /// Target chunk size in bytes for parallel scanning.
    #[arg(long, value_name = "BYTES", hide = true)]
    pub chunk_size: Option<usize>,
    /// Never memory-map; read every file with buffered reads.
    #[arg(long)]
    pub no_mmap: bool,
    /// No progress bar.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
