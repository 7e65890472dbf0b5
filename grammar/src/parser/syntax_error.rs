//! Turns pest's syntax error into a [`Diagnostic`] a person can act on.
//!
//! pest stops at the first error and reports the furthest position it reached with the grammar
//! rules it tried there. Those rule names never reach the user: [`describe`] turns them into
//! words ("a condition", "`}`"), and a few shapes of mistake get a dedicated message and help:
//! `=` for `==`, `&&`/`||`/`!` for `and`/`or`/`not`, an unknown property or operator, a new
//! definition inside an unclosed block, an unclosed string or bracket.

use std::sync::Arc;

use pest::error::{ErrorVariant, InputLocation};

use super::suggest::{self, did_you_mean, join_words, quoted_list};
use super::Rule;
use crate::ast::{Severity, Span};
use crate::diagnostic::{Code, Diagnostic, SourceFile};

/// The diagnostic for the error pest stopped at, in a parse of the file's text from `start` on
/// (the whole file, or one definition of it: see `recover.rs`).
///
/// The explanation looks at the text of the whole file, so that a definition cut short by the
/// next one is told what follows it (`rule`), as a parse of the whole file would be; but it
/// looks for open brackets and strings from `start` only, since what is open before belongs to
/// another definition.
pub(super) fn from_pest(
    file: &Arc<SourceFile>,
    error: &pest::error::Error<Rule>,
    start: usize,
) -> Diagnostic {
    let text = &*file.text;
    let pos = match error.location {
        InputLocation::Pos(pos) => pos,
        InputLocation::Span((start, _)) => start,
    };
    let pos = (start + pos).min(text.len());
    let found = Found::at(text, pos);
    let positives = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.as_slice(),
        // pest's only custom errors are its call and stack limits, which deep nesting reaches.
        ErrorVariant::CustomError { .. } => {
            return Diagnostic::new(Code::Syntax, "the file nests too deeply to be parsed")
                .with_label(file, found.span, "nesting goes too deep here")
                .with_help("split deeply nested conditions into macros");
        }
    };
    let expected = Expected::new(positives);
    Explainer {
        file,
        text,
        start,
        pos,
        found,
        expected,
    }
    .explain()
}

struct Explainer<'a> {
    file: &'a Arc<SourceFile>,
    /// The whole file.
    text: &'a str,
    /// Where the parsed text starts.
    start: usize,
    pos: usize,
    found: Found<'a>,
    expected: Expected,
}

