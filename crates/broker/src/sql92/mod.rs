//! SQL92 message filters (`MessageSelector.bySql`): an expression is compiled once per
//! subscription ([`SqlFilter::compile`]) and evaluated against each message's properties — the
//! whole stored property map, so `TAGS` and `KEYS` are there too — with the Java broker's
//! semantics: properties are strings, converted to the type of what they are compared with; a
//! missing property is null; AND, OR and NOT are three-valued; a message matches only when the
//! result is TRUE, and an evaluation error (a property that does not read as the number it is
//! compared with) is no match.
//!
//! Where Java accepts an expression that can never mean what it says, this refuses it with the
//! position: input after a complete expression (Java ignores it: `a = 1 garbage` is `a = 1`),
//! and `NOT x = …`, which Java reads as `(NOT x) = …` and fails on every message.

pub mod bitmap;
mod parse;

use std::cmp::Ordering;

use parse::{CmpOp, Expr, StrOp, Value};
pub use parse::{Limits, ParseError};
use protocol::message::Properties;

/// A compiled SQL92 expression.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlFilter {
    expr: Expr,
}

/// A value while evaluating; strings borrow from the properties or the expression.
#[derive(Debug, Clone, Copy, PartialEq)]
enum V<'a> {
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    Str(&'a str),
}

/// An evaluation that Java ends with an exception: the message does not match.
#[derive(Debug)]
struct EvalError;

type R<T> = Result<T, EvalError>;

impl SqlFilter {
    /// Parses and checks an expression (the checks the Java parser makes at build time).
    pub fn compile(text: &str, limits: Limits) -> Result<SqlFilter, ParseError> {
        let expr = parse::parse(text, limits)?;
        check(&expr, true)?;
        Ok(SqlFilter { expr })
    }

    /// Whether a message with these properties matches: the expression is TRUE.
    pub fn matches(&self, props: &Properties) -> bool {
        matches!(truth(&self.expr, &Parsed(props)), Ok(Some(true)))
    }

    /// As [`SqlFilter::matches`], over a properties string as stored (no map is built).
    pub fn matches_raw(&self, raw: &str) -> bool {
        matches!(truth(&self.expr, &Raw(raw)), Ok(Some(true)))
    }

    /// As [`SqlFilter::matches`], over properties split once by [`split_properties`] (for
    /// several expressions over one message).
    pub fn matches_fields(&self, fields: &Fields<'_>) -> bool {
        matches!(truth(&self.expr, fields), Ok(Some(true)))
    }
}

/// Where property values come from.
trait Lookup<'a> {
    fn get(&self, key: &str) -> Option<&'a str>;
}

struct Parsed<'a>(&'a Properties);

impl<'a> Lookup<'a> for Parsed<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        self.0.get(key)
    }
}

struct Raw<'a>(&'a str);

impl<'a> Lookup<'a> for Raw<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        protocol::message::property_in(self.0, key)
    }
}

/// A message's properties as (key, value) pairs, in stored order.
#[derive(Debug, Default)]
pub struct Fields<'a>(Vec<(&'a str, &'a str)>);

/// Splits a properties string as stored into `fields` (cleared first), as
/// `protocol::message::property_in` reads it.
pub fn split_properties<'a>(raw: &'a str, fields: &mut Fields<'a>) {
    fields.0.clear();
    fields.0.extend(protocol::message::property_pairs(raw));
}

impl<'a> Lookup<'a> for Fields<'a> {
    /// The last value of `key`, as the map Java builds keeps it.
    fn get(&self, key: &str) -> Option<&'a str> {
        self.0.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

fn refuse(expected: &str, found: &str) -> ParseError {
    ParseError { pos: 0, expected: expected.into(), found: found.into() }
}

/// Whether an expression yields a boolean (a bare property is read as one, as Java's
/// BooleanCast does).
fn is_boolean(e: &Expr) -> bool {
    !matches!(e, Expr::Const(Value::Int(_) | Value::Long(_) | Value::Double(_) | Value::Str(_)) | Expr::Neg(_))
}

fn is_boolean_op(e: &Expr) -> bool {
    matches!(e, Expr::And(..) | Expr::Or(..) | Expr::Not(_) | Expr::Cmp(..) | Expr::IsNull { .. } | Expr::Between { .. } | Expr::In { .. } | Expr::Str { .. })
        || matches!(e, Expr::Const(Value::Bool(_) | Value::Null))
}

