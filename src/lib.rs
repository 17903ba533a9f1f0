//! rdbkit reads Redis-family persistence files offline.
//!
//! * Verify a backup: [`verify::verify_path`] (what `rdbkit verify` runs).
//! * Read records zero-copy from a slice or mmap: [`rdb::RdbReader`].
//! * Stream records from any `Read`: [`rdb::RdbStream`].
//! * Walk a collection's elements from its encoded bytes: [`rdb::items::for_each`].
//! * Read an AOF's commands: [`aof::RespReader`]; its manifest: [`aof::manifest`].
//!
//! Layers (dependencies point down only): `error`, `source`, `base64` → `rdb` → `verify` ⇄ `aof` → `cli`
//! (`aof` checks an RDB preamble with `verify`; `verify` dispatches AOF inputs to `aof`).
#![deny(unsafe_code)]

pub mod analyze;
pub mod aof;
pub mod base64;
pub mod cli;
pub mod csv;
pub mod error;
pub mod export;
pub mod filter;
pub mod forensics;
pub mod rdb;
pub mod restore;
pub mod source;
pub mod time;
pub mod verify;

pub use error::{Error, ErrorKind, Result};
