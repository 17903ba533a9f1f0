//! Where commands go: one pipelined worker per connection (several connections to a
//! single node, one per master of a cluster), batches routed by slot, the slot map
//! refreshed when a MOVED shows it changed, outcomes collected, the checkpoint
//! frontier advanced and the rate limits applied.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::cluster::{key_slot, Topology};
use super::conn::{Conn, Endpoint};
use super::pipeline::{Batch, Event, Failure, Outcome, Purpose, Shared, Worker};
use crate::export::resp::Command;

struct Lane {
    tx: Option<SyncSender<Batch>>,
    handle: Option<JoinHandle<()>>,
    batch: Batch,
    /// The db the worker's connection has selected (after the batches sent so far).
    db: u64,
    /// Source offset, key and db of the batch's first key (for the checkpoint).
    first: Option<(u64, Vec<u8>, Option<u64>)>,
}

/// Where a key goes.
enum Routing {
    /// Several connections to one server; batches are dealt round-robin.
    Single { next: usize },
    /// One lane per master, by slot.
    Cluster {
        topology: Topology,
        lanes_by_master: HashMap<(String, u16), usize>,
        control: Box<Conn>,
    },
}

/// Totals per target db.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DbTotals {
    pub written: u64,
    pub skipped: u64,
    pub failed: u64,
}

pub struct Sink {
    lanes: Vec<Lane>,
    routing: Routing,
    shared: Shared,
    events_tx: Option<mpsc::Sender<Event>>,
    events: Receiver<Event>,
    seed: Endpoint,
    batch_bytes: usize,
    /// Commands per batch: bounded under `--rate` so the limit is smooth (about 20
    /// batches per second).
    batch_items: usize,
    seq: u64,
    /// Batches sent and not yet settled: seq → their first record.
    pending: BTreeMap<u64, (u64, Vec<u8>, Option<u64>)>,
    pub totals: BTreeMap<u64, DbTotals>,
    pub redirects: u64,
    pub failures: Vec<Failure>,
    /// Keys reported failed so far (failures arrive before their batch settles).
    failures_seen: u64,
    pub existing: Vec<(u64, Vec<u8>)>,
    pub fatal: Option<String>,
    pub commands_sent: u64,
    pub bytes_sent: u64,
    /// Offset of the last key handed to a lane.
    pub last_added: Option<u64>,
    limiter: Limiter,
}

/// `--rate` and `--rate-bytes`: sleeps so that sends stay under both averages.
pub struct Limiter {
    pub ops_per_sec: Option<f64>,
    pub bytes_per_sec: Option<f64>,
    start: Instant,
}

impl Limiter {
    pub fn new(ops_per_sec: Option<f64>, bytes_per_sec: Option<f64>) -> Limiter {
        Limiter {
            ops_per_sec,
            bytes_per_sec,
            start: Instant::now(),
        }
    }

    fn wait(&self, ops: u64, bytes: u64) {
        let due = [
            self.ops_per_sec.map(|r| ops as f64 / r),
            self.bytes_per_sec.map(|r| bytes as f64 / r),
        ]
        .into_iter()
        .flatten()
        .fold(0.0f64, f64::max);
        let elapsed = self.start.elapsed().as_secs_f64();
        if due > elapsed {
            std::thread::sleep(Duration::from_secs_f64(due - elapsed));
        }
    }
}

pub struct SinkConfig {
    pub seed: Endpoint,
    pub cluster: bool,
    pub connections: usize,
    pub batch_bytes: usize,
    pub shared: Shared,
    pub limiter: Limiter,
}