impl Explainer<'_> {
    fn explain(&self) -> Diagnostic {
        match self.found.kind {
            FoundKind::Str { closed: false } => return unclosed_string(self.file, self.found.span),
            FoundKind::End => return self.at_end(),
            FoundKind::Word => {
                if let Some(diagnostic) = self.unexpected_word() {
                    return diagnostic;
                }
            }
            _ => {}
        }
        if self.found.text == "=" && self.expected.has(Rule::cmp_op) {
            return Diagnostic::new(Code::Syntax, "expected a comparison operator, found `=`")
                .with_label(self.file, self.found.span, "not a comparison operator")
                .with_help("write `==` to test whether two values are equal");
        }
        let help = self.symbol_help().or_else(|| self.value_help());
        let diagnostic = self.generic();
        match help {
            Some(help) => diagnostic.with_help(help),
            None => diagnostic,
        }
    }

    /// `expected X, found Y`, labelled at Y.
    fn generic(&self) -> Diagnostic {
        let found = self.found.describe();
        match self.expected.words() {
            Some(words) => {
                let label = if self.found.kind == FoundKind::End {
                    format!("expected {words} after this")
                } else {
                    format!("expected {words}")
                };
                Diagnostic::new(Code::Syntax, format!("expected {words}, found {found}"))
                    .with_label(self.file, self.found.span, label)
            }
            None => Diagnostic::new(Code::Syntax, format!("unexpected {found}")).with_label(
                self.file,
                self.found.span,
                "not valid here",
            ),
        }
    }

    /// The file ended early: most often a bracket or a string was left open.
    fn at_end(&self) -> Diagnostic {
        let scan = scan(self.text, self.start);
        if let Some(start) = scan.unclosed_string {
            return unclosed_string(self.file, Span::new(start, start + 1));
        }
        let Some(&(open, at)) = scan.open.last() else {
            return self.generic();
        };
        let close = closer(open);
        let open_span = Span::new(at, at + 1);
        if self.expected.has_closer(close) {
            Diagnostic::new(Code::Syntax, format!("unclosed `{open}`"))
                .with_label(
                    self.file,
                    open_span,
                    format!("this `{open}` is never closed"),
                )
                .with_label(self.file, self.found.span, "the file ends here")
                .with_help(format!("add the missing `{close}`"))
        } else {
            self.generic().with_label(
                self.file,
                open_span,
                format!("this `{open}` is never closed"),
            )
        }
    }

    /// A word where a property, an operator or a definition was expected.
    fn unexpected_word(&self) -> Option<Diagnostic> {
        let word = self.found.text;
        if let Some(block) = self.expected.block() {
            return Some(self.word_in_block(block, word));
        }
        if self.expected.has(Rule::item) || self.expected.has(Rule::file) {
            let definitions = quoted_list(suggest::DEFINITIONS, "and");
            let Some(suggestion) = did_you_mean(word, suggest::DEFINITIONS) else {
                return Some(
                    self.generic()
                        .with_help(format!("a file holds {definitions} definitions")),
                );
            };
            return Some(
                Diagnostic::new(
                    Code::Syntax,
                    format!("expected a definition, found `{word}`"),
                )
                .with_label(self.file, self.found.span, "not a definition")
                .with_help(format!(
                    "did you mean `{suggestion}`? a file holds {definitions} definitions"
                )),
            );
        }
        None
    }

    fn word_in_block(&self, block: Block, word: &str) -> Diagnostic {
        let properties = block.properties();
        // A new definition inside a block: the block above was not closed.
        if suggest::DEFINITIONS.contains(&word) {
            let before = scan(&self.text[..self.pos], self.start);
            if let Some(&(_, at)) = before.open.first() {
                return self
                    .generic()
                    .with_label(self.file, Span::new(at, at + 1), "this `{` is never closed")
                    .with_help(format!(
                        "`{word}` starts a new definition: close the {} above with `}}` first",
                        block.name()
                    ));
            }
        }
        let property = did_you_mean(word, properties);
        // `verb equals "get"` is a mistyped operator; a word that starts a line after a complete
        // condition is a mistyped property.
        if property.is_none() && self.expected.has(Rule::cmp_op) && !self.starts_line() {
            let operator = did_you_mean(word, suggest::WORD_OPERATORS);
            if operator.is_some() || starts_value(self.after_found()) {
                let help = match operator {
                    Some(op) => format!("did you mean `{op}`? "),
                    None => String::new(),
                };
                return Diagnostic::new(Code::Syntax, format!("unknown operator `{word}`"))
                    .with_label(self.file, self.found.span, "not a comparison operator")
                    .with_help(format!(
                        "{help}the comparison operators are {}",
                        quoted_list(suggest::OPERATORS, "and")
                    ));
            }
        }
        if property.is_none()
            && self.expected.has(Rule::kw_and)
            && starts_operator(self.after_path())
        {
            return self
                .generic()
                .with_help("join two conditions with `and` or `or`");
        }
        let mut help = String::new();
        if let Some(property) = property {
            help.push_str(&format!("did you mean `{property}`? "));
        } else if let Some(owner) = block.owner_of_foreign(word) {
            help.push_str(&owner);
        }
        help.push_str(&format!(
            "the properties of a {} are {}",
            block.name(),
            quoted_list(properties, "and")
        ));
        Diagnostic::new(Code::Syntax, format!("unknown property `{word}`"))
            .with_label(
                self.file,
                self.found.span,
                format!("not a property of a {}", block.name()),
            )
            .with_help(help)
    }

    /// Help for symbols borrowed from other languages: `=`, `&&`, `||`, `!`, JSON slips.
    fn symbol_help(&self) -> Option<String> {
        if self.expected.is_json() {
            let before = self.text[..self.pos].trim_end();
            if before.ends_with(',') && matches!(self.found.text, "}" | "]") {
                return Some(format!("JSON allows no `,` before `{}`", self.found.text));
            }
            if self.found.text == "#" {
                return Some("JSON has no comments".to_string());
            }
            if self.found.text == "'" {
                return Some("JSON strings are written in double quotes".to_string());
            }
            return None;
        }
        match self.found.text {
            "&&" => Some("write `and` instead of `&&`".to_string()),
            "||" => Some("write `or` instead of `||`".to_string()),
            "!" => Some("write `not` to negate a condition".to_string()),
            "'" => Some("strings are written in double quotes: `\"...\"`".to_string()),
            "(" if self.expected.has(Rule::operand) => {
                Some("a list is written in square brackets: `[\"a\", \"b\"]`".to_string())
            }
            _ => None,
        }
    }

    /// The valid values, where a property's value is missing.
    fn value_help(&self) -> Option<String> {
        if self.expected.has(Rule::severity_value) {
            let names: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
            Some(format!(
                "a severity is one of {}",
                quoted_list(&names, "or")
            ))
        } else if self.expected.has(Rule::source_value) {
            // The kinds are the engine's registry, which the grammar does not know.
            Some(
                "an event source names an event kind, such as `k8s_audit`, or `any` \
                 (docs/event-kinds.md lists them)"
                    .to_owned(),
            )
        } else if self.expected.has(Rule::duration) {
            Some(format!(
                "a duration is a whole number followed by {}, such as `10m`",
                quoted_list(suggest::DURATION_UNITS, "or")
            ))
        } else {
            None
        }
    }

    /// The text after the found token, without leading whitespace.
    fn after_found(&self) -> &str {
        self.text[self.found.span.end..].trim_start()
    }

    /// The text after the found token read as a field path (`user.username`), that is after the
    /// next whitespace.
    fn after_path(&self) -> &str {
        let rest = &self.text[self.found.span.end..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest[end..].trim_start()
    }

    /// Whether the found token is the first one on its line.
    fn starts_line(&self) -> bool {
        let before = &self.text[..self.pos];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        before[line_start..].trim().is_empty()
    }
}

