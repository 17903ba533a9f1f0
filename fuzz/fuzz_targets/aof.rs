//! Fuzzes the AOF reader: every error points inside the input, `ok_up_to` never
//! passes the end or the error, the reader agrees with the checker on where the intact
//! part ends, and a manifest parse never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdbkit::aof::check::{check_resp, End};
use rdbkit::aof::manifest::Manifest;
use rdbkit::aof::verify::check_file;
use rdbkit::aof::RespReader;

fuzz_target!(|data: &[u8]| {
    let out = check_resp(data, 0, Some(0));
    assert!(out.ok_up_to <= data.len() as u64);
    match &out.end {
        End::Clean => assert_eq!(out.ok_up_to, data.len() as u64),
        End::Truncated(e) | End::Corrupt(e) => {
            assert!(e.offset() <= data.len() as u64);
            assert!(out.ok_up_to <= e.offset());
        }
        End::OpenMulti(at) => assert_eq!(*at, out.ok_up_to),
    }
    if let Some(c) = out.until_cut {
        assert!(c <= data.len() as u64);
    }
    // Re-reading the intact prefix alone must give a clean log of the same commands.
    let prefix = &data[..out.ok_up_to as usize];
    let again = check_resp(prefix, 0, None);
    assert_eq!(again.end, End::Clean);
    assert_eq!(again.stats.commands, out.stats.commands);
    for item in RespReader::new(data, 0) {
        if item.is_err() {
            break;
        }
    }
    let fc = check_file(data, None);
    assert!(fc.resp.ok_up_to <= data.len() as u64);
    let _ = Manifest::parse(data).map(|m| m.to_text());
});
