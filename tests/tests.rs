//! One integration-test binary (ripgrep style): a module per theme.
//! `cargo test` runs them all; `cargo test --test tests corpus` runs one theme.

mod support;

mod aof;
mod backup;
mod cli;
mod corpus;
mod diff_aof;
mod export;
mod forensics;
mod forensics_checks;
mod memory_servers;
mod restore;
mod rewrite;
mod robustness;
mod salvage_damage;
mod servers;
mod stats;
mod stream_metadata;
