//! `logwarden analyze`: inputs → JSON and text reports.
//!
//! Invariant: a failing input never stops the run — its error is in the report and the exit
//! status becomes 1; only "nothing to analyze" or unusable settings are fatal (exit 2).

use crate::cli::AnalyzeArgs;
use crate::config::{self, FileConfig, DEFAULT_CHUNK_BYTES, MAP_CHUNK_MAX};
use crate::engine::{self, ScanSettings};
use crate::input::discover;
use crate::render;
use crate::sink::file::{
    check_destinations, refuse_inputs_as_outputs, text_report_place, write_output_with,
};
use crate::summary::{self, Report, Settings};
use crate::{agg::FailedCodes, Outcome};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Run the analysis and build the report (shared by `analyze`, `report` and `collect`).
pub fn analyze(args: &AnalyzeArgs, file: &FileConfig) -> anyhow::Result<Report> {
    analyze_keeping_tables(args, file, &[]).map(|analysis| analysis.report)
}

/// A date range (first and last day) `report` needs the clients of, and the range before
/// it to look its top clients up in.
pub type RangeAsked = (
    (chrono::NaiveDate, chrono::NaiveDate),
    Option<(chrono::NaiveDate, chrono::NaiveDate)>,
);

/// [`analyze`] for a command that then writes `outputs` (flag, path): an output that is one
/// of the inputs is refused before anything is read, so a report never replaces a log. The
/// report also holds the suspicious clients of each range of `ranges` and the top `top`
/// ones' counts in the range before ([`summary::range_clients`]), for `report`'s periods.
pub fn analyze_for(
    args: &AnalyzeArgs,
    file: &FileConfig,
    outputs: &[(&str, Option<&Path>)],
    ranges: &[RangeAsked],
    top: usize,
) -> anyhow::Result<Report> {
    let Analysis {
        mut report,
        tables,
        pool,
    } = analyze_keeping_tables(args, file, outputs)?;
    let (utc, threshold) = (report.settings.utc, report.settings.threshold);
    report.ranges = pool.install(|| {
        use rayon::prelude::*;
        ranges
            .par_iter()
            .map(|&(range, before)| {
                summary::range_clients(&tables.aggregate, range, before, top, threshold, utc)
            })
            .collect()
    });
    Ok(report)
}

/// A finished analysis: the report, the merged tables it was built from (a caller about to
/// exit can skip freeing them), and the thread pool (sized by `--threads`) that scanned and
/// summarized, for the rendering.
struct Analysis {
    report: Report,
    tables: engine::EngineOutput,
    pool: rayon::ThreadPool,
}

/// Every setting [`analyze`] resolves from `args` and the config file (the detection, the
/// thread count), without reading any input.
fn resolve_settings(
    args: &AnalyzeArgs,
    file: &FileConfig,
) -> anyhow::Result<(config::Detection, usize)> {
    Ok((
        config::resolve_detection(&args.detection, &file.analyze)?,
        config::resolve_threads(args.threads, &file.analyze)?,
    ))
}

/// [`resolve_settings`] for a caller that commits something before it analyzes (`collect`
/// archives first): a bad value is found before, not after.
pub fn check_settings(args: &AnalyzeArgs, file: &FileConfig) -> anyhow::Result<()> {
    resolve_settings(args, file).map(drop)
}

/// An error unless the inputs can be found (what [`analyze`] finds first, without reading
/// any), for a caller that makes files before it analyzes.
pub fn check_inputs(args: &AnalyzeArgs, file: &FileConfig) -> anyhow::Result<()> {
    discover(&input_paths(args, file)?)?;
    Ok(())
}

/// The paths to analyze: the command line's, else the config file's `paths`, else `./log`.
pub fn input_paths(args: &AnalyzeArgs, file: &FileConfig) -> anyhow::Result<Vec<PathBuf>> {
    if !args.paths.is_empty() {
        return Ok(args.paths.clone());
    }
    Ok(match &file.analyze.paths {
        Some(paths) if paths.is_empty() => anyhow::bail!(
            "[analyze] paths (config file {}) is empty: give it at least one path, or leave it out for ./log",
            file.analyze.file.as_deref().unwrap_or("?")
        ),
        Some(paths) => paths.clone(),
        None => vec![PathBuf::from("log")],
    })
}

