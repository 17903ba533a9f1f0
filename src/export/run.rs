//! The file-level export: walks an RDB (or an AOF: its RDB preamble, then its commands)
//! and writes every selected key in one format, through one buffer.

use std::collections::BTreeMap;
use std::io::Write;

use super::bytes::BytesMode;
use super::csv;
use super::json::{self, JsonOptions};
use super::output::Sink;
use super::pipeline::{self, Ready};
use super::resp::{self, Loss, RespOptions, Target};
use super::ExportError;
use crate::aof::{Item as AofItem, RespReader};
use crate::filter::{DbMap, KeyFilter};
use crate::rdb::{Checker, KeyRecord, RdbReader, Record};

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// The same objects in one JSON array.
    Json,
    /// Commands that rebuild the dataset (`redis-cli --pipe`, or an AOF).
    Resp,
    /// One row per element (see [`super::csv`]).
    Csv,
}

/// What to export and how.
#[derive(Clone, Debug)]
pub struct Options {
    pub format: Format,
    pub filter: KeyFilter,
    pub db_map: DbMap,
    /// `(old, new)` key-name prefixes; the first that matches renames the key.
    pub rename_prefixes: Vec<(Vec<u8>, Vec<u8>)>,
    pub bytes: BytesMode,
    /// For `resp`; `target: None` here means "the version that wrote the file".
    pub resp: RespOptions,
    /// Function libraries are exported (they belong to no db and match no key filter).
    pub functions: bool,
    /// Threads formatting an RDB's keys; 0: one per core. Output is the same for any.
    pub threads: usize,
}

/// What an export wrote.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub keys: u64,
    /// Keys the filter left out.
    pub skipped: u64,
    pub functions: u64,
    /// Function libraries not written (CSV has no row for them).
    pub functions_left_out: u64,
    /// RESP commands written (for `resp`), AOF commands passed through otherwise.
    pub commands: u64,
    /// AOF commands copied after an RDB preamble or from RESP parts.
    pub aof_commands: u64,
    /// Keys (or libraries) per thing the target could not express.
    pub lost: BTreeMap<Loss, u64>,
    /// The target commands were chosen for.
    pub target: Option<Target>,
    pub bytes_written: u64,
}

/// What the first records of an RDB say about it.
#[derive(Clone, Debug, Default)]
pub struct FileInfo {
    pub rdb_version: u32,
    /// AUX `ctime`, ms.
    pub ctime_ms: Option<i64>,
    /// The server that wrote it (`valkey-ver`, else `redis-ver`).
    pub writer: Option<Target>,
}

/// Reads the header and the AUX fields before the first key.
pub fn file_info(data: &[u8]) -> crate::Result<FileInfo> {
    let mut r = RdbReader::new(data, Checker::new(false))?;
    let mut info = FileInfo {
        rdb_version: r.header().version,
        ..FileInfo::default()
    };
    let (mut redis, mut valkey) = (None, None);
    while let Some(Record::Aux { key, value }) = r.next_record()? {
        let v = value.to_string_lossy();
        match key.to_vec()?.as_slice() {
            b"ctime" => info.ctime_ms = v.parse::<i64>().ok().map(|s| s * 1000),
            b"redis-ver" => redis = Target::parse(&v).ok(),
            b"valkey-ver" => valkey = Target::parse(&format!("valkey-{v}")).ok(),
            _ => {}
        }
    }
    info.writer = valkey.or(redis);
    Ok(info)
}

/// What every formatter needs: the options and the per-file command settings.
#[derive(Clone)]
pub(super) struct Ctx<'o> {
    pub opts: &'o Options,
    pub resp: RespOptions,
    pub json: JsonOptions,
}

/// Formats keys into a sink, keeping the state that spans keys: the selected db (RESP)
/// and the object count (the JSON array's commas).
pub(super) struct Formatter<'c, 'w> {
    ctx: &'c Ctx<'c>,
    pub sink: Sink<'w>,
    selected: Option<u64>,
    objects: u64,
    pub summary: Summary,
}

impl<'c, 'w> Formatter<'c, 'w> {
    pub(super) fn new(
        ctx: &'c Ctx<'c>,
        sink: Sink<'w>,
        selected: Option<u64>,
        objects: u64,
    ) -> Self {
        Formatter {
            ctx,
            sink,
            selected,
            objects,
            summary: Summary::default(),
        }
    }

    fn format(&self) -> Format {
        self.ctx.opts.format
    }

    /// Opens the next JSON object (a comma before it in an array).
    fn before_object(&mut self) {
        if self.format() == Format::Json && self.objects > 0 {
            self.sink.buf.extend_from_slice(b",\n");
        }
    }

    fn after_object(&mut self) -> std::io::Result<()> {
        self.objects += 1;
        if self.format() == Format::Jsonl {
            self.sink.buf.push(b'\n');
        }
        self.sink.spill()
    }

