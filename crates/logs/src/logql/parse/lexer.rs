//! The LogQL lexer: Go `text/scanner` tokens as Loki's `lex.go` refines them (durations, byte
//! sizes, ranges, parser flags, and function names that are keywords only before `(`).

use super::literal::{parse_bytes, parse_duration_ns, parse_prom_duration_ms, unquote};

/// A token kind. Keywords are matched case-insensitively, as Loki does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Eof,
    Ident(String),
    Str(String),
    /// The literal text; converted (and possibly rejected) by the parser.
    Number(String),
    /// Nanoseconds.
    Duration(i64),
    Bytes(u64),
    /// `[5m]`, in milliseconds.
    Range(i64),
    /// `--strict`, `--keep-empty`.
    Flag(String),
    Kw(Kw),
    /// A lexical error: parsing stops here with this message.
    Error(String),
}

macro_rules! keywords {
    ($($variant:ident => $text:literal, $name:literal;)*) => {
        /// Punctuation, keywords and function names.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Kw { $($variant),* }

        impl Kw {
            /// The source text of the token.
            pub(crate) fn text(self) -> &'static str {
                match self { $(Kw::$variant => $text),* }
            }

            /// The name in goyacc error messages (Loki names plain tokens by their text).
            pub(crate) fn name(self) -> &'static str {
                match self { $(Kw::$variant => $name),* }
            }
        }
    };
}

keywords! {
    Comma => ",", ","; Dot => ".", "."; LBrace => "{", "{"; RBrace => "}", "}";
    Eq => "=", "="; Neq => "!=", "!="; Re => "=~", "=~"; Nre => "!~", "!~"; Npa => "!>", "!>";
    PipeExact => "|=", "|="; PipeMatch => "|~", "|~"; PipePattern => "|>", "|>"; Pipe => "|", "|";
    LParen => "(", "("; RParen => ")", ")"; RBracket => "]", "]";
    Add => "+", "+"; Sub => "-", "-"; Mul => "*", "*"; Div => "/", "/"; Mod => "%", "%";
    Pow => "^", "^"; CmpEq => "==", "=="; Gt => ">", ">"; Gte => ">=", ">="; Lt => "<", "<";
    Lte => "<=", "<=";
    By => "by", "by"; Without => "without", "without"; Bool => "bool", "bool";
    Offset => "offset", "offset"; On => "on", "on"; Ignoring => "ignoring", "ignoring";
    GroupLeft => "group_left", "group_left"; GroupRight => "group_right", "group_right";
    Or => "or", "or"; And => "and", "and"; Unless => "unless", "unless";
    Json => "json", "json"; Regexp => "regexp", "regexp"; Logfmt => "logfmt", "logfmt";
    Unpack => "unpack", "unpack"; Pattern => "pattern", "pattern";
    LabelFmt => "label_format", "label_format"; LineFmt => "line_format", "line_format";
    Decolorize => "decolorize", "decolorize"; Drop => "drop", "drop"; Keep => "keep", "keep";
    Unwrap => "unwrap", "unwrap"; Variants => "variants", "variants"; Of => "of", "of";
    Ip => "ip", "ip"; LabelReplace => "label_replace", "label_replace";
    CountOverTime => "count_over_time", "COUNT_OVER_TIME"; Rate => "rate", "RATE";
    RateCounter => "rate_counter", "RATE_COUNTER"; BytesOverTime => "bytes_over_time", "BYTES_OVER_TIME";
    BytesRate => "bytes_rate", "BYTES_RATE"; AvgOverTime => "avg_over_time", "AVG_OVER_TIME";
    SumOverTime => "sum_over_time", "SUM_OVER_TIME"; MinOverTime => "min_over_time", "MIN_OVER_TIME";
    MaxOverTime => "max_over_time", "MAX_OVER_TIME"; StdvarOverTime => "stdvar_over_time", "STDVAR_OVER_TIME";
    StddevOverTime => "stddev_over_time", "STDDEV_OVER_TIME";
    QuantileOverTime => "quantile_over_time", "QUANTILE_OVER_TIME";
    FirstOverTime => "first_over_time", "FIRST_OVER_TIME"; LastOverTime => "last_over_time", "LAST_OVER_TIME";
    AbsentOverTime => "absent_over_time", "ABSENT_OVER_TIME"; Vector => "vector", "VECTOR";
    Sum => "sum", "SUM"; Avg => "avg", "AVG"; Max => "max", "MAX"; Min => "min", "MIN";
    Count => "count", "COUNT"; Stddev => "stddev", "STDDEV"; Stdvar => "stdvar", "STDVAR";
    Bottomk => "bottomk", "BOTTOMK"; Topk => "topk", "TOPK"; Sort => "sort", "SORT";
    SortDesc => "sort_desc", "SORT_DESC"; ApproxTopk => "approx_topk", "APPROX_TOPK";
    BytesConv => "bytes", "BYTES_CONV"; DurationConv => "duration", "DURATION_CONV";
    DurationSecondsConv => "duration_seconds", "DURATION_SECONDS_CONV";
}

