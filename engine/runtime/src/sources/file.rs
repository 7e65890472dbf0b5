//! The file source: files, globs and stdin, read once (static) or followed like `tail -F`.
//!
//! [`run`] reads [`FileSourceConfig::specs`] in order and sends their text as [`Chunk`]s:
//!
//! - JSON lines go out as [`Chunk::Lines`] of whole lines, about [`FileSourceConfig::chunk_size`]
//!   bytes each, numbered from the input's first line. A partial last line waits for its newline;
//!   when a static input ends without one, it is sent as it is.
//! - A document (first non-blank byte `[`, or a first line that is `{` alone or JSON that goes on
//!   past the line) is read whole and sent as one [`Chunk::Whole`].
//! - gzip (a `.gz` name or gzip's magic bytes) is decompressed, `cat a.gz b.gz` style members too.
//! - `-` is standard input, [`expand`] turns globs into sorted lists of files.
//!
//! With [`FileSourceConfig::follow`], the files are read to their end in order, then followed
//! together like `tail -F`:
//!
//! - appended lines are sent as they arrive (a partial line waits for its newline);
//! - rotation (the path names another file, by device and inode: rename and create) reads the
//!   old file to its end, sends [`Chunk::Restarted`] with reason `rotated`, then reads the new
//!   file from its start; truncation (copytruncate) sends `truncated` and reads again from 0;
//! - a path that does not exist yet is waited for, and a glob also picks up files that appear
//!   later (read from their start); a match that is a file already read under another name (a
//!   rotated `audit.log.1`) is skipped, but a compressed copy is not recognised, so a followed
//!   glob should match the live files only (`*.log`, not `*.log*`);
//! - documents, gzip files and pipes cannot be followed: each is read once, as it is when first
//!   seen, as in a static run; stdin is read as it comes;
//! - changes are noticed through `notify` on the parent directories, and by polling every
//!   [`FileSourceConfig::poll_interval`] anyway, for filesystems without notifications.
//!
//! All blocking I/O (reads, gzip, stats) happens on reader threads or the blocking pool; every
//! wait selects on the [`Shutdown`] first, and the channel is bounded: a slow pipeline slows the
//! reads, nothing is dropped. Memory is bounded by a few chunks per input plus the longest line,
//! except for documents, which are held whole.

mod follow;
mod framer;
mod inputs;
mod read;
#[cfg(test)]
mod tests;

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

pub use inputs::{expand, Input};

use crate::pipeline::SourceSpec;
use crate::shutdown::Shutdown;
use framer::{Flush, Framer};
use k8scop_engine::chunk::{buffers, Chunk};
use read::Block;

/// What to read and how.
#[derive(Debug, Clone)]
pub struct FileSourceConfig {
    /// The inputs in the order they are read: paths, globs (expanded in sorted order) and stdin.
    pub specs: Vec<SourceSpec>,
    /// Follow the files like `tail -F` once their end is reached, until shutdown.
    pub follow: bool,
    /// How often followed files are checked when change notifications are missing or late.
    pub poll_interval: Duration,
    /// About how many bytes of lines a chunk carries.
    pub chunk_size: usize,
    /// A line longer than this is sent in pieces (which the decoder reports as malformed)
    /// rather than held in memory whole.
    pub max_line: usize,
}

impl FileSourceConfig {
    /// 256 KiB: large enough that decoding a chunk outweighs handing it over, small enough
    /// that several chunks decode at once.
    pub const DEFAULT_CHUNK_SIZE: usize = 256 * 1024;
    /// 64 MiB: far above any real audit event, low enough to bound memory on a runaway line.
    pub const DEFAULT_MAX_LINE: usize = 64 * 1024 * 1024;
    /// One second, as `--fetch-delay`'s default.
    pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

    /// `specs` with the default chunk size, line limit and poll interval.
    pub fn new(specs: Vec<SourceSpec>, follow: bool) -> FileSourceConfig {
        FileSourceConfig {
            specs,
            follow,
            poll_interval: Self::DEFAULT_POLL_INTERVAL,
            chunk_size: Self::DEFAULT_CHUNK_SIZE,
            max_line: Self::DEFAULT_MAX_LINE,
        }
    }
}