fn analyze_keeping_tables(
    args: &AnalyzeArgs,
    file: &FileConfig,
    outputs: &[(&str, Option<&Path>)],
) -> anyhow::Result<Analysis> {
    crate::stage_done("start");
    let (detection, threads) = resolve_settings(args, file)?;
    let inputs = discover(&input_paths(args, file)?)?;
    crate::stage_done("inputs found");
    if !args.keep_duplicates {
        crate::input::discover::refuse_stdin_named(&inputs)?;
    }
    refuse_inputs_as_outputs(&inputs, outputs)?;
    let settings = ScanSettings {
        format: detection.format,
        utc: detection.utc,
        max_line_bytes: detection.max_line_bytes,
        failed: FailedCodes::new(&detection.codes),
        // At most 64 MiB: a stream allocates (and zeroes) a block of it; a huge value
        // panicked, and larger chunks only take longer to hand out.
        chunk_bytes: args
            .chunk_size
            .unwrap_or(DEFAULT_CHUNK_BYTES)
            .clamp(1, 64 << 20),
        // A `--chunk-size` is every chunk's size.
        map_chunk_max: args.chunk_size.map_or(MAP_CHUNK_MAX, |_| 0),
        mmap: !args.no_mmap,
        dedupe: !args.keep_duplicates,
        threads,
        flush_entries: None,
    };
    // One pool for the scan, the summary and the outputs (`--threads 1` means one core). A
    // second pool built after the scan had its threads started while the scan's were still
    // running: in about half the runs with 2 threads both landed on one CPU and the summary
    // ran on one core (its parts alternating between the two threads), ~4 ms longer.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(settings.threads.max(1))
        .build()?;
    let progress = progress_bar(&inputs, args.quiet);
    let output = engine::run_on(&pool, &inputs, &settings, &progress)?;
    progress.finish_and_clear();
    crate::stage_done("scan and merge");
    let report_settings = Settings {
        threshold: detection.threshold,
        codes: detection.codes.clone(),
        bad_request_threshold: detection.bad_request_threshold,
        utc: detection.utc,
        format: detection.format_label.to_string(),
        max_line_bytes: detection.max_line_bytes,
    };
    let report = pool.install(|| summary::build(&output.aggregate, &output.files, report_settings));
    crate::stage_done("summary");
    Ok(Analysis {
        report,
        tables: output,
        pool,
    })
}

pub fn run(args: AnalyzeArgs, file: &FileConfig) -> anyhow::Result<Outcome> {
    let text_path = text_report_place(
        args.report.as_deref(),
        &[args.json.as_deref(), args.html.as_deref()],
    );
    // Checked before the analysis: a mistake here should not cost a long run.
    let outputs = [
        ("--json", args.json.as_deref()),
        ("--html", args.html.as_deref()),
        ("--report", text_path),
    ];
    let shared_stdout = check_destinations(&outputs)?;
    let Analysis {
        report,
        tables,
        pool,
    } = analyze_keeping_tables(&args, file, &outputs)?;
    // The process exits after this command: freeing the tables and the report (a million
    // small allocations on a large run, ~0.1 s) would only delay the exit.
    std::mem::forget(tables);
    // Each output streams to its destination as it is rendered (the JSON of a large run is
    // over 100 MB; it is never held in memory next to the report).
    let json = || -> anyhow::Result<()> {
        if let Some(path) = &args.json {
            write_output_with(path, |w| render::json::render_to(&report, w))?;
            crate::stage_done("json");
        }
        Ok(())
    };
    let html_and_text = || -> anyhow::Result<()> {
        if let Some(path) = &args.html {
            let weeks = render::html::report_weeks(&report);
            let meta = render::html::Meta::now();
            write_output_with(path, |w| render::html::render_to(&report, &weeks, &meta, w))?;
        }
        if let Some(path) = text_path {
            write_output_with(path, |w| render::text::render_to(&report, w))?;
            crate::stage_done("text report");
        }
        Ok(())
    };
    // On the analysis' threads (`--threads 1`: one core, one after the other), the text and
    // HTML reports are rendered while the JSON is (whose client lists take the other
    // threads) and while its file is synced to disk; but one after the other, JSON first,
    // when two of them go to the same place (`--json - --report -`), so what lands there
    // never depends on the thread count.
    let (json, html_and_text) = if shared_stdout {
        // In the pool too: called from here, the renderers' batches went to rayon's global
        // pool, which then started a thread per core (`--threads 1` or not).
        pool.install(|| (json(), html_and_text()))
    } else {
        pool.join(json, html_and_text)
    };
    if let (Err(_), Err(second)) = (&json, &html_and_text) {
        // Both failed: the JSON error is returned, the other one not lost.
        crate::stderr_line!("logwarden: {second:#}");
    }
    json?;
    html_and_text?;
    let outcome = input_outcome(&report);
    std::mem::forget(report);
    Ok(outcome)
}

/// Each input that could not be read (or only partly) on stderr, and the exit outcome: exit 1
/// when there is one, the rest having been analyzed.
pub fn input_outcome(report: &Report) -> Outcome {
    for input in report.inputs.iter().filter(|i| i.error.is_some()) {
        crate::stderr_line!(
            "logwarden: {}: {}",
            input.path,
            input.error.as_deref().unwrap_or_default()
        );
    }
    match report.totals.files_with_errors {
        0 => Outcome::Clean,
        _ => Outcome::InputErrors,
    }
}

fn progress_bar(inputs: &[crate::input::Input], quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let total: u64 = inputs
        .iter()
        .filter_map(|i| match i {
            crate::input::Input::File(p, _) => std::fs::metadata(p).ok().map(|m| m.len()),
            _ => None,
        })
        .sum();
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}