fn unclosed_string(file: &Arc<SourceFile>, span: Span) -> Diagnostic {
    Diagnostic::new(Code::Syntax, "unclosed string")
        .with_label(file, span, "this string has no closing `\"` on its line")
        .with_help("a string ends on the line where it starts; write `\\n` for a line break")
}

/// Whether `rest` starts with something that reads as a value.
fn starts_value(rest: &str) -> bool {
    rest.starts_with(|c: char| c == '"' || c == '[' || c == '-' || c.is_ascii_digit())
}

/// Whether `rest` starts with a comparison operator.
fn starts_operator(rest: &str) -> bool {
    if rest.starts_with(['=', '!', '<', '>']) {
        return true;
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    suggest::WORD_OPERATORS.contains(&word.as_str())
}

/// The kind of block whose property list was expected.
#[derive(Clone, Copy)]
enum Block {
    Rule,
    Sequence,
    Test,
}

impl Block {
    fn name(self) -> &'static str {
        match self {
            Block::Rule => "rule",
            Block::Sequence => "sequence",
            Block::Test => "test",
        }
    }

    fn properties(self) -> &'static [&'static str] {
        match self {
            Block::Rule => suggest::RULE_PROPERTIES,
            Block::Sequence => suggest::SEQUENCE_PROPERTIES,
            Block::Test => suggest::TEST_PROPERTIES,
        }
    }

    /// For a property of another kind of block, a sentence that says so.
    fn owner_of_foreign(self, word: &str) -> Option<String> {
        match (self, word) {
            (Block::Rule, "by") => Some(
                "a rule groups its alerts with `group by PATH, ...`; `by` alone belongs to \
                 `threshold` and to sequences; "
                    .to_string(),
            ),
            (Block::Sequence, "when") => Some(
                "a sequence has no `when`: its `steps` name rules or hold `{ CONDITION }`; "
                    .to_string(),
            ),
            _ => [Block::Rule, Block::Sequence, Block::Test]
                .into_iter()
                .find(|other| other.properties().contains(&word))
                .map(|other| {
                    format!(
                        "`{word}` is a property of a {}, not of a {}; ",
                        other.name(),
                        self.name()
                    )
                }),
        }
    }
}

