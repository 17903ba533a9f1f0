//! `--checkpoint FILE`: how far a restore got, so an interrupted one continues where
//! it stopped. RDB record offsets are stable, so the position is the offset of the
//! first record not yet acknowledged by the server, with its key and db as a check
//! that the checkpoint belongs to this file.
//!
//! The file is replaced atomically (write to `FILE.tmp`, rename), so a kill at any
//! moment leaves either the previous or the new checkpoint.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The source as given, and its size (a different file is refused).
    pub source: String,
    pub source_size: u64,
    /// Every key record before this offset was acknowledged.
    pub offset: u64,
    /// The key and source db of the record at `offset` (hex, keys are binary).
    pub key_hex: Option<String>,
    pub db: Option<u64>,
    /// Keys acknowledged so far (over all runs).
    pub keys_done: u64,
    /// The restore reached the end of the source.
    pub complete: bool,
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Checkpoint {
    pub fn load(path: &Path) -> io::Result<Option<Checkpoint>> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
                io::Error::other(format!("{}: not a restore checkpoint: {e}", path.display()))
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        }
    }

    pub fn save(&self, path: &Path) -> io::Result<()> {
        let mut tmp: PathBuf = path.to_path_buf();
        tmp.as_mut_os_string().push(".tmp");
        let body = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        std::fs::write(&tmp, body)?;
        std::fs::rename(&tmp, path)
    }

    /// Whether the record at `offset` is the one the checkpoint names.
    pub fn matches(&self, key: &[u8], db: Option<u64>) -> bool {
        self.key_hex.as_deref() == Some(hex(key).as_str()) && self.db == db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cp.json");
        assert_eq!(Checkpoint::load(&p).unwrap(), None);
        let c = Checkpoint {
            source: "dump.rdb".into(),
            source_size: 10,
            offset: 5,
            key_hex: Some(hex(b"k\x00")),
            db: Some(0),
            keys_done: 3,
            complete: false,
        };
        c.save(&p).unwrap();
        let back = Checkpoint::load(&p).unwrap().unwrap();
        assert_eq!(back, c);
        assert!(back.matches(b"k\x00", Some(0)) && !back.matches(b"k", Some(0)));
        std::fs::write(&p, b"{").unwrap();
        assert!(Checkpoint::load(&p).is_err());
    }
}