impl Sink {
    pub fn open(cfg: SinkConfig) -> io::Result<Sink> {
        let (events_tx, events) = mpsc::channel();
        let mut sink = Sink {
            lanes: Vec::new(),
            routing: Routing::Single { next: 0 },
            shared: cfg.shared,
            events_tx: Some(events_tx),
            events,
            seed: cfg.seed.clone(),
            batch_bytes: cfg.limiter.bytes_per_sec.map_or(cfg.batch_bytes, |r| {
                cfg.batch_bytes.min((r / 20.0) as usize + 1)
            }),
            batch_items: cfg
                .limiter
                .ops_per_sec
                .map_or(usize::MAX, |r| (r / 20.0) as usize + 1),
            seq: 0,
            pending: BTreeMap::new(),
            totals: BTreeMap::new(),
            redirects: 0,
            failures: Vec::new(),
            failures_seen: 0,
            existing: Vec::new(),
            fatal: None,
            commands_sent: 0,
            bytes_sent: 0,
            last_added: None,
            limiter: cfg.limiter,
        };
        if cfg.cluster {
            let mut control = Box::new(Conn::connect(&cfg.seed, sink.shared.tls.as_ref())?);
            let topology = Topology::fetch(&mut control)?;
            if topology.uncovered() > 0 {
                return Err(io::Error::other(format!(
                    "the cluster serves only {} of 16384 slots",
                    16384 - topology.uncovered()
                )));
            }
            sink.routing = Routing::Cluster {
                topology,
                lanes_by_master: HashMap::new(),
                control,
            };
            sink.sync_lanes()?;
        } else {
            for _ in 0..cfg.connections.max(1) {
                let ep = cfg.seed.clone();
                sink.add_lane(&ep)?;
            }
        }
        Ok(sink)
    }

    fn add_lane(&mut self, ep: &Endpoint) -> io::Result<usize> {
        let conn = Conn::connect(ep, self.shared.tls.as_ref())?;
        let (tx, rx) = mpsc::sync_channel::<Batch>(2);
        let worker = Worker::new(
            conn,
            self.shared.clone(),
            self.events_tx.clone().expect("open"),
        );
        let handle = std::thread::Builder::new()
            .name(format!("restore-{ep}"))
            .spawn(move || worker.run(rx))?;
        self.lanes.push(Lane {
            tx: Some(tx),
            handle: Some(handle),
            batch: Batch::default(),
            db: 0,
            first: None,
        });
        Ok(self.lanes.len() - 1)
    }

    /// Gives every master of the current topology a lane.
    fn sync_lanes(&mut self) -> io::Result<()> {
        let Routing::Cluster {
            topology,
            lanes_by_master,
            ..
        } = &self.routing
        else {
            return Ok(());
        };
        let missing: Vec<(String, u16)> = topology
            .masters
            .iter()
            .filter(|m| !lanes_by_master.contains_key(*m))
            .cloned()
            .collect();
        for m in missing {
            let ep = self.seed.with_addr(&m.0, m.1);
            let lane = self.add_lane(&ep)?;
            if let Routing::Cluster {
                lanes_by_master, ..
            } = &mut self.routing
            {
                lanes_by_master.insert(m, lane);
            }
        }
        Ok(())
    }

    /// Re-reads the slot map after a MOVED.
    fn refresh_if_stale(&mut self) -> io::Result<()> {
        if !self.shared.stale_topology.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        if let Routing::Cluster {
            topology, control, ..
        } = &mut self.routing
        {
            *topology = Topology::fetch(control)?;
        }
        self.sync_lanes()
    }

    /// The lane for a key of target db `db`, with its batch ready for commands of that db.
    pub fn lane_for(&mut self, key: &[u8], db: u64) -> io::Result<usize> {
        self.refresh_if_stale()?;
        let lane = match &mut self.routing {
            Routing::Single { next } => *next,
            Routing::Cluster {
                topology,
                lanes_by_master,
                ..
            } => {
                let slot = key_slot(key);
                let master = topology
                    .master_of(slot)
                    .ok_or_else(|| io::Error::other(format!("no master serves slot {slot}")))?;
                lanes_by_master[master]
            }
        };
        self.ready(lane, db)
    }

