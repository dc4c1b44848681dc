//! YAML with positions, for files people edit: the schedule and the masking rules.
//!
//! [`parse`] turns text into a tree of [`Node`]s that remember their line and column;
//! [`Walker`] reads that tree into typed values while *collecting* errors, so a file with five
//! mistakes reports five `PATH:LINE:COL: message` lines instead of stopping at the first.

mod node;
mod walker;

pub use node::{Key, Node, Pos, Value, parse};
pub use walker::{Fields, Walker};
