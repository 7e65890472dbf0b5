//! KQL, the Kibana Query Language of Elastic's `query` and `new_terms` rules: parsed into a tree.
//!
//! What is read, as Kibana's grammar reads it:
//! - `field:value`, `field:"quoted value"`, `field:*` (the field exists), `field:(a or b)` and
//!   any `and`/`or`/`not` of values in parentheses, `field < value` (`<=`, `>`, `>=`);
//! - `and`, `or`, `not` (any case) and parentheses between clauses; `not` binds tightest, then
//!   `and`, then `or`;
//! - in an unquoted value, `*` is a wildcard, `\` escapes the next character (`system\:node\:*`),
//!   and inner spaces belong to the value (`a b` is the value "a b");
//! - a quoted value is taken as it is (no wildcard), with `\"` and `\\` escapes.
//!
//! Not read, and reported: a value without a field (free text), nested queries (`field:{...}`),
//! wildcards in field names.

/// A query: clauses joined by `and`, `or` and `not`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Query {
    Or(Vec<Query>),
    And(Vec<Query>),
    Not(Box<Query>),
    /// `field:VALUES`.
    Field(String, Values),
    /// `field OP value`, OP one of `<`, `<=`, `>`, `>=`.
    Range(String, &'static str, Value),
}

/// The values of `field:...`: one value, or values joined by `and`, `or` and `not`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    Or(Vec<Values>),
    And(Vec<Values>),
    Not(Box<Values>),
    One(Value),
}

/// One value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `"..."`: the text as it is.
    Quoted(String),
    /// An unquoted value: its text and wildcards, in order. A lone `*` is "the field exists".
    Unquoted(Vec<Piece>),
}

/// A part of an unquoted value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Text(String),
    /// `*`: any text, empty included.
    Any,
    /// `?` (EQL's `like` and `:` only): one character.
    One,
}

impl Value {
    /// The value's text when it has no wildcard.
    pub fn literal(&self) -> Option<String> {
        match self {
            Value::Quoted(text) => Some(text.clone()),
            Value::Unquoted(pieces) => {
                let mut out = String::new();
                for piece in pieces {
                    match piece {
                        Piece::Text(t) => out.push_str(t),
                        Piece::Any | Piece::One => return None,
                    }
                }
                Some(out)
            }
        }
    }
}

/// A syntax error, or what is not read: the message, at which byte of the query (KQL and EQL).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyntaxError {
    pub at: usize,
    pub message: String,
}

/// Parses a KQL query.
pub(crate) fn parse(text: &str) -> Result<Query, SyntaxError> {
    let mut p = Parser { text, at: 0 };
    let query = p.or()?;
    p.skip_ws();
    if p.at < text.len() {
        return Err(p.error("`and`, `or` or the end of the query"));
    }
    Ok(query)
}

struct Parser<'t> {
    text: &'t str,
    at: usize,
}

