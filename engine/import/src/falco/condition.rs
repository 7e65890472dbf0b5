//! Falco's condition language, parsed into an [`Expr`] tree.
//!
//! The grammar is libsinsp's filter language: `and`, `or`, `not`, parentheses, macro names,
//! and checks `FIELD OP VALUE`, where FIELD may carry an argument (`jevt.value[/stage]`,
//! `ka.uri.param[command]`) and a transformer (`tolower(ka.user.name)`), VALUE is a bare word,
//! a quoted string, a parenthesised list or `val(FIELD)`, and `exists` takes no value. Every
//! node keeps its byte offset in the condition text, for error messages.

use std::fmt;

/// A comparison operator of Falco's condition language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=` or `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `contains`
    Contains,
    /// `icontains`
    IContains,
    /// `bcontains` (hex bytes)
    BContains,
    /// `startswith`
    StartsWith,
    /// `bstartswith` (hex bytes)
    BStartsWith,
    /// `endswith`
    EndsWith,
    /// `glob`
    Glob,
    /// `iglob`
    IGlob,
    /// `pmatch` (path prefixes)
    PMatch,
    /// `in`
    In,
    /// `intersects`
    Intersects,
    /// `exists`
    Exists,
    /// `regex`
    Regex,
}

/// The word operators, longest first where one is a prefix of another.
const WORD_OPS: &[(&str, Op)] = &[
    ("contains", Op::Contains),
    ("icontains", Op::IContains),
    ("bcontains", Op::BContains),
    ("startswith", Op::StartsWith),
    ("bstartswith", Op::BStartsWith),
    ("endswith", Op::EndsWith),
    ("glob", Op::Glob),
    ("iglob", Op::IGlob),
    ("pmatch", Op::PMatch),
    ("intersects", Op::Intersects),
    ("in", Op::In),
    ("exists", Op::Exists),
    ("regex", Op::Regex),
];

