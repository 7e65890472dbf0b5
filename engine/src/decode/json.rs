//! The decoder's JSON parser: one pass over a document's bytes that builds a
//! [`serde_json::Value`] of only what a [`Trie`] keeps and skips the rest.
//!
//! Skipping is where the time goes (most of an audit event is fields no rule reads), so it is a
//! scan, not a parse: a string is crossed in one step to its closing quote, a backslash or a
//! control character, found in a bitmap of the document's special bytes ([`Specials`]) computed
//! before parsing, and nothing is allocated for a skipped value. The skipped
//! parts are still validated as strictly as `serde_json::from_str` does (escapes, control
//! characters, number syntax, literals, nesting), so a document is accepted or rejected exactly
//! as a full parse would, with the same messages (`tests` checks both against serde_json).
//!
//! [`parse_into`] builds a [`crate::doc::Doc`] of the whole document or of what the trie names
//! (see [`super::projection`] for what a node keeps); [`parse`] and [`parse_projected`] give a
//! `Value` for the callers that want one.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

use super::projection::{Child, NodeId, Trie};
use crate::doc::{DocBuilder, KeyNumber, SeenKeys};

/// How deeply arrays and objects may nest, as in serde_json.
const RECURSION_LIMIT: u16 = 128;

/// A syntax error, with the same message serde_json gives for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    code: ErrorCode,
    /// 1-based line and column (in bytes) of the offending byte, or of the end of the text.
    line: usize,
    column: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorCode {
    EofWhileParsingList,
    EofWhileParsingObject,
    EofWhileParsingString,
    EofWhileParsingValue,
    ExpectedColon,
    ExpectedListCommaOrEnd,
    ExpectedObjectCommaOrEnd,
    ExpectedSomeIdent,
    ExpectedSomeValue,
    InvalidEscape,
    InvalidNumber,
    NumberOutOfRange,
    InvalidUnicodeCodePoint,
    ControlCharacterWhileParsingString,
    KeyMustBeAString,
    LoneLeadingSurrogateInHexEscape,
    TrailingComma,
    TrailingCharacters,
    UnexpectedEndOfHexEscape,
    RecursionLimitExceeded,
}

impl ErrorCode {
    fn message(self) -> &'static str {
        match self {
            ErrorCode::EofWhileParsingList => "EOF while parsing a list",
            ErrorCode::EofWhileParsingObject => "EOF while parsing an object",
            ErrorCode::EofWhileParsingString => "EOF while parsing a string",
            ErrorCode::EofWhileParsingValue => "EOF while parsing a value",
            ErrorCode::ExpectedColon => "expected `:`",
            ErrorCode::ExpectedListCommaOrEnd => "expected `,` or `]`",
            ErrorCode::ExpectedObjectCommaOrEnd => "expected `,` or `}`",
            ErrorCode::ExpectedSomeIdent => "expected ident",
            ErrorCode::ExpectedSomeValue => "expected value",
            ErrorCode::InvalidEscape => "invalid escape",
            ErrorCode::InvalidNumber => "invalid number",
            ErrorCode::NumberOutOfRange => "number out of range",
            ErrorCode::InvalidUnicodeCodePoint => "invalid unicode code point",
            ErrorCode::ControlCharacterWhileParsingString => {
                "control character (\\u0000-\\u001F) found while parsing a string"
            }
            ErrorCode::KeyMustBeAString => "key must be a string",
            ErrorCode::LoneLeadingSurrogateInHexEscape => "lone leading surrogate in hex escape",
            ErrorCode::TrailingComma => "trailing comma",
            ErrorCode::TrailingCharacters => "trailing characters",
            ErrorCode::UnexpectedEndOfHexEscape => "unexpected end of hex escape",
            ErrorCode::RecursionLimitExceeded => "recursion limit exceeded",
        }
    }
}

