//! Forensics on damaged or differing files: reading past damage ([`resync`]), salvaging
//! what is readable ([`salvage`]), mapping bytes to records ([`inspect`]) and comparing
//! two files' datasets ([`diff`], stream metadata in [`stream_diff`]).

pub mod diff;
pub mod inspect;
pub mod resync;
pub mod salvage;
pub mod stream_diff;
