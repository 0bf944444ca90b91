//! The SQL92 subset of RocketMQ's message selectors (`SelectorParser.jj`): tokens and a
//! recursive-descent parser into [`Expr`], with a length and a nesting-depth limit. Hand-written:
//! no crate parses this dialect, and its grammar is small.
//!
//! ```text
//! or      := and ( OR and )*
//! and     := eq ( AND eq )*
//! eq      := cmp ( ( "=" | "<>" ) cmp | IS [NOT] NULL )*
//! cmp     := unary ( ( ">" | ">=" | "<" | "<=" ) unary
//!                  | [NOT] BETWEEN unary AND unary
//!                  | [NOT] IN "(" string ( "," string )* ")"
//!                  | [NOT] ( CONTAINS | STARTSWITH | ENDSWITH ) string )*
//! unary   := "+" unary | "-" unary | NOT unary | primary
//! primary := literal | identifier | "(" or ")"
//! literal := string | integer | decimal | TRUE | FALSE | NULL
//! ```

use std::fmt;

/// A literal, or what an expression evaluates to.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// An integer literal that fits 32 bits (Java's Integer: a property compared with it is
    /// read as one).
    Int(i32),
    Long(i64),
    Double(f64),
    Str(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrOp {
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Const(Value),
    Prop(String),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    IsNull { e: Box<Expr>, negated: bool },
    Between { e: Box<Expr>, low: Box<Expr>, high: Box<Expr>, negated: bool },
    In { e: Box<Expr>, list: Vec<String>, negated: bool },
    Str { op: StrOp, e: Box<Expr>, s: String, negated: bool },
}

/// Why an expression was refused: where, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Character position (0-based) in the expression.
    pub pos: usize,
    pub expected: String,
    pub found: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at position {}: expected {}, found {}", self.pos, self.expected, self.found)
    }
}

impl std::error::Error for ParseError {}

/// How big an expression may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Characters.
    pub max_length: usize,
    /// Nesting of operators and parentheses.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_length: 4096, max_depth: 128 }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Long(i64),
    Double(f64),
    /// A keyword, upper-cased: AND OR NOT BETWEEN IN IS NULL TRUE FALSE CONTAINS STARTSWITH ENDSWITH.
    Kw(&'static str),
    /// = <> < <= > >= ( ) , + -
    Sym(&'static str),
    End,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "identifier `{s}`"),
            Tok::Str(s) => write!(f, "string '{s}'"),
            Tok::Long(n) => write!(f, "number {n}"),
            Tok::Double(n) => write!(f, "number {n}"),
            Tok::Kw(k) => write!(f, "{k}"),
            Tok::Sym(s) => write!(f, "`{s}`"),
            Tok::End => write!(f, "the end"),
        }
    }
}

const KEYWORDS: &[&str] = &["AND", "OR", "NOT", "BETWEEN", "IN", "IS", "NULL", "TRUE", "FALSE", "CONTAINS", "STARTSWITH", "ENDSWITH"];

/// Cuts the expression into tokens, each with its character position.
fn lex(text: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |pos: usize, expected: &str, found: String| ParseError { pos, expected: expected.into(), found };
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '\'' {
            // '' inside a string is one quote.
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(err(start, "a closing quote", "the end".into())),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            out.push((start, Tok::Str(s)));
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                // An exponent's sign belongs to the number.
                if matches!(chars[i], 'e' | 'E') && matches!(chars.get(i + 1), Some('+' | '-')) {
                    i += 1;
                }
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push((start, number(&word).ok_or_else(|| err(start, "a number", format!("`{word}`")))?));
            continue;
        }
        if c.is_alphabetic() || c == '_' || c == '$' {
            while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '$' | '.')) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let upper = word.to_ascii_uppercase();
            let tok = match KEYWORDS.iter().find(|k| **k == upper) {
                Some(k) => Tok::Kw(k),
                None => Tok::Ident(word),
            };
            out.push((start, tok));
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let sym = match two.as_str() {
            "<>" => Some("<>"),
            "<=" => Some("<="),
            ">=" => Some(">="),
            _ => None,
        };
        if let Some(s) = sym {
            out.push((start, Tok::Sym(s)));
            i += 2;
            continue;
        }
        let sym = match c {
            '=' => "=",
            '<' => "<",
            '>' => ">",
            '(' => "(",
            ')' => ")",
            ',' => ",",
            '+' => "+",
            '-' => "-",
            _ => return Err(err(start, "an operator, a value or a property name", format!("`{c}`"))),
        };
        out.push((start, Tok::Sym(sym)));
        i += 1;
    }
    out.push((chars.len(), Tok::End));
    Ok(out)
}

/// An integer (a trailing L allowed, as Java's) or a decimal (with `.` or an exponent; a
/// trailing D or F allowed).
fn number(word: &str) -> Option<Tok> {
    let w = word.strip_suffix(['l', 'L']).unwrap_or(word);
    if w.chars().all(|c| c.is_ascii_digit()) {
        return w.parse().ok().map(Tok::Long);
    }
    let w = word.strip_suffix(['d', 'D', 'f', 'F']).unwrap_or(word);
    let valid = w.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if valid {
        w.parse::<f64>().ok().filter(|f| f.is_finite()).map(Tok::Double)
    } else {
        None
    }
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    at: usize,
    depth: usize,
    max_depth: usize,
}

