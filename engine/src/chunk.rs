//! [`Chunk`]: a piece of raw input text as a source read it, the unit the [`crate::decode`]r
//! works on; [`buffers`] recycles the chunks' text buffers between sources and decoders.

use std::sync::Arc;

pub mod buffers;

/// Raw input, in the order it was read.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    /// Complete lines of JSON-lines text (each ending with `\n`, the last one possibly not),
    /// the first of which is line `first_line` (1-based) of `origin`.
    Lines {
        /// The file (`<stdin>` for standard input) or the source's name, for messages.
        origin: Arc<str>,
        /// The number of the chunk's first line in `origin`, from 1.
        first_line: u64,
        /// The lines, newlines included.
        text: String,
    },
    /// A whole document read at once: a JSON array, an `EventList`, pretty-printed JSON.
    Whole {
        /// The file or the source's name, for messages.
        origin: Arc<str>,
        /// The document's text.
        text: String,
    },
    /// `origin` was rotated or truncated and is read again from its start.
    Restarted {
        /// The file.
        origin: Arc<str>,
        /// `rotated` or `truncated`.
        reason: String,
    },
}

impl Chunk {
    /// Where the chunk's text comes from.
    pub fn origin(&self) -> &Arc<str> {
        match self {
            Chunk::Lines { origin, .. }
            | Chunk::Whole { origin, .. }
            | Chunk::Restarted { origin, .. } => origin,
        }
    }

    /// Bytes of input this chunk carries (for progress).
    pub fn len(&self) -> usize {
        match self {
            Chunk::Lines { text, .. } | Chunk::Whole { text, .. } => text.len(),
            Chunk::Restarted { .. } => 0,
        }
    }

    /// Whether the chunk carries no text (a restart notice, or an empty read).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Gives the chunk's text buffer back to [`buffers`] for the source to reuse.
    pub fn recycle(self) {
        match self {
            Chunk::Lines { text, .. } | Chunk::Whole { text, .. } => {
                buffers::give(text.into_bytes())
            }
            Chunk::Restarted { .. } => {}
        }
    }
}
