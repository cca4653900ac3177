//! Sinks: where rendered bytes go. Renderers produce bytes; sinks only place them.

pub mod file;