/// What a finished (or stopped) read did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileSourceReport {
    /// Files opened (stdin included; a rotated file's successor counts again).
    pub files: usize,
    /// Bytes of text sent, after decompression.
    pub bytes: u64,
    /// [`Chunk::Restarted`]s sent: rotations and truncations.
    pub restarts: u64,
}

/// Why the source could not read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A file (or stdin) cannot be opened or read.
    #[error("cannot read `{path}`: {}", os_message(.error))]
    Read {
        /// The file as given or matched, `<stdin>` for standard input.
        path: String,
        /// The operating system's error.
        #[source]
        error: io::Error,
    },
    /// A glob that matches no file: most likely a typo in the pattern.
    #[error("no file matches `{pattern}`")]
    NoMatch {
        /// The pattern as given.
        pattern: String,
    },
    /// A `--source` pattern that is not a valid glob.
    #[error("invalid glob pattern `{pattern}`: {reason}")]
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl SourceError {
    fn read(origin: &str, error: io::Error) -> SourceError {
        SourceError::Read {
            path: origin.to_owned(),
            error,
        }
    }
}

/// The OS's message without its " (os error 2)" suffix.
fn os_message(error: &io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_owned(),
        _ => text,
    }
}

/// Reads every input in order and sends its text as [`Chunk`]s on `tx` (bounded: a full channel
/// waits, nothing is dropped).
///
/// Static (`follow` unset): reads each input to its end, then returns. Follow: reads the files to
/// their end, then follows them like `tail -F` until `shutdown` is requested (or until nothing is
/// left that could grow: only stdin, which has ended, or documents and gzip files).
///
/// On shutdown, or when the receiver is gone, it stops at once and returns what it did.
pub async fn run(
    config: FileSourceConfig,
    tx: mpsc::Sender<Chunk>,
    shutdown: Shutdown,
) -> Result<FileSourceReport, SourceError> {
    let mut out = Emitter {
        tx,
        shutdown,
        report: FileSourceReport::default(),
    };
    let result = if config.follow {
        follow::follow(&mut out, &config).await
    } else {
        read_all(&mut out, &config).await
    };
    match result {
        Ok(()) | Err(Halt::Shutdown | Halt::Closed) => Ok(out.report),
        Err(Halt::Failed(e)) => Err(e),
    }
}

/// The total size of the inputs when it is known before reading: plain, uncompressed regular
/// files only (not stdin, not gzip, whose text is larger than the file), for a progress bar.
pub fn total_size(specs: &[SourceSpec]) -> Option<u64> {
    let mut total = 0;
    for input in expand(specs).ok()? {
        let Input::File(path) = input else {
            return None;
        };
        let meta = std::fs::metadata(&path).ok()?;
        if !meta.is_file() || read::has_gz_suffix(&path) {
            return None;
        }
        let file = std::fs::File::open(&path).ok()?;
        if read::starts_with_gzip_magic(&file).ok()? {
            return None;
        }
        total += meta.len();
    }
    Some(total)
}

async fn read_all(out: &mut Emitter, config: &FileSourceConfig) -> Result<(), Halt> {
    let specs = config.specs.clone();
    for input in out.off(move || expand(&specs)).await?? {
        let origin = input.origin();
        let mut stream = match input {
            Input::Stdin => Stream::stdin(config)?,
            Input::File(path) => Stream::open(path.into(), origin, config)?,
        };
        out.report.files += 1;
        out.drain(&mut stream).await?;
    }
    Ok(())
}

/// Why reading stopped early.
#[derive(Debug)]
enum Halt {
    Shutdown,
    /// The receiver is gone: nobody wants more.
    Closed,
    Failed(SourceError),
}

impl From<SourceError> for Halt {
    fn from(e: SourceError) -> Halt {
        Halt::Failed(e)
    }
}

/// The sending end, and what has been sent.
struct Emitter {
    tx: mpsc::Sender<Chunk>,
    shutdown: Shutdown,
    report: FileSourceReport,
}