    /// One lane per master (the single node's next lane outside a cluster), each ready
    /// for commands of db `db`: for server-wide writes such as `FLUSHALL`.
    pub fn lanes_everywhere(&mut self, db: u64) -> io::Result<Vec<usize>> {
        self.refresh_if_stale()?;
        let mut lanes: Vec<usize> = match &self.routing {
            Routing::Single { next } => vec![*next],
            Routing::Cluster {
                lanes_by_master, ..
            } => lanes_by_master.values().copied().collect(),
        };
        lanes.sort_unstable();
        for &lane in &lanes {
            self.ready(lane, db)?;
        }
        Ok(lanes)
    }

    /// Readies `lane`'s batch for commands of db `db` (flushing one of another db).
    fn ready(&mut self, lane: usize, db: u64) -> io::Result<usize> {
        let l = &mut self.lanes[lane];
        let batch_db = if l.batch.items.is_empty() {
            l.db
        } else {
            l.batch.db
        };
        if batch_db != db && !l.batch.items.is_empty() {
            self.flush(lane)?;
        }
        let l = &mut self.lanes[lane];
        if l.batch.items.is_empty() {
            l.batch.db = db;
            if l.db != db {
                let k = l.batch.add_key(b"");
                l.batch.push(
                    0,
                    k,
                    Purpose::Select,
                    &[b"SELECT", db.to_string().as_bytes()],
                );
                l.db = db;
            }
        }
        Ok(lane)
    }

    /// The batch of a lane, to append a key's commands to.
    pub fn batch(&mut self, lane: usize) -> &mut Batch {
        &mut self.lanes[lane].batch
    }

    /// Notes the record a lane's batch starts with (for the checkpoint) and sends the
    /// batch once it is big enough.
    pub fn added(
        &mut self,
        lane: usize,
        offset: u64,
        key: &[u8],
        src_db: Option<u64>,
    ) -> io::Result<()> {
        self.last_added = Some(offset);
        let l = &mut self.lanes[lane];
        if l.first.is_none() {
            l.first = Some((offset, key.to_vec(), src_db));
        }
        if l.batch.buf.len() >= self.batch_bytes || l.batch.items.len() >= self.batch_items {
            self.flush(lane)?;
        }
        Ok(())
    }

    /// Appends one command of a key written with several (native commands). The
    /// batch is sent first when full, so a huge key never makes a huge batch, and the
    /// key's last command always sits in the lane's open batch for [`Sink::end_key`].
    pub fn push_command(
        &mut self,
        lane: usize,
        offset: u64,
        key: &[u8],
        src_db: Option<u64>,
        command: Command<'_>,
    ) -> io::Result<()> {
        let l = &self.lanes[lane];
        if l.batch.buf.len() >= self.batch_bytes || l.batch.items.len() >= self.batch_items {
            let db = l.batch.db;
            self.flush(lane)?;
            self.lanes[lane].batch.db = db;
        }
        self.last_added = Some(offset);
        let l = &mut self.lanes[lane];
        if l.first.is_none() {
            l.first = Some((offset, key.to_vec(), src_db));
        }
        let k = match l.batch.items.last() {
            Some(it) if it.offset == offset && it.purpose != Purpose::Select => it.key.clone(),
            _ => l.batch.add_key(key),
        };
        let start = l.batch.buf.len();
        command.encode(&mut l.batch.buf);
        l.batch
            .push_encoded(offset, k, Purpose::Write { last: false }, start);
        Ok(())
    }

    /// Marks the key's last command (after its [`Sink::push_command`]s).
    pub fn end_key(&mut self, lane: usize) -> io::Result<()> {
        if let Some(it) = self.lanes[lane].batch.items.last_mut() {
            it.purpose = Purpose::Write { last: true };
        }
        let l = &self.lanes[lane];
        if l.batch.buf.len() >= self.batch_bytes || l.batch.items.len() >= self.batch_items {
            self.flush(lane)?;
        }
        Ok(())
    }

