//! Sigma detection items (`field|modifier|...: value or list`) as k8scop conditions.
//!
//! The translation follows the Sigma specification (v2) and gives, on every audit event, the
//! result a Sigma engine gives (rsigma is the reference the parity test checks): strings match
//! case-insensitively unless `|cased`, `*` and `?` are wildcards (`\*`, `\?` and `\\` escape
//! them), a list is any of its values (every one with `|all`), a `null` value is a missing field.
//! Where the k8scop operator is case-sensitive, the comparison becomes a `(?i)` regular
//! expression built exactly as a Sigma engine builds it; a value without letters keeps `==`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_yaml_ng::Value;

use crate::write::{path, quote, quote_list, Expr};

/// A value of a detection item.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// A string, wildcards not yet interpreted.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`: the field is missing.
    Null,
}

impl Val {
    /// The value of a YAML scalar; `None` for a sequence or mapping.
    pub fn of(v: &Value) -> Option<Val> {
        Some(match v {
            Value::String(s) => Val::Str(s.clone()),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Val::Int(i),
                None => Val::Float(n.as_f64()?),
            },
            Value::Bool(b) => Val::Bool(*b),
            Value::Null => Val::Null,
            _ => return None,
        })
    }

    fn text(&self) -> String {
        match self {
            Val::Str(s) => s.clone(),
            Val::Int(i) => i.to_string(),
            Val::Float(f) => f.to_string(),
            Val::Bool(b) => b.to_string(),
            Val::Null => String::new(),
        }
    }
}

/// The modifiers of one detection item.
#[derive(Debug, Default, Clone)]
pub struct Mods {
    contains: bool,
    startswith: bool,
    endswith: bool,
    all: bool,
    base64: bool,
    base64offset: bool,
    wide: bool,
    utf16be: bool,
    utf16: bool,
    windash: bool,
    re: bool,
    re_i: bool,
    re_m: bool,
    re_s: bool,
    cidr: bool,
    cased: bool,
    exists: bool,
    expand: bool,
    fieldref: bool,
    cmp: Option<&'static str>,
    neq: bool,
    time_part: Option<String>,
}

impl Mods {
    /// Parses the modifier names that follow the field name.
    pub fn parse(names: &[&str]) -> Result<Mods, String> {
        let mut m = Mods::default();
        for name in names {
            match *name {
                "contains" => m.contains = true,
                "startswith" => m.startswith = true,
                "endswith" => m.endswith = true,
                "all" => m.all = true,
                "base64" => m.base64 = true,
                "base64offset" => m.base64offset = true,
                "wide" | "utf16le" => m.wide = true,
                "utf16be" => m.utf16be = true,
                "utf16" => m.utf16 = true,
                "windash" => m.windash = true,
                "re" => m.re = true,
                "i" => m.re_i = true,
                "m" => m.re_m = true,
                "s" => m.re_s = true,
                "cidr" => m.cidr = true,
                "cased" => m.cased = true,
                "exists" => m.exists = true,
                "expand" => m.expand = true,
                "fieldref" => m.fieldref = true,
                "gt" => m.cmp = Some(">"),
                "gte" => m.cmp = Some(">="),
                "lt" => m.cmp = Some("<"),
                "lte" => m.cmp = Some("<="),
                "neq" => m.neq = true,
                "minute" | "hour" | "day" | "week" | "month" | "year" => {
                    m.time_part = Some((*name).to_owned())
                }
                other => return Err(format!("unknown modifier `{other}`")),
            }
        }
        let string_ops = [m.contains, m.startswith, m.endswith]
            .iter()
            .filter(|b| **b)
            .count();
        if string_ops > 1 {
            return Err("`contains`, `startswith` and `endswith` exclude each other".into());
        }
        if (m.re_i || m.re_m || m.re_s) && !m.re {
            return Err("the regular expression flags `i`, `m` and `s` need `re`".into());
        }
        if (m.wide || m.utf16 || m.utf16be) && !(m.base64 || m.base64offset) {
            return Err(
                "`wide`/`utf16*` change the bytes of the value, which only a following `base64` or `base64offset` makes text; a JSON audit event holds no UTF-16"
                    .into(),
            );
        }
        Ok(m)
    }

    fn ci(&self) -> bool {
        !self.cased
    }
}

