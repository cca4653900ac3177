//! Helpers shared by the integration tests.
#![allow(dead_code)]

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn testdata(rel: &str) -> PathBuf {
    root().join("testdata").join(rel)
}

pub fn logwarden() -> Command {
    let mut cmd = Command::cargo_bin("logwarden").expect("binary built");
    // Never pick up a developer's own config file.
    cmd.env("HOME", "/nonexistent")
        .current_dir(std::env::temp_dir());
    cmd
}

/// Run `analyze` with extra args and return (exit code, parsed JSON, stderr).
pub fn analyze_json(args: &[&str]) -> (i32, Value, String) {
    analyze_json_with(args, &[])
}

/// [`analyze_json`] with environment variables set.
pub fn analyze_json_with(args: &[&str], env: &[(&str, &str)]) -> (i32, Value, String) {
    let out = logwarden()
        .envs(env.iter().copied())
        .arg("analyze")
        .args(args)
        .args(["--json", "-", "--quiet"])
        .output()
        .expect("runs");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A FIFO at `path`.
pub fn mkfifo(path: &Path) {
    assert!(std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap()
        .success());
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The fields every period (day or week) shares.
pub const PERIOD_KEYS: [&str; 6] = [
    "lines",
    "failed",
    "status_400",
    "unusual_400",
    "failing_ips",
    "suspicious_ips",
];

/// `bytes` as one gzip member (fast level).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}
