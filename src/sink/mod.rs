//! Sinks: where rendered bytes go. Renderers produce bytes; sinks only place them.

pub mod email;
pub mod file;
pub mod history;
