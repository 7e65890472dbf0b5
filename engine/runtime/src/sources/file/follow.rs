//! Follow mode: `tail -F` over files, globs and stdin.
//!
//! - The files are first read to their end, in the given order; then they are followed together,
//!   each getting a bounded turn per pass so that one busy file cannot starve the others.
//! - Rotation (the path now names another file, by device and inode: logrotate's rename and
//!   create): the old handle is read to its end, `Restarted { reason: "rotated" }` is sent and
//!   the new file is read from its start.
//! - Truncation (the file is shorter than what was read: copytruncate): `Restarted { reason:
//!   "truncated" }`, then the file is read again from its start. Like `tail`, a file truncated and
//!   refilled past the old size between two checks is not noticed.
//! - A path that does not exist yet is waited for. When it disappears, its handle is kept for a
//!   grace period (a writer may still append to a renamed file), then closed; if the path comes
//!   back, it is a new file ("rotated").
//! - A glob is matched again at every check: files that appear later are read from their start.
//!   A new match that is a file already being read under another name (`audit.log` renamed to
//!   `audit.log.1` by rotation) is skipped, its text having been read under the old name. A
//!   compressed copy (`audit.log.1.gz`) cannot be recognised, so a followed glob should match
//!   the live files only (`*.log`, not `*.log*`).
//! - Documents (JSON arrays, `EventList`s, pretty-printed JSON), gzip files and pipes cannot be
//!   followed: each is read once, as it is when first seen.
//! - Stdin is read as it comes, alongside the files, once they have been caught up with.
//! - Changes are noticed through `notify` watching the parent directories (non-recursive), and
//!   by checking every `poll_interval` anyway: notifications are missing on some filesystems
//!   (NFS, FUSE, some container mounts) and for directories that could not be watched (yet).
//!
//! The run ends on shutdown, or when nothing is left that could grow (no glob, no file that is
//! still followed or awaited, and stdin, if any, has ended).

use std::collections::HashSet;
use std::fs::{File, Metadata};
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::time::Instant;

use super::framer::{Flush, Format, Framer};
use super::inputs::{self, origin_of, Pattern, Target};
use super::read::{self, identity, Block, Identity};
use super::{Emitter, FileSourceConfig, Halt, SourceError, Stream};

/// Blocks read from one input before the others get their turn.
const PASS_LIMIT: usize = 16;

/// For how many passes a rotated-away file is remembered, so that a glob does not pick it up
/// again under its new name.
const RETIRED_PASSES: u64 = 3;

pub(super) async fn follow(out: &mut Emitter, config: &FileSourceConfig) -> Result<(), Halt> {
    let mut f = Follower::new(out, config).await?;
    // Catch up in the given order, each file to its end.
    for i in 0..f.tails.len() {
        f.poll(out, i, None).await?;
    }
    loop {
        f.pass += 1;
        f.rescan(out).await?;
        let mut more = false;
        for i in 0..f.tails.len() {
            more |= f.poll(out, i, Some(PASS_LIMIT)).await?;
        }
        more |= f.poll_stdin(out).await?;
        if f.finished() {
            return Ok(());
        }
        if !more {
            f.wait(out).await?;
        }
    }
}

struct Follower {
    config: FileSourceConfig,
    /// How long a vanished path's handle is kept.
    grace: Duration,
    patterns: Arc<Vec<Pattern>>,
    tails: Vec<Tail>,
    /// Every path that has a tail.
    tracked: HashSet<PathBuf>,
    stdin: Option<Stream>,
    /// Files closed after a rotation, with the pass they were closed in.
    retired: Vec<(Identity, u64)>,
    pass: u64,
    watch: Watch,
}

/// One followed path.
struct Tail {
    path: Arc<Path>,
    origin: Arc<str>,
    state: State,
    /// Whether a file was opened under this path before (a new one is a rotation).
    opened_before: bool,
}

enum State {
    /// Nothing (readable) at the path yet.
    Waiting,
    Open(Box<Open>),
    /// Read once and not followed: a document, gzip, a pipe, or a rotated file's new name.
    Done,
}

struct Open {
    file: Arc<File>,
    id: Option<Identity>,
    /// Bytes read from the file.
    offset: u64,
    framer: Framer,
    /// Since when the path has been missing.
    missing_since: Option<Instant>,
}