impl JsonError {
    /// What is wrong, without the position (e.g. `EOF while parsing an object`).
    pub fn message(&self) -> &'static str {
        self.code.message()
    }

    /// The line of the error in the text parsed, from 1.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The column of the error in its line, in bytes, from 1.
    pub fn column(&self) -> usize {
        self.column
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.message(),
            self.line,
            self.column
        )
    }
}

impl std::error::Error for JsonError {}

/// Inside the parser the error is boxed: every call on the hot path returns a `Result`, and a
/// pointer-sized error keeps those results in registers.
type Result<T> = std::result::Result<T, Box<JsonError>>;

/// Parses one JSON document in full. Trailing non-whitespace is an error.
pub fn parse(text: &str) -> std::result::Result<Value, JsonError> {
    let mut out = DocBuilder::default();
    parse_into(
        text,
        None,
        &mut out,
        &mut Specials::default(),
        &mut RootMembers::default(),
    )?;
    Ok(out.finish().to_value())
}

/// Parses one JSON document, keeping what the root node of `trie` names; a document of which
/// nothing is kept (a scalar where the root drops scalars) is `Null`.
pub fn parse_projected(text: &str, trie: &Trie) -> std::result::Result<Value, JsonError> {
    let mut out = DocBuilder::default();
    parse_into(
        text,
        Some(trie),
        &mut out,
        &mut Specials::default(),
        &mut RootMembers::default(),
    )?;
    Ok(out.finish().to_value())
}

/// Parses one JSON document into `out` (which must be empty): all of it, or what `trie` keeps.
/// On error `out` is left empty. `specials` is scratch space, reused from one document to the
/// next so that its buffer is allocated once. With a `trie`, `root` tells where the root
/// object's members are ([`RootMembers`]).
pub fn parse_into(
    text: &str,
    trie: Option<&Trie>,
    out: &mut DocBuilder,
    specials: &mut Specials,
    root: &mut RootMembers,
) -> std::result::Result<(), JsonError> {
    specials.build(text.as_bytes());
    root.present = 0;
    let mut parser = Parser::new(text, out, specials, root);
    let parsed = match trie {
        Some(trie) => parser.projected(trie, Trie::ROOT).map(drop),
        None => parser.value(),
    }
    .and_then(|()| parser.end());
    if parsed.is_err() {
        out.clear();
    }
    parsed.map_err(|e| *e)
}

struct Parser<'a, 'o> {
    text: &'a str,
    bytes: &'a [u8],
    /// Where the text's special bytes are, to find the end of a string.
    specials: &'o Specials,
    pos: usize,
    /// Containers that may still be entered.
    depth_left: u16,
    out: &'o mut DocBuilder,
    /// Where the root object's members are (projected parses).
    root: &'o mut RootMembers,
}

impl<'a, 'o> Parser<'a, 'o> {
    fn new(
        text: &'a str,
        out: &'o mut DocBuilder,
        specials: &'o Specials,
        root: &'o mut RootMembers,
    ) -> Self {
        Parser {
            text,
            bytes: text.as_bytes(),
            specials,
            pos: 0,
            depth_left: RECURSION_LIMIT,
            out,
            root,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn error(&self, code: ErrorCode) -> Box<JsonError> {
        self.error_at(code, self.pos)
    }

    #[cold]
    fn error_at(&self, code: ErrorCode, pos: usize) -> Box<JsonError> {
        let pos = pos.min(self.bytes.len());
        let before = &self.bytes[..pos];
        let line = 1 + memchr::memchr_iter(b'\n', before).count();
        let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
        Box::new(JsonError {
            code,
            line,
            column: pos - line_start + 1,
        })
    }

    /// Only whitespace may follow the document.
    fn end(&mut self) -> Result<()> {
        self.skip_whitespace();
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error(ErrorCode::TrailingCharacters)),
        }
    }

    /// Enters an array or object (its opening byte is at `pos`).
    fn enter(&mut self) -> Result<()> {
        self.depth_left -= 1;
        if self.depth_left == 0 {
            return Err(self.error(ErrorCode::RecursionLimitExceeded));
        }
        self.pos += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth_left += 1;
    }

