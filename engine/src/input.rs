//! Reading JSON documents from a whole text: concatenated or pretty-printed JSON documents, a JSON
//! array of events, or an `EventList` (`{"kind": "EventList", "items": [...]}`).
//!
//! The [`Decoder`](crate::decode::Decoder) reads whole documents (the chunks a source sends for an
//! input that is not JSON lines) with it; commands read events through the decoder, never through
//! this module directly.
//!
//! A malformed document never aborts the read: it becomes a [`Record::Malformed`] with its line,
//! the reader skips to the next line and goes on.

use serde_json::Value;

/// One document read from an input, or why a stretch of the input could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A JSON document; `line` is the 1-based line it starts on.
    Document {
        /// The line it starts on, from 1.
        line: usize,
        /// The document.
        value: Value,
    },
    /// Text that is not JSON; the reader resumed on the next line.
    Malformed {
        /// The line of the error, from 1.
        line: usize,
        /// The JSON parser's message.
        message: String,
    },
}

/// Reads every document of `text`, expanding JSON arrays and `EventList`s into their items.
pub fn read_documents(text: &str) -> Vec<Record> {
    let mut records = Vec::new();
    let mut offset = 0;
    let lines = LineIndex::new(text);
    while offset < text.len() {
        let rest = &text[offset..];
        let skipped = rest.len() - rest.trim_start().len();
        let start = offset + skipped;
        if start >= text.len() {
            break;
        }
        let mut stream = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(value)) => {
                let line = lines.line_of(start);
                offset = start + stream.byte_offset();
                push_expanded(&mut records, line, value);
            }
            Some(Err(err)) => {
                // serde_json counts lines and columns from where this stream started.
                let line = lines.line_of(start) + err.line().saturating_sub(1);
                records.push(Record::Malformed {
                    line,
                    message: plain_json_error(&err),
                });
                // Resume on the line after the error: JSON lines stay independent.
                let error_line_end = lines.end_of_line(line);
                offset = error_line_end.max(start + 1).min(text.len());
            }
            None => break,
        }
    }
    records
}

fn push_expanded(records: &mut Vec<Record>, line: usize, value: Value) {
    match value {
        Value::Array(items) => {
            records.extend(
                items
                    .into_iter()
                    .map(|value| Record::Document { line, value }),
            );
        }
        Value::Object(mut map)
            if map.get("kind").and_then(Value::as_str) == Some("EventList")
                && map.get("items").is_some_and(Value::is_array) =>
        {
            if let Some(Value::Array(items)) = map.remove("items") {
                records.extend(
                    items
                        .into_iter()
                        .map(|value| Record::Document { line, value }),
                );
            }
        }
        value => records.push(Record::Document { line, value }),
    }
}

/// serde_json's message without its " at line L column C" suffix, which is relative to where the
/// stream started and would mislead.
fn plain_json_error(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let message = match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    };
    format!("malformed JSON: {message}")
}

/// Byte offsets of line starts, for turning offsets into 1-based line numbers.
struct LineIndex {
    starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        LineIndex {
            starts,
            len: text.len(),
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }

    /// The offset just past the newline that ends 1-based `line`.
    fn end_of_line(&self, line: usize) -> usize {
        self.starts.get(line).copied().unwrap_or(self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lines_of(records: &[Record]) -> Vec<(usize, bool)> {
        records
            .iter()
            .map(|r| match r {
                Record::Document { line, .. } => (*line, true),
                Record::Malformed { line, .. } => (*line, false),
            })
            .collect()
    }

    #[test]
    fn json_lines_with_a_broken_line_in_the_middle() {
        let text = "{\"a\":1}\n{\"a\": oops}\n\n{\"a\":3}\n";
        let records = read_documents(text);
        assert_eq!(lines_of(&records), vec![(1, true), (2, false), (4, true)]);
        match &records[1] {
            Record::Malformed { message, .. } => assert!(
                message.starts_with("malformed JSON: expected value"),
                "{message}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pretty_printed_documents_arrays_and_event_lists() {
        let text = "{\n  \"a\": 1\n}\n[{\"b\":1},{\"b\":2}]\n{\"kind\":\"EventList\",\"items\":[{\"c\":1}]}";
        let records = read_documents(text);
        assert_eq!(
            lines_of(&records),
            vec![(1, true), (4, true), (4, true), (5, true)]
        );
        assert_eq!(
            records[3],
            Record::Document {
                line: 5,
                value: json!({"c": 1})
            }
        );
    }

    #[test]
    fn truncated_last_line_is_reported_not_lost() {
        let records = read_documents("{\"a\":1}\n{\"a\":");
        assert_eq!(lines_of(&records), vec![(1, true), (2, false)]);
    }

    #[test]
    fn garbage_without_newlines_terminates() {
        let records = read_documents("not json at all");
        assert_eq!(lines_of(&records), vec![(1, false)]);
    }
}