/// Words that are keywords wherever they appear.
const WORDS: &[Kw] = &[
    Kw::By,
    Kw::Without,
    Kw::Bool,
    Kw::Offset,
    Kw::On,
    Kw::Ignoring,
    Kw::GroupLeft,
    Kw::GroupRight,
    Kw::Or,
    Kw::And,
    Kw::Unless,
    Kw::Json,
    Kw::Regexp,
    Kw::Logfmt,
    Kw::Unpack,
    Kw::Pattern,
    Kw::LabelFmt,
    Kw::LineFmt,
    Kw::Decolorize,
    Kw::Drop,
    Kw::Keep,
    Kw::Unwrap,
    Kw::Variants,
    Kw::Of,
];

/// Words that are keywords only when a `(` (or `by (`/`without (`) follows.
const FUNCTIONS: &[Kw] = &[
    Kw::CountOverTime,
    Kw::Rate,
    Kw::RateCounter,
    Kw::BytesOverTime,
    Kw::BytesRate,
    Kw::AvgOverTime,
    Kw::SumOverTime,
    Kw::MinOverTime,
    Kw::MaxOverTime,
    Kw::StdvarOverTime,
    Kw::StddevOverTime,
    Kw::QuantileOverTime,
    Kw::FirstOverTime,
    Kw::LastOverTime,
    Kw::AbsentOverTime,
    Kw::Vector,
    Kw::Sum,
    Kw::Avg,
    Kw::Max,
    Kw::Min,
    Kw::Count,
    Kw::Stddev,
    Kw::Stdvar,
    Kw::Bottomk,
    Kw::Topk,
    Kw::Sort,
    Kw::SortDesc,
    Kw::ApproxTopk,
    Kw::LabelReplace,
    Kw::BytesConv,
    Kw::DurationConv,
    Kw::DurationSecondsConv,
    Kw::Ip,
];

/// Two-character operators, tried before the one-character ones.
const OPERATORS2: &[Kw] = &[
    Kw::Neq,
    Kw::Re,
    Kw::Nre,
    Kw::Npa,
    Kw::PipeExact,
    Kw::PipeMatch,
    Kw::PipePattern,
    Kw::CmpEq,
    Kw::Gte,
    Kw::Lte,
];

const OPERATORS1: &[Kw] = &[
    Kw::Comma,
    Kw::Dot,
    Kw::LBrace,
    Kw::RBrace,
    Kw::Eq,
    Kw::Pipe,
    Kw::LParen,
    Kw::RParen,
    Kw::RBracket,
    Kw::Add,
    Kw::Sub,
    Kw::Mul,
    Kw::Div,
    Kw::Mod,
    Kw::Pow,
    Kw::Gt,
    Kw::Lt,
];

/// A token and where it starts (1-based line and column, in characters).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub line: usize,
    pub col: usize,
}

impl Tok {
    /// The token's name in goyacc-style messages.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Tok::Eof | Tok::Error(_) => "$end",
            Tok::Ident(_) => "IDENTIFIER",
            Tok::Str(_) => "STRING",
            Tok::Number(_) => "NUMBER",
            Tok::Duration(_) => "DURATION",
            Tok::Bytes(_) => "BYTES",
            Tok::Range(_) => "RANGE",
            Tok::Flag(_) => "PARSER_FLAG",
            Tok::Kw(kw) => kw.name(),
        }
    }
}