    fn select(&mut self, db: u64) {
        if self.selected != Some(db) {
            let n = itoa::Buffer::new().format(db).to_string();
            resp::encode_command(&[b"SELECT", n.as_bytes()], &mut self.sink.buf);
            self.summary.commands += 1;
            self.selected = Some(db);
        }
    }

    /// One key, named `name` in db `db` (both after mapping).
    pub(super) fn key(
        &mut self,
        k: &KeyRecord<'_>,
        db: u64,
        name: &[u8],
        keys_before: u64,
    ) -> Result<(), ExportError> {
        let ctx = |e: ExportError| match e {
            ExportError::Read(e) => ExportError::Read(
                e.with_type(k.info.check_name)
                    .with_key(k.db, k.key.to_vec().ok(), keys_before)
                    .at_record(k.offset),
            ),
            io => io,
        };
        match self.format() {
            Format::Resp => {
                self.select(db);
                let sink = &mut self.sink;
                let mut emit = |c: resp::Command<'_>| {
                    c.encode(&mut sink.buf);
                    sink.spill()
                };
                let out = resp::key_commands(k, name, k.expire_ms, &self.ctx.resp, &mut emit)
                    .map_err(ctx)?;
                self.summary.commands += out.commands;
                for l in out.lost {
                    *self.summary.lost.entry(l).or_default() += 1;
                }
                self.sink.spill()?;
            }
            Format::Jsonl | Format::Json => {
                self.before_object();
                json::key_object(k, db, name, &self.ctx.json, &mut self.sink).map_err(ctx)?;
                self.after_object()?;
            }
            Format::Csv => {
                let (bytes, version) = (self.ctx.json.bytes, self.ctx.json.rdb_version);
                csv::key_rows(k, db, name, bytes, version, &mut self.sink).map_err(ctx)?;
            }
        }
        self.summary.keys += 1;
        Ok(())
    }

    pub(super) fn function(&mut self, code: &[u8]) -> Result<(), ExportError> {
        if self.format() == Format::Csv {
            // No row shape for a library: counted as left out.
            self.summary.functions_left_out += 1;
            return Ok(());
        }
        self.summary.functions += 1;
        match self.format() {
            Format::Resp => {
                let sink = &mut self.sink;
                let mut emit = |c: resp::Command<'_>| {
                    c.encode(&mut sink.buf);
                    Ok(())
                };
                let out = resp::function_commands(code, &self.ctx.resp, &mut emit)?;
                self.summary.commands += out.commands;
                for l in out.lost {
                    *self.summary.lost.entry(l).or_default() += 1;
                }
            }
            _ => {
                self.before_object();
                json::function_object(code, &self.ctx.json, &mut self.sink.buf);
                self.after_object()?;
            }
        }
        Ok(())
    }
}

impl Summary {
    fn add(&mut self, o: &Summary) {
        self.keys += o.keys;
        self.skipped += o.skipped;
        self.functions += o.functions;
        self.functions_left_out += o.functions_left_out;
        self.commands += o.commands;
        self.aof_commands += o.aof_commands;
        for (l, n) in &o.lost {
            *self.lost.entry(*l).or_default() += n;
        }
    }
}

/// The export of one input: the output formatter and state across records and files.
struct Exporter<'o, 'w> {
    ctx: Ctx<'o>,
    sink: Option<Sink<'w>>,
    selected: Option<u64>,
    objects: u64,
    summary: Summary,
}

impl<'o, 'w> Exporter<'o, 'w> {
    fn new(opts: &'o Options, w: &'w mut dyn Write) -> Self {
        Exporter {
            ctx: Ctx {
                opts,
                resp: opts.resp.clone(),
                json: JsonOptions {
                    bytes: opts.bytes,
                    rdb_version: opts.resp.rdb_version,
                },
            },
            sink: Some(Sink::new(w)),
            selected: None,
            objects: 0,
            summary: Summary::default(),
        }
    }

