//! Subcommands, one file each.

pub mod analyze;
