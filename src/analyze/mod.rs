//! Analyses built on the record reader: what a file's keys cost, how they are spread.
pub mod memory;