/// What reading an open file came to.
enum Next {
    /// At the end, waiting for more.
    Idle,
    /// Stopped at the pass limit with more to read.
    More,
    /// Read once, not to be followed (a document).
    Finished,
    /// The path names a new file; the old one was read to its end.
    Rotated,
    /// The path has been missing for the grace period; the handle was read to its end.
    Vanished,
}

impl Follower {
    async fn new(out: &mut Emitter, config: &FileSourceConfig) -> Result<Follower, Halt> {
        let targets = config
            .specs
            .iter()
            .map(inputs::target)
            .collect::<Result<Vec<_>, SourceError>>()?;
        // Listing directories is blocking I/O: off the runtime.
        let resolved = out
            .off(move || {
                targets
                    .into_iter()
                    .map(|target| {
                        let (found, is_dir) = match &target {
                            Target::Pattern(pattern) => (pattern.matches(), false),
                            Target::Path(path) => (Vec::new(), path.is_dir()),
                            Target::Stdin => (Vec::new(), false),
                        };
                        (target, found, is_dir)
                    })
                    .collect::<Vec<_>>()
            })
            .await?;
        let mut f = Follower {
            config: config.clone(),
            grace: (config.poll_interval * 5).max(Duration::from_secs(1)),
            patterns: Arc::new(Vec::new()),
            tails: Vec::new(),
            tracked: HashSet::new(),
            stdin: None,
            retired: Vec::new(),
            pass: 0,
            watch: Watch::new(),
        };
        let mut patterns = Vec::new();
        for (target, found, is_dir) in resolved {
            match target {
                Target::Stdin if f.stdin.is_none() => {
                    f.stdin = Some(Stream::stdin(config)?);
                    out.report.files += 1;
                }
                Target::Stdin => {}
                Target::Path(path) if is_dir => {
                    let path = path.to_string_lossy().into_owned();
                    return Err(SourceError::Read {
                        path,
                        error: read::is_a_directory(),
                    }
                    .into());
                }
                Target::Path(path) => f.track(path),
                Target::Pattern(pattern) => {
                    f.watch.want(pattern.base());
                    for path in found {
                        f.track(path);
                    }
                    patterns.push(pattern);
                }
            }
        }
        f.patterns = Arc::new(patterns);
        Ok(f)
    }

    fn track(&mut self, path: PathBuf) {
        if self.tracked.insert(path.clone()) {
            self.watch.want(parent_dir(&path));
            self.tails.push(Tail {
                origin: origin_of(&path),
                path: path.into(),
                state: State::Waiting,
                opened_before: false,
            });
        }
    }

    /// Picks up the files that globs match now.
    async fn rescan(&mut self, out: &mut Emitter) -> Result<(), Halt> {
        let pass = self.pass;
        self.retired
            .retain(|&(_, retired)| retired + RETIRED_PASSES >= pass);
        if self.patterns.is_empty() {
            return Ok(());
        }
        let patterns = Arc::clone(&self.patterns);
        let found = out
            .off(move || {
                patterns
                    .iter()
                    .flat_map(Pattern::matches)
                    .collect::<Vec<_>>()
            })
            .await?;
        for path in found {
            self.track(path);
        }
        Ok(())
    }

    fn finished(&self) -> bool {
        self.stdin.is_none()
            && self.patterns.is_empty()
            && self.tails.iter().all(|t| matches!(t.state, State::Done))
    }

    /// Whether `id` is a file already read under another path.
    fn is_known(&self, id: Identity, except: usize) -> bool {
        self.retired.iter().any(|&(retired, _)| retired == id)
            || self.tails.iter().enumerate().any(|(i, tail)| {
                i != except && matches!(&tail.state, State::Open(open) if open.id == Some(id))
            })
    }

    /// Reads what tail `i` has, up to `limit` blocks; returns whether it has more right now.
    async fn poll(
        &mut self,
        out: &mut Emitter,
        i: usize,
        limit: Option<usize>,
    ) -> Result<bool, Halt> {
        loop {
            let grace = self.grace;
            let tail = &mut self.tails[i];
            let open = match &mut tail.state {
                State::Done => return Ok(false),
                State::Waiting => {
                    if self.open(out, i).await? {
                        continue;
                    }
                    return Ok(false);
                }
                State::Open(open) => open,
            };
            let id = open.id;
            match read_open(out, &tail.path, open, limit, grace).await? {
                Next::Idle => return Ok(false),
                Next::More => return Ok(true),
                Next::Finished => {
                    tail.state = State::Done;
                    return Ok(false);
                }
                Next::Vanished => {
                    tail.state = State::Waiting;
                    self.retire(id);
                    return Ok(false);
                }
                Next::Rotated => {
                    tail.state = State::Waiting;
                    self.retire(id);
                    // Open the new file now.
                }
            }
        }
    }

