//! placeholder

pub mod masking;
