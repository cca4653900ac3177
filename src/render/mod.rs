//! Renderers: the report model → bytes. They never touch files or the network (sinks do).
//!
//! Invariant: every string that came from outside (paths, hostnames) was escaped to printable
//! ASCII before it reached the model, and renderers add only their own fixed text.

pub mod html;
pub mod json;
pub mod text;
pub mod weekly;
