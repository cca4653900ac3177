//! What the scanner targets share: the first input byte picks the scanner's settings.
use logwarden::scan::{Format, LineScanner};

/// New scanners for `flags`: bit 0 the layout (combined or vhost_combined), bit 1 `--utc`,
/// bit 2 a 64-byte `--max-line-bytes` (else 1 MiB).
pub fn scanners(flags: u8) -> impl Fn() -> LineScanner {
    let format = if flags & 1 == 0 {
        Format::Combined
    } else {
        Format::VhostCombined
    };
    let utc = flags & 2 != 0;
    let max = if flags & 4 != 0 { 64 } else { 1 << 20 };
    move || LineScanner::new(format, utc, max)
}
