//! Writing JSON text by hand, for the documents written on every alert update.
//!
//! Strings are escaped exactly as `serde_json` escapes them (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`,
//! `\t`, `\u00XX` for the other control characters, everything else as it is), so the text is
//! the same as `serde_json::to_string` gives. It is faster on the strings alerts are made of,
//! which rarely need an escape: a string is checked 16 bytes at a time and copied in one piece
//! up to its first byte that needs one, where `serde_json` looks each byte up in a table.

use serde_json::{Number, Value};

/// Whether `byte` must be escaped in a JSON string.
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Whether no byte of `block` needs an escape. No early exit: the compiler compares the 16
/// bytes at once.
#[inline]
fn block_is_clean(block: &[u8; 16]) -> bool {
    !block.iter().fold(false, |any, &b| any | needs_escape(b))
}

/// The length of the longest prefix of `bytes` with nothing to escape.
fn clean_prefix(bytes: &[u8]) -> usize {
    let mut blocks = bytes.chunks_exact(16);
    let mut clean = 0;
    for block in &mut blocks {
        if !block_is_clean(block.try_into().unwrap_or(&[0; 16])) {
            return clean + first_escape(block);
        }
        clean += 16;
    }
    // The last few bytes: as the 16 bytes that end the string when it has them, else padded
    // with spaces, so that a clean string is checked without a byte-by-byte loop.
    let rest = blocks.remainder();
    let tail_clean = if bytes.len() >= 16 {
        block_is_clean(bytes[bytes.len() - 16..].try_into().unwrap_or(&[0; 16]))
    } else {
        let mut padded = [b' '; 16];
        padded[..rest.len()].copy_from_slice(rest);
        block_is_clean(&padded)
    };
    if tail_clean {
        bytes.len()
    } else {
        clean + first_escape(rest)
    }
}

/// The position of the first byte of `bytes` that needs an escape (its length if none does).
fn first_escape(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|&b| needs_escape(b))
        .unwrap_or(bytes.len())
}

/// Appends `s` as a JSON string.
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut rest = s.as_bytes();
    loop {
        let clean = clean_prefix(rest);
        out.extend_from_slice(&rest[..clean]);
        let Some(&byte) = rest.get(clean) else { break };
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]),
        }
        rest = &rest[clean + 1..];
    }
    out.push(b'"');
}

/// Appends an unsigned integer.
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Appends a number as `serde_json` writes it.
fn push_number(out: &mut Vec<u8>, n: &Number) {
    match n.as_u64() {
        Some(n) => push_u64(out, n),
        // Negative integers and floats: `serde_json`'s own formatting (itoa, ryu).
        None => out.extend_from_slice(n.to_string().as_bytes()),
    }
}

/// Appends `value`, compact, as `serde_json::to_writer` writes it.
pub fn push_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => push_number(out, n),
        Value::String(s) => push_str(out, s),
        Value::Array(items) => {
            let mut list = List::open(out);
            for item in items {
                push_value(list.item(), item);
            }
            list.close();
        }
        Value::Object(map) => {
            let mut object = Object::open(out);
            for (key, value) in map {
                push_value(object.key(key), value);
            }
            object.close();
        }
    }
}

/// An object being written: [`Object::key`] writes a key and gives the buffer for its value.
pub struct Object<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Object<'a> {
    /// Opens an object in `out`.
    pub fn open(out: &'a mut Vec<u8>) -> Object<'a> {
        out.push(b'{');
        Object { out, empty: true }
    }

    /// Writes `key` (and the separators); the caller writes its value into the buffer returned.
    pub fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        push_str(self.out, key);
        self.out.push(b':');
        self.out
    }

    /// Writes `key` with a string value.
    pub fn str(&mut self, key: &str, value: &str) {
        push_str(self.key(key), value);
    }

    /// [`Object::key`] for a key with nothing to escape (a name in the code, not data): written
    /// as it is.
    pub fn name(&mut self, key: &str) -> &mut Vec<u8> {
        debug_assert_eq!(clean_prefix(key.as_bytes()), key.len(), "{key}");
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.reserve(key.len() + 3);
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    /// Writes the key `name` ([`Object::name`]) with a string value.
    pub fn named_str(&mut self, name: &str, value: &str) {
        push_str(self.name(name), value);
    }

    /// Closes the object.
    pub fn close(self) {
        self.out.push(b'}');
    }
}

/// An array being written: [`List::item`] gives the buffer for the next item.
pub struct List<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> List<'a> {
    /// Opens an array in `out`.
    pub fn open(out: &'a mut Vec<u8>) -> List<'a> {
        out.push(b'[');
        List { out, empty: true }
    }

    /// The buffer to write the next item into.
    pub fn item(&mut self) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out
    }

    /// Closes the array.
    pub fn close(self) {
        self.out.push(b']');
    }
}

/// Appends a list of strings.
pub fn push_strs<S: AsRef<str>>(out: &mut Vec<u8>, items: &[S]) {
    let mut list = List::open(out);
    for item in items {
        push_str(list.item(), item.as_ref());
    }
    list.close();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(value: &Value) -> String {
        let mut out = Vec::new();
        push_value(&mut out, value);
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn every_byte_that_needs_an_escape_is_escaped_as_serde_json_does() {
        // Each ASCII character alone, and in the middle of a long clean string so that it
        // falls inside a 16-byte block and at each position of one.
        for c in (0u8..0x80).map(char::from) {
            let alone = c.to_string();
            assert_eq!(text(&json!(alone)), serde_json::to_string(&alone).unwrap());
            for at in 0..40 {
                let mut s = "a".repeat(at);
                s.push(c);
                s.push_str(&"b".repeat(40 - at));
                assert_eq!(text(&json!(s)), serde_json::to_string(&s).unwrap(), "{at}");
            }
        }
    }

    #[test]
    fn random_strings_and_values_are_written_as_serde_json_writes_them() {
        // A deterministic generator over characters that matter: escapes, controls, DEL,
        // multi-byte and astral characters, and plain ones in runs.
        let alphabet: Vec<char> = "ab \"\\\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}é€𝄞/<>'"
            .chars()
            .collect();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..3000 {
            let len = (next() % 70) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let value = json!({
                s.clone(): [s.clone(), null, true, false, 0, -7, 1.5e300, -0.25, u64::MAX, i64::MIN],
                "k": {"nested": [s.clone(), {}], "empty": []},
                "f": (next() % 1000) as f64 / 7.0,
            });
            assert_eq!(
                text(&value),
                serde_json::to_string(&value).unwrap(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn integers_are_written_as_serde_json_writes_them() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            12_345,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }
}
