//! The PromQL evaluator.

pub mod functions;
pub mod value;