impl Emitter {
    /// Waits for `f`, unless a shutdown comes first.
    async fn until<F: std::future::Future>(&mut self, f: F) -> Result<F::Output, Halt> {
        tokio::select! {
            biased;
            _ = self.shutdown.requested() => Err(Halt::Shutdown),
            output = f => Ok(output),
        }
    }

    /// Runs `f` on the blocking pool (short, bounded work: a read from a regular file, a stat, a
    /// directory listing), unless a shutdown comes first.
    async fn off<T: Send + 'static>(
        &mut self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Halt> {
        match self.until(tokio::task::spawn_blocking(f)).await? {
            Ok(output) => Ok(output),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: the runtime is shutting down.
            Err(_) => Err(Halt::Shutdown),
        }
    }

    async fn send(&mut self, chunk: Chunk) -> Result<(), Halt> {
        let bytes = chunk.len() as u64;
        tokio::select! {
            biased;
            _ = self.shutdown.requested() => return Err(Halt::Shutdown),
            sent = self.tx.send(chunk) => sent.map_err(|_| Halt::Closed)?,
        }
        self.report.bytes += bytes;
        Ok(())
    }

    /// Sends every chunk `flush` allows.
    async fn send_from(&mut self, framer: &mut Framer, flush: Flush) -> Result<(), Halt> {
        while let Some(chunk) = framer.next_chunk(flush) {
            self.send(chunk).await?;
        }
        Ok(())
    }

    async fn restarted(&mut self, origin: &Arc<str>, reason: &str) -> Result<(), Halt> {
        let chunk = Chunk::Restarted {
            origin: Arc::clone(origin),
            reason: reason.to_owned(),
        };
        self.send(chunk).await?;
        self.report.restarts += 1;
        Ok(())
    }

    /// Reads `stream` to its end.
    async fn drain(&mut self, stream: &mut Stream) -> Result<(), Halt> {
        loop {
            let block = self.until(stream.rx.recv()).await?;
            if self.feed(stream, block).await? {
                return Ok(());
            }
        }
    }

    /// Handles what `stream`'s reader sent; returns whether the stream has ended.
    async fn feed(&mut self, stream: &mut Stream, block: Option<Block>) -> Result<bool, Halt> {
        match block {
            Some(Ok(bytes)) => {
                stream.framer.extend(&bytes);
                buffers::give(bytes);
                // Nothing more to read right now (a slow pipe): send the complete lines rather
                // than wait for a full chunk.
                let flush = if stream.rx.is_empty() {
                    Flush::Lines
                } else {
                    Flush::Full
                };
                self.send_from(&mut stream.framer, flush).await?;
                Ok(false)
            }
            Some(Err(error)) => Err(SourceError::read(stream.framer.origin(), error).into()),
            None => {
                self.send_from(&mut stream.framer, Flush::All).await?;
                Ok(true)
            }
        }
    }
}

/// An input read to its end by a reader thread: stdin, any input in a static run, and in follow
/// mode the inputs that cannot be followed (gzip, pipes).
struct Stream {
    rx: mpsc::Receiver<Block>,
    framer: Framer,
}

impl Stream {
    fn stdin(config: &FileSourceConfig) -> Result<Stream, SourceError> {
        Stream::spawn(inputs::STDIN_ORIGIN.into(), config, || {
            read::decoded(io::stdin(), false)
        })
    }

    fn open(
        path: Arc<Path>,
        origin: Arc<str>,
        config: &FileSourceConfig,
    ) -> Result<Stream, SourceError> {
        Stream::spawn(origin, config, move || read::open_decoded(&path))
    }

    fn spawn(
        origin: Arc<str>,
        config: &FileSourceConfig,
        open: impl FnOnce() -> io::Result<read::BoxRead> + Send + 'static,
    ) -> Result<Stream, SourceError> {
        let rx = read::spawn_reader(open, config.chunk_size)
            .map_err(|e| SourceError::read(&origin, e))?;
        Ok(Stream {
            rx,
            framer: Framer::new(origin, config.chunk_size, config.max_line),
        })
    }
}