    fn retire(&mut self, id: Option<Identity>) {
        if let Some(id) = id {
            self.retired.push((id, self.pass));
        }
    }

    /// Opens what tail `i`'s path names now; returns whether it is to be read as a followed file.
    async fn open(&mut self, out: &mut Emitter, i: usize) -> Result<bool, Halt> {
        let path = Arc::clone(&self.tails[i].path);
        let (file, meta, gzip) = match out.off(move || open_to_follow(&path)).await? {
            Ok(opened) => opened,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(SourceError::read(&self.tails[i].origin, e).into()),
        };
        let id = identity(&meta);
        if id.is_some_and(|id| self.is_known(id, i)) {
            self.tails[i].state = State::Done;
            return Ok(false);
        }
        let tail = &mut self.tails[i];
        if std::mem::replace(&mut tail.opened_before, true) {
            out.restarted(&tail.origin, "rotated").await?;
        }
        out.report.files += 1;
        if gzip || !meta.is_file() {
            let origin = Arc::clone(&tail.origin);
            let mut stream =
                Stream::spawn(origin, &self.config, move || read::decoded(file, gzip))?;
            tail.state = State::Done;
            out.drain(&mut stream).await?;
            return Ok(false);
        }
        let framer = Framer::new(
            Arc::clone(&tail.origin),
            self.config.chunk_size,
            self.config.max_line,
        );
        tail.state = State::Open(Box::new(Open {
            file: Arc::new(file),
            id,
            offset: 0,
            framer,
            missing_since: None,
        }));
        Ok(true)
    }

    /// Reads what stdin has ready, up to the pass limit; returns whether it has more.
    async fn poll_stdin(&mut self, out: &mut Emitter) -> Result<bool, Halt> {
        let Some(stream) = self.stdin.as_mut() else {
            return Ok(false);
        };
        let mut ended = false;
        let mut more = true;
        for _ in 0..PASS_LIMIT {
            let block = match stream.rx.try_recv() {
                Ok(block) => Some(block),
                Err(TryRecvError::Empty) => {
                    more = false;
                    break;
                }
                Err(TryRecvError::Disconnected) => None,
            };
            if out.feed(stream, block).await? {
                ended = true;
                more = false;
                break;
            }
        }
        if ended {
            self.stdin = None;
        }
        Ok(more)
    }

    /// Waits for a change: a notification, stdin, or the next poll.
    async fn wait(&mut self, out: &mut Emitter) -> Result<(), Halt> {
        enum Woke {
            Stdin(Option<Block>),
            Notified,
            Tick,
        }
        let woke = tokio::select! {
            biased;
            _ = out.shutdown.requested() => return Err(Halt::Shutdown),
            block = next_block(self.stdin.as_mut()) => Woke::Stdin(block),
            _ = self.watch.wake.recv() => Woke::Notified,
            _ = tokio::time::sleep(self.config.poll_interval) => Woke::Tick,
        };
        match woke {
            Woke::Stdin(block) => {
                if let Some(stream) = self.stdin.as_mut() {
                    if out.feed(stream, block).await? {
                        self.stdin = None;
                    }
                }
            }
            Woke::Notified => {}
            Woke::Tick => self.watch.retry(),
        }
        Ok(())
    }
}