/// The grammar rules pest tried at the error position.
struct Expected {
    rules: Vec<Rule>,
}

impl Expected {
    fn new(positives: &[Rule]) -> Expected {
        Expected {
            rules: positives.to_vec(),
        }
    }

    fn has(&self, rule: Rule) -> bool {
        self.rules.contains(&rule)
    }

    fn has_closer(&self, close: char) -> bool {
        match close {
            '}' => self.has(Rule::rbrace),
            ']' => self.has(Rule::rbracket),
            _ => self.has(Rule::rparen),
        }
    }

    fn is_json(&self) -> bool {
        self.rules.iter().any(|r| {
            matches!(
                r,
                Rule::json_value
                    | Rule::json_string
                    | Rule::json_escape
                    | Rule::json_member
                    | Rule::colon
            )
        }) || (self.has(Rule::comma) && self.has(Rule::rbrace) && !self.has(Rule::rule_prop))
    }

    fn block(&self) -> Option<Block> {
        if self.has(Rule::rule_prop) {
            Some(Block::Rule)
        } else if self.has(Rule::sequence_prop) {
            Some(Block::Sequence)
        } else if self.has(Rule::test_prop) {
            Some(Block::Test)
        } else {
            None
        }
    }

    /// The expected things in words, most specific first: `a condition, `and` or `}``.
    fn words(&self) -> Option<String> {
        let mut described: Vec<(u8, &'static str)> =
            self.rules.iter().filter_map(|&r| describe(r)).collect();
        described.sort_by_key(|&(rank, _)| rank);
        let mut words: Vec<&str> = Vec::new();
        for (_, word) in described {
            if !words.contains(&word) {
                words.push(word);
            }
        }
        (!words.is_empty()).then(|| join_words(&words, "or"))
    }
}

/// A grammar rule in words, with a rank that orders a list of them: what may come next inside
/// the current construct first, closing brackets and definitions last. `None` for rules a user
/// need not hear about (path continuations, whole-file rules).
fn describe(rule: Rule) -> Option<(u8, &'static str)> {
    let described = match rule {
        Rule::ident => (5, "a name"),
        Rule::or_expr
        | Rule::and_expr
        | Rule::not_expr
        | Rule::primary
        | Rule::paren
        | Rule::exists_expr
        | Rule::comparison => (5, "a condition"),
        Rule::left_operand | Rule::operand => (5, "a value or a field path"),
        Rule::literal => (5, "a value"),
        Rule::list_item => (5, "a value or a list name"),
        Rule::list_literal => (5, "a list such as `[\"a\", \"b\"]`"),
        Rule::string => (5, "a string"),
        Rule::number | Rule::count | Rule::json_number => (5, "a number"),
        Rule::duration => (5, "a duration such as `10m`"),
        Rule::path | Rule::path_seq => (5, "a field path"),
        Rule::seg_field => (5, "a field name"),
        Rule::severity_value => (5, "a severity"),
        Rule::source_value => (5, "an event source"),
        Rule::bool_value | Rule::bool_lit => (5, "`true` or `false`"),
        Rule::null_lit => (5, "`null`"),
        Rule::thr_count => (5, "`count`"),
        Rule::thr_distinct | Rule::kw_distinct => (5, "`distinct`"),
        Rule::thr_sum | Rule::kw_sum => (5, "`sum`"),
        Rule::thr_avg | Rule::kw_avg => (5, "`avg`"),
        Rule::thr_median | Rule::kw_median => (5, "`median`"),
        Rule::thr_percentile | Rule::kw_percentile => (5, "`percentile`"),
        Rule::thr_cmp | Rule::thr_bound => (5, "a comparison such as `>= 3`"),
        Rule::step | Rule::set_step | Rule::inline_step | Rule::step_kind => {
            (5, "a step (a rule name or `{ CONDITION }`)")
        }
        Rule::string_list => (5, "a list of strings such as `[\"a\", \"b\"]`"),
        Rule::path_list => (5, "a list of field paths such as `[user.username]`"),
        Rule::events_inline => (5, "a list of JSON events"),
        Rule::json_object => (5, "a JSON object"),
        Rule::json_value => (5, "a JSON value"),
        Rule::json_array => (5, "a JSON array"),
        Rule::json_member | Rule::json_string => (5, "a JSON string"),
        Rule::json_escape => (5, "a JSON escape such as `\\n` or `\\u00e9`"),
        Rule::json_literal => (5, "`true`, `false` or `null`"),
        Rule::call | Rule::call_head => (5, "a function call"),
        Rule::script_expr | Rule::script_block | Rule::script_head => (5, "`script { ... }`"),
        Rule::all_kw => (5, "`all`"),
        Rule::steps_any_order | Rule::steps_need => (5, "`all of` or a number of steps"),
        Rule::kw_of => (5, "`of`"),
        Rule::lbrace => (6, "`{`"),
        Rule::lparen => (6, "`(`"),
        Rule::equals => (6, "`=`"),
        Rule::cmp_op => (10, "a comparison operator"),
        Rule::kw_and => (11, "`and`"),
        Rule::kw_or => (12, "`or`"),
        Rule::arrow => (13, "`->`"),
        Rule::comma => (14, "`,`"),
        Rule::colon => (15, "`:`"),
        Rule::rule_prop
        | Rule::sequence_prop
        | Rule::when_prop
        | Rule::title_prop
        | Rule::severity_prop
        | Rule::description_prop
        | Rule::author_prop
        | Rule::tags_prop
        | Rule::references_prop
        | Rule::source_prop
        | Rule::fields_prop
        | Rule::group_by_prop
        | Rule::within_prop
        | Rule::threshold_prop
        | Rule::enabled_prop
        | Rule::by_prop
        | Rule::steps_prop => (20, "a property"),
        Rule::test_prop | Rule::events_prop | Rule::expect_prop => (20, "`events` or `expect`"),
        Rule::events_file => (20, "`file`"),
        Rule::expect_alerts | Rule::expect_matches | Rule::expect_none => (20, "an expectation"),
        Rule::rbrace => (30, "`}`"),
        Rule::rbracket => (31, "`]`"),
        Rule::rparen => (32, "`)`"),
        // `file` when the very first definition fails.
        Rule::file
        | Rule::item
        | Rule::list_def
        | Rule::macro_def
        | Rule::rule_def
        | Rule::sequence_def
        | Rule::test_def => (40, "a definition"),
        Rule::kw_list => (5, "`list`"),
        Rule::kw_macro => (5, "`macro`"),
        Rule::kw_rule => (5, "`rule`"),
        Rule::kw_sequence => (5, "`sequence`"),
        Rule::kw_script => (5, "`script`"),
        Rule::kw_test => (5, "`test`"),
        Rule::kw_when => (5, "`when`"),
        Rule::kw_title => (5, "`title`"),
        Rule::kw_severity => (5, "`severity`"),
        Rule::kw_description => (5, "`description`"),
        Rule::kw_author => (5, "`author`"),
        Rule::kw_tags => (5, "`tags`"),
        Rule::kw_references => (5, "`references`"),
        Rule::kw_source => (5, "`source`"),
        Rule::kw_fields => (5, "`fields`"),
        Rule::kw_group => (5, "`group`"),
        Rule::kw_by => (5, "`by`"),
        Rule::kw_within => (5, "`within`"),
        Rule::kw_threshold => (5, "`threshold`"),
        Rule::kw_enabled => (5, "`enabled`"),
        Rule::kw_steps => (5, "`steps`"),
        Rule::kw_events => (5, "`events`"),
        Rule::kw_file => (5, "`file`"),
        Rule::kw_expect => (5, "`expect`"),
        Rule::kw_alerts => (5, "`alerts`"),
        Rule::kw_matches => (5, "`matches`"),
        Rule::kw_no => (5, "`no`"),
        Rule::kw_not => (5, "`not`"),
        Rule::kw_exists => (5, "`exists`"),
        // Path continuations (`[0]` may follow any path), whole-file rules, silent rules.
        _ => return None,
    };
    Some(described)
}

/// What stands at the error position.
struct Found<'t> {
    kind: FoundKind,
    /// At least one character wide whenever the file is not empty.
    span: Span,
    text: &'t str,
}