/// Java's build-time checks (`asBoolean`, the comparison operand rules), and ours.
fn check(e: &Expr, want_boolean: bool) -> Result<(), ParseError> {
    if want_boolean && !is_boolean(e) {
        return Err(refuse("an expression with a boolean value", "a value"));
    }
    match e {
        Expr::Const(_) | Expr::Prop(_) => Ok(()),
        Expr::Not(x) => check(x, true),
        Expr::Neg(x) => check(x, false),
        Expr::And(a, b) | Expr::Or(a, b) => check(a, true).and(check(b, true)),
        Expr::Cmp(op, a, b) => {
            if matches!(**a, Expr::Not(_)) {
                return Err(refuse("NOT ( … ) around a comparison (NOT binds tighter: `NOT a = 'x'` is `(NOT a) = 'x'`)", "NOT"));
            }
            match op {
                CmpOp::Eq | CmpOp::Ne => {
                    if matches!(**a, Expr::Const(Value::Null)) || matches!(**b, Expr::Const(Value::Null)) {
                        return Err(refuse("IS NULL or IS NOT NULL ('NULL' cannot be compared)", "NULL"));
                    }
                }
                _ => {
                    for x in [a, b] {
                        if matches!(**x, Expr::Const(Value::Str(_) | Value::Bool(_) | Value::Null)) || is_boolean_op(x) {
                            return Err(refuse("a number or a property on each side of <, <=, >, >=", "another value"));
                        }
                    }
                }
            }
            check(a, false).and(check(b, false))
        }
        Expr::IsNull { e, .. } | Expr::Str { e, .. } => check(e, false),
        Expr::In { e, .. } => match **e {
            Expr::Prop(_) => Ok(()),
            _ => Err(refuse("a property before IN", "another value")),
        },
        Expr::Between { e, low, high, negated } => {
            for x in [e, low, high] {
                if matches!(**x, Expr::Const(Value::Str(_) | Value::Bool(_) | Value::Null)) || is_boolean_op(x) {
                    return Err(refuse("numbers or properties in BETWEEN", "another value"));
                }
            }
            if let (Some(lo), Some(hi), false) = (number(low), number(high), *negated) {
                if lo > hi {
                    return Err(refuse("BETWEEN's low bound at most its high bound", "a larger low bound"));
                }
            }
            check(e, false).and(check(low, false)).and(check(high, false))
        }
    }
}

fn number(e: &Expr) -> Option<f64> {
    match e {
        Expr::Const(Value::Int(n)) => Some(*n as f64),
        Expr::Const(Value::Long(n)) => Some(*n as f64),
        Expr::Const(Value::Double(n)) => Some(*n),
        _ => None,
    }
}

/// The value of an expression (None: null).
fn eval<'a>(e: &'a Expr, props: &impl Lookup<'a>) -> R<Option<V<'a>>> {
    Ok(match e {
        Expr::Const(v) => match v {
            Value::Null => None,
            Value::Bool(b) => Some(V::Bool(*b)),
            Value::Int(n) => Some(V::Int(*n)),
            Value::Long(n) => Some(V::Long(*n)),
            Value::Double(n) => Some(V::Double(*n)),
            Value::Str(s) => Some(V::Str(s)),
        },
        // A property with an empty value is absent, as Java decodes properties.
        Expr::Prop(name) => props.get(name).filter(|v| !v.is_empty()).map(V::Str),
        Expr::Neg(x) => match eval(x, props)? {
            Some(V::Int(n)) => Some(n.checked_neg().map_or(V::Long(-(n as i64)), V::Int)),
            Some(V::Long(n)) => Some(V::Long(n.wrapping_neg())),
            Some(V::Double(n)) => Some(V::Double(-n)),
            _ => None,
        },
        _ => truth(e, props)?.map(V::Bool),
    })
}

