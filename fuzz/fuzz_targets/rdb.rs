//! Fuzzes the whole RDB reader: the slice reader and the streaming reader must agree
//! on every input, errors must point inside the input, and every value's elements
//! must be iterable without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdbkit::verify::{verify_bytes, verify_reader};

fuzz_target!(|data: &[u8]| {
    let a = verify_bytes("fuzz", data);
    if let Some(e) = &a.error {
        assert!(e.offset <= data.len() as u64);
    }
    let b = verify_reader("fuzz", data);
    assert_eq!(a.status, b.status);
    assert_eq!(a.keys, b.keys);
    assert_eq!(a.error.as_ref().map(|e| e.offset), b.error.as_ref().map(|e| e.offset));
    // Drain every collection's elements (what export will do).
    let _ = rdbkit::rdb::owned::read_all(data);
});
