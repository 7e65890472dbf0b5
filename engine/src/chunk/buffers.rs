//! A small free list of byte buffers, shared by the file source (which reads and frames input
//! into them) and the decoders (which give a chunk's buffer back once it is decoded).
//!
//! Without it every block read and every chunk framed was a fresh allocation of a few hundred
//! KiB, freed on another thread after decoding; the allocator handed out new memory each time
//! and the kernel zeroed it page by page, which showed as several percent of a run in profiles.
//! Reused buffers stay in the caches and cost nothing to hand out.

use std::sync::Mutex;

/// Buffers kept at most: the read-ahead blocks, the chunks in the channels and those being
/// decoded, with room to spare.
const KEEP: usize = 16;

/// Larger buffers (an oversized line) are freed rather than kept.
const MAX_KEPT_CAPACITY: usize = 4 << 20;

static FREE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// An empty buffer with room for at least `capacity` bytes: a kept one large enough if there is
/// one, else a new one (growing a smaller one would copy its old contents for nothing, as the
/// allocator does not know they are garbage; it stays for a smaller request).
pub fn take(capacity: usize) -> Vec<u8> {
    match kept(capacity) {
        Some(mut buf) => {
            buf.clear();
            buf
        }
        None => Vec::with_capacity(capacity),
    }
}

/// A buffer of exactly `len` bytes whose contents are unspecified, to read into: a kept buffer's
/// old bytes are left in place rather than zeroed, so a read of a whole block costs no pass over
/// the memory before it (only a kept buffer shorter than `len` is zero-extended).
pub fn take_filled(len: usize) -> Vec<u8> {
    match kept(len) {
        Some(mut buf) => {
            buf.truncate(len);
            buf.resize(len, 0);
            buf
        }
        None => vec![0; len],
    }
}

/// A kept buffer with room for `capacity` bytes, if there is one.
fn kept(capacity: usize) -> Option<Vec<u8>> {
    let mut free = FREE.lock().ok()?;
    let fits = free.iter().position(|buf| buf.capacity() >= capacity)?;
    Some(free.swap_remove(fits))
}

/// Gives a buffer back for reuse.
pub fn give(buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > MAX_KEPT_CAPACITY {
        return;
    }
    if let Ok(mut free) = FREE.lock() {
        if free.len() < KEEP {
            free.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_empty_with_room() {
        let mut buf = take(1024);
        assert!(buf.is_empty() && buf.capacity() >= 1024);
        buf.extend_from_slice(b"some text");
        give(buf);
        let again = take(2048);
        assert!(again.is_empty() && again.capacity() >= 2048);
        // A kept buffer too small for a request stays for a smaller one.
        give(Vec::with_capacity(4096));
        let larger = take(1 << 20);
        assert!(larger.capacity() >= 1 << 20);
        // A buffer to read into has the length asked, whatever it held before.
        give(b"old contents".to_vec());
        for len in [0, 5, 12, 100] {
            assert_eq!(take_filled(len).len(), len);
        }
        // Oversized buffers are not kept.
        give(Vec::with_capacity(MAX_KEPT_CAPACITY + 1));
    }
}