    fn sink(&mut self) -> &mut Sink<'w> {
        self.sink
            .as_mut()
            .expect("the sink is only lent out during a call")
    }

    fn start(&mut self) {
        match self.ctx.opts.format {
            Format::Json => self.sink().buf.push(b'['),
            Format::Csv => self.sink().buf.extend_from_slice(csv::HEADER),
            _ => {}
        }
    }

    /// Ends the output; on damage in the input, what was formatted before it is still
    /// written (whatever the number of threads), then the error is returned.
    fn finish(mut self, r: Result<(), ExportError>) -> Result<Summary, ExportError> {
        match r {
            Ok(()) => self.end(),
            Err(e @ ExportError::Read(_)) => {
                let _ = self.sink().finish();
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    fn end(mut self) -> Result<Summary, ExportError> {
        if self.ctx.opts.format == Format::Json {
            self.sink().buf.extend_from_slice(b"]\n");
        }
        self.summary.bytes_written = self.sink().finish()?;
        self.summary.target = self.ctx.resp.target;
        Ok(self.summary)
    }

    /// Runs `f` with a formatter over the real output.
    fn direct<T>(
        &mut self,
        f: impl FnOnce(&mut Formatter<'_, 'w>) -> Result<T, ExportError>,
    ) -> Result<T, ExportError> {
        let sink = self.sink.take().expect("sink");
        let mut fm = Formatter::new(&self.ctx, sink, self.selected, self.objects);
        let r = f(&mut fm);
        self.selected = fm.selected;
        self.objects = fm.objects;
        self.summary.add(&fm.summary);
        self.sink = Some(fm.sink);
        r
    }

    /// Exports the RDB in `data`; returns where it ended (after its checksum).
    fn rdb(&mut self, data: &[u8], progress: &mut dyn FnMut(u64)) -> Result<usize, ExportError> {
        let threads = match self.ctx.opts.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let ctx = self.ctx.clone();
        let end = if threads > 1 {
            pipeline::parallel(
                data,
                ctx,
                self.selected,
                self.objects,
                threads,
                &mut |ready| match ready {
                    Ready::Formatted(bytes, summary) => {
                        self.summary.add(summary);
                        Ok(self.sink().write_through(bytes)?)
                    }
                    Ready::InPlace(batch) => self.in_place(batch),
                },
                progress,
            )?
        } else {
            let mut next_progress = 0;
            pipeline::walk(data, ctx, self.selected, self.objects, &mut |batch| {
                if batch.offset >= next_progress {
                    progress(batch.offset);
                    next_progress = batch.offset + (4 << 20);
                }
                self.in_place(&batch)?;
                Ok(batch.into_spare())
            })?
        };
        self.ctx = end.ctx;
        self.selected = end.selected;
        self.objects = end.objects;
        self.summary.add(&end.summary);
        progress(data.len() as u64);
        Ok(end.end)
    }

    /// Formats a batch straight into the output.
    fn in_place(&mut self, batch: &pipeline::Batch<'_, '_>) -> Result<(), ExportError> {
        let sink = self.sink.take().expect("sink");
        let mut f = Formatter::new(&batch.ctx, sink, batch.selected, batch.objects);
        let r = batch.format(&mut f);
        self.summary.add(&f.summary);
        self.sink = Some(f.sink);
        r
    }

    /// Copies the commands of a RESP AOF (or an AOF's part after its preamble). The
    /// server loads every AOF file with a client in db 0.
    fn aof_commands(&mut self, data: &[u8], start: usize) -> Result<(), ExportError> {
        let db_map = &self.ctx.opts.db_map;
        self.direct(|f| {
            let mut r = RespReader::new(data, start);
            let mut db = 0u64;
            while let Some(item) = r.next_item()? {
                let AofItem::Command(c) = item else { continue };
                if f.format() == Format::Csv {
                    return Err(ExportError::Io(std::io::Error::other(format!(
                        "CSV holds keys, and this input has AOF commands (the first at byte {}): export it with --format jsonl or resp",
                        c.offset
                    ))));
                }
                f.summary.aof_commands += 1;
                match f.format() {
                    Format::Resp => {
                        if c.is("SELECT") && c.args.len() == 2 {
                            if let Some(n) = std::str::from_utf8(c.args[1])
                                .ok()
                                .and_then(|s| s.parse::<u64>().ok())
                            {
                                db = n;
                                f.select(db_map.target(n));
                                continue;
                            }
                        }
                        f.select(db_map.target(db));
                        f.sink
                            .buf
                            .extend_from_slice(&data[c.offset as usize..c.end as usize]);
                        f.summary.commands += 1;
                    }
                    _ => {
                        f.before_object();
                        json::command_object(&c.args, &f.ctx.json, &mut f.sink.buf);
                        f.after_object()?;
                    }
                }
                f.sink.spill()?;
            }
            Ok(())
        })
    }

    /// One file: an RDB, an RDB-preamble AOF, or a RESP AOF.
    fn file(&mut self, data: &[u8], progress: &mut dyn FnMut(u64)) -> Result<(), ExportError> {
        let rest = if crate::aof::verify::has_rdb_magic(data) {
            self.rdb(data, progress)?
        } else {
            0
        };
        if rest < data.len() {
            self.selected = None;
            self.aof_commands(data, rest)?;
        }
        Ok(())
    }
}

/// Exports one file held in memory (RDB, or single-file AOF) to `w`.
/// `progress` is called with the byte offset reached, now and then.
pub fn export_bytes(
    data: &[u8],
    opts: &Options,
    w: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary, ExportError> {
    let mut e = Exporter::new(opts, w);
    e.start();
    let r = e.file(data, progress);
    e.finish(r)
}

/// Exports the parts of a multi-part AOF (`parts`: file contents in load order).
pub fn export_parts(
    parts: &mut dyn Iterator<Item = std::io::Result<crate::source::Source>>,
    opts: &Options,
    w: &mut dyn Write,
) -> Result<Summary, ExportError> {
    let mut e = Exporter::new(opts, w);
    e.start();
    let each = || {
        for p in parts {
            let p = p?;
            e.selected = None;
            e.file(p.bytes(), &mut |_| {})?;
        }
        Ok(())
    };
    let r = each();
    e.finish(r)
}