    // ---- Structure, shared by building and skipping ----

    /// Walks the members of an object whose `{` was just entered: `member` is called with each
    /// key and must consume the value that follows the colon.
    fn members(
        &mut self,
        mut member: impl FnMut(&mut Self, Cow<'a, str>) -> Result<()>,
    ) -> Result<()> {
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.leave();
            return Ok(());
        }
        let mut first = true;
        loop {
            match self.peek() {
                Some(b'"') => {}
                Some(_) => return Err(self.error(ErrorCode::KeyMustBeAString)),
                // serde_json's wording: after a comma, a key is a value still to come.
                None if first => return Err(self.error(ErrorCode::EofWhileParsingObject)),
                None => return Err(self.error(ErrorCode::EofWhileParsingValue)),
            }
            first = false;
            self.pos += 1;
            let key = self.string()?;
            self.skip_whitespace();
            match self.peek() {
                Some(b':') => self.pos += 1,
                Some(_) => return Err(self.error(ErrorCode::ExpectedColon)),
                None => return Err(self.error(ErrorCode::EofWhileParsingObject)),
            }
            member(self, key)?;
            if self.after_item(
                b'}',
                ErrorCode::ExpectedObjectCommaOrEnd,
                ErrorCode::EofWhileParsingObject,
            )? {
                return Ok(());
            }
        }
    }