/// How one value compares, before values of a list are merged.
enum Piece {
    /// Case-insensitive equality with a text that has letters: merged into one regex.
    EqCi(String),
    /// Exact equality with a literal (a quoted string or a number): merged into `in [...]`.
    Eq(String),
    /// `OP "text"` for a string operator: merged into `OP [..]` with the other values of `OP`.
    Op(&'static str, String),
    /// Anything else.
    Other(Expr),
}

/// Whether case matters anywhere in `s`.
fn has_case(s: &str) -> bool {
    s.chars().any(|c| c.to_lowercase().ne(c.to_uppercase()))
}

/// A Sigma string split at its wildcards: `\*`, `\?` and `\\` are literal, any other backslash
/// stays as it is.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Star,
    One,
}

fn sigma_parts(s: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut acc = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    acc.push(n);
                    chars.next();
                }
                _ => acc.push('\\'),
            },
            '*' | '?' => {
                if !acc.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut acc)));
                }
                parts.push(if c == '*' { Part::Star } else { Part::One });
            }
            c => acc.push(c),
        }
    }
    if !acc.is_empty() {
        parts.push(Part::Text(acc));
    }
    parts
}

fn plain(parts: &[Part]) -> Option<String> {
    let mut out = String::new();
    for p in parts {
        match p {
            Part::Text(t) => out.push_str(t),
            _ => return None,
        }
    }
    Some(out)
}

/// Translates one detection item: `field` (None for a keyword), its modifiers and values.
pub fn item(field: Option<&str>, mods: &Mods, values: &[Val]) -> Result<Expr, String> {
    let Some(field) = field else {
        return Err(
            "modifiers on keywords (a key with no field name) are not translated: write the keywords as a list, or name the field they are in"
                .into(),
        );
    };
    let segments: Vec<&str> = field.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(format!("the field name `{field}` has an empty segment"));
    }
    let f = path(&segments);
    if mods.exists {
        return match values {
            [Val::Bool(true)] => Ok(Expr::Atom(format!("exists {f}"))),
            [Val::Bool(false)] => Ok(Expr::negate(Expr::Atom(format!("exists {f}")))),
            _ => Err(format!("`{field}|exists` takes `true` or `false`")),
        };
    }
    if values.is_empty() {
        return Err(format!("`{field}` has an empty list of values"));
    }
    let mut pieces = Vec::new();
    for v in values {
        pieces.extend(value(&f, field, mods, v)?);
    }
    let exprs = merge(&f, pieces, mods.all);
    let expr = if mods.all {
        Expr::and(exprs)
    } else {
        Expr::or(exprs)
    };
    Ok(if mods.neq {
        // A Sigma engine's `neq` is false on a missing field: the comparison needs a value.
        Expr::and(vec![Expr::Atom(format!("exists {f}")), Expr::negate(expr)])
    } else {
        expr
    })
}

/// Keywords, values without a field: any of them in any string of the event, at any depth
/// (`**`), as a Sigma engine searches them: anywhere in the string (wildcards `*` and `?`
/// included), ignoring case.
pub fn keywords(values: &[Val]) -> Result<Expr, String> {
    if values.is_empty() {
        return Err("an empty list of keywords".into());
    }
    let mut pieces = Vec::new();
    for v in values {
        let Val::Str(_) = v else {
            return Err(format!(
                "the keyword `{}` is not a string: a Sigma engine searches the event's strings only, so it never matches; quote it to search for its text",
                v.text()
            ));
        };
        let contains = Mods {
            contains: true,
            ..Mods::default()
        };
        pieces.extend(value(ANYWHERE, "keywords", &contains, v)?);
    }
    Ok(Expr::or(merge(ANYWHERE, pieces, false)))
}

/// The k8scop path of every value of the event, at any depth.
const ANYWHERE: &str = "**";

