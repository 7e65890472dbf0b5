//! Sigma detection conditions: `selection and not filter`, `1 of selection_*`, `all of them`,
//! parentheses; parsed into a tree over selection names.

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// A selection by name.
    Name(String),
    /// `1 of PATTERN` / `any of PATTERN` (`them` is the pattern `*` without `_` names).
    OneOf(String),
    /// `all of PATTERN`.
    AllOf(String),
    /// Both hold.
    And(Box<Cond>, Box<Cond>),
    /// Either holds.
    Or(Box<Cond>, Box<Cond>),
    /// Does not hold.
    Not(Box<Cond>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Open,
    Close,
    Pipe,
}

fn tokens(text: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Tok::Open);
            }
            ')' => {
                chars.next();
                out.push(Tok::Close);
            }
            '|' => {
                chars.next();
                out.push(Tok::Pipe);
            }
            c if c.is_alphanumeric() || "_*-.?".contains(c) => {
                let mut end = i;
                while let Some(&(j, c)) = chars.peek() {
                    if c.is_alphanumeric() || "_*-.?".contains(c) {
                        end = j + c.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Tok::Word(text[i..end].to_owned()));
            }
            c => return Err(format!("unexpected `{c}` in the condition `{text}`")),
        }
    }
    Ok(out)
}

/// Parses a condition string.
pub fn parse(text: &str) -> Result<Cond, String> {
    if text.contains('|') {
        return Err(format!(
            "the condition `{text}` uses a `|` aggregation (Sigma v1, deprecated): write a correlation rule instead"
        ));
    }
    let toks = tokens(text)?;
    let mut p = Parser { toks, pos: 0, text };
    let cond = p.or()?;
    if p.pos < p.toks.len() {
        return Err(format!(
            "unexpected {} in the condition `{text}`",
            p.describe(p.pos)
        ));
    }
    Ok(cond)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn describe(&self, pos: usize) -> String {
        match self.toks.get(pos) {
            Some(Tok::Word(w)) => format!("`{w}`"),
            Some(Tok::Open) => "`(`".into(),
            Some(Tok::Close) => "`)`".into(),
            Some(Tok::Pipe) => "`|`".into(),
            None => "end".into(),
        }
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self) -> Result<Cond, String> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Cond::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut left = self.not()?;
        while self.keyword("and") {
            self.pos += 1;
            let right = self.not()?;
            left = Cond::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Cond, String> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, String> {
        let text = self.text;
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Open) => {
                self.pos += 1;
                let inner = self.or()?;
                if self.toks.get(self.pos) != Some(&Tok::Close) {
                    return Err(format!(
                        "expected `)` but found {} in the condition `{text}`",
                        self.describe(self.pos)
                    ));
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Tok::Word(w)) => {
                self.pos += 1;
                let quantifier = w.to_ascii_lowercase();
                if matches!(quantifier.as_str(), "1" | "any" | "all") && self.keyword("of") {
                    self.pos += 1;
                    let Some(Tok::Word(pattern)) = self.toks.get(self.pos).cloned() else {
                        return Err(format!(
                            "expected a selection name or `them` after `{w} of` in the condition `{text}`"
                        ));
                    };
                    self.pos += 1;
                    return Ok(if quantifier == "all" {
                        Cond::AllOf(pattern)
                    } else {
                        Cond::OneOf(pattern)
                    });
                }
                if ["and", "or", "not", "of"].contains(&quantifier.as_str()) {
                    return Err(format!(
                        "expected a selection name but found `{w}` in the condition `{text}`"
                    ));
                }
                if let Some(n) = quantifier.parse::<u32>().ok().filter(|n| *n > 1) {
                    if self.keyword("of") {
                        return Err(format!(
                            "`{n} of` in the condition `{text}` is not part of Sigma: write `1 of` or `all of`"
                        ));
                    }
                }
                Ok(Cond::Name(w))
            }
            _ => Err(format!(
                "expected a selection name but found {} in the condition `{text}`",
                self.describe(self.pos)
            )),
        }
    }
}

/// Whether the selection `name` matches the `of` pattern (`*` any text; `them`: every name
/// that does not start with `_`).
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    if pattern == "them" {
        return !name.starts_with('_');
    }
    fn glob(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
            Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
        }
    }
    glob(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> Box<Cond> {
        Box::new(Cond::Name(n.into()))
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        assert_eq!(
            parse("a or not b and c").unwrap(),
            Cond::Or(
                name("a"),
                Box::new(Cond::And(Box::new(Cond::Not(name("b"))), name("c")))
            )
        );
        assert_eq!(
            parse("(a or b) and 1 of sel_* and not all of them").unwrap(),
            Cond::And(
                Box::new(Cond::And(
                    Box::new(Cond::Or(name("a"), name("b"))),
                    Box::new(Cond::OneOf("sel_*".into()))
                )),
                Box::new(Cond::Not(Box::new(Cond::AllOf("them".into()))))
            )
        );
    }

    #[test]
    fn bad_conditions_say_what_is_wrong() {
        assert!(parse("a and").unwrap_err().contains("found end"));
        assert!(parse("(a or b").unwrap_err().contains("expected `)`"));
        assert!(parse("sel | count() > 5")
            .unwrap_err()
            .contains("correlation"));
        assert!(parse("2 of sel*").unwrap_err().contains("`1 of`"));
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches("selection_*", "selection_status"));
        assert!(!pattern_matches("selection_*", "filter"));
        assert!(pattern_matches("them", "filter"));
        assert!(!pattern_matches("them", "_helper"));
    }
}