    /// After a member or element: a comma (and another item) or `close`, which ends the
    /// container (true).
    #[inline]
    fn after_item(&mut self, close: u8, expected: ErrorCode, eof: ErrorCode) -> Result<bool> {
        self.skip_whitespace();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                self.skip_whitespace();
                if self.peek() == Some(close) {
                    return Err(self.error(ErrorCode::TrailingComma));
                }
                Ok(false)
            }
            Some(byte) if byte == close => {
                self.pos += 1;
                self.leave();
                Ok(true)
            }
            Some(_) => Err(self.error(expected)),
            None => Err(self.error(eof)),
        }
    }

    /// Walks the elements of an array whose `[` was just entered: `element` must consume one
    /// value (leading whitespace included).
    fn elements(&mut self, mut element: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        self.skip_whitespace();
        match self.peek() {
            Some(b']') => {
                self.pos += 1;
                self.leave();
                return Ok(());
            }
            Some(_) => {}
            None => return Err(self.error(ErrorCode::EofWhileParsingList)),
        }
        loop {
            element(self)?;
            if self.after_item(
                b']',
                ErrorCode::ExpectedListCommaOrEnd,
                ErrorCode::EofWhileParsingList,
            )? {
                return Ok(());
            }
        }
    }

    // ---- Building ----

    /// One whole value, leading whitespace included.
    fn value(&mut self) -> Result<()> {
        self.skip_whitespace();
        match self.peek() {
            Some(b'{') => {
                self.enter()?;
                let object = self.out.open_object();
                let (mut len, mut seen) = (0, SeenKeys::default());
                self.members(|p, key| {
                    let at = p.out.key(object, &mut seen, &key);
                    len += 1;
                    p.value()?;
                    p.out.end_member(at);
                    Ok(())
                })?;
                self.out.close(object, len);
                Ok(())
            }
            Some(b'[') => {
                self.enter()?;
                let array = self.out.open_array();
                let mut len = 0;
                self.elements(|p| {
                    len += 1;
                    p.value()
                })?;
                self.out.close(array, len);
                Ok(())
            }
            _ => self.scalar(),
        }
    }

    /// What `node` keeps of one value (leading whitespace included); false when nothing.
    fn projected(&mut self, trie: &Trie, node: NodeId) -> Result<bool> {
        self.skip_whitespace();
        match self.peek() {
            Some(b'{') => {
                self.enter()?;
                // The document's root object: its members' places are noted (a repeated key's
                // later member replaces the earlier one, as in the document).
                let at_root = self.depth_left == RECURSION_LIMIT - 1;
                let object = self.out.open_object();
                let (mut len, mut seen) = (0, SeenKeys::default());
                self.members(|p, key| match trie.numbered_child(node, &key) {
                    None => p.skip_value(),
                    Some((Child::Keep, number)) => {
                        let at = p.out.numbered_key(object, &mut seen, &key, number);
                        len += 1;
                        p.value()?;
                        p.out.end_member(at);
                        if at_root {
                            p.root.set(number, at + 1);
                        }
                        Ok(())
                    }
                    Some((Child::Node(inner), number)) => {
                        let mark = p.out.mark();
                        let at = p.out.numbered_key(object, &mut seen, &key, number);
                        if p.projected(trie, inner)? {
                            len += 1;
                            p.out.end_member(at);
                            if at_root {
                                p.root.set(number, at + 1);
                            }
                        } else {
                            // Nothing kept; a repeated key still removes the earlier member,
                            // as the last one wins in a full parse.
                            p.out.unkey(mark, &mut seen, &key);
                            if at_root {
                                p.root.unset(number);
                            }
                        }
                        Ok(())
                    }
                })?;
                self.out.close(object, len);
                Ok(true)
            }
            // Arrays are transparent: the node applies to each element. Dropped elements shift
            // indices, which is safe: an index or `[*]` step ends a path's key prefix, so an array
            // that a path indexes is always kept whole.
            Some(b'[') => {
                self.enter()?;
                let array = self.out.open_array();
                let mut len = 0;
                self.elements(|p| {
                    if p.projected(trie, node)? {
                        len += 1;
                    }
                    Ok(())
                })?;
                self.out.close(array, len);
                Ok(true)
            }
            _ if trie.keeps_scalars(node) => self.scalar().map(|()| true),
            _ => self.skip_value().map(|()| false),
        }
    }

    /// A string, number, literal, or the error for what stands where a value should.
    fn scalar(&mut self) -> Result<()> {
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                let s = self.string()?;
                self.out.string(&s);
                Ok(())
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true").map(|()| self.out.bool(true)),
            Some(b'f') => self.literal(b"false").map(|()| self.out.bool(false)),
            Some(b'n') => self.literal(b"null").map(|()| self.out.null()),
            Some(_) => Err(self.error(ErrorCode::ExpectedSomeValue)),
            None => Err(self.error(ErrorCode::EofWhileParsingValue)),
        }
    }

    /// The rest of a string whose opening quote was consumed: borrowed from the text unless it
    /// has escapes.
    ///
    /// The common case, a string without escapes, is inlined where strings are read (keys and
    /// values): a call per string, its saved registers and its result returned through memory
    /// cost as much as finding the string's end.
    #[inline(always)]
    fn string(&mut self) -> Result<Cow<'a, str>> {
        let start = self.pos;
        let stop = self.specials.next(start);
        if self.bytes.get(stop) == Some(&b'"') {
            self.pos = stop + 1;
            return Ok(Cow::Borrowed(&self.text[start..stop]));
        }
        self.string_at_special(start, stop)
    }

    /// The rest of [`Parser::string`] when the first special byte after `start` (at `stop`) is
    /// not the closing quote: an escape, a control character or the end of the text.
    #[inline(never)]
    fn string_at_special(&mut self, start: usize, stop: usize) -> Result<Cow<'a, str>> {
        match self.bytes.get(stop) {
            Some(b'\\') => {
                let mut out = String::with_capacity(stop - start + 16);
                out.push_str(&self.text[start..stop]);
                self.pos = stop;
                self.escaped_string(&mut out)?;
                Ok(Cow::Owned(out))
            }
            Some(_) => Err(self.error_at(ErrorCode::ControlCharacterWhileParsingString, stop)),
            None => Err(self.error_at(ErrorCode::EofWhileParsingString, stop)),
        }
    }

    /// The rest of a string from a backslash at `pos`, unescaped into `out`.
    fn escaped_string(&mut self, out: &mut String) -> Result<()> {
        loop {
            // At a backslash.
            self.pos += 1;
            let escape = self
                .peek()
                .ok_or_else(|| self.error(ErrorCode::EofWhileParsingString))?;
            self.pos += 1;
            match escape {
                b'"' => out.push('"'),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => out.push(self.unicode_escape()?),
                _ => return Err(self.error_at(ErrorCode::InvalidEscape, self.pos - 1)),
            }
            let start = self.pos;
            let stop = self.specials.next(start);
            out.push_str(&self.text[start..stop]);
            self.pos = stop;
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {}
                Some(_) => return Err(self.error(ErrorCode::ControlCharacterWhileParsingString)),
                None => return Err(self.error(ErrorCode::EofWhileParsingString)),
            }
        }
    }

    /// The character of a `\u` escape whose `\u` was consumed, pairing surrogates.
    fn unicode_escape(&mut self) -> Result<char> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                match self.bytes.get(self.pos..) {
                    Some([b'\\', b'u', ..]) => {}
                    Some([] | [b'\\']) | None => {
                        return Err(
                            self.error_at(ErrorCode::EofWhileParsingString, self.bytes.len())
                        )
                    }
                    Some(_) => return Err(self.error(ErrorCode::UnexpectedEndOfHexEscape)),
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.error(ErrorCode::LoneLeadingSurrogateInHexEscape));
                }
                0x10000 + ((u32::from(first) - 0xD800) << 10) + (u32::from(second) - 0xDC00)
            }
            0xDC00..=0xDFFF => {
                return Err(self.error(ErrorCode::LoneLeadingSurrogateInHexEscape));
            }
            other => u32::from(other),
        };
        char::from_u32(code).ok_or_else(|| self.error(ErrorCode::InvalidUnicodeCodePoint))
    }

    /// Four hex digits.
    fn hex4(&mut self) -> Result<u16> {
        if self.pos + 4 > self.bytes.len() {
            return Err(self.error_at(ErrorCode::EofWhileParsingString, self.bytes.len()));
        }
        let mut code = 0u16;
        for _ in 0..4 {
            let byte = self.bytes[self.pos];
            let digit = match byte {
                b'0'..=b'9' => byte - b'0',
                b'a'..=b'f' => byte - b'a' + 10,
                b'A'..=b'F' => byte - b'A' + 10,
                _ => return Err(self.error(ErrorCode::InvalidEscape)),
            };
            code = code << 4 | u16::from(digit);
            self.pos += 1;
        }
        Ok(code)
    }

    /// A number starting at `pos` (a `-` or a digit), as serde_json reads it: integers that fit
    /// are `u64` (non-negative) or `i64`, anything else an `f64`.
    fn number(&mut self) -> Result<()> {
        let start = self.pos;
        let is_integer = self.number_syntax()?;
        let text = &self.text[start..self.pos];
        if is_integer {
            let (negative, digits) = match text.strip_prefix('-') {
                Some(digits) => (true, digits),
                None => (false, text),
            };
            if let Ok(magnitude) = digits.parse::<u64>() {
                if !negative {
                    self.out.uint(magnitude);
                    return Ok(());
                }
                // `-0` is a float in serde_json (there is no negative zero integer).
                if magnitude != 0 && magnitude <= i64::MIN.unsigned_abs() {
                    self.out.int((magnitude as i64).wrapping_neg());
                    return Ok(());
                }
            }
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => {
                self.out.float(f);
                Ok(())
            }
            _ => Err(self.error_at(ErrorCode::NumberOutOfRange, start)),
        }
    }

    /// Checks a number's syntax from `pos` and moves past it; whether it is an integer (no
    /// fraction, no exponent).
    fn number_syntax(&mut self) -> Result<bool> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.error(ErrorCode::InvalidNumber));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            Some(_) => return Err(self.error(ErrorCode::InvalidNumber)),
            None => return Err(self.error(ErrorCode::EofWhileParsingValue)),
        }
        let mut is_integer = true;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.required_digits()?;
            is_integer = false;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.required_digits()?;
            is_integer = false;
        }
        Ok(is_integer)
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn required_digits(&mut self) -> Result<()> {
        match self.peek() {
            Some(b'0'..=b'9') => {
                self.digits();
                Ok(())
            }
            Some(_) => Err(self.error(ErrorCode::InvalidNumber)),
            None => Err(self.error(ErrorCode::EofWhileParsingValue)),
        }
    }

    /// `true`, `false` or `null` starting at `pos`.
    fn literal(&mut self, word: &[u8]) -> Result<()> {
        for &expected in word {
            match self.peek() {
                Some(byte) if byte == expected => self.pos += 1,
                Some(_) => return Err(self.error(ErrorCode::ExpectedSomeIdent)),
                None => return Err(self.error(ErrorCode::EofWhileParsingValue)),
            }
        }
        Ok(())
    }

    // ---- Skipping ----

    /// Crosses one value (leading whitespace included), validating it, allocating nothing.
    fn skip_value(&mut self) -> Result<()> {
        self.skip_whitespace();
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                self.skip_string()
            }
            Some(b'{') => {
                self.enter()?;
                self.members(|p, _| p.skip_value())
            }
            Some(b'[') => {
                self.enter()?;
                self.elements(Self::skip_value)
            }
            Some(b'-' | b'0'..=b'9') => self.skip_number(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(_) => Err(self.error(ErrorCode::ExpectedSomeValue)),
            None => Err(self.error(ErrorCode::EofWhileParsingValue)),
        }
    }

    /// Crosses a number, checking its syntax and (like a full parse) that it is finite: only a
    /// fraction, an exponent or more than 20 digits can make it overflow, so only those are
    /// converted.
    fn skip_number(&mut self) -> Result<()> {
        let start = self.pos;
        let is_integer = self.number_syntax()?;
        if is_integer && self.pos - start <= 20 {
            return Ok(());
        }
        match self.text[start..self.pos].parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(()),
            _ => Err(self.error_at(ErrorCode::NumberOutOfRange, start)),
        }
    }

    /// Crosses the rest of a string whose opening quote was consumed.
    fn skip_string(&mut self) -> Result<()> {
        loop {
            let stop = self.specials.next(self.pos);
            self.pos = stop;
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1
                        }
                        Some(b'u') => {
                            self.pos += 1;
                            self.unicode_escape()?;
                        }
                        Some(_) => return Err(self.error(ErrorCode::InvalidEscape)),
                        None => return Err(self.error(ErrorCode::EofWhileParsingString)),
                    }
                }
                Some(_) => return Err(self.error(ErrorCode::ControlCharacterWhileParsingString)),
                None => return Err(self.error(ErrorCode::EofWhileParsingString)),
            }
        }
    }
}