/// Parses an expression within `limits`.
pub fn parse(text: &str, limits: Limits) -> Result<Expr, ParseError> {
    let length = text.chars().count();
    if length > limits.max_length {
        return Err(ParseError { pos: limits.max_length, expected: format!("at most {} characters", limits.max_length), found: format!("{length}") });
    }
    let toks = lex(text)?;
    let mut p = Parser { toks, at: 0, depth: 0, max_depth: limits.max_depth };
    let e = p.or()?;
    if !matches!(p.peek(), Tok::End) {
        return Err(p.unexpected("an operator or the end"));
    }
    // A long chain (a = 1 AND b = 2 AND …) nests as deep as it is long.
    let depth = depth(&e);
    if depth > limits.max_depth {
        return Err(ParseError { pos: 0, expected: format!("at most {} levels of nesting", limits.max_depth), found: format!("{depth}") });
    }
    Ok(e)
}

/// How deep an expression's tree is.
fn depth(e: &Expr) -> usize {
    1 + match e {
        Expr::Const(_) | Expr::Prop(_) => 0,
        Expr::Not(x) | Expr::Neg(x) => depth(x),
        Expr::IsNull { e, .. } | Expr::In { e, .. } | Expr::Str { e, .. } => depth(e),
        Expr::And(a, b) | Expr::Or(a, b) | Expr::Cmp(_, a, b) => depth(a).max(depth(b)),
        Expr::Between { e, low, high, .. } => depth(e).max(depth(low)).max(depth(high)),
    }
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.at].1
    }

    fn pos(&self) -> usize {
        self.toks[self.at].0
    }

    fn next(&mut self) -> Tok {
        let t = self.toks[self.at].1.clone();
        if self.at + 1 < self.toks.len() {
            self.at += 1;
        }
        t
    }

    fn is_kw(&self, k: &str) -> bool {
        matches!(self.peek(), Tok::Kw(x) if *x == k)
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Sym(x) if *x == s)
    }

    fn unexpected(&self, expected: &str) -> ParseError {
        ParseError { pos: self.pos(), expected: expected.into(), found: self.peek().to_string() }
    }

    fn expect_kw(&mut self, k: &str) -> Result<(), ParseError> {
        if self.is_kw(k) {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected(k))
        }
    }

    fn expect_sym(&mut self, s: &str) -> Result<(), ParseError> {
        if self.is_sym(s) {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{s}`")))
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        match self.peek().clone() {
            Tok::Str(s) => {
                self.next();
                Ok(s)
            }
            _ => Err(self.unexpected("a string literal")),
        }
    }

    /// Counts one level of the parser's nesting (parentheses, unary operators); refuses past
    /// the limit, so no expression can exhaust the stack.
    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(ParseError { pos: self.pos(), expected: format!("at most {} levels of nesting", self.max_depth), found: "more".into() });
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let mut e = self.and()?;
        while self.is_kw("OR") {
            self.next();
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.eq()?;
        while self.is_kw("AND") {
            self.next();
            e = Expr::And(Box::new(e), Box::new(self.eq()?));
        }
        Ok(e)
    }

    fn eq(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.cmp()?;
        loop {
            if self.is_sym("=") || self.is_sym("<>") {
                let op = if self.is_sym("=") { CmpOp::Eq } else { CmpOp::Ne };
                self.next();
                e = Expr::Cmp(op, Box::new(e), Box::new(self.cmp()?));
            } else if self.is_kw("IS") {
                self.next();
                let negated = self.is_kw("NOT");
                if negated {
                    self.next();
                }
                self.expect_kw("NULL")?;
                e = Expr::IsNull { e: Box::new(e), negated };
            } else {
                return Ok(e);
            }
        }
    }

    fn cmp(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Sym(">") => Some(CmpOp::Gt),
                Tok::Sym(">=") => Some(CmpOp::Ge),
                Tok::Sym("<") => Some(CmpOp::Lt),
                Tok::Sym("<=") => Some(CmpOp::Le),
                _ => None,
            };
            if let Some(op) = op {
                self.next();
                e = Expr::Cmp(op, Box::new(e), Box::new(self.unary()?));
                continue;
            }
            let negated = self.is_kw("NOT");
            let at = self.at;
            if negated {
                self.next();
            }
            match self.peek().clone() {
                Tok::Kw("BETWEEN") => {
                    self.next();
                    let low = self.unary()?;
                    self.expect_kw("AND")?;
                    let high = self.unary()?;
                    e = Expr::Between { e: Box::new(e), low: Box::new(low), high: Box::new(high), negated };
                }
                Tok::Kw("IN") => {
                    self.next();
                    self.expect_sym("(")?;
                    let mut list = vec![self.string()?];
                    while self.is_sym(",") {
                        self.next();
                        list.push(self.string()?);
                    }
                    self.expect_sym(")")?;
                    e = Expr::In { e: Box::new(e), list, negated };
                }
                Tok::Kw(k @ ("CONTAINS" | "STARTSWITH" | "ENDSWITH")) => {
                    self.next();
                    let op = match k {
                        "CONTAINS" => StrOp::Contains,
                        "STARTSWITH" => StrOp::StartsWith,
                        _ => StrOp::EndsWith,
                    };
                    e = Expr::Str { op, e: Box::new(e), s: self.string()?, negated };
                }
                _ if negated => {
                    self.at = at;
                    return Err(self.unexpected("BETWEEN, IN, CONTAINS, STARTSWITH or ENDSWITH after NOT"));
                }
                _ => return Ok(e),
            }
        }
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let e = if self.is_sym("+") {
            self.next();
            self.unary()?
        } else if self.is_sym("-") {
            self.next();
            match self.unary()? {
                // A negative literal stays a literal.
                Expr::Const(Value::Int(n)) => Expr::Const(i32::checked_neg(n).map_or(Value::Long(-(n as i64)), Value::Int)),
                Expr::Const(Value::Long(n)) => Expr::Const(Value::Long(n.wrapping_neg())),
                Expr::Const(Value::Double(n)) => Expr::Const(Value::Double(-n)),
                e => Expr::Neg(Box::new(e)),
            }
        } else if self.is_kw("NOT") {
            self.next();
            Expr::Not(Box::new(self.unary()?))
        } else {
            self.primary()?
        };
        self.depth -= 1;
        Ok(e)
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let e = match self.peek().clone() {
            Tok::Str(s) => Expr::Const(Value::Str(s)),
            Tok::Long(n) => Expr::Const(i32::try_from(n).map_or(Value::Long(n), Value::Int)),
            Tok::Double(n) => Expr::Const(Value::Double(n)),
            Tok::Kw("TRUE") => Expr::Const(Value::Bool(true)),
            Tok::Kw("FALSE") => Expr::Const(Value::Bool(false)),
            Tok::Kw("NULL") => Expr::Const(Value::Null),
            Tok::Ident(name) => Expr::Prop(name),
            Tok::Sym("(") => {
                self.next();
                let e = self.or()?;
                self.expect_sym(")")?;
                return Ok(e);
            }
            _ => return Err(self.unexpected("a value, a property name or `(`")),
        };
        self.next();
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Expr {
        parse(s, Limits::default()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn precedence_and_forms() {
        assert!(matches!(p("a = 1 OR b = 2 AND c = 3"), Expr::Or(_, r) if matches!(*r, Expr::And(..))));
        assert!(matches!(p("a BETWEEN 0 AND 3 AND b = 'x'"), Expr::And(l, _) if matches!(*l, Expr::Between { .. })));
        assert!(matches!(p("a not between -1 and 3.5e2"), Expr::Between { negated: true, .. }));
        assert!(matches!(p("TAGS in ('a', 'b''c')"), Expr::In { ref list, .. } if list == &["a".to_string(), "b'c".to_string()]));
        assert!(matches!(p("a IS NOT NULL"), Expr::IsNull { negated: true, .. }));
        assert!(matches!(p("s NOT STARTSWITH 'x'"), Expr::Str { op: StrOp::StartsWith, negated: true, .. }));
        assert!(matches!(p("NOT (a > 1)"), Expr::Not(_)));
        assert_eq!(p("TRUE"), Expr::Const(Value::Bool(true)));
        assert_eq!(p("-5"), Expr::Const(Value::Int(-5)));
        assert_eq!(p("3000000000"), Expr::Const(Value::Long(3_000_000_000)));
        assert_eq!(p("1.5"), Expr::Const(Value::Double(1.5)));
    }

    #[test]
    fn errors_say_where_and_what() {
        let e = parse("a = ", Limits::default()).expect_err("incomplete");
        assert_eq!((e.pos, e.expected.as_str(), e.found.as_str()), (4, "a value, a property name or `(`", "the end"));
        let e = parse("a IN (1)", Limits::default()).expect_err("numbers in IN");
        assert_eq!(e.pos, 6);
        assert!(parse("a = 'x", Limits::default()).is_err());
        assert!(parse("a == 1", Limits::default()).is_err());
        assert!(parse("a = 1 b", Limits::default()).is_err());
        assert!(parse("a NOT = 1", Limits::default()).is_err());
        assert!(parse("a ! 1", Limits::default()).is_err());
    }

    #[test]
    fn limits_hold() {
        let limits = Limits { max_length: 100, max_depth: 10 };
        assert!(parse(&"a".repeat(101), limits).is_err());
        let deep = format!("{}a = 1{}", "(".repeat(20), ")".repeat(20));
        let e = parse(&deep, limits).expect_err("too deep");
        assert!(e.expected.contains("nesting"), "{e}");
        assert!(parse(&"NOT ".repeat(50), limits).is_err());
        assert!(parse(&format!("a = 1{}", " AND a = 1".repeat(30)), limits).is_err(), "a long chain counts as depth");
    }
}
