//! EQL, the Event Query Language of Elastic's `eql` rules: parsed into a tree.
//!
//! What is read:
//! - `any where CONDITION` (an event query on every event category);
//! - `sequence [by FIELD, ...] [with maxspan=DURATION] [any where CONDITION] [by FIELD, ...] ...`;
//! - conditions: `and`, `or`, `not`, parentheses; `==`, `!=`, `<`, `<=`, `>`, `>=`; `:` (equal,
//!   ignoring case, with wildcards); `like`, `like~` (wildcards `*` and `?`); `in`, `in~`, `not
//!   in`; `regex`, `regex~`; `field == null`; the functions `startsWith`, `endsWith` and
//!   `stringContains` (and their `~` forms, ignoring case) of a field and a string;
//! - strings in `"..."` (with `\"`, `\\`, `\n`, `\t` escapes) and `"""..."""`, numbers, `true`,
//!   `false`, `null`; field names plain or in backquotes; `/* comments */` and `// comments`.
//!
//! Not read, and reported: event categories other than `any`, `until`, pipes (`| head`),
//! `runs=`, samples, other functions, and comparisons of two fields.

/// A query: one event query, or a sequence of them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Query {
    Event(Cond),
    Sequence {
        /// `sequence by ...`: the join keys of every step.
        by: Vec<String>,
        /// `with maxspan=5m`, as written.
        maxspan: Option<String>,
        /// Each step's condition and its own `by` keys.
        steps: Vec<(Cond, Vec<String>)>,
    },
}

/// A condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    Or(Vec<Cond>),
    And(Vec<Cond>),
    Not(Box<Cond>),
    /// `field OP values` (one value but for `in`, `like (...)` and the like).
    Cmp {
        field: String,
        op: Op,
        values: Vec<Lit>,
    },
    /// ES|QL's `KQL("""...""")`: a KQL query inside the condition.
    Kql(super::kql::Query),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `:`: equal ignoring case, `*` and `?` being wildcards.
    Colon,
    /// `like` (`true`: `like~`, ignoring case).
    Like(bool),
    /// `in` (`true`: `in~`).
    In(bool),
    /// `regex` (`true`: `regex~`).
    Regex(bool),
    /// `startsWith(field, "x")` (`true`: `startsWith~`).
    StartsWith(bool),
    EndsWith(bool),
    Contains(bool),
}

/// A literal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Str(String),
    /// A number, as written.
    Num(String),
    Bool(bool),
    Null,
}

pub(crate) use super::kql::SyntaxError;

/// Parses a whole condition (the `WHERE` of an ES|QL query): EQL's, and ES|QL's own forms
/// (`IS [NOT] NULL`, `[NOT] RLIKE`, `NOT LIKE`, `STARTS_WITH`, `ENDS_WITH`, `TO_STRING(field)`,
/// `KQL("""...""")`).
pub(crate) fn parse_condition(text: &str) -> Result<Cond, SyntaxError> {
    let mut p = Parser {
        text,
        at: 0,
        open_comment: None,
    };
    let cond = p.or()?;
    p.finish("`and`, `or` or the end of the condition")?;
    Ok(cond)
}

/// Parses an EQL query.
pub(crate) fn parse(text: &str) -> Result<Query, SyntaxError> {
    let mut p = Parser {
        text,
        at: 0,
        open_comment: None,
    };
    let query = if p.word("sequence") {
        p.sequence()?
    } else {
        Query::Event(p.event_query()?)
    };
    p.skip();
    if p.rest().starts_with('|') {
        return Err(p.unsupported("a pipe (`| ...`)"));
    }
    p.finish("the end of the query")?;
    Ok(query)
}

struct Parser<'t> {
    text: &'t str,
    at: usize,
    /// Where a `/*` without its `*/` starts, reported once the query is read.
    open_comment: Option<usize>,
}