/// The pieces one value gives: several for `base64offset` and `windash`, which stand for any
/// of their variants.
fn value(f: &str, field: &str, mods: &Mods, v: &Val) -> Result<Vec<Piece>, String> {
    if mods.expand {
        return Err(format!(
            "`{field}|expand` takes its placeholders (%name%) from a processing pipeline's variables; k8scop has none: write the values"
        ));
    }
    if let Some(part) = &mods.time_part {
        return time_part(f, field, part, mods, v);
    }
    if mods.fieldref {
        let Val::Str(other) = v else {
            return Err(format!("`{field}|fieldref` takes a field name"));
        };
        if sigma_parts(other)
            .iter()
            .any(|p| !matches!(p, Part::Text(_)))
        {
            return Err(format!("`{field}|fieldref` names a field with a wildcard"));
        }
        let segs: Vec<&str> = other.split('.').collect();
        let g = path(&segs);
        let op = if mods.contains {
            "contains"
        } else if mods.startswith {
            "startswith"
        } else if mods.endswith {
            "endswith"
        } else {
            "=="
        };
        let atom = if mods.ci() {
            format!("lower({f}) {op} lower({g})")
        } else {
            format!("{f} {op} {g}")
        };
        return Ok(vec![Piece::Other(Expr::Atom(atom))]);
    }
    if mods.re {
        let Val::Str(pattern) = v else {
            return Err(format!("`{field}|re` takes a regular expression"));
        };
        let mut flags = String::new();
        for (on, flag) in [(mods.re_i, 'i'), (mods.re_m, 'm'), (mods.re_s, 's')] {
            if on {
                flags.push(flag);
            }
        }
        let full = if flags.is_empty() {
            pattern.clone()
        } else {
            format!("(?{flags}){pattern}")
        };
        if let Err(e) = regex::Regex::new(&full) {
            return Err(format!(
                "the regular expression `{pattern}` of `{field}` is not valid in Rust's regex syntax (no look-around, no back-references): {}",
                e.to_string().lines().last().unwrap_or("invalid")
            ));
        }
        return Ok(vec![Piece::Other(Expr::Atom(format!(
            "{f} matches {}",
            quote(&full)
        )))]);
    }
    if mods.cidr {
        let Val::Str(range) = v else {
            return Err(format!("`{field}|cidr` takes a CIDR range"));
        };
        return Ok(vec![Piece::Other(Expr::Atom(format!(
            "{f} cidr {}",
            quote(range)
        )))]);
    }
    if let Some(op) = mods.cmp {
        let n = match v {
            Val::Int(i) => i.to_string(),
            Val::Float(x) => x.to_string(),
            Val::Str(s) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => s.trim().to_owned(),
            _ => return Err(format!("`{field}|{op}` takes a number")),
        };
        return Ok(vec![Piece::Other(Expr::Atom(format!("{f} {op} {n}")))]);
    }
    let string_op = mods.contains || mods.startswith || mods.endswith;
    let s = match v {
        Val::Int(_) | Val::Float(_) if !string_op => return Ok(vec![Piece::Eq(v.text())]),
        Val::Bool(b) => return Ok(vec![Piece::Other(Expr::Atom(format!("{f} == {b}")))]),
        Val::Null => {
            return Ok(vec![Piece::Other(Expr::negate(Expr::Atom(format!(
                "exists {f}"
            ))))])
        }
        Val::Int(_) | Val::Float(_) => v.text(),
        Val::Str(s) => s.clone(),
    };
    if mods.base64 || mods.base64offset {
        let Some(text) = plain(&sigma_parts(&s)) else {
            return Err(format!(
                "`{field}|base64` of a value with wildcards cannot be encoded"
            ));
        };
        let bytes = encode_bytes(&text, mods);
        if mods.base64 {
            return Ok(vec![string_piece(mods, &BASE64.encode(bytes))]);
        }
        // base64offset: the three alignments, always a substring match.
        let contains = Mods {
            contains: true,
            startswith: false,
            endswith: false,
            ..mods.clone()
        };
        return Ok(base64_offsets(&bytes)
            .iter()
            .map(|p| string_piece(&contains, p))
            .collect());
    }
    if mods.windash {
        let Some(text) = plain(&sigma_parts(&s)) else {
            return Err(format!(
                "`{field}|windash` of a value with wildcards is not translated"
            ));
        };
        return windash(&text)
            .map(|variants| variants.iter().map(|t| string_piece(mods, t)).collect())
            .ok_or_else(|| format!("`{field}|windash`: the value has more than 4 dashes"));
    }
    let parts = sigma_parts(&s);
    if let Some(text) = plain(&parts) {
        // A Sigma engine compares the text of a number too: `'403'` matches the number 403.
        if !string_op && text.parse::<i64>().is_ok_and(|n| n.to_string() == text) {
            return Ok(vec![Piece::Eq(quote(&text)), Piece::Eq(text)]);
        }
        return Ok(vec![string_piece(mods, &text)]);
    }
    // Wildcards: the regular expression a Sigma engine builds.
    let mut re = String::new();
    if mods.ci() {
        re.push_str("(?i)");
    }
    if !mods.contains && !mods.startswith {
        re.push('^');
    }
    for p in &parts {
        match p {
            Part::Text(t) => re.push_str(&regex::escape(t)),
            Part::Star => re.push_str(".*"),
            Part::One => re.push('.'),
        }
    }
    if !mods.contains && !mods.endswith {
        re.push('$');
    }
    Ok(vec![Piece::Other(Expr::Atom(format!(
        "{f} matches {}",
        quote(&re)
    )))])
}

