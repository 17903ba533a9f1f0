//! Salvage and inspect on arbitrary bytes: no panic, no endless loop, lost spans and
//! records inside the input, in order and not overlapping, and the RDB output (when the
//! version is writable) reads back clean.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdbkit::forensics::resync::{Event, Walker};
use rdbkit::forensics::salvage::{self, RdbOut, Recovered};

fuzz_target!(|data: &[u8]| {
    let Ok(mut w) = Walker::new(data) else { return };
    let mut at = 0u64;
    while let Some(ev) = w.next_event() {
        let (start, end) = match &ev {
            Event::Record { start, end, .. } => (*start, *end),
            Event::Lost(l) => (l.start, l.end),
        };
        assert!(start >= at && start <= end && end <= data.len() as u64);
        at = end;
    }
    let header = rdbkit::rdb::Header::parse(data).unwrap();
    let mut out = Vec::new();
    if salvage::rdb_target(header).check().is_ok() {
        let mut o = RdbOut::new(&mut out, header).unwrap();
        let _ = salvage::salvage("fuzz", data, Some(&mut o as &mut dyn Recovered)).unwrap();
        drop(o);
        let report = rdbkit::verify::verify_bytes("out", &out);
        assert_eq!(report.status, rdbkit::verify::Status::Ok, "{:?}", report.error);
    }
    let _ = rdbkit::forensics::inspect::annotate(data, data.len() as u64 / 2);
});