/// Characters that end an unquoted value or a field name unless escaped.
const SPECIAL: &[char] = &['\\', '(', ')', ':', '<', '>', '"', '{', '}'];

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    fn error(&self, expected: &str) -> SyntaxError {
        let found = match self.peek() {
            None => "the end of the query".to_owned(),
            Some(_) => {
                let near: String = self.rest().chars().take(20).collect();
                format!("`{near}`")
            }
        };
        SyntaxError {
            at: self.at,
            message: format!("expected {expected}, found {found}"),
        }
    }

    /// Whether the keyword `word` (any case) comes next, followed by a space or `(`, or, for
    /// `and` and `or`, the end (which is then an error elsewhere).
    fn at_keyword(&self, word: &str) -> bool {
        let rest = self.rest();
        rest.len() >= word.len()
            && rest.is_char_boundary(word.len())
            && rest[..word.len()].eq_ignore_ascii_case(word)
            && rest[word.len()..]
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == '(')
    }

    fn keyword(&mut self, word: &str) -> bool {
        self.skip_ws();
        if self.at_keyword(word) {
            self.at += word.len();
            true
        } else {
            false
        }
    }

    /// `item (WORD item)*`: one item as it is, several joined by `join`.
    fn joined<T>(
        &mut self,
        word: &str,
        item: fn(&mut Self) -> Result<T, SyntaxError>,
        join: fn(Vec<T>) -> T,
    ) -> Result<T, SyntaxError> {
        let mut parts = vec![item(self)?];
        while self.keyword(word) {
            parts.push(item(self)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            join(parts)
        })
    }

    fn or(&mut self) -> Result<Query, SyntaxError> {
        self.joined("or", Self::and, Query::Or)
    }

    fn and(&mut self) -> Result<Query, SyntaxError> {
        self.joined("and", Self::not, Query::And)
    }

    fn not(&mut self) -> Result<Query, SyntaxError> {
        if self.keyword("not") {
            return Ok(Query::Not(Box::new(self.not()?)));
        }
        self.skip_ws();
        if self.peek() == Some('(') {
            self.at += 1;
            let inner = self.or()?;
            self.close()?;
            return Ok(inner);
        }
        self.clause()
    }

    fn close(&mut self) -> Result<(), SyntaxError> {
        self.skip_ws();
        if self.peek() == Some(')') {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error("`)`"))
        }
    }

    /// `field:values` or `field OP value`.
    fn clause(&mut self) -> Result<Query, SyntaxError> {
        let start = self.at;
        if self.peek() == Some('"') {
            return Err(SyntaxError {
                at: start,
                message: "a value without a field (free text search) is not translated: name the field, as in `field:\"value\"`".into(),
            });
        }
        let field = self.field()?;
        self.skip_ws();
        for op in ["<=", ">=", "<", ">"] {
            if self.rest().starts_with(op) {
                self.at += op.len();
                self.skip_ws();
                let value = self.value()?;
                return Ok(Query::Range(field, op, value));
            }
        }
        if self.peek() != Some(':') {
            return Err(SyntaxError {
                at: start,
                message: format!(
                    "`{field}` has no `:` after it: a value without a field (free text search) is not translated"
                ),
            });
        }
        self.at += 1;
        self.skip_ws();
        if self.peek() == Some('{') {
            return Err(SyntaxError {
                at: self.at,
                message: format!("the nested query on `{field}` is not translated"),
            });
        }
        let values = if self.peek() == Some('(') {
            self.at += 1;
            let values = self.values_or()?;
            self.close()?;
            values
        } else {
            Values::One(self.value()?)
        };
        Ok(Query::Field(field, values))
    }

    fn field(&mut self) -> Result<String, SyntaxError> {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c.is_whitespace() || SPECIAL.contains(&c) {
                break;
            }
            if c == '*' {
                return Err(SyntaxError {
                    at: self.at,
                    message: "a wildcard in a field name is not translated".into(),
                });
            }
            name.push(c);
            self.at += c.len_utf8();
        }
        if name.is_empty() {
            return Err(self.error("a field name"));
        }
        Ok(name)
    }

    fn values_or(&mut self) -> Result<Values, SyntaxError> {
        self.joined("or", Self::values_and, Values::Or)
    }

    fn values_and(&mut self) -> Result<Values, SyntaxError> {
        self.joined("and", Self::values_not, Values::And)
    }

    fn values_not(&mut self) -> Result<Values, SyntaxError> {
        if self.keyword("not") {
            return Ok(Values::Not(Box::new(self.values_not()?)));
        }
        self.skip_ws();
        if self.peek() == Some('(') {
            self.at += 1;
            let inner = self.values_or()?;
            self.close()?;
            return Ok(inner);
        }
        Ok(Values::One(self.value()?))
    }

    fn value(&mut self) -> Result<Value, SyntaxError> {
        self.skip_ws();
        if self.peek() == Some('"') {
            return self.quoted();
        }
        let mut pieces: Vec<Piece> = Vec::new();
        let mut text = String::new();
        while let Some(c) = self.peek() {
            if c == '\\' {
                self.at += 1;
                let Some(escaped) = self.peek() else {
                    return Err(self.error("a character after `\\`"));
                };
                self.at += escaped.len_utf8();
                text.push(match escaped {
                    't' => '\t',
                    'n' => '\n',
                    'r' => '\r',
                    c => c,
                });
            } else if c == '*' {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Any);
                self.at += 1;
            } else if c.is_whitespace() {
                // Inner spaces belong to the value, unless a keyword, `)` or the end follows.
                let before = self.at;
                self.skip_ws();
                let ends = match self.peek() {
                    None | Some(')') => true,
                    Some(c) if c != '\\' && SPECIAL.contains(&c) => true,
                    _ => self.at_keyword("and") || self.at_keyword("or") || self.at_keyword("not"),
                };
                if ends {
                    self.at = before;
                    break;
                }
                text.push_str(&self.text[before..self.at]);
            } else if SPECIAL.contains(&c) {
                break;
            } else {
                text.push(c);
                self.at += c.len_utf8();
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        if pieces.is_empty() {
            return Err(self.error("a value"));
        }
        Ok(Value::Unquoted(pieces))
    }

    fn quoted(&mut self) -> Result<Value, SyntaxError> {
        let start = self.at;
        self.at += 1;
        let mut text = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(SyntaxError {
                    at: start,
                    message: "a quoted value has no closing `\"`".into(),
                });
            };
            self.at += c.len_utf8();
            match c {
                '"' => return Ok(Value::Quoted(text)),
                // Kibana decodes `\"`, `\\`, `\t`, `\n`, `\r`; other backslashes stay.
                '\\' => {
                    let Some(escaped) = self.peek() else { continue };
                    match escaped {
                        '"' | '\\' => text.push(escaped),
                        't' => text.push('\t'),
                        'n' => text.push('\n'),
                        'r' => text.push('\r'),
                        _ => {
                            text.push('\\');
                            continue;
                        }
                    }
                    self.at += escaped.len_utf8();
                }
                c => text.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Piece {
        Piece::Text(t.into())
    }

    #[test]
    fn clauses_values_and_precedence() {
        let q = parse(
            "data_stream.dataset : \"kubernetes.audit_logs\" and user.name:(system\\:node\\:* or \"a b\") \
             or not x:*",
        )
        .unwrap();
        assert_eq!(
            q,
            Query::Or(vec![
                Query::And(vec![
                    Query::Field(
                        "data_stream.dataset".into(),
                        Values::One(Value::Quoted("kubernetes.audit_logs".into()))
                    ),
                    Query::Field(
                        "user.name".into(),
                        Values::Or(vec![
                            Values::One(Value::Unquoted(vec![text("system:node:"), Piece::Any])),
                            Values::One(Value::Quoted("a b".into())),
                        ])
                    ),
                ]),
                Query::Not(Box::new(Query::Field(
                    "x".into(),
                    Values::One(Value::Unquoted(vec![Piece::Any]))
                ))),
            ])
        );
    }

    #[test]
    fn inner_spaces_keywords_ranges_and_escapes() {
        assert_eq!(
            parse("a:foo bar AND b >= 3 and c:(* and not (*x or y*))").unwrap(),
            Query::And(vec![
                Query::Field(
                    "a".into(),
                    Values::One(Value::Unquoted(vec![text("foo bar")]))
                ),
                Query::Range("b".into(), ">=", Value::Unquoted(vec![text("3")])),
                Query::Field(
                    "c".into(),
                    Values::And(vec![
                        Values::One(Value::Unquoted(vec![Piece::Any])),
                        Values::Not(Box::new(Values::Or(vec![
                            Values::One(Value::Unquoted(vec![Piece::Any, text("x")])),
                            Values::One(Value::Unquoted(vec![text("y"), Piece::Any])),
                        ]))),
                    ])
                ),
            ])
        );
        assert_eq!(
            parse(r#"a:"say \"hi\"" and b:x\*y"#).unwrap(),
            Query::And(vec![
                Query::Field("a".into(), Values::One(Value::Quoted("say \"hi\"".into()))),
                Query::Field("b".into(), Values::One(Value::Unquoted(vec![text("x*y")]))),
            ])
        );
        // A keyword inside a word is part of it: `orders`, `android`.
        assert_eq!(
            parse("a:orders or b:android").unwrap(),
            Query::Or(vec![
                Query::Field(
                    "a".into(),
                    Values::One(Value::Unquoted(vec![text("orders")]))
                ),
                Query::Field(
                    "b".into(),
                    Values::One(Value::Unquoted(vec![text("android")]))
                ),
            ])
        );
    }

    #[test]
    fn escapes_as_kibana_reads_them() {
        assert_eq!(
            parse(r#"a:foo \*bar and b:"x\.y\"z""#).unwrap(),
            Query::And(vec![
                Query::Field(
                    "a".into(),
                    Values::One(Value::Unquoted(vec![text("foo *bar")]))
                ),
                Query::Field("b".into(), Values::One(Value::Quoted("x\\.y\"z".into()))),
            ])
        );
    }

    #[test]
    fn what_is_not_read_says_so_and_where() {
        for (query, at, message) in [
            ("\"free text\"", 0, "free text"),
            ("a:x and b", 8, "`b` has no `:`"),
            ("a:{ b:c }", 2, "nested query on `a`"),
            ("a*:x", 1, "wildcard in a field name"),
            ("a:(x or y", 9, "expected `)`"),
            ("a:\"open", 2, "no closing"),
            ("a:x )", 4, "expected `and`, `or` or the end"),
        ] {
            let e = parse(query).expect_err(query);
            assert_eq!(e.at, at, "{query}: {e:?}");
            assert!(e.message.contains(message), "{query}: {e:?}");
        }
    }
}