#[derive(PartialEq)]
enum FoundKind {
    End,
    Word,
    Str { closed: bool },
    Space,
    Symbol,
}

/// Two-character symbols that are read as one token in error messages.
const SYMBOLS: &[&str] = &["&&", "||", "==", "!=", "<=", ">=", "->", "=>"];

const MAX_SHOWN: usize = 40;

impl<'t> Found<'t> {
    fn at(text: &'t str, pos: usize) -> Found<'t> {
        let rest = &text[pos..];
        let Some(first) = rest.chars().next() else {
            // Label the last visible character: a zero-width label at the very end is easy to
            // miss, and the file may end in whitespace.
            let trimmed = text.trim_end();
            let span = match trimmed.chars().next_back() {
                Some(last) => Span::new(trimmed.len() - last.len_utf8(), trimmed.len()),
                None => Span::new(0, text.len().min(1)),
            };
            return Found {
                kind: FoundKind::End,
                span,
                text: "",
            };
        };
        let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '@';
        let (kind, len) = if is_word(first) {
            let len = rest.find(|c: char| !is_word(c)).unwrap_or(rest.len());
            (FoundKind::Word, len)
        } else if first == '"' {
            match string_end(rest.as_bytes(), 0) {
                Some(end) => (FoundKind::Str { closed: true }, end),
                None => (FoundKind::Str { closed: false }, 1),
            }
        } else if first.is_whitespace() {
            (FoundKind::Space, first.len_utf8())
        } else if let Some(symbol) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
            (FoundKind::Symbol, symbol.len())
        } else {
            (FoundKind::Symbol, first.len_utf8())
        };
        Found {
            kind,
            span: Span::new(pos, pos + len),
            text: &rest[..len],
        }
    }

