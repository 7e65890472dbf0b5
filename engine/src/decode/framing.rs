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
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    // Through `decode`'s import, wherever the chunk type lives.
    use crate::decode::{Chunk, Decoded, Decoder, ProblemKind};

    fn decoder() -> Decoder {
        Decoder::new(&crate::loader::ruleset_of(
            "rule r { when verb == \"get\" }",
        ))
    }

    fn summary(d: &Decoded) -> (Vec<String>, Vec<(u64, ProblemKind)>) {
        (
            d.events.iter().map(|e| e.id.to_string()).collect(),
            d.problems.iter().map(|p| (p.line, p.kind)).collect(),
        )
    }

    /// `decode_text` gives what decoding the chunk `run`'s file source sends for the same
    /// complete input gives.
    #[test]
    fn decode_text_decodes_as_the_file_source_frames() {
        let decoder = decoder();
        let origin: Arc<str> = "in".into();
        let event = |id: &str| {
            json!({"verb": "get", "auditID": id, "requestReceivedTimestamp": "2024-05-01T12:00:00Z"})
                .to_string()
        };
        let lines = format!("{}\n{{oops\n{}\n", event("a"), event("b"));
        let pretty = format!(
            "{{\n  \"kind\": \"EventList\", \"items\": [{}]\n}}\n",
            event("c")
        );
        let array = format!("[{}, {}]", event("d"), event("e"));
        for (text, whole, ids) in [
            (&lines, false, vec!["a", "b"]),
            (&pretty, true, vec!["c"]),
            (&array, true, vec!["d", "e"]),
        ] {
            assert_eq!(is_document(text), whole, "{text}");
            let chunk = if whole {
                Chunk::Whole {
                    origin: Arc::clone(&origin),
                    text: text.clone(),
                }
            } else {
                Chunk::Lines {
                    origin: Arc::clone(&origin),
                    first_line: 1,
                    text: text.clone(),
                }
            };
            let decoded = decoder.decode_text(&origin, text);
            assert_eq!(summary(&decoded), summary(&decoder.decode(&chunk)));
            assert_eq!(summary(&decoded).0, ids, "{text}");
        }
        assert_eq!(
            summary(&decoder.decode_text(&origin, &lines)).1,
            vec![(2, ProblemKind::Malformed)]
        );
    }

    /// An inline value is unwrapped, expanded and classified as a line holding it would be.
    #[test]
    fn decode_value_decodes_as_a_line() {
        let decoder = decoder();
        let origin: Arc<str> = "t.rules test \"x\" event".into();
        let ecs = json!({"@timestamp": "2024-05-01T12:00:09Z", "kubernetes": {"audit": {
            "verb": "get", "auditID": "e1", "stage": "ResponseComplete",
            "stageTimestamp": "2024-05-01T12:00:01Z"}}});
        let list = json!({"kind": "EventList", "items": [ecs.clone(), {"kind": 0}]});
        for value in [ecs, list] {
            let line = Chunk::Lines {
                origin: Arc::clone(&origin),
                first_line: 3,
                text: value.to_string(),
            };
            let decoded = decoder.decode_value(value, &origin, 3);
            assert_eq!(summary(&decoded), summary(&decoder.decode(&line)));
            assert_eq!(summary(&decoded).0, vec!["e1/ResponseComplete"]);
        }
        let decoded = decoder.decode_value(json!({"kind": 0}), &origin, 2);
        assert_eq!(summary(&decoded).1, vec![(2, ProblemKind::Skipped)]);
        assert!(
            decoded.problems[0].message.contains("no string `verb`"),
            "{:?}",
            decoded.problems
        );
    }

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
