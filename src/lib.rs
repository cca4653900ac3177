//! logwarden: fast, correct analysis of Apache/nginx access logs.
//!
//! The pipeline, one module per stage:
//! `input::discover` (which files) → `input::source` (mmap / buffered read / gzip by magic
//! bytes) → `chunk` (line-aligned ranges) → `scan` (hand-written byte scanner) → `agg`
//! (per-thread (day, client) tables, flushed when full) → `merge` (a few sorted runs per day) →
//! `summary` (days, ISO weeks, thresholds) → `render` (JSON,
//! text, HTML) → `sink` (files, stdout). `engine` runs the middle stages on rayon; `cmd` holds one
//! file per subcommand; `collect` archives the live log rotation-safely; `cli` and `config` turn flags and the TOML file into settings.

pub mod agg;
pub mod chunk;
pub mod cli;
pub mod cmd;
pub mod collect;
pub mod config;
pub mod engine;
pub mod escape;
pub mod input;
pub mod merge;
pub mod render;
pub mod scan;
pub mod sigbus;
pub mod sink;
pub mod summary;
pub mod weekly;
pub mod word;

use clap::Parser;

/// `eprintln!` that never panics: a message that cannot reach stderr (`2>/dev/full`, a closed
/// pipe) is dropped and the exit status still tells what happened (`eprintln!` panicked, and
/// the run ended with 101, a code that means nothing here).
#[macro_export]
macro_rules! stderr_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// How a run ended when it did not fail outright; maps to the process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every input was read completely: exit 0.
    Clean = 0,
    /// Some input could not be read (or only partly); the rest was analyzed: exit 1.
    InputErrors = 1,
}

/// Exit status for a run that could not be done at all (usage, no input, config, output).
pub const EXIT_FATAL: i32 = 2;

/// Parse the command line and run the subcommand.
pub fn run() -> anyhow::Result<Outcome> {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        // A usage error quotes the argument it refused: escaped, line by line, as all text
        // we print (a bidi override or an escape sequence reached the terminal raw).
        Err(e) if e.use_stderr() => {
            let text = e.render().to_string();
            let lines: Vec<String> = text.lines().map(escape::text).collect();
            stderr_line!("{}", lines.join("\n"));
            std::process::exit(e.exit_code());
        }
        Err(e) => e.exit(),
    };
    let path = cli.config_file().unwrap_or_else(|conflict| {
        <cli::Cli as clap::CommandFactory>::command()
            .error(clap::error::ErrorKind::ArgumentConflict, conflict)
            .exit()
    });
    let file = config::load_file(path)?;
    let mails = matches!(&cli.command, cli::Command::Report(args) if args.email);
    if let (false, Some(why)) = (mails, &file.mail_invalid) {
        stderr_line!("logwarden: warning: {why} (not used here; report --email refuses it)");
    }
    match cli.command {
        cli::Command::Analyze(args) => cmd::analyze::run(args, &file),
        cli::Command::Collect(args) => cmd::collect::run(args, &file),
        cli::Command::Report(args) => cmd::report::run(args, &file),
    }
}

/// Whether an error is a closed stdout pipe (`logwarden ... | head`), which is not a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Whether `LOGWARDEN_TIMINGS` is set: stages report when they end (see [`stage_done`]).
pub fn timings_enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var_os("LOGWARDEN_TIMINGS").is_some())
}

/// With `LOGWARDEN_TIMINGS` set, print `note` as a timing line to stderr.
pub fn timing_note(note: std::fmt::Arguments<'_>) {
    if timings_enabled() {
        crate::stderr_line!("logwarden: timing: {note}");
    }
}

/// With `LOGWARDEN_TIMINGS` set, print the time since the first call and the stage that just
/// ended to stderr (where a long run spends its time; used by the benchmark scripts).
pub fn stage_done(stage: &str) {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    if timings_enabled() {
        let rss = peak_rss().map_or(String::new(), |kib| {
            format!(", peak RSS {} MiB", kib / 1024)
        });
        timing_note(format_args!(
            "{stage} done at {:.3} s{rss}",
            start.elapsed().as_secs_f64()
        ));
    }
}

/// The process' peak resident set so far, in KiB (`VmHWM`; Linux only).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