/// The truth of an expression: three-valued (None: unknown).
fn truth<'a>(e: &'a Expr, props: &impl Lookup<'a>) -> R<Option<bool>> {
    Ok(match e {
        Expr::Const(_) | Expr::Prop(_) | Expr::Neg(_) => match eval(e, props)? {
            Some(V::Bool(b)) => Some(b),
            None => None,
            // A string (a property) is not a boolean: false.
            Some(_) => Some(false),
        },
        Expr::Not(x) => truth(x, props)?.map(|b| !b),
        Expr::And(a, b) => match truth(a, props)? {
            Some(false) => Some(false),
            l => match (l, truth(b, props)?) {
                (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
        },
        Expr::Or(a, b) => match truth(a, props)? {
            Some(true) => Some(true),
            l => match (l, truth(b, props)?) {
                (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
        },
        Expr::Cmp(CmpOp::Eq, a, b) => equal(a, b, props)?,
        Expr::Cmp(CmpOp::Ne, a, b) => equal(a, b, props)?.map(|x| !x),
        Expr::Cmp(op, a, b) => order(*op, a, b, props)?,
        Expr::IsNull { e, negated } => Some(eval(e, props)?.is_none() != *negated),
        Expr::Between { e, low, high, negated: false } => {
            let ge = order(CmpOp::Ge, e, low, props)?;
            if ge == Some(false) {
                return Ok(Some(false));
            }
            match (ge, order(CmpOp::Le, e, high, props)?) {
                (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            }
        }
        Expr::Between { e, low, high, negated: true } => {
            let lt = order(CmpOp::Lt, e, low, props)?;
            if lt == Some(true) {
                return Ok(Some(true));
            }
            match (lt, order(CmpOp::Gt, e, high, props)?) {
                (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            }
        }
        Expr::In { e, list, negated } => match eval(e, props)? {
            Some(V::Str(s)) => Some(list.iter().any(|x| x == s) != *negated),
            _ => None,
        },
        Expr::Str { op, e, s, negated } => match eval(e, props)? {
            Some(V::Str(v)) if !s.is_empty() => {
                let hit = match op {
                    StrOp::Contains => v.contains(s.as_str()),
                    StrOp::StartsWith => v.starts_with(s.as_str()),
                    StrOp::EndsWith => v.ends_with(s.as_str()),
                };
                Some(hit != *negated)
            }
            // Null, not a string, or an empty search: false, in both forms.
            _ => Some(false),
        },
    })
}

/// `=`: both null is TRUE; a null left side is unknown, a null right side FALSE (as Java).
fn equal<'a>(a: &'a Expr, b: &'a Expr, props: &impl Lookup<'a>) -> R<Option<bool>> {
    let (l, r) = (eval(a, props)?, eval(b, props)?);
    Ok(match (l, r) {
        (None, None) => Some(true),
        (None, _) => None,
        (_, None) => Some(false),
        (Some(l), Some(r)) => Some(l == r || compare(l, r)? == Ordering::Equal),
    })
}

/// `<`, `<=`, `>`, `>=`: unknown when either side is null; two strings compare as numbers.
fn order<'a>(op: CmpOp, a: &'a Expr, b: &'a Expr, props: &impl Lookup<'a>) -> R<Option<bool>> {
    let Some(l) = eval(a, props)? else { return Ok(None) };
    let Some(r) = eval(b, props)? else { return Ok(None) };
    let ord = match (l, r) {
        (V::Str(x), V::Str(y)) => java_double(x)?.total_cmp(&java_double(y)?),
        _ => compare(l, r)?,
    };
    Ok(Some(match op {
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Le => ord != Ordering::Greater,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Ge => ord != Ordering::Less,
        // Equality goes through `equal`; were it here, it would mean the order's.
        CmpOp::Eq => ord == Ordering::Equal,
        CmpOp::Ne => ord != Ordering::Equal,
    }))
}

/// Java's `ComparisonExpression.compare`: numbers widen; a string is read as the type of the
/// other side; a boolean against a number is unequal (less); a boolean against a string fails.
fn compare(l: V<'_>, r: V<'_>) -> R<Ordering> {
    use V::*;
    Ok(match (l, r) {
        (Str(x), Str(y)) => x.cmp(y),
        (Bool(x), Bool(y)) => x.cmp(&y),
        (Int(x), Int(y)) => x.cmp(&y),
        (Int(_) | Long(_), Int(_) | Long(_)) => as_long(l).cmp(&as_long(r)),
        (Int(_) | Long(_) | Double(_), Int(_) | Long(_) | Double(_)) => as_double(l).total_cmp(&as_double(r)),
        (Int(x), Str(s)) => x.cmp(&java_int(s)?),
        (Long(x), Str(s)) => x.cmp(&java_long(s)?),
        (Double(x), Str(s)) => x.total_cmp(&java_double(s)?),
        (Str(s), Int(y)) => java_int(s)?.cmp(&y),
        (Str(s), Long(y)) => java_long(s)?.cmp(&y),
        (Str(s), Double(y)) => java_double(s)?.total_cmp(&y),
        (Str(s), Bool(y)) => s.eq_ignore_ascii_case("true").cmp(&y),
        (Bool(_), Str(_)) => return Err(EvalError),
        (Bool(_), _) | (_, Bool(_)) => Ordering::Less,
    })
}

fn as_long(v: V<'_>) -> i64 {
    match v {
        V::Int(n) => n as i64,
        V::Long(n) => n,
        _ => 0,
    }
}

fn as_double(v: V<'_>) -> f64 {
    match v {
        V::Int(n) => n as f64,
        V::Long(n) => n as f64,
        V::Double(n) => n,
        _ => 0.0,
    }
}

/// `Integer.valueOf`: an optional sign and digits, nothing else.
fn java_int(s: &str) -> R<i32> {
    java_integer(s).and_then(|n| i32::try_from(n).map_err(|_| EvalError))
}

fn java_long(s: &str) -> R<i64> {
    java_integer(s)
}

fn java_integer(s: &str) -> R<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EvalError);
    }
    s.parse::<i64>().map_err(|_| EvalError)
}

/// `Double.valueOf`: trimmed; a decimal with an optional exponent and f/F/d/D suffix, NaN or
/// Infinity.
fn java_double(s: &str) -> R<f64> {
    let t = s.trim_matches(|c: char| c <= ' ');
    let body = t.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(t);
    let unsigned = body.strip_prefix(['+', '-']).unwrap_or(body);
    if unsigned == "NaN" || unsigned == "Infinity" {
        return body.replace("Infinity", "inf").parse().map_err(|_| EvalError);
    }
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) {
        return Err(EvalError);
    }
    body.parse().map_err(|_| EvalError)
}

#[cfg(test)]
mod tests;