    fn describe(&self) -> String {
        match self.kind {
            FoundKind::End => "the end of the file".to_string(),
            FoundKind::Space if self.text == "\n" || self.text == "\r" => {
                "the end of the line".to_string()
            }
            FoundKind::Space => "a space".to_string(),
            _ if self.text.chars().count() > MAX_SHOWN => {
                let shown: String = self.text.chars().take(MAX_SHOWN).collect();
                format!("`{shown}...`")
            }
            _ => format!("`{}`", self.text),
        }
    }
}

/// The end (after the closing quote) of a string starting at `start`, or `None` when it is not
/// closed on its line. Escapes: `\` skips the next character.
pub(super) fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Some(i + 1),
            b'\n' => return None,
            b'\\' if bytes.get(i + 1).is_some_and(|&b| b != b'\n') => i += 2,
            _ => i += 1,
        }
    }
    None
}

fn closer(open: char) -> char {
    match open {
        '{' => '}',
        '[' => ']',
        _ => ')',
    }
}

/// What [`scan`] found open at the end of a text.
struct Scan {
    /// Open brackets with their byte offsets, outermost first.
    open: Vec<(char, usize)>,
    /// The offset of a string that is not closed on its line.
    unclosed_string: Option<usize>,
}

/// A rough lexer of the rule language that tracks brackets from offset `from` of `text`, skipping
/// strings, comments and script bodies (with Rhai's strings and comments), to tell which bracket
/// was left open. Offsets are in `text`.
///
/// It only serves to explain an error, so it is forgiving: all delimiters are ASCII, so every
/// offset it returns is a character boundary.
fn scan(text: &str, from: usize) -> Scan {
    let bytes = text.as_bytes();
    let mut open = Vec::new();
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => match string_end(bytes, i) {
                Some(end) => i = end,
                None => {
                    return Scan {
                        open,
                        unclosed_string: Some(i),
                    }
                }
            },
            b'#' => i = line_end(bytes, i),
            c @ (b'{' | b'[' | b'(') => {
                open.push((char::from(c), i));
                i += 1;
            }
            c @ (b'}' | b']' | b')') => {
                if open
                    .last()
                    .is_some_and(|&(o, _)| closer(o) == char::from(c))
                {
                    open.pop();
                }
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                if &text[start..i] == "script" {
                    let brace = skip_gap(bytes, i);
                    if bytes.get(brace) == Some(&b'{') {
                        match rhai_body_end(bytes, brace) {
                            Ok(end) => i = end,
                            Err(inner) => {
                                open.push(('{', inner));
                                return Scan {
                                    open,
                                    unclosed_string: None,
                                };
                            }
                        }
                    }
                }
            }
            _ => i += 1,
        }
    }
    Scan {
        open,
        unclosed_string: None,
    }
}