/// `field|hour: N` (or `|minute`, `|day`, `|week`, `|month`, `|year`): that part of the
/// timestamp, in UTC, compared for equality as a Sigma engine does, with k8scop's `hour` or
/// `time_part` (of an RFC 3339 text or epoch seconds).
fn time_part(f: &str, field: &str, part: &str, mods: &Mods, v: &Val) -> Result<Vec<Piece>, String> {
    let others = [
        mods.contains,
        mods.startswith,
        mods.endswith,
        mods.base64,
        mods.base64offset,
        mods.windash,
        mods.re,
        mods.cidr,
        mods.fieldref,
        mods.neq,
        mods.cmp.is_some(),
    ];
    if others.iter().any(|m| *m) {
        return Err(format!(
            "`{field}|{part}` compares the {part} for equality; with another comparison modifier it is not translated"
        ));
    }
    let n = match v {
        Val::Int(n) => *n,
        Val::Str(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("`{field}|{part}` takes a whole number, not `{s}`"))?,
        _ => return Err(format!("`{field}|{part}` takes a whole number")),
    };
    let call = if part == "hour" {
        format!("hour({f})")
    } else {
        format!("time_part({f}, {})", quote(part))
    };
    Ok(vec![Piece::Other(Expr::Atom(format!("{call} == {n}")))])
}

/// A plain text compared with the item's string operator.
fn string_piece(mods: &Mods, text: &str) -> Piece {
    let op = if mods.contains {
        "contains"
    } else if mods.startswith {
        "startswith"
    } else if mods.endswith {
        "endswith"
    } else if mods.ci() && has_case(text) {
        return Piece::EqCi(text.to_owned());
    } else {
        return Piece::Eq(quote(text));
    };
    if mods.ci() && has_case(text) {
        let op = match op {
            "contains" => "icontains",
            "startswith" => "istartswith",
            _ => "iendswith",
        };
        Piece::Op(op, text.to_owned())
    } else {
        Piece::Op(op, text.to_owned())
    }
}

