//! Subcommands, one file each.

pub mod analyze;
pub mod collect;
pub mod report;