/// Where a text's special bytes are: `"`, `\` and control characters (below 0x20), the bytes that
/// end the plain run of a string.
///
/// One bit per byte (bit `i % 64` of word `i / 64`), computed for the whole text before it is
/// parsed: the loop over each 64-byte block has no branch, and the compiler turns it into SIMD
/// compares, so the parser's search for the end of a string is a shift and a `trailing_zeros`
/// instead of a loop whose exit the processor cannot predict.
#[derive(Debug, Default)]
pub struct Specials {
    words: Vec<u64>,
    /// The length of the text; what [`Specials::next`] gives when no special byte follows.
    len: usize,
}

/// Where the members of a projected document's root object are, by the number of their key
/// among the children of the projection's root ([`KeyNumber`], the first 128; the shipped
/// rules' root has about 80 children, the fields of every event kind): filled as the
/// parse builds the root, so that what every event's identification reads there (its time, id,
/// verb...) takes no lookup. Reset by each parse.
#[derive(Debug)]
pub struct RootMembers {
    /// The node of each present member's value, by key number.
    value_at: [u32; ROOT_MEMBERS],
    /// Bit `n` set when the member of key number `n` is present.
    present: u128,
}

impl Default for RootMembers {
    fn default() -> Self {
        RootMembers {
            value_at: [0; ROOT_MEMBERS],
            present: 0,
        }
    }
}