/// Merges the pieces of one item's values: all case-insensitive equalities into one regular
/// expression, exact equalities into one `in`, each string operator into one list.
fn merge(f: &str, pieces: Vec<Piece>, all: bool) -> Vec<Expr> {
    if all {
        return pieces
            .into_iter()
            .map(|p| match p {
                Piece::EqCi(t) => Expr::Atom(format!(
                    "{f} matches {}",
                    quote(&format!("(?i)^{}$", regex::escape(&t)))
                )),
                Piece::Eq(lit) => Expr::Atom(format!("{f} == {lit}")),
                Piece::Op(op, t) => Expr::Atom(format!("{f} {op} {}", quote(&t))),
                Piece::Other(e) => e,
            })
            .collect();
    }
    let mut ci = Vec::new();
    let mut eq = Vec::new();
    let mut ops: Vec<(&'static str, Vec<String>)> = Vec::new();
    let mut out = Vec::new();
    for p in pieces {
        match p {
            Piece::EqCi(t) => ci.push(regex::escape(&t)),
            Piece::Eq(lit) => {
                if !eq.contains(&lit) {
                    eq.push(lit)
                }
            }
            Piece::Op(op, t) => match ops.iter_mut().find(|(o, _)| *o == op) {
                Some((_, list)) => list.push(t),
                None => ops.push((op, vec![t])),
            },
            Piece::Other(e) => out.push(e),
        }
    }
    let mut merged = Vec::new();
    match eq.len() {
        0 => {}
        1 => merged.push(Expr::Atom(format!("{f} == {}", eq[0]))),
        _ => merged.push(Expr::Atom(format!("{f} in [{}]", eq.join(", ")))),
    }
    match ci.len() {
        0 => {}
        1 => merged.push(Expr::Atom(format!(
            "{f} matches {}",
            quote(&format!("(?i)^{}$", ci[0]))
        ))),
        _ => merged.push(Expr::Atom(format!(
            "{f} matches {}",
            quote(&format!("(?i)^(?:{})$", ci.join("|")))
        ))),
    }
    for (op, list) in ops {
        merged.push(Expr::Atom(if list.len() == 1 {
            format!("{f} {op} {}", quote(&list[0]))
        } else {
            format!("{f} {op} {}", quote_list(&list))
        }));
    }
    merged.extend(out);
    merged
}

fn encode_bytes(text: &str, mods: &Mods) -> Vec<u8> {
    let units: Vec<u16> = text.encode_utf16().collect();
    if mods.wide {
        units.iter().flat_map(|u| u.to_le_bytes()).collect()
    } else if mods.utf16be {
        units.iter().flat_map(|u| u.to_be_bytes()).collect()
    } else if mods.utf16 {
        let mut out = vec![0xff, 0xfe];
        out.extend(units.iter().flat_map(|u| u.to_le_bytes()));
        out
    } else {
        text.as_bytes().to_vec()
    }
}

/// The base64 texts of `bytes` at the three alignments it can have inside a longer encoded
/// value, without the characters that depend on its neighbours.
fn base64_offsets(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for offset in 0..3usize {
        let mut padded = vec![0u8; offset];
        padded.extend_from_slice(bytes);
        let encoded = BASE64.encode(&padded);
        let start = (offset * 4).div_ceil(3);
        let trimmed = encoded.trim_end_matches('=');
        // The last character depends on the bytes after the value unless it ends a group.
        let end = match (offset + bytes.len()) % 3 {
            0 => trimmed.len(),
            _ => trimmed.len() - 1,
        };
        if start < end {
            out.push(trimmed[start..end].to_owned());
        }
    }
    out
}

/// The Windows dash variants of a command-line flag: every `-` as `-`, `/`, `–`, `—` or `―`.
fn windash(text: &str) -> Option<Vec<String>> {
    const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
    let n = text.matches('-').count();
    if n > 4 {
        return None;
    }
    let mut variants = vec![String::new()];
    for c in text.chars() {
        if c == '-' {
            variants = variants
                .iter()
                .flat_map(|v| DASHES.iter().map(move |d| format!("{v}{d}")))
                .collect();
        } else {
            for v in &mut variants {
                v.push(c);
            }
        }
    }
    Some(variants)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(field: &str, mods: &[&str], values: &[Val]) -> String {
        item(Some(field), &Mods::parse(mods).unwrap(), values)
            .unwrap()
            .render()
    }

    fn s(v: &str) -> Val {
        Val::Str(v.into())
    }

    #[test]
    fn plain_values_are_case_insensitive_equalities() {
        assert_eq!(
            tr("verb", &[], &[s("delete")]),
            r#"verb matches "(?i)^delete$""#
        );
        assert_eq!(
            tr("verb", &[], &[s("create"), s("patch")]),
            r#"verb matches "(?i)^(?:create|patch)$""#
        );
        assert_eq!(
            tr("verb", &["cased"], &[s("delete")]),
            r#"verb == "delete""#
        );
        assert_eq!(
            tr("objectRef.apiGroup", &[], &[s("rbac.authorization.k8s.io")]),
            r#"objectRef.apiGroup matches "(?i)^rbac\\.authorization\\.k8s\\.io$""#
        );
        assert_eq!(
            tr("responseStatus.code", &[], &[Val::Int(401), Val::Int(403)]),
            "responseStatus.code in [401, 403]"
        );
        assert_eq!(
            tr("responseStatus.code", &[], &[s("403")]),
            r#"responseStatus.code in ["403", 403]"#
        );
        assert_eq!(
            tr("sourceIPs", &[], &[s("10.0.0.1")]),
            r#"sourceIPs == "10.0.0.1""#
        );
    }

    #[test]
    fn string_modifiers() {
        assert_eq!(
            tr(
                "requestURI",
                &["contains"],
                &[s("%2fbin%2fsh"), s("/bin/sh")]
            ),
            r#"requestURI icontains ["%2fbin%2fsh", "/bin/sh"]"#
        );
        assert_eq!(
            tr("requestURI", &["contains"], &[s("/1/")]),
            r#"requestURI contains "/1/""#
        );
        assert_eq!(
            tr("userAgent", &["startswith", "cased"], &[s("kubectl")]),
            r#"userAgent startswith "kubectl""#
        );
        assert_eq!(
            tr("userAgent", &["contains", "all"], &[s("a"), s("b")]),
            r#"userAgent icontains "a" and userAgent icontains "b""#
        );
    }

    #[test]
    fn wildcards_become_the_regex_a_sigma_engine_builds() {
        assert_eq!(
            tr("hostPath", &[], &[s("*")]),
            r#"hostPath matches "(?i)^.*$""#
        );
        assert_eq!(
            tr("user.username", &[], &[s("system:?x*")]),
            r#"user.username matches "(?i)^system:.x.*$""#
        );
        assert_eq!(
            tr("a", &["contains"], &[s(r"x\*y*z")]),
            r#"a matches "(?i)x\\*y.*z""#
        );
    }

    #[test]
    fn other_modifiers() {
        assert_eq!(tr("a", &["re"], &[s(r"^\d+$")]), r#"a matches "^\\d+$""#);
        assert_eq!(
            tr("a", &["re", "i", "s"], &[s("x.y")]),
            r#"a matches "(?is)x.y""#
        );
        assert_eq!(
            tr("sourceIPs", &["cidr"], &[s("10.0.0.0/8")]),
            r#"sourceIPs cidr "10.0.0.0/8""#
        );
        assert_eq!(tr("a", &["exists"], &[Val::Bool(false)]), "not exists a");
        assert_eq!(tr("a", &[], &[Val::Null]), "not exists a");
        assert_eq!(
            tr("responseStatus.code", &["gte"], &[Val::Int(400)]),
            "responseStatus.code >= 400"
        );
        assert_eq!(
            tr("a", &["neq"], &[s("x")]),
            r#"exists a and not a matches "(?i)^x$""#
        );
        assert_eq!(
            tr("a", &["fieldref"], &[s("b.c")]),
            "lower(a) == lower(b.c)"
        );
        assert_eq!(tr("a", &["base64", "cased"], &[s("hi")]), r#"a == "aGk=""#);
        assert_eq!(
            tr("a", &["base64offset", "contains", "cased"], &[s("/bin/sh")]),
            r#"a contains ["L2Jpbi9za", "9iaW4vc2", "vYmluL3No"]"#
        );
        assert_eq!(
            tr("a", &["windash", "contains"], &[s("-e")])
                .matches("icontains")
                .count(),
            1
        );
        assert!(tr("a", &["windash", "contains"], &[s("-e")]).contains("\u{2015}e"));
        assert_eq!(
            tr(
                "requestReceivedTimestamp",
                &["hour"],
                &[Val::Int(22), s("23")]
            ),
            "hour(requestReceivedTimestamp) == 22 or hour(requestReceivedTimestamp) == 23"
        );
        assert_eq!(
            tr("t", &["week"], &[Val::Int(1)]),
            r#"time_part(t, "week") == 1"#
        );
    }

    #[test]
    fn keywords_search_every_string_of_the_event() {
        // Anywhere in a string, ignoring case; wildcards too (a Sigma engine's keyword search).
        assert_eq!(
            keywords(&[s("TruffleHog"), s("mimikatz"), s("kubectl/v2*")])
                .unwrap()
                .render(),
            r#"** icontains ["TruffleHog", "mimikatz"] or ** matches "(?i)kubectl/v2.*""#
        );
        // Text without letters has no case to ignore.
        assert_eq!(
            keywords(&[s("10.0.0.")]).unwrap().render(),
            r#"** contains "10.0.0.""#
        );
        let err = keywords(&[s("a"), Val::Int(4688)]).unwrap_err();
        assert!(err.contains("quote it"), "{err}");
        assert!(keywords(&[]).is_err());
    }

    #[test]
    fn untranslatable_items_say_why() {
        let err = |field: Option<&str>, mods: &[&str], v: Val| {
            item(field, &Mods::parse(mods).unwrap(), &[v]).unwrap_err()
        };
        assert!(err(None, &[], s("x")).contains("keyword"));
        assert!(err(Some("a"), &["expand"], s("%x%")).contains("pipeline"));
        assert!(err(Some("t"), &["week"], s("first")).contains("whole number"));
        assert!(err(Some("t"), &["hour", "gt"], Val::Int(5)).contains("equality"));
        assert!(err(Some("a"), &["re"], s("(?<=x)y")).contains("look-around"));
        assert!(Mods::parse(&["bogus"]).unwrap_err().contains("`bogus`"));
        assert!(Mods::parse(&["i"]).unwrap_err().contains("`re`"));
    }
}
