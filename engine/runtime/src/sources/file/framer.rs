//! Framing a byte stream into [`Chunk`]s: whole-line chunks for JSON lines, one whole text for a
//! document (a JSON array, an `EventList`, pretty-printed JSON).

use std::sync::Arc;

use serde::de::IgnoredAny;

use k8scop_engine::chunk::{buffers, Chunk};

/// What kind of text an input holds, decided from its first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// Not enough text yet to tell.
    Unknown,
    /// JSON lines, sent in whole-line chunks.
    Lines,
    /// A document, sent whole once the input has ended.
    Document,
}

/// How much of what is buffered [`Framer::next_chunk`] may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flush {
    /// Only a full chunk: about `chunk_size` bytes, cut after the last newline.
    Full,
    /// Every complete line: no more bytes are available for now.
    Lines,
    /// Everything, an unterminated last line too: the input has ended.
    All,
}

/// The smallest read worth a trip to the blocking pool.
const MIN_READ: usize = 64 * 1024;

/// Buffers the bytes of one input and cuts them into chunks of whole lines, counting lines.
///
/// INVARIANT: `buf` never holds a complete line once `next_chunk(Flush::Lines)` has returned
/// `None` (in [`Format::Lines`]), so memory is bounded by `chunk_size` plus the longest line,
/// and a line longer than `max_line` is sent in pieces rather than held.
#[derive(Debug)]
pub(super) struct Framer {
    origin: Arc<str>,
    chunk_size: usize,
    max_line: usize,
    buf: Vec<u8>,
    /// The 1-based number of the line that `buf` starts in.
    line: u64,
    format: Format,
}

impl Framer {
    pub(super) fn new(origin: Arc<str>, chunk_size: usize, max_line: usize) -> Framer {
        let chunk_size = chunk_size.max(1);
        Framer {
            origin,
            chunk_size,
            max_line: max_line.max(chunk_size),
            buf: Vec::new(),
            line: 1,
            format: Format::Unknown,
        }
    }

    pub(super) fn origin(&self) -> &Arc<str> {
        &self.origin
    }

    pub(super) fn format(&self) -> Format {
        self.format
    }

    /// The buffer, for a read on the blocking pool to append to; give it back with
    /// [`Framer::put_buffer`].
    pub(super) fn take_buffer(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    pub(super) fn put_buffer(&mut self, buf: Vec<u8>) {
        self.buf = buf;
    }

    pub(super) fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// How many bytes the next read should ask for.
    pub(super) fn want(&self) -> usize {
        self.chunk_size
            .saturating_sub(self.buf.len())
            .max(MIN_READ.min(self.chunk_size))
    }

    /// Forgets everything: the input starts again from its first byte.
    pub(super) fn reset(&mut self) {
        self.buf.clear();
        self.line = 1;
        self.format = Format::Unknown;
    }

    /// Decides the format once the first line is complete (or the input has ended).
    pub(super) fn detect(&mut self, ended: bool) {
        if self.format != Format::Unknown {
            return;
        }
        let Some(start) = self.buf.iter().position(|b| !b.is_ascii_whitespace()) else {
            if ended {
                self.format = Format::Lines;
            }
            return;
        };
        if self.buf[start] == b'[' {
            self.format = Format::Document;
            return;
        }
        let rest = &self.buf[start..];
        let first_line = match memchr::memchr(b'\n', rest) {
            Some(end) => &rest[..end],
            None if ended => rest,
            None if rest.len() >= self.max_line => {
                self.format = Format::Lines;
                return;
            }
            None => return,
        };
        self.format = classify(first_line);
    }

    /// The next chunk that `flush` allows, if any.
    pub(super) fn next_chunk(&mut self, flush: Flush) -> Option<Chunk> {
        self.detect(flush == Flush::All);
        match self.format {
            Format::Unknown => None,
            Format::Document if flush == Flush::All && !self.buf.is_empty() => {
                let text = into_string(std::mem::take(&mut self.buf));
                Some(Chunk::Whole {
                    origin: Arc::clone(&self.origin),
                    text,
                })
            }
            Format::Document => None,
            Format::Lines => self.next_lines(flush),
        }
    }

    fn next_lines(&mut self, flush: Flush) -> Option<Chunk> {
        if self.buf.is_empty() || (flush == Flush::Full && self.buf.len() < self.chunk_size) {
            return None;
        }
        let cut = match flush {
            Flush::All => self.buf.len(),
            Flush::Full | Flush::Lines => match memchr::memrchr(b'\n', &self.buf) {
                Some(newline) => newline + 1,
                // A line this long is sent in pieces; the decoder reports it as malformed.
                None if self.buf.len() >= self.max_line => self.buf.len(),
                None => return None,
            },
        };
        // Room for the partial line left over and a whole block read after it (reads ask for
        // up to a chunk), so that the buffer is not grown (reallocated into fresh memory) for
        // every chunk.
        let mut rest = buffers::take(2 * self.chunk_size + (self.buf.len() - cut));
        rest.extend_from_slice(&self.buf[cut..]);
        let mut text = std::mem::replace(&mut self.buf, rest);
        text.truncate(cut);
        let first_line = self.line;
        self.line += memchr::memchr_iter(b'\n', &text).count() as u64;
        Some(Chunk::Lines {
            origin: Arc::clone(&self.origin),
            first_line,
            text: into_string(text),
        })
    }
}

/// JSON lines unless the first line is the start of a document: `{` alone, or JSON that ends
/// before the line does. A first line that is simply not JSON stays JSON lines, so that the
/// decoder reports it and the rest of the file is still streamed.
fn classify(first_line: &[u8]) -> Format {
    let line = first_line.trim_ascii();
    if line == b"{" {
        return Format::Document;
    }
    match serde_json::from_slice::<IgnoredAny>(line) {
        Err(e) if e.is_eof() => Format::Document,
        _ => Format::Lines,
    }
}

/// Text as read; bytes that are not UTF-8 become U+FFFD and the decoder reports the line.
fn into_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framer(chunk_size: usize) -> Framer {
        Framer::new("t.log".into(), chunk_size, 1 << 20)
    }