impl Op {
    /// How Falco writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            _ => WORD_OPS
                .iter()
                .find(|(_, op)| *op == self)
                .map_or("?", |(w, _)| w),
        }
    }

    /// Whether the operator takes a parenthesised list.
    pub fn takes_list(self) -> bool {
        matches!(self, Op::In | Op::Intersects | Op::PMatch)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field reference: `ka.user.name`, `jevt.value[/stage]`, `tolower(ka.user.name)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field's name, without argument: `jevt.value`.
    pub name: String,
    /// What was between `[` and `]`: `/stage`.
    pub arg: Option<String>,
    /// A transformer wrapped around it: `tolower`.
    pub transformer: Option<String>,
    /// Byte offset in the condition.
    pub at: usize,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(t) = &self.transformer {
            write!(f, "{t}(")?;
        }
        f.write_str(&self.name)?;
        if let Some(arg) = &self.arg {
            write!(f, "[{arg}]")?;
        }
        if self.transformer.is_some() {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// One value: a bare word (which may name a list, inside a list) or a quoted string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The text, unquoted.
    pub text: String,
    /// Whether it was quoted (a quoted word never names a list).
    pub quoted: bool,
}

/// The right side of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `exists` takes none.
    None,
    /// One value.
    One(Item),
    /// A parenthesised list.
    List(Vec<Item>),
    /// `val(FIELD)`: another field of the same event.
    Field(Field),
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// Every operand holds.
    And(Vec<Expr>),
    /// Some operand holds.
    Or(Vec<Expr>),
    /// The operand does not hold.
    Not(Box<Expr>),
    /// A bare name: a macro.
    Name {
        /// The macro's name.
        name: String,
        /// Byte offset in the condition.
        at: usize,
    },
    /// `FIELD OP VALUE`.
    Check {
        /// The field.
        field: Field,
        /// The operator.
        op: Op,
        /// The value.
        value: Value,
    },
}

/// A condition that does not parse: what and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// One line, lowercase.
    pub message: String,
    /// Byte offset in the condition.
    pub at: usize,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at character {})", self.message, self.at + 1)
    }
}

/// Parses a Falco condition.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    let mut p = Parser { text, pos: 0 };
    p.skip_ws();
    if p.pos == text.len() {
        return Err(p.error("the condition is empty"));
    }
    let expr = p.or_expr()?;
    p.skip_ws();
    if p.pos < text.len() {
        return Err(p.error(format!(
            "unexpected `{}`: expected `and`, `or` or the end of the condition",
            p.snippet()
        )));
    }
    Ok(expr)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A character that ends a bare word.
fn word_end(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | ',')
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            message: message.into(),
            at: self.pos,
        }
    }

    /// The word at the current position, for messages.
    fn snippet(&self) -> String {
        let rest = self.rest();
        let end = rest
            .char_indices()
            .find(|(i, c)| *i > 0 && (c.is_whitespace() || matches!(c, '(' | ')' | ',')))
            .map_or(rest.len(), |(i, _)| i);
        rest[..end.max(rest.chars().next().map_or(0, char::len_utf8))].to_owned()
    }

    /// Consumes `word` when it stands as a whole word here.
    fn keyword(&mut self, word: &str) -> bool {
        let rest = self.rest();
        if rest.starts_with(word) && !rest[word.len()..].starts_with(ident_char) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn or_expr(&mut self) -> Result<Expr, ParseError> {
        let mut parts = vec![self.and_expr()?];
        loop {
            self.skip_ws();
            if self.keyword("or") {
                parts.push(self.and_expr()?);
            } else {
                break;
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, ParseError> {
        let mut parts = vec![self.not_expr()?];
        loop {
            self.skip_ws();
            if self.keyword("and") {
                parts.push(self.not_expr()?);
            } else {
                break;
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn not_expr(&mut self) -> Result<Expr, ParseError> {
        self.skip_ws();
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.not_expr()?)));
        }
        self.check()
    }

    fn check(&mut self) -> Result<Expr, ParseError> {
        self.skip_ws();
        match self.peek() {
            None => return Err(self.error("the condition ends where a check was expected")),
            Some('(') => {
                self.pos += 1;
                let inner = self.or_expr()?;
                self.skip_ws();
                if self.peek() != Some(')') {
                    return Err(self.error("expected `)`"));
                }
                self.pos += 1;
                return Ok(inner);
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
            Some(_) => {
                return Err(self.error(format!(
                    "unexpected `{}`: expected a field, a macro or `(`",
                    self.snippet()
                )))
            }
        }
        let at = self.pos;
        let field = self.field()?;
        self.skip_ws();
        let Some(op) = self.operator() else {
            if field.arg.is_none() && field.transformer.is_none() && !field.name.contains('.') {
                return Ok(Expr::Name {
                    name: field.name,
                    at,
                });
            }
            return Err(if self.pos == self.text.len() {
                self.error(format!(
                    "`{field}` needs an operator, but the condition ends"
                ))
            } else {
                self.error(format!(
                    "unexpected `{}`: `{field}` needs an operator (`=`, `in`, `exists`...)",
                    self.snippet()
                ))
            });
        };
        let value = if op == Op::Exists {
            Value::None
        } else if op.takes_list() {
            self.skip_ws();
            if self.peek() != Some('(') {
                return Err(self.error(format!(
                    "`{op}` needs a parenthesised list, as in `{op} (a, b)`"
                )));
            }
            Value::List(self.list()?)
        } else {
            self.skip_ws();
            let rest = self.rest();
            if rest.starts_with("val(") {
                self.pos += 4;
                let f = self.field()?;
                self.skip_ws();
                if self.peek() != Some(')') {
                    return Err(self.error("expected `)` closing `val(`"));
                }
                self.pos += 1;
                Value::Field(f)
            } else if self.peek() == Some('(') {
                // A list where one value is expected: Falco accepts `= (a)`; keep it a list
                // only when it has several items.
                let mut items = self.list()?;
                if items.len() == 1 {
                    Value::One(items.remove(0))
                } else {
                    Value::List(items)
                }
            } else {
                Value::One(self.item(|c| word_end(c) && c != ',')?)
            }
        };
        Ok(Expr::Check { field, op, value })
    }

    /// `name`, `name[arg]` or `transformer(name[arg])`.
    fn field(&mut self) -> Result<Field, ParseError> {
        let at = self.pos;
        let name = self.name();
        if name.is_empty() {
            return Err(self.error(format!("expected a field, found `{}`", self.snippet())));
        }
        if self.peek() == Some('(') && !name.contains('.') {
            // A transformer: `tolower(ka.user.name)`.
            self.pos += 1;
            self.skip_ws();
            let mut inner = self.field()?;
            self.skip_ws();
            if self.peek() != Some(')') {
                return Err(self.error(format!("expected `)` closing `{name}(`")));
            }
            self.pos += 1;
            if inner.transformer.is_some() {
                return Err(ParseError {
                    message: "nested transformers are not supported".into(),
                    at,
                });
            }
            inner.transformer = Some(name);
            inner.at = at;
            return Ok(inner);
        }
        let arg = if self.peek() == Some('[') {
            let start = self.pos + 1;
            let Some(len) = self.text[start..].find(']') else {
                return Err(self.error("`[` without a closing `]`"));
            };
            self.pos = start + len + 1;
            Some(self.text[start..start + len].to_owned())
        } else {
            None
        };
        Ok(Field {
            name,
            arg,
            transformer: None,
            at,
        })
    }

    /// A name of letters, digits, `_`, `.` and `-` (field and macro names).
    fn name(&mut self) -> String {
        let rest = self.rest();
        let end = rest
            .char_indices()
            .find(|&(_, c)| !(ident_char(c) || c == '.' || c == '-'))
            .map_or(rest.len(), |(i, _)| i);
        // A trailing `.` or `-` is not part of the name.
        let name = rest[..end].trim_end_matches(['.', '-']).to_owned();
        self.pos += name.len();
        name
    }

    fn operator(&mut self) -> Option<Op> {
        let rest = self.rest();
        for (sym, op) in [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if rest.starts_with(sym) {
                self.pos += sym.len();
                return Some(op);
            }
        }
        let word_len = rest
            .char_indices()
            .find(|&(_, c)| !ident_char(c))
            .map_or(rest.len(), |(i, _)| i);
        let word = &rest[..word_len];
        let op = WORD_OPS
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, op)| *op)?;
        self.pos += word_len;
        Some(op)
    }

    /// `( item, item, ... )`
    fn list(&mut self) -> Result<Vec<Item>, ParseError> {
        self.pos += 1; // `(`
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some(')') => {
                    self.pos += 1;
                    return Ok(items);
                }
                None => return Err(self.error("the list is not closed: expected `)`")),
                _ => {}
            }
            items.push(self.item(word_end)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {}
                None => return Err(self.error("the list is not closed: expected `)`")),
                Some(_) => {
                    return Err(self.error(format!(
                        "unexpected `{}` in a list: expected `,` or `)`",
                        self.snippet()
                    )))
                }
            }
        }
    }

    /// A quoted string or a bare word ending where `end` says.
    fn item(&mut self, end: impl Fn(char) -> bool) -> Result<Item, ParseError> {
        match self.peek() {
            Some(q @ ('"' | '\'')) => {
                let start = self.pos;
                self.pos += 1;
                let mut text = String::new();
                let mut chars = self.rest().char_indices();
                while let Some((i, c)) = chars.next() {
                    if c == q {
                        self.pos += i + 1;
                        return Ok(Item { text, quoted: true });
                    }
                    if c == '\\' {
                        match chars.next() {
                            Some((_, n)) if n == q || n == '\\' => text.push(n),
                            Some((_, n)) => {
                                text.push('\\');
                                text.push(n);
                            }
                            None => text.push('\\'),
                        }
                    } else {
                        text.push(c);
                    }
                }
                self.pos = start;
                Err(self.error("the string is not closed"))
            }
            Some(_) => {
                let rest = self.rest();
                let len = rest
                    .char_indices()
                    .find(|&(_, c)| end(c))
                    .map_or(rest.len(), |(i, _)| i);
                if len == 0 {
                    return Err(self.error(format!("expected a value, found `{}`", self.snippet())));
                }
                let text = rest[..len].to_owned();
                self.pos += len;
                Ok(Item {
                    text,
                    quoted: false,
                })
            }
            None => Err(self.error("the condition ends where a value was expected")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str) -> Field {
        Field {
            name: name.into(),
            arg: None,
            transformer: None,
            at: 0,
        }
    }

    fn bare(text: &str) -> Item {
        Item {
            text: text.into(),
            quoted: false,
        }
    }

    /// The tree without offsets, as text, to compare shapes.
    fn shape(e: &Expr) -> String {
        match e {
            Expr::And(v) => format!(
                "and({})",
                v.iter().map(shape).collect::<Vec<_>>().join(", ")
            ),
            Expr::Or(v) => format!("or({})", v.iter().map(shape).collect::<Vec<_>>().join(", ")),
            Expr::Not(e) => format!("not({})", shape(e)),
            Expr::Name { name, .. } => name.clone(),
            Expr::Check { field, op, value } => {
                let v = match value {
                    Value::None => String::new(),
                    Value::One(i) if i.quoted => format!(" {:?}", i.text),
                    Value::One(i) => format!(" {}", i.text),
                    Value::List(items) => format!(
                        " ({})",
                        items
                            .iter()
                            .map(|i| i.text.clone())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Value::Field(f) => format!(" val({f})"),
                };
                format!("[{field} {op}{v}]")
            }
        }
    }

    fn parsed(text: &str) -> String {
        shape(&parse(text).unwrap_or_else(|e| panic!("{text}: {e}")))
    }

    #[test]
    fn precedence_and_grouping() {
        assert_eq!(
            parsed("kevt and not a or b and (c or d)"),
            "or(and(kevt, not(a)), and(b, or(c, d)))"
        );
        assert_eq!(parsed("not not a"), "not(not(a))");
    }

    #[test]
    fn checks_with_bare_quoted_and_listed_values() {
        assert_eq!(parsed("ka.verb=get"), "[ka.verb = get]");
        assert_eq!(
            parsed("ka.target.name startswith \"system:\""),
            "[ka.target.name startswith \"system:\"]"
        );
        assert_eq!(
            parsed("ka.uri startswith /healthz? or ka.uri=/livez"),
            "or([ka.uri startswith /healthz?], [ka.uri = /livez])"
        );
        assert_eq!(
            parsed("ka.verb in (create,update, \"patch\")"),
            "[ka.verb in (create, update, patch)]"
        );
        assert_eq!(
            parsed("(jevt.value[/stage] in (k8s_audit_stages))"),
            "[jevt.value[/stage] in (k8s_audit_stages)]"
        );
        assert_eq!(
            parsed("ka.target.subresource exists"),
            "[ka.target.subresource exists]"
        );
        assert_eq!(
            parsed("ka.response.code startswith 2"),
            "[ka.response.code startswith 2]"
        );
        assert_eq!(
            parsed("tolower(ka.user.name) = admin"),
            "[tolower(ka.user.name) = admin]"
        );
        assert_eq!(
            parsed("ka.user.name != val(ka.impuser.name)"),
            "[ka.user.name != val(ka.impuser.name)]"
        );
        assert_eq!(parsed("jevt.rawtime=0"), "[jevt.rawtime = 0]");
    }

    #[test]
    fn the_tree_keeps_fields_and_items() {
        let Expr::Check {
            field: f,
            op,
            value,
        } = parse("ka.req.pod.containers.image[0] in (a)").unwrap()
        else {
            panic!()
        };
        assert_eq!(f.name, "ka.req.pod.containers.image");
        assert_eq!(f.arg.as_deref(), Some("0"));
        assert_eq!(op, Op::In);
        assert_eq!(value, Value::List(vec![bare("a")]));
        assert_eq!(
            parse("ka.verb = get").unwrap(),
            Expr::Check {
                field: field("ka.verb"),
                op: Op::Eq,
                value: Value::One(bare("get"))
            }
        );
    }

    #[test]
    fn errors_say_what_and_where() {
        let e = parse("ka.verb in create").unwrap_err();
        assert_eq!(
            e.message,
            "`in` needs a parenthesised list, as in `in (a, b)`"
        );
        assert_eq!(e.at, 11);
        let e = parse("kevt and (a or b").unwrap_err();
        assert_eq!(e.message, "expected `)`");
        let e = parse("ka.verb").unwrap_err();
        assert_eq!(
            e.message,
            "`ka.verb` needs an operator, but the condition ends"
        );
        let e = parse("a b").unwrap_err();
        assert_eq!(
            e.message,
            "unexpected `b`: expected `and`, `or` or the end of the condition"
        );
        assert_eq!(e.at, 2);
        let e = parse("ka.verb = \"get").unwrap_err();
        assert_eq!(e.message, "the string is not closed");
        assert!(parse("  ").is_err());
        assert!(parse("ka.verb in (a, b").is_err());
    }
}