impl RootMembers {
    /// The node of the value of the root's member whose key has `number`, if it is present
    /// (always `None` for a number past [`ROOT_MEMBERS`], and after a parse without projection).
    #[inline]
    pub fn value_at(&self, number: KeyNumber) -> Option<u32> {
        let n = number.0 as usize;
        (n < ROOT_MEMBERS && self.present >> n & 1 == 1).then(|| self.value_at[n])
    }

    #[inline]
    fn set(&mut self, number: KeyNumber, value_at: usize) {
        if let Some(slot) = self.value_at.get_mut(number.0 as usize) {
            *slot = value_at as u32;
            self.present |= 1 << number.0;
        }
    }

    #[inline]
    fn unset(&mut self, number: KeyNumber) {
        if (number.0 as usize) < ROOT_MEMBERS {
            self.present &= !(1 << number.0);
        }
    }
}

/// The root members [`RootMembers`] notes: key numbers below this.
pub const ROOT_MEMBERS: usize = 128;

impl Specials {
    /// Computes the bitmap of `bytes`, replacing the previous one.
    fn build(&mut self, bytes: &[u8]) {
        // The words are written in place (a `push` per word checked the capacity each time).
        self.words.clear();
        self.words.resize(bytes.len().div_ceil(64), 0);
        self.len = bytes.len();
        let blocks = bytes.chunks_exact(64);
        let rest = blocks.remainder();
        let mut words = self.words.iter_mut();
        // The blocks first: `zip` asks its first iterator first, and a word taken for a block
        // that is not there would be lost to the last one.
        for (block, word) in blocks.zip(words.by_ref()) {
            let block: &[u8; 64] = block.try_into().expect("chunks of 64 bytes");
            *word = block_specials(block);
        }
        if let Some(word) = words.next() {
            // INVARIANT: the padding is not special, so no bit at or past the text's end is set.
            let mut last = [b' '; 64];
            last[..rest.len()].copy_from_slice(rest);
            *word = block_specials(&last);
        }
    }

