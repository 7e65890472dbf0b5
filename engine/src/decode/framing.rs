//! Whether an input is JSON lines or one document, decided from its first line.
//!
//! `run`'s file source reads JSON lines as they come, in chunks of whole lines, but holds a
//! document (a JSON array, an `EventList`, pretty-printed JSON) until the input ends and decodes
//! it whole. [`Decoder::decode_text`](super::Decoder::decode_text) makes the same choice for text
//! it has whole (a `test` block's events file), so that what a test sees is what `run` sees. The
//! rule lives here, in the pure crate, for both.

use serde::de::IgnoredAny;

/// Whether the complete text of an input is one document rather than JSON lines: its first
/// non-blank byte is `[`, or its first non-blank line [opens a document](first_line_opens_a_document).
/// Blank text is (empty) JSON lines.
pub fn is_document(text: &str) -> bool {
    let bytes = text.as_bytes();
    let Some(start) = bytes.iter().position(|b| !b.is_ascii_whitespace()) else {
        return false;
    };
    if bytes[start] == b'[' {
        return true;
    }
    let rest = &bytes[start..];
    let first_line = memchr::memchr(b'\n', rest).map_or(rest, |end| &rest[..end]);
    first_line_opens_a_document(first_line)
}

/// Whether the first non-blank line of an input opens a document: `{` alone, or JSON that goes
/// on past the line. A first line that is simply not JSON keeps the input JSON lines, so that the
/// decoder reports that line and the rest is still read line by line.
pub fn first_line_opens_a_document(line: &[u8]) -> bool {
    let line = line.trim_ascii();
    line == b"{" || matches!(serde_json::from_slice::<IgnoredAny>(line), Err(e) if e.is_eof())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_and_json_lines() {
        for document in [
            "  [{\"a\":1},\n{\"a\":2}]\n",
            "{\n  \"kind\": \"EventList\"\n}\n",
            "{\"kind\": \"EventList\",\n\"items\": []}",
            "\n\n{\n\"a\": 1}\n{\n\"b\": 2}\n",
            "[",
        ] {
            assert!(is_document(document), "{document:?}");
        }
        for lines in [
            "",
            " \n\t\n",
            "{\"a\":1}\n{\"a\":2}\n",
            "{\"a\":1}",
            // Not JSON: reported line by line, the rest still read.
            "oops\n{\"a\":1}\n",
            "{\"a\": oops}\n{\"a\":1}\n",
            "\r\n{\"a\":1}\r\n{\"a\":2}\r\n",
        ] {
            assert!(!is_document(lines), "{lines:?}");
        }
    }
}