pub(super) fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| from + p)
}

/// Skips whitespace and `#` comments.
pub(super) fn skip_gap(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'#' => i = line_end(bytes, i),
            _ => break,
        }
    }
    i
}

/// The end of a script body whose `{` is at `open`: `Ok(offset after the closing })`, or
/// `Err(offset of the innermost unclosed {)`. Mirrors `script_body` in rules.pest.
fn rhai_body_end(bytes: &[u8], open: usize) -> Result<usize, usize> {
    let mut braces = vec![open];
    let mut i = open + 1;
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(b"//") {
            i = line_end(bytes, i);
        } else if rest.starts_with(b"/*") {
            i = block_comment_end(bytes, i).unwrap_or(i + 1);
        } else {
            match bytes[i] {
                b'"' => i = rhai_string_end(bytes, i).unwrap_or(i + 1),
                b'`' => {
                    i = bytes[i + 1..]
                        .iter()
                        .position(|&b| b == b'`')
                        .map_or(i + 1, |p| i + p + 2)
                }
                b'\'' => i = rhai_char_end(bytes, i).unwrap_or(i + 1),
                b'{' => {
                    braces.push(i);
                    i += 1;
                }
                b'}' => {
                    braces.pop();
                    i += 1;
                    if braces.is_empty() {
                        return Ok(i);
                    }
                }
                _ => i += 1,
            }
        }
    }
    Err(braces.last().copied().unwrap_or(open))
}

fn rhai_string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    None
}

pub(super) fn rhai_char_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' if i > start + 1 => return Some(i + 1),
            b'\'' | b'\n' => return None,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// Rhai block comments nest.
pub(super) fn block_comment_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0;
    let mut i = start;
    while i + 1 < bytes.len() {
        match &bytes[i..i + 2] {
            b"/*" => {
                depth += 1;
                i += 2;
            }
            b"*/" => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_the_innermost_open_bracket() {
        let s = scan("rule r { when x in [\"}\", \"]\" # ]\n", 0);
        assert_eq!(s.open, vec![('{', 7), ('[', 19)]);
        assert_eq!(s.unclosed_string, None);
    }

    #[test]
    fn scan_skips_script_bodies() {
        let text = "rule r { when script { \"}\" == '}' /* } */ // }\n } ";
        assert_eq!(scan(text, 0).open, vec![('{', 7)]);
        let text = "script { fn f() { 1 }";
        assert_eq!(scan(text, 0).open, vec![('{', 7)]);
    }

    #[test]
    fn scan_reports_an_unclosed_string() {
        let s = scan("rule r { title \"abc\n }", 0);
        assert_eq!(s.unclosed_string, Some(15));
    }
}