    fn flush(&mut self, lane: usize) -> io::Result<()> {
        let l = &mut self.lanes[lane];
        if l.batch.items.is_empty() {
            return Ok(());
        }
        let mut batch = std::mem::take(&mut l.batch);
        batch.seq = self.seq;
        self.seq += 1;
        if let Some(first) = l.first.take() {
            self.pending.insert(batch.seq, first);
        }
        self.commands_sent += batch.items.len() as u64;
        self.bytes_sent += batch.buf.len() as u64;
        self.limiter.wait(self.commands_sent, self.bytes_sent);
        let tx = l.tx.as_ref().expect("lane open");
        if tx.send(batch).is_err() {
            // The worker ended (fatal error); its event says why.
            self.poll(false);
            return Err(io::Error::other(
                self.fatal
                    .clone()
                    .unwrap_or_else(|| "a writer stopped".into()),
            ));
        }
        if let Routing::Single { next } = &mut self.routing {
            *next = (*next + 1) % self.lanes.len();
        }
        self.poll(false);
        Ok(())
    }

    /// Handles worker events; with `block`, until every worker has ended.
    pub fn poll(&mut self, block: bool) {
        loop {
            let ev = if block {
                match self.events.recv() {
                    Ok(e) => e,
                    Err(_) => return,
                }
            } else {
                match self.events.try_recv() {
                    Ok(e) => e,
                    Err(_) => return,
                }
            };
            match ev {
                Event::Done(o) => self.settled(o),
                Event::Failed(f) => {
                    self.failures_seen += 1;
                    self.failures.push(f)
                }
                Event::Exists { db, key } => self.existing.push((db, key)),
                Event::Fatal(m) => {
                    self.fatal.get_or_insert(m);
                }
            }
        }
    }

    fn settled(&mut self, o: Outcome) {
        self.pending.remove(&o.seq);
        let t = self.totals.entry(o.db).or_default();
        t.written += o.written;
        t.skipped += o.skipped;
        t.failed += o.failed;
        self.redirects += o.redirects;
    }

    pub fn written(&self) -> u64 {
        self.totals.values().map(|t| t.written).sum()
    }

    pub fn failed(&self) -> u64 {
        self.failures_seen
    }

    /// Failures reported since the last call (for `--errors-to` and fail-fast).
    pub fn take_failures(&mut self) -> Vec<Failure> {
        std::mem::take(&mut self.failures)
    }

    /// The first record not yet acknowledged: the restart point for a checkpoint.
    /// `None` when everything sent so far is acknowledged.
    pub fn frontier(&self) -> Option<&(u64, Vec<u8>, Option<u64>)> {
        let unsent = self.lanes.iter().filter_map(|l| l.first.as_ref());
        self.pending.values().chain(unsent).min_by_key(|f| f.0)
    }

    /// Sends what is buffered, waits for every reply and stops the workers.
    pub fn finish(&mut self) -> io::Result<()> {
        let mut first_err = None;
        for lane in 0..self.lanes.len() {
            if let Err(e) = self.flush(lane) {
                first_err.get_or_insert(e);
            }
        }
        for l in &mut self.lanes {
            l.tx = None;
        }
        self.events_tx = None;
        for l in &mut self.lanes {
            if let Some(h) = l.handle.take() {
                let _ = h.join();
            }
        }
        self.poll(true);
        match (first_err, &self.fatal) {
            (_, Some(f)) => Err(io::Error::other(f.clone())),
            (Some(e), None) => Err(e),
            (None, None) => Ok(()),
        }
    }

    /// The masters (or the single node) to read counts from.
    pub fn nodes(&self) -> Vec<Endpoint> {
        match &self.routing {
            Routing::Single { .. } => vec![self.seed.clone()],
            Routing::Cluster { topology, .. } => topology
                .masters
                .iter()
                .map(|(h, p)| self.seed.with_addr(h, *p))
                .collect(),
        }
    }

    /// Tells every worker to drop the batches it has not sent yet.
    pub fn request_stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }

    /// A worker asked everyone to stop (fatal error or fail-fast).
    pub fn stop_requested(&self) -> bool {
        self.shared.stop.load(Ordering::Relaxed)
    }
}
