//! Redis Cluster routing: a key's hash slot (CRC16/XMODEM of the key or of its
//! `{hash tag}`, mod 16384) and the slot → master map from `CLUSTER SLOTS`.

use std::io;

use super::conn::{Conn, Reply};

/// The hash-slot rules live with the slot maps of `rdbkit rewrite --split-by-slot`.
pub use crate::export::slots::{crc16, key_slot, SLOTS};

/// Which master owns each slot; masters are `host:port` strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    pub masters: Vec<(String, u16)>,
    /// Index into `masters` per slot; `u16::MAX` when nobody serves it.
    owner: Vec<u16>,
}

impl Topology {
    /// Reads `CLUSTER SLOTS`. An empty host in a reply means "the host you asked".
    pub fn fetch(c: &mut Conn) -> io::Result<Topology> {
        let reply = c.call(&[b"CLUSTER", b"SLOTS"])?;
        let ranges = match &reply {
            Reply::Array(a) => a,
            Reply::Error(e) => {
                return Err(io::Error::other(format!(
                    "{}: CLUSTER SLOTS failed: {e}",
                    c.endpoint
                )))
            }
            other => return Err(io::Error::other(format!("CLUSTER SLOTS: {other:?}"))),
        };
        let mut t = Topology {
            masters: Vec::new(),
            owner: vec![u16::MAX; SLOTS],
        };
        for r in ranges {
            let f = r.as_array().unwrap_or_default();
            let (Some(lo), Some(hi), Some(master)) = (
                f.first().and_then(Reply::as_int),
                f.get(1).and_then(Reply::as_int),
                f.get(2).and_then(Reply::as_array),
            ) else {
                return Err(io::Error::other("malformed CLUSTER SLOTS reply"));
            };
            let host = master
                .first()
                .and_then(Reply::as_bytes)
                .map(|h| String::from_utf8_lossy(h).into_owned())
                .filter(|h| !h.is_empty() && h != "?")
                .unwrap_or_else(|| c.endpoint.host.clone());
            let port = master.get(1).and_then(Reply::as_int).unwrap_or(0) as u16;
            let idx = match t.masters.iter().position(|m| *m == (host.clone(), port)) {
                Some(i) => i,
                None => {
                    t.masters.push((host, port));
                    t.masters.len() - 1
                }
            };
            if !(0..SLOTS as i64).contains(&lo) || !(lo..SLOTS as i64).contains(&hi) {
                return Err(io::Error::other(format!(
                    "CLUSTER SLOTS range {lo}-{hi} is invalid"
                )));
            }
            for s in lo..=hi {
                t.owner[s as usize] = idx as u16;
            }
        }
        Ok(t)
    }

    /// The master serving `slot`, if any.
    pub fn master_of(&self, slot: u16) -> Option<&(String, u16)> {
        self.masters.get(*self.owner.get(slot as usize)? as usize)
    }

    /// Slots nobody serves (a cluster that is not fully covered).
    pub fn uncovered(&self) -> usize {
        self.owner.iter().filter(|&&o| o == u16::MAX).count()
    }
}

/// A `MOVED`/`ASK` redirection: `MOVED 3999 127.0.0.1:6381`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    pub ask: bool,
    pub host: String,
    pub port: u16,
}

pub fn parse_redirect(err: &str) -> Option<Redirect> {
    let mut it = err.split_whitespace();
    let ask = match it.next()? {
        "MOVED" => false,
        "ASK" => true,
        _ => return None,
    };
    let _slot = it.next()?;
    let (host, port) = it.next()?.rsplit_once(':')?;
    Some(Redirect {
        ask,
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port: port.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_as_the_cluster_spec_gives_them() {
        // CRC16/XMODEM check value.
        assert_eq!(crc16(b"123456789"), 0x31c3);
        // Values from the cluster spec / CLUSTER KEYSLOT.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_ne!(key_slot(b"foo{}{bar}"), key_slot(b"bar"));
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
        assert_eq!(key_slot(b"foo{bar}{zap}"), key_slot(b"bar"));
    }

    #[test]
    fn redirects() {
        assert_eq!(
            parse_redirect("MOVED 3999 127.0.0.1:6381"),
            Some(Redirect {
                ask: false,
                host: "127.0.0.1".into(),
                port: 6381
            })
        );
        assert!(parse_redirect("ASK 1 h:2").unwrap().ask);
        assert_eq!(parse_redirect("ERR x"), None);
    }
}
