//! Analyses built on the record reader: what a file's keys cost and how they are
//! spread (`rdbkit stats`, `rdbkit keys`).
//!
//! * [`memory`] — per-key memory estimate (what `MEMORY USAGE` would say).
//! * [`scan::scan`] — the fast parallel scan handing per-key [`stats::KeyFacts`] to sinks.
//! * [`stats::Stats`] — mergeable aggregates: per db/type/encoding counts, top keys
//!   ([`topk`]), prefixes ([`prefix`], bounded heavy hitters), TTL / LFU / idle classes,
//!   element-count percentiles ([`histogram`]).
//! * [`report`] — the JSON / table / CSV forms; [`html`] — the self-contained HTML report.

pub mod elements;
pub mod histogram;
pub mod html;
pub mod keyfmt;
pub mod memory;
pub mod prefix;
pub mod report;
pub mod scan;
pub mod stats;
pub mod topk;
