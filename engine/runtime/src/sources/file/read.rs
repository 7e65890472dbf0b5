//! Blocking reads, kept off the async runtime: reader threads for streams, the blocking pool for
//! followed files.

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use tokio::sync::mpsc;

use k8scop_engine::chunk::buffers;

/// What a reader thread sends: a block of bytes, or the error that ended the read.
pub(super) type Block = io::Result<Vec<u8>>;

/// A reader that is not necessarily a file (stdin, a decompressor).
pub(super) type BoxRead = Box<dyn Read + Send>;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Blocks read ahead by a reader thread.
const READ_AHEAD: usize = 2;

pub(super) fn is_a_directory() -> io::Error {
    io::Error::other("is a directory")
}

pub(super) fn has_gz_suffix(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// Opens `path` and decompresses it when it is gzip (a `.gz` name or gzip's magic bytes).
pub(super) fn open_decoded(path: &Path) -> io::Result<BoxRead> {
    let file = File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(is_a_directory());
    }
    decoded(file, has_gz_suffix(path))
}

/// `reader`, decompressed when `gzip` is set or it starts with gzip's magic bytes.
pub(super) fn decoded(mut reader: impl Read + Send + 'static, gzip: bool) -> io::Result<BoxRead> {
    let mut head = [0; 2];
    let n = read_full(&mut reader, &mut head)?;
    let gzip = gzip || head[..n] == GZIP_MAGIC;
    let reader = io::Cursor::new(head[..n].to_vec()).chain(reader);
    Ok(if gzip {
        // Multi-member: `cat a.gz b.gz` is valid gzip, as `gzip -d` agrees.
        Box::new(MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    })
}

/// Whether the file starts with gzip's magic bytes; leaves the position at the start.
pub(super) fn starts_with_gzip_magic(file: &File) -> io::Result<bool> {
    use std::io::{Seek, SeekFrom};
    let mut head = [0; 2];
    let n = read_full(&mut &*file, &mut head)?;
    (&*file).seek(SeekFrom::Start(0))?;
    Ok(head[..n] == GZIP_MAGIC)
}

fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads what `open` returns to its end on a thread of its own, in blocks of up to `block` bytes,
/// a few blocks ahead of the receiver.
///
/// A thread rather than the blocking pool: a read from stdin or a pipe cannot be cancelled, and
/// the runtime waits for its blocking pool when it shuts down, so a shutdown would hang until
/// the next line arrives. The thread ends when its receiver is dropped (at its next block) or
/// with the process.
pub(super) fn spawn_reader(
    open: impl FnOnce() -> io::Result<BoxRead> + Send + 'static,
    block: usize,
) -> io::Result<mpsc::Receiver<Block>> {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    std::thread::Builder::new()
        .name("k8scop-read".into())
        .spawn(move || {
            let mut reader = match open() {
                Ok(reader) => reader,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            loop {
                let mut buf = buffers::take_filled(block.max(1));
                let block = match reader.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        buf.truncate(n);
                        Ok(buf)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
                let failed = block.is_err();
                if tx.blocking_send(block).is_err() || failed {
                    return;
                }
            }
        })?;
    Ok(rx)
}

/// Appends up to `want` bytes read from `file`'s position to `buf`; returns how many.
pub(super) fn read_append(file: &File, buf: &mut Vec<u8>, want: usize) -> io::Result<usize> {
    let len = buf.len();
    buf.resize(len + want, 0);
    let result = loop {
        match (&*file).read(&mut buf[len..]) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    buf.truncate(len + *result.as_ref().unwrap_or(&0));
    result
}

/// Which file a path names: rotation replaces it with another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Identity {
    dev: u64,
    ino: u64,
}

#[cfg(unix)]
pub(super) fn identity(meta: &Metadata) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    Some(Identity {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

/// Without inodes, rotation by rename goes unnoticed; truncation is still detected.
#[cfg(not(unix))]
pub(super) fn identity(_meta: &Metadata) -> Option<Identity> {
    None
}