async fn next_block(stream: Option<&mut Stream>) -> Option<Block> {
    match stream {
        Some(stream) => stream.rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Reads an open file to its current end (or `limit` blocks), then checks the path for rotation
/// and truncation.
async fn read_open(
    out: &mut Emitter,
    path: &Arc<Path>,
    open: &mut Open,
    limit: Option<usize>,
    grace: Duration,
) -> Result<Next, Halt> {
    let mut blocks = 0;
    let mut rotated = false;
    loop {
        loop {
            // A rotated file is read to its end whatever the limit: it is about to be closed.
            if !rotated && limit.is_some_and(|limit| blocks >= limit) {
                return Ok(Next::More);
            }
            let file = Arc::clone(&open.file);
            let mut buf = open.framer.take_buffer();
            let want = open.framer.want();
            let (buf, read) = out
                .off(move || {
                    let read = read::read_append(&file, &mut buf, want);
                    (buf, read)
                })
                .await?;
            open.framer.put_buffer(buf);
            let n = read.map_err(|e| SourceError::read(open.framer.origin(), e))?;
            if n == 0 {
                break;
            }
            open.offset += n as u64;
            blocks += 1;
            out.send_from(&mut open.framer, Flush::Full).await?;
        }
        if rotated {
            out.send_from(&mut open.framer, Flush::All).await?;
            return Ok(Next::Rotated);
        }
        open.framer.detect(false);
        if open.framer.format() == Format::Document {
            // A document cannot be followed: send it as it is now, once.
            out.send_from(&mut open.framer, Flush::All).await?;
            return Ok(Next::Finished);
        }
        out.send_from(&mut open.framer, Flush::Lines).await?;

        let (at_path, ours) = {
            let path = Arc::clone(path);
            let file = Arc::clone(&open.file);
            out.off(move || (std::fs::metadata(&path), file.metadata()))
                .await?
        };
        let at_path = match at_path {
            Ok(meta) => meta,
            // Removed or renamed, with nothing new in its place yet (or unreadable for now).
            Err(_) => {
                let since = *open.missing_since.get_or_insert_with(Instant::now);
                if since.elapsed() < grace {
                    return Ok(Next::Idle);
                }
                out.send_from(&mut open.framer, Flush::All).await?;
                return Ok(Next::Vanished);
            }
        };
        open.missing_since = None;
        if identity(&at_path) != open.id {
            // Read the old file to its end: the writer may have added to it since.
            rotated = true;
            continue;
        }
        let len = ours
            .map_err(|e| SourceError::read(open.framer.origin(), e))?
            .len();
        if len >= open.offset {
            return Ok(Next::Idle);
        }
        // Truncated: what is held of the old text goes out first, then read again from 0.
        out.send_from(&mut open.framer, Flush::All).await?;
        let origin = Arc::clone(open.framer.origin());
        out.restarted(&origin, "truncated").await?;
        let file = Arc::clone(&open.file);
        out.off(move || (&*file).seek(SeekFrom::Start(0)))
            .await?
            .map_err(|e| SourceError::read(&origin, e))?;
        open.offset = 0;
        open.framer.reset();
    }
}

/// Opens a file to follow: the file, its metadata and whether it is gzip.
fn open_to_follow(path: &Path) -> io::Result<(File, Metadata, bool)> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(read::is_a_directory());
    }
    let gzip =
        read::has_gz_suffix(path) || (meta.is_file() && read::starts_with_gzip_magic(&file)?);
    Ok((file, meta, gzip))
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Change notifications for the directories of the followed paths.
struct Watch {
    watcher: Option<RecommendedWatcher>,
    wanted: HashSet<PathBuf>,
    watched: HashSet<PathBuf>,
    /// Holds at most one wake-up: many events between two checks make one check.
    wake: mpsc::Receiver<()>,
    /// Keeps `wake` open (pending rather than closed) when there is no watcher.
    _wake_tx: mpsc::Sender<()>,
}

impl Watch {
    fn new() -> Watch {
        let (tx, wake) = mpsc::channel(1);
        let notify_tx = tx.clone();
        // Without a watcher (no inotify, too many instances), polling alone keeps things going.
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Our own opens and reads are access events: waking on them would only loop.
            let relevant = match &event {
                Ok(event) => match event.kind {
                    EventKind::Access(kind) => kind == AccessKind::Close(AccessMode::Write),
                    _ => true,
                },
                Err(_) => true,
            };
            if relevant {
                let _ = notify_tx.try_send(());
            }
        })
        .ok();
        Watch {
            watcher,
            wanted: HashSet::new(),
            watched: HashSet::new(),
            wake,
            _wake_tx: tx,
        }
    }

    fn want(&mut self, dir: PathBuf) {
        if self.wanted.insert(dir.clone()) {
            self.try_watch(dir);
        }
    }

    /// Tries again the directories that could not be watched (not there yet, say).
    fn retry(&mut self) {
        let missing: Vec<PathBuf> = self.wanted.difference(&self.watched).cloned().collect();
        for dir in missing {
            self.try_watch(dir);
        }
    }

    fn try_watch(&mut self, dir: PathBuf) {
        if let Some(watcher) = &mut self.watcher {
            if watcher.watch(&dir, RecursiveMode::NonRecursive).is_ok() {
                self.watched.insert(dir);
            }
        }
    }
}