    /// The index of the first special byte at or after `from`, or the text's length.
    #[inline]
    fn next(&self, from: usize) -> usize {
        let mut word = from / 64;
        let Some(&first) = self.words.get(word) else {
            return self.len;
        };
        let bits = first >> (from % 64);
        if bits != 0 {
            return from + bits.trailing_zeros() as usize;
        }
        loop {
            word += 1;
            match self.words.get(word) {
                Some(0) => {}
                Some(&bits) => return word * 64 + bits.trailing_zeros() as usize,
                None => return self.len,
            }
        }
    }
}

/// The special bytes of a 64-byte block, bit `i` for byte `i`.
#[inline]
fn block_specials(block: &[u8; 64]) -> u64 {
    // Flags as bytes first (0 or 1): a loop the compiler vectorises.
    let mut flags = [0u8; 64];
    for (flag, &byte) in flags.iter_mut().zip(block) {
        *flag = u8::from(byte == b'"') | u8::from(byte == b'\\') | u8::from(byte < 0x20);
    }
    // Then eight flags at a time into eight bits: in the product, flag byte `k` (bit `8k`) times
    // the multiplier's byte `7 - k` (bit `8(7 - k) + k`) lands on bit `56 + k`, and no other pair
    // of bits reaches the top byte or carries into it.
    let mut bits = 0;
    let mut eights = flags.as_slice();
    let mut shift = 0;
    while let Some((eight, rest)) = eights.split_first_chunk::<8>() {
        let gathered = u64::from_le_bytes(*eight).wrapping_mul(0x0102_0408_1020_4080) >> 56;
        bits |= gathered << shift;
        shift += 8;
        eights = rest;
    }
    bits
}

#[cfg(test)]
mod tests;
