//! Cluster slots: a key's hash slot and a map from slots to the nodes that own them,
//! read from what an operator has at hand (slot ranges, or the output of `CLUSTER
//! SHARDS`, `CLUSTER SLOTS` or `CLUSTER NODES` as redis-cli prints it).

/// Number of hash slots in a Redis/Valkey cluster.
pub const SLOTS: usize = 16384;

/// CRC16-XMODEM (polynomial 0x1021, init 0), the cluster's key hash.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The hash slot of `key`: only the part inside the first `{...}` counts when that
/// part is not empty (the server's hash-tag rule).
pub fn key_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16(tagged.unwrap_or(key)) % SLOTS as u16
}

/// Which node owns each slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotMap {
    /// Node names, in output order (file N is written for `nodes[N]`).
    pub nodes: Vec<String>,
    owner: Vec<Option<u16>>,
}

impl SlotMap {
    /// The node index owning `slot`, if any.
    pub fn owner(&self, slot: u16) -> Option<usize> {
        self.owner
            .get(slot as usize)
            .copied()
            .flatten()
            .map(usize::from)
    }

    /// Parses `0-5460,5461-10922,10923-16383` (a node per comma-separated item;
    /// `0-99+200-299` gives one node several ranges) or the text of a file holding
    /// those ranges or redis-cli's `CLUSTER SHARDS` / `CLUSTER SLOTS` / `CLUSTER NODES`
    /// output. Every slot must be owned by exactly one node.
    pub fn parse(text: &str) -> Result<SlotMap, String> {
        let t = text.trim();
        let groups = if t.contains("slots") {
            shards(t)
        } else if t
            .lines()
            .any(|l| l.contains('@') && l.split_whitespace().count() >= 8)
        {
            nodes_lines(t)?
        } else if t.contains('(') || t.lines().count() > 1 && !t.contains('-') {
            cluster_slots(t)?
        } else {
            ranges_list(t)?
        };
        SlotMap::from_groups(groups)
    }

    fn from_groups(groups: Vec<Group>) -> Result<SlotMap, String> {
        if groups.is_empty() {
            return Err("no slot ranges found".into());
        }
        if groups.len() > u16::MAX as usize {
            return Err("too many nodes".into());
        }
        let mut owner = vec![None; SLOTS];
        let mut nodes = Vec::new();
        for (i, (name, ranges)) in groups.into_iter().enumerate() {
            for (a, b) in ranges {
                if a > b || b >= SLOTS as u64 {
                    return Err(format!("slot range {a}-{b} is not within 0-16383"));
                }
                for s in a..=b {
                    if let Some(prev) = owner[s as usize].replace(i as u16) {
                        if prev as usize != i {
                            return Err(format!("slot {s} is assigned to two nodes"));
                        }
                    }
                }
            }
            nodes.push(name);
        }
        if let Some(s) = owner.iter().position(Option::is_none) {
            return Err(format!("slot {s} is not assigned to any node"));
        }
        Ok(SlotMap { nodes, owner })
    }
}

/// A node's name and its slot ranges (inclusive).
type Group = (String, Vec<(u64, u64)>);

fn range(s: &str) -> Result<(u64, u64), String> {
    let num = |x: &str| {
        x.trim()
            .parse::<u64>()
            .map_err(|_| format!("{x:?} is not a slot number"))
    };
    match s.split_once('-') {
        Some((a, b)) => Ok((num(a)?, num(b)?)),
        None => {
            let n = num(s)?;
            Ok((n, n))
        }
    }
}

fn ranges_list(t: &str) -> Result<Vec<Group>, String> {
    t.split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|node| {
            let ranges = node.split('+').map(range).collect::<Result<Vec<_>, _>>()?;
            Ok((node.to_string(), ranges))
        })
        .collect()
}

/// redis-cli output as tokens: list markers (`1)`), `(integer)` and quotes removed.
fn tokens(t: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in t.lines() {
        let mut rest = line.trim();
        // strip "1) 2) " prefixes
        while let Some((head, tail)) = rest.split_once(") ") {
            if !head.is_empty() && head.bytes().all(|b| b.is_ascii_digit()) {
                rest = tail.trim_start();
            } else {
                break;
            }
        }
        let rest = rest.strip_prefix("(integer) ").unwrap_or(rest);
        let rest = rest
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .unwrap_or(rest);
        if !rest.is_empty() && rest != "(empty array)" {
            out.push(rest.to_string());
        }
    }
    out
}