/// Splits a query into tokens. A lexical error becomes a final [`Tok::Error`] token so that
/// an earlier syntax error is still reported first, as with Loki's streaming lexer.
pub(crate) fn tokenize(input: &str) -> Vec<Token> {
    let mut lexer = Lexer {
        chars: input.chars().collect(),
        pos: 0,
        line: 1,
        col: 1,
    };
    let mut tokens = Vec::new();
    loop {
        lexer.skip_space_and_comments();
        let (line, col) = (lexer.line, lexer.col);
        let tok = lexer.next_token();
        let last = matches!(tok, Tok::Eof | Tok::Error(_));
        tokens.push(Token { tok, line, col });
        if last {
            return tokens;
        }
    }
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    col: usize,
}

impl Lexer {
    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn bump_n(&mut self, n: usize) {
        for _ in 0..n {
            self.bump();
        }
    }

    fn skip_space_and_comments(&mut self) {
        loop {
            match (self.peek_at(0), self.peek_at(1)) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('#'), _) | (Some('/'), Some('/')) => {
                    while self.peek_at(0).is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                (Some('/'), Some('*')) => {
                    self.bump_n(2);
                    while self.peek_at(0).is_some()
                        && (self.peek_at(0), self.peek_at(1)) != (Some('*'), Some('/'))
                    {
                        self.bump();
                    }
                    self.bump_n(2);
                }
                _ => return,
            }
        }
    }

    fn next_token(&mut self) -> Tok {
        let Some(c) = self.peek_at(0) else {
            return Tok::Eof;
        };
        if c.is_alphabetic() || c == '_' {
            return self.word();
        }
        if c.is_ascii_digit() || (c == '.' && self.peek_at(1).is_some_and(|d| d.is_ascii_digit())) {
            return self.number();
        }
        match c {
            '"' | '`' => self.string(c),
            '[' => self.range(),
            '-' => self.minus(),
            _ => self.operator(),
        }
    }

    fn take_while(&mut self, pred: impl Fn(char) -> bool) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek_at(0).filter(|c| pred(*c)) {
            out.push(c);
            self.bump();
        }
        out
    }

    fn word(&mut self) -> Tok {
        let text = self.take_while(|c| c.is_alphanumeric() || c == '_');
        let lower = text.to_lowercase();
        if let Some(kw) = FUNCTIONS.iter().find(|kw| kw.text() == lower) {
            return if self.function_follows() {
                Tok::Kw(*kw)
            } else {
                Tok::Ident(text)
            };
        }
        match WORDS.iter().find(|kw| kw.text() == lower) {
            Some(kw) => Tok::Kw(*kw),
            None => Tok::Ident(text),
        }
    }

    /// Whether the next non-space text is `(`, or `by`/`without` then `(` (Loki's isFunction).
    fn function_follows(&self) -> bool {
        let mut i = self.pos;
        let skip_space = |mut i: usize| {
            while self.chars.get(i).is_some_and(|c| c.is_whitespace()) {
                i += 1;
            }
            i
        };
        i = skip_space(i);
        if self.chars.get(i) == Some(&'(') {
            return true;
        }
        for word in ["by", "without"] {
            let end = i + word.len();
            let matches = self
                .chars
                .get(i..end)
                .is_some_and(|w| w.iter().map(|c| c.to_ascii_lowercase()).eq(word.chars()));
            if matches {
                return self.chars.get(skip_space(end)) == Some(&'(');
            }
        }
        false
    }

    fn number(&mut self) -> Tok {
        let text = self.scan_number_text();
        if let Some(tok) = self.unit_suffix(&text) {
            return tok;
        }
        Tok::Number(text)
    }

    /// Go scanner number syntax: prefixed integers (kept as text, rejected later), decimals
    /// with an optional fraction and exponent.
    fn scan_number_text(&mut self) -> String {
        let prefixed = self.peek_at(0) == Some('0')
            && matches!(self.peek_at(1), Some('x' | 'X' | 'o' | 'O' | 'b' | 'B'));
        if prefixed {
            let mut text: String = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
            if self.peek_at(0) == Some('.') {
                self.bump();
                text.push('.');
                text.push_str(&self.take_while(|c| c.is_ascii_alphanumeric() || c == '_'));
            }
            return text;
        }
        let mut text = self.take_while(|c| c.is_ascii_digit() || c == '_');
        if self.peek_at(0) == Some('.') {
            self.bump();
            text.push('.');
            text.push_str(&self.take_while(|c| c.is_ascii_digit() || c == '_'));
        }
        if matches!(self.peek_at(0), Some('e' | 'E')) {
            let digit_at = if matches!(self.peek_at(1), Some('+' | '-')) {
                2
            } else {
                1
            };
            if self.peek_at(digit_at).is_some_and(|c| c.is_ascii_digit()) {
                for _ in 0..digit_at {
                    text.push(self.bump().unwrap_or('e'));
                }
                text.push_str(&self.take_while(|c| c.is_ascii_digit() || c == '_'));
            }
        }
        text
    }

    /// Loki's tryScanDuration then tryScanBytes: the characters up to the next space that can
    /// belong to a duration (or a byte size) turn the number into one when they parse.
    fn unit_suffix(&mut self, number: &str) -> Option<Tok> {
        let is_duration_char = |c: char| c.is_numeric() || c == '.' || "nuµmshdwy".contains(c);
        let suffix = self.lookahead_while(is_duration_char);
        if !suffix.is_empty() {
            if let Some(ns) = parse_duration_ns(&format!("{number}{suffix}")) {
                self.bump_n(suffix.chars().count());
                return Some(Tok::Duration(ns));
            }
        }
        let is_bytes_char = |c: char| c.is_numeric() || c == '.' || "BikKMGTP".contains(c);
        let suffix = self.lookahead_while(is_bytes_char);
        if !suffix.is_empty() {
            if let Ok(bytes) = parse_bytes(&format!("{number}{suffix}")) {
                self.bump_n(suffix.chars().count());
                return Some(Tok::Bytes(bytes));
            }
        }
        None
    }

    fn lookahead_while(&self, pred: impl Fn(char) -> bool) -> String {
        self.chars[self.pos..]
            .iter()
            .take_while(|c| !c.is_whitespace() && pred(**c))
            .collect()
    }

    fn string(&mut self, quote: char) -> Tok {
        self.bump();
        let mut raw = String::new();
        loop {
            match self.bump() {
                None => return Tok::Error("literal not terminated".to_string()),
                Some('\n') if quote == '"' => {
                    return Tok::Error("literal not terminated".to_string())
                }
                Some(c) if c == quote => break,
                Some('\\') if quote == '"' => {
                    raw.push('\\');
                    match self.bump() {
                        Some(c) => raw.push(c),
                        None => return Tok::Error("literal not terminated".to_string()),
                    }
                }
                Some(c) => raw.push(c),
            }
        }
        if quote == '`' {
            return Tok::Str(raw.replace('\r', ""));
        }
        match unquote(&raw) {
            Ok(s) => Tok::Str(s),
            Err(msg) => Tok::Error(msg),
        }
    }

    fn range(&mut self) -> Tok {
        self.bump();
        let mut text = String::new();
        while let Some(c) = self.bump() {
            if c == ']' {
                return match parse_prom_duration_ms(&text) {
                    Ok(ms) => Tok::Range(ms),
                    Err(msg) => Tok::Error(msg),
                };
            }
            text.push(c);
        }
        Tok::Error("missing closing ']' in duration".to_string())
    }

    /// `--strict` / `--keep-empty` flags, negative durations, else the `-` operator.
    fn minus(&mut self) -> Tok {
        if self.peek_at(1) == Some('-') {
            let flag: String = std::iter::once('-')
                .chain(
                    self.chars[self.pos + 1..]
                        .iter()
                        .copied()
                        .take_while(|c| c.is_alphabetic() || *c == '-'),
                )
                .collect();
            if flag == "--strict" || flag == "--keep-empty" {
                self.bump_n(flag.chars().count());
                return Tok::Flag(flag);
            }
        }
        self.bump();
        let is_duration_char = |c: char| c.is_numeric() || c == '.' || "nuµmshdwy".contains(c);
        let suffix = self.lookahead_while(is_duration_char);
        if !suffix.is_empty() {
            if let Some(ns) = parse_duration_ns(&format!("-{suffix}")) {
                self.bump_n(suffix.chars().count());
                return Tok::Duration(ns);
            }
        }
        Tok::Kw(Kw::Sub)
    }

    fn operator(&mut self) -> Tok {
        let two: String = self.chars[self.pos..].iter().take(2).collect();
        if let Some(kw) = OPERATORS2.iter().find(|kw| kw.text() == two) {
            self.bump_n(2);
            return Tok::Kw(*kw);
        }
        let one = self.bump().unwrap_or(' ').to_string();
        match OPERATORS1.iter().find(|kw| kw.text() == one) {
            Some(kw) => Tok::Kw(*kw),
            // Loki turns an unknown character into an identifier, which then fails to parse.
            None => Tok::Ident(one),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<Tok> {
        tokenize(input).into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens_table() {
        use Tok::*;
        let id = |s: &str| Ident(s.to_string());
        let cases: Vec<(&str, Vec<Tok>)> = vec![
            (
                r#"{a="b"}"#,
                vec![
                    Kw(self::Kw::LBrace),
                    id("a"),
                    Kw(self::Kw::Eq),
                    Str("b".into()),
                    Kw(self::Kw::RBrace),
                    Eof,
                ],
            ),
            ("rate(", vec![Kw(self::Kw::Rate), Kw(self::Kw::LParen), Eof]),
            (
                "rate > 1",
                vec![id("rate"), Kw(self::Kw::Gt), Number("1".into()), Eof],
            ),
            (
                "sum by (a)",
                vec![
                    Kw(self::Kw::Sum),
                    Kw(self::Kw::By),
                    Kw(self::Kw::LParen),
                    id("a"),
                    Kw(self::Kw::RParen),
                    Eof,
                ],
            ),
            (
                "bytes > 1",
                vec![id("bytes"), Kw(self::Kw::Gt), Number("1".into()), Eof],
            ),
            (
                "1s 1.5ms 1h30m",
                vec![
                    Duration(1_000_000_000),
                    Duration(1_500_000),
                    Duration(5_400_000_000_000),
                    Eof,
                ],
            ),
            ("1mb", vec![Duration(60_000_000_000), id("b"), Eof]),
            (
                "10KB 1KiB 2B",
                vec![Bytes(10_000), Bytes(1024), Bytes(2), Eof],
            ),
            ("[5m]", vec![Range(300_000), Eof]),
            (
                "-5s - 5",
                vec![
                    Duration(-5_000_000_000),
                    Kw(self::Kw::Sub),
                    Number("5".into()),
                    Eof,
                ],
            ),
            (
                "--strict --keep-empty",
                vec![Flag("--strict".into()), Flag("--keep-empty".into()), Eof],
            ),
            (
                "0x10 1e3 .5",
                vec![
                    Number("0x10".into()),
                    Number("1e3".into()),
                    Number(".5".into()),
                    Eof,
                ],
            ),
            (
                "|= != |~ !~ |> !> | == >= <=",
                vec![
                    Kw(self::Kw::PipeExact),
                    Kw(self::Kw::Neq),
                    Kw(self::Kw::PipeMatch),
                    Kw(self::Kw::Nre),
                    Kw(self::Kw::PipePattern),
                    Kw(self::Kw::Npa),
                    Kw(self::Kw::Pipe),
                    Kw(self::Kw::CmpEq),
                    Kw(self::Kw::Gte),
                    Kw(self::Kw::Lte),
                    Eof,
                ],
            ),
            (
                "`a\\b` \"a\\tb\"",
                vec![Str("a\\b".into()), Str("a\tb".into()), Eof],
            ),
            ("a # comment\n b", vec![id("a"), id("b"), Eof]),
            (
                "JSON Sum(",
                vec![
                    Kw(self::Kw::Json),
                    Kw(self::Kw::Sum),
                    Kw(self::Kw::LParen),
                    Eof,
                ],
            ),
            ("\"abc", vec![Error("literal not terminated".into())]),
        ];
        for (input, want) in cases {
            assert_eq!(kinds(input), want, "{input}");
        }
    }

    #[test]
    fn positions_are_one_based_columns() {
        let tokens = tokenize("vector(abc)\n x");
        let at: Vec<(usize, usize)> = tokens.iter().map(|t| (t.line, t.col)).collect();
        assert_eq!(at, vec![(1, 1), (1, 7), (1, 8), (1, 11), (2, 2), (2, 3)]);
    }
}