impl Parser<'_> {
    /// The error for what is left at the end of the query, or for an unterminated comment.
    fn finish(&mut self, expected: &str) -> Result<(), SyntaxError> {
        self.skip();
        if let Some(at) = self.open_comment {
            return Err(SyntaxError {
                at,
                message: "a comment `/*` has no closing `*/`".into(),
            });
        }
        if self.at < self.text.len() {
            return Err(self.error(expected));
        }
        Ok(())
    }
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    /// Skips whitespace and comments.
    fn skip(&mut self) {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            let (blank, len) = (rest.len() - trimmed.len(), trimmed.len());
            let comment = if trimmed.starts_with("/*") {
                match trimmed.find("*/") {
                    Some(i) => i + 2,
                    None => {
                        self.open_comment.get_or_insert(self.at + blank);
                        len
                    }
                }
            } else if trimmed.starts_with("//") {
                trimmed.find('\n').unwrap_or(len)
            } else {
                0
            };
            self.at += blank + comment;
            if comment == 0 {
                return;
            }
        }
    }

    fn error(&self, expected: &str) -> SyntaxError {
        let near: String = self.rest().chars().take(20).collect();
        let found = if near.is_empty() {
            "the end of the query".to_owned()
        } else {
            format!("`{near}`")
        };
        SyntaxError {
            at: self.at,
            message: format!("expected {expected}, found {found}"),
        }
    }

    fn unsupported(&self, what: &str) -> SyntaxError {
        SyntaxError {
            at: self.at,
            message: format!("{what} is not translated"),
        }
    }

    /// Takes the word `w` (any case) when it comes next as a whole word.
    fn word(&mut self, w: &str) -> bool {
        self.skip();
        let rest = self.rest();
        let whole = rest.len() >= w.len()
            && rest.is_char_boundary(w.len())
            && rest[..w.len()].eq_ignore_ascii_case(w)
            && !rest[w.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '~');
        if whole {
            self.at += w.len();
        }
        whole
    }

    fn symbol(&mut self, s: &str) -> bool {
        self.skip();
        if self.rest().starts_with(s) {
            self.at += s.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, s: &str) -> Result<(), SyntaxError> {
        if self.symbol(s) {
            Ok(())
        } else {
            Err(self.error(&format!("`{s}`")))
        }
    }

    /// `any where CONDITION`.
    fn event_query(&mut self) -> Result<Cond, SyntaxError> {
        self.skip();
        if !self.word("any") {
            let category: String = self
                .rest()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if category.is_empty() {
                return Err(self.error("`any where`"));
            }
            return Err(self.unsupported(&format!(
                "the event category `{category}` (audit events are `any`)"
            )));
        }
        if !self.word("where") {
            return Err(self.error("`where`"));
        }
        self.or()
    }

    fn sequence(&mut self) -> Result<Query, SyntaxError> {
        let by = if self.word("by") {
            self.fields()?
        } else {
            Vec::new()
        };
        let mut maxspan = None;
        if self.word("with") {
            if !self.word("maxspan") {
                return Err(self.unsupported("a sequence option other than `maxspan`"));
            }
            self.expect("=")?;
            self.skip();
            let span: String = self
                .rest()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if span.is_empty() {
                return Err(self.error("a duration"));
            }
            self.at += span.len();
            maxspan = Some(span);
        }
        let mut steps = Vec::new();
        while self.symbol("[") {
            let cond = self.event_query()?;
            self.expect("]")?;
            if self.word("with") {
                return Err(self.unsupported("a step option (`with runs=...`)"));
            }
            let keys = if self.word("by") {
                self.fields()?
            } else {
                Vec::new()
            };
            steps.push((cond, keys));
        }
        if self.word("until") {
            return Err(self.unsupported("`until`"));
        }
        if steps.len() < 2 {
            return Err(self.error("a second `[any where ...]` step"));
        }
        Ok(Query::Sequence { by, maxspan, steps })
    }

    fn fields(&mut self) -> Result<Vec<String>, SyntaxError> {
        let mut fields = vec![self.field()?];
        while self.symbol(",") {
            fields.push(self.field()?);
        }
        Ok(fields)
    }

    fn field(&mut self) -> Result<String, SyntaxError> {
        self.skip();
        if let Some(rest) = self.rest().strip_prefix('`') {
            let Some(end) = rest.find('`') else {
                return Err(self.error("a closing backquote"));
            };
            let name = rest[..end].to_owned();
            self.at += end + 2;
            return Ok(name);
        }
        let name: String = self
            .rest()
            .chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '@' | '-'))
            .collect();
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(self.error("a field name"));
        }
        self.at += name.len();
        Ok(name)
    }

    /// `next (WORD next)*`: one condition as it is, several joined by `join`.
    fn joined(
        &mut self,
        word: &str,
        next: fn(&mut Self) -> Result<Cond, SyntaxError>,
        join: fn(Vec<Cond>) -> Cond,
    ) -> Result<Cond, SyntaxError> {
        let mut parts = vec![next(self)?];
        while self.word(word) {
            parts.push(next(self)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            join(parts)
        })
    }

    fn or(&mut self) -> Result<Cond, SyntaxError> {
        self.joined("or", Self::and, Cond::Or)
    }

    fn and(&mut self) -> Result<Cond, SyntaxError> {
        self.joined("and", Self::not, Cond::And)
    }

    fn not(&mut self) -> Result<Cond, SyntaxError> {
        if self.word("not") {
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        if self.symbol("(") {
            let inner = self.or()?;
            self.expect(")")?;
            return Ok(inner);
        }
        if self.word("true") {
            return Ok(Cond::And(Vec::new()));
        }
        if self.word("kql") {
            self.expect("(")?;
            let at = self.at;
            let Lit::Str(query) = self.literal()? else {
                return Err(self.error("a KQL query in a string"));
            };
            self.expect(")")?;
            let kql = super::kql::parse(&query).map_err(|e| SyntaxError {
                at,
                message: format!("in KQL(...): {}", e.message),
            })?;
            return Ok(Cond::Kql(kql));
        }
        if self.word("false") {
            return Ok(Cond::Or(Vec::new()));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Cond, SyntaxError> {
        self.skip();
        for (name, op) in [
            ("startsWith", Op::StartsWith as fn(bool) -> Op),
            ("starts_with", Op::StartsWith),
            ("endsWith", Op::EndsWith),
            ("ends_with", Op::EndsWith),
            ("stringContains", Op::Contains),
        ] {
            let rest = self.rest();
            if rest
                .get(..name.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(name))
                && matches!(rest.as_bytes().get(name.len()), Some(b'(' | b'~'))
            {
                self.at += name.len();
                let insensitive = self.symbol("~");
                self.expect("(")?;
                let field = self.field()?;
                self.expect(",")?;
                let value = self.literal()?;
                self.expect(")")?;
                return Ok(Cond::Cmp {
                    field,
                    op: op(insensitive),
                    values: vec![value],
                });
            }
        }
        let start = self.at;
        let mut field = self.field()?;
        self.skip();
        if self.rest().starts_with('(') {
            // ES|QL's `TO_STRING(field)`: the field, compared as text.
            if field.eq_ignore_ascii_case("to_string") {
                self.expect("(")?;
                field = self.field()?;
                self.expect(")")?;
            } else {
                self.at = start;
                return Err(self.unsupported(&format!("the function `{field}`")));
            }
        }
        // ES|QL's `IS NULL`, `IS NOT NULL`.
        if self.word("is") {
            let op = if self.word("not") { Op::Ne } else { Op::Eq };
            if !self.word("null") {
                return Err(self.error("`null`"));
            }
            return Ok(Cond::Cmp {
                field,
                op,
                values: vec![Lit::Null],
            });
        }
        // `not in`, and ES|QL's `not like`, `not rlike`.
        let negated = {
            let save = self.at;
            if self.word("not") && (self.word("in") || self.word("like") || self.word("rlike")) {
                self.at = save;
                self.word("not");
                true
            } else {
                self.at = save;
                false
            }
        };
        let op = if self.word("rlike") {
            Op::Regex(false)
        } else if negated && self.word("in") {
            Op::In(self.symbol("~"))
        } else if self.symbol("==") {
            Op::Eq
        } else if self.symbol("!=") {
            Op::Ne
        } else if self.symbol("<=") {
            Op::Le
        } else if self.symbol(">=") {
            Op::Ge
        } else if self.symbol("<") {
            Op::Lt
        } else if self.symbol(">") {
            Op::Gt
        } else if self.symbol(":") {
            Op::Colon
        } else if self.word("like") {
            Op::Like(self.symbol("~"))
        } else if self.rest().starts_with("like~") {
            self.at += 5;
            Op::Like(true)
        } else if self.word("in") {
            Op::In(false)
        } else if self.rest().starts_with("in~") {
            self.at += 3;
            Op::In(true)
        } else if self.word("regex") {
            Op::Regex(self.symbol("~"))
        } else if self.rest().starts_with("regex~") {
            self.at += 6;
            Op::Regex(true)
        } else {
            return Err(self.error(&format!("a comparison after `{field}`")));
        };
        let values = if self.symbol("(") {
            let mut values = vec![self.literal()?];
            while self.symbol(",") {
                values.push(self.literal()?);
            }
            self.expect(")")?;
            values
        } else {
            vec![self.literal()?]
        };
        let cmp = Cond::Cmp { field, op, values };
        Ok(if negated {
            Cond::Not(Box::new(cmp))
        } else {
            cmp
        })
    }

    fn literal(&mut self) -> Result<Lit, SyntaxError> {
        self.skip();
        let rest = self.rest();
        if let Some(raw) = rest.strip_prefix("\"\"\"") {
            let Some(end) = raw.find("\"\"\"") else {
                return Err(self.error("a closing `\"\"\"`"));
            };
            let text = raw[..end].to_owned();
            self.at += end + 6;
            return Ok(Lit::Str(text));
        }
        if rest.starts_with('"') {
            return self.string();
        }
        if rest.starts_with('`') || rest.starts_with(|c: char| c.is_alphabetic() || c == '_') {
            for (word, lit) in [
                ("true", Lit::Bool(true)),
                ("false", Lit::Bool(false)),
                ("null", Lit::Null),
            ] {
                if self.word(word) {
                    return Ok(lit);
                }
            }
            return Err(self.unsupported("a comparison of two fields"));
        }
        let number: String = rest
            .chars()
            .enumerate()
            .take_while(|(i, c)| c.is_ascii_digit() || *c == '.' || (*i == 0 && *c == '-'))
            .map(|(_, c)| c)
            .collect();
        if number.parse::<f64>().is_ok() {
            self.at += number.len();
            return Ok(Lit::Num(number));
        }
        Err(self.error("a string, number, `true`, `false` or `null`"))
    }

    fn string(&mut self) -> Result<Lit, SyntaxError> {
        let start = self.at;
        self.at += 1;
        let mut text = String::new();
        loop {
            let Some(c) = self.rest().chars().next() else {
                return Err(SyntaxError {
                    at: start,
                    message: "a string has no closing `\"`".into(),
                });
            };
            self.at += c.len_utf8();
            match c {
                '"' => return Ok(Lit::Str(text)),
                '\\' => {
                    let Some(e) = self.rest().chars().next() else {
                        continue;
                    };
                    self.at += e.len_utf8();
                    text.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        e => e,
                    });
                }
                c => text.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(field: &str, op: Op, values: &[Lit]) -> Cond {
        Cond::Cmp {
            field: field.into(),
            op,
            values: values.to_vec(),
        }
    }

    fn s(text: &str) -> Lit {
        Lit::Str(text.into())
    }

    #[test]
    fn event_queries_and_their_operators() {
        let q = parse(
            "any where a.b == \"x\" and /* note */ `c.d/e` in (\"p\", \"q\") and\n\
             not f like~ \"g*\" and h not in (1, 2) or i == null or startsWith~(j, \"k\")",
        )
        .unwrap();
        assert_eq!(
            q,
            Query::Event(Cond::Or(vec![
                Cond::And(vec![
                    cmp("a.b", Op::Eq, &[s("x")]),
                    cmp("c.d/e", Op::In(false), &[s("p"), s("q")]),
                    Cond::Not(Box::new(cmp("f", Op::Like(true), &[s("g*")]))),
                    Cond::Not(Box::new(cmp(
                        "h",
                        Op::In(false),
                        &[Lit::Num("1".into()), Lit::Num("2".into())]
                    ))),
                ]),
                cmp("i", Op::Eq, &[Lit::Null]),
                cmp("j", Op::StartsWith(true), &[s("k")]),
            ]))
        );
    }

    #[test]
    fn sequences_with_keys_and_a_window() {
        let q = parse(
            "sequence by user.name with maxspan=5m\n  [any where a == 1]\n  [any where b : \"x*\"] by c",
        )
        .unwrap();
        assert_eq!(
            q,
            Query::Sequence {
                by: vec!["user.name".into()],
                maxspan: Some("5m".into()),
                steps: vec![
                    (cmp("a", Op::Eq, &[Lit::Num("1".into())]), vec![]),
                    (cmp("b", Op::Colon, &[s("x*")]), vec!["c".into()]),
                ],
            }
        );
    }

    #[test]
    fn what_is_not_read_says_so() {
        for (query, message) in [
            ("process where true", "event category `process`"),
            ("any where a == b", "comparison of two fields"),
            ("any where length(a) > 3", "the function `length`"),
            ("any where a == 1 | head 5", "pipe"),
            (
                "sequence [any where a == 1] [any where b == 2] until [any where c == 3]",
                "`until`",
            ),
            (
                "sequence [any where a == 1]",
                "second `[any where ...]` step",
            ),
            ("any where a == \"open", "no closing"),
            (
                "any where a\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9} 1",
                "a comparison",
            ),
            ("any where a == 1 /* open", "no closing `*/`"),
        ] {
            let e = parse(query).expect_err(query);
            assert!(e.message.contains(message), "{query}: {e:?}");
        }
    }
}
