//! Inputs: which files to read (`discover`) and how to get their bytes (`source`).

pub mod discover;
pub mod inflate;
pub mod overlap;
pub mod source;

pub use discover::{discover, Input, Kind};