    fn drain(f: &mut Framer, flush: Flush) -> Vec<Chunk> {
        std::iter::from_fn(|| f.next_chunk(flush)).collect()
    }

    fn lines(origin: &str, first_line: u64, text: &str) -> Chunk {
        Chunk::Lines {
            origin: origin.into(),
            first_line,
            text: text.into(),
        }
    }

    #[test]
    fn line_numbers_carry_across_chunks_and_partial_lines_wait() {
        let mut f = framer(16);
        f.extend(b"{\"a\":1}\n{\"a\":2}\n{\"a\"");
        assert_eq!(
            drain(&mut f, Flush::Full),
            vec![lines("t.log", 1, "{\"a\":1}\n{\"a\":2}\n")]
        );
        f.extend(b":3}\n{\"a\":4}\n{\"a");
        assert_eq!(
            drain(&mut f, Flush::Lines),
            vec![lines("t.log", 3, "{\"a\":3}\n{\"a\":4}\n")]
        );
        assert_eq!(drain(&mut f, Flush::Lines), vec![]);
        f.extend(b"\":5}");
        assert_eq!(
            drain(&mut f, Flush::All),
            vec![lines("t.log", 5, "{\"a\":5}")]
        );
    }

    #[test]
    fn documents_are_held_until_the_end() {
        for text in [
            "  [{\"a\":1},\n{\"a\":2}]\n",
            "{\n  \"kind\": \"EventList\"\n}\n",
            "{\"kind\": \"EventList\",\n\"items\": []}",
        ] {
            let mut f = framer(4);
            f.extend(text.as_bytes());
            assert_eq!(drain(&mut f, Flush::Lines), vec![], "{text}");
            assert_eq!(f.format(), Format::Document, "{text}");
            assert_eq!(
                drain(&mut f, Flush::All),
                vec![Chunk::Whole {
                    origin: "t.log".into(),
                    text: text.into()
                }]
            );
        }
    }

    #[test]
    fn a_first_line_that_is_not_json_keeps_the_file_streamed() {
        let mut f = framer(4);
        f.extend(b"oops\n{\"a\":1}\n");
        assert_eq!(
            drain(&mut f, Flush::Lines),
            vec![lines("t.log", 1, "oops\n{\"a\":1}\n")]
        );
        assert_eq!(f.format(), Format::Lines);
    }

    #[test]
    fn the_format_waits_for_the_first_newline_unless_the_input_ended() {
        let mut f = framer(4);
        f.extend(b"\n\n{\"a\":");
        assert_eq!(drain(&mut f, Flush::Lines), vec![]);
        assert_eq!(f.format(), Format::Unknown);
        f.extend(b"1}\n");
        assert_eq!(
            drain(&mut f, Flush::Lines),
            vec![lines("t.log", 1, "\n\n{\"a\":1}\n")]
        );
    }

    #[test]
    fn an_overlong_line_is_sent_in_pieces_with_its_line_number() {
        let mut f = Framer::new("t.log".into(), 4, 8);
        f.extend(b"{}\n0123456789");
        assert_eq!(
            drain(&mut f, Flush::Lines),
            vec![lines("t.log", 1, "{}\n"), lines("t.log", 2, "0123456789")]
        );
        f.extend(b"ab\n");
        assert_eq!(drain(&mut f, Flush::Lines), vec![lines("t.log", 2, "ab\n")]);
    }

    #[test]
    fn reset_starts_again_at_line_one() {
        let mut f = framer(4);
        f.extend(b"{}\n{}\n");
        drain(&mut f, Flush::Lines);
        f.reset();
        f.extend(b"{}\n");
        assert_eq!(drain(&mut f, Flush::Lines), vec![lines("t.log", 1, "{}\n")]);
    }
}