/// `CLUSTER SHARDS`: each shard's `slots` list holds start/end pairs; it is named by
/// its first node's `ip` and `port`.
fn shards(t: &str) -> Vec<Group> {
    let tok = tokens(t);
    let mut groups: Vec<Group> = Vec::new();
    let (mut ip, mut port) = (None, None);
    let mut i = 0;
    let name = |ip: &Option<String>, port: &Option<String>, n: usize| match (ip, port) {
        (Some(ip), Some(port)) => format!("{ip}:{port}"),
        _ => format!("shard {n}"),
    };
    while i < tok.len() {
        match tok[i].as_str() {
            "slots" => {
                let n = groups.len();
                if let Some(g) = groups.last_mut() {
                    g.0 = name(&ip, &port, n - 1);
                }
                (ip, port) = (None, None);
                let mut nums = Vec::new();
                i += 1;
                while let Some(n) = tok.get(i).and_then(|x| x.parse::<u64>().ok()) {
                    nums.push(n);
                    i += 1;
                }
                let ranges = nums
                    .chunks(2)
                    .filter(|c| c.len() == 2)
                    .map(|c| (c[0], c[1]));
                groups.push((String::new(), ranges.collect()));
                continue;
            }
            "ip" if ip.is_none() => ip = tok.get(i + 1).cloned(),
            "port" if port.is_none() => port = tok.get(i + 1).cloned(),
            _ => {}
        }
        i += 1;
    }
    let n = groups.len();
    if let Some(g) = groups.last_mut() {
        g.0 = name(&ip, &port, n - 1);
    }
    groups.retain(|g| !g.1.is_empty());
    groups
}

/// `CLUSTER SLOTS`: entries of start, end, then the master's ip, port (and id).
/// Two integers in a row start an entry (ips and ids are never integers).
fn cluster_slots(t: &str) -> Result<Vec<Group>, String> {
    let tok = tokens(t);
    let is_num = |i: usize| tok.get(i).is_some_and(|x| x.parse::<u64>().is_ok());
    let mut groups: Vec<Group> = Vec::new();
    let mut i = 0;
    while i + 3 < tok.len() {
        if is_num(i) && is_num(i + 1) && !is_num(i + 2) {
            let a: u64 = tok[i].parse().unwrap_or_default();
            let b: u64 = tok[i + 1].parse().unwrap_or_default();
            let name = format!("{}:{}", tok[i + 2], tok[i + 3]);
            match groups.iter_mut().find(|g| g.0 == name) {
                Some(g) => g.1.push((a, b)),
                None => groups.push((name, vec![(a, b)])),
            }
            i += 4;
        } else {
            i += 1;
        }
    }
    if groups.is_empty() {
        return Err("no CLUSTER SLOTS entries found".into());
    }
    Ok(groups)
}

/// `CLUSTER NODES`: masters' lines; slot ranges from the 9th field on (importing and
/// migrating markers in brackets are ignored).
fn nodes_lines(t: &str) -> Result<Vec<Group>, String> {
    let mut groups = Vec::new();
    for line in t.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 || !f[2].split(',').any(|x| x == "master") {
            continue;
        }
        let addr = f[1].split('@').next().unwrap_or(f[1]).to_string();
        let ranges = f[8..]
            .iter()
            .filter(|r| !r.starts_with('['))
            .map(|r| range(r))
            .collect::<Result<Vec<_>, _>>()?;
        if !ranges.is_empty() {
            groups.push((addr, ranges));
        }
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_the_server() {
        // CLUSTER KEYSLOT on Redis 7.4.1
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % 16384);
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn ranges_and_redis_cli_outputs() {
        let m = SlotMap::parse("0-5460,5461-10922,10923-16383").unwrap();
        assert_eq!(m.nodes.len(), 3);
        assert_eq!(m.owner(5461), Some(1));
        assert!(SlotMap::parse("0-5460,5462-16383").is_err());
        assert!(SlotMap::parse("0-100,100-16383").is_err());
        let m = SlotMap::parse("0-99+200-16383,100-199").unwrap();
        assert_eq!((m.owner(150), m.owner(300)), (Some(1), Some(0)));

        let slots_tty = "1) 1) (integer) 0\n   2) (integer) 8000\n   3) 1) \"127.0.0.1\"\n      2) (integer) 7000\n      3) \"abc\"\n2) 1) (integer) 8001\n   2) (integer) 16383\n   3) 1) \"127.0.0.1\"\n      2) (integer) 7001\n      3) \"def\"\n";
        let m = SlotMap::parse(slots_tty).unwrap();
        assert_eq!(m.nodes, ["127.0.0.1:7000", "127.0.0.1:7001"]);
        let slots_raw = "0\n8000\n127.0.0.1\n7000\nabc\n8001\n16383\n127.0.0.1\n7001\ndef\n";
        assert_eq!(SlotMap::parse(slots_raw).unwrap(), m);

        let shards_raw = "slots\n0\n8000\nnodes\nid\nabc\nport\n7000\nip\n127.0.0.1\nrole\nmaster\nslots\n8001\n16383\nnodes\nid\ndef\nport\n7001\nip\n127.0.0.1\n";
        assert_eq!(SlotMap::parse(shards_raw).unwrap(), m);

        let nodes = "abc 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-8000\ndef 127.0.0.1:7001@17001 master - 0 0 2 connected 8001-16383 [5->-abc]\nghi 127.0.0.1:7002@17002 slave abc 0 0 1 connected\n";
        assert_eq!(SlotMap::parse(nodes).unwrap().nodes, m.nodes);
    }
}
