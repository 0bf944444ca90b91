//! A fast reader for JSON command headers of the usual shape, in front of the serde reader.
//!
//! Every request's header is JSON (the Java, Go and C++ clients send nothing else by default),
//! and most of it is strings: a send carries a dozen `extFields` and a properties string
//! full of `\u0001`/`\u0002` escapes, which serde_json reads one character at a time through
//! a scratch buffer. This reader checks UTF-8 once for the whole header, finds string ends
//! with a table lookup per byte, and appends keys and values straight into the fields' text.
//!
//! It reads only what is plainly what the serde reader would accept and how it would read it:
//! an object of the known header keys with integer, string, boolean or null values, and an
//! `extFields` object of such values. Anything else — a float, an integer out of range, a
//! nested value, a number given as a string, a bad escape, invalid JSON — makes it answer
//! `None`, and the serde reader decides, with its errors. So both readers agree whenever this
//! one answers; a property test and the `command` fuzz target check that.

use std::borrow::Cow;

use crate::command::{LanguageCode, RemotingCommand, SerializeType};
use crate::ext_fields::ExtFields;

/// The command in `header`, or `None` when the serde reader must decide.
pub(crate) fn decode(header: &[u8]) -> Option<RemotingCommand> {
    let text = std::str::from_utf8(header).ok()?;
    let mut r = Reader { s: text, b: header, i: 0 };
    r.expect(b'{')?;
    let (mut code, mut version, mut opaque, mut flag) = (None, None, None, None);
    let mut language = LanguageCode::OTHER;
    let mut remark = None;
    let mut ext_fields = ExtFields::new();
    if r.peek()? == b'}' {
        r.i += 1;
    } else {
        loop {
            let key = r.plain_key()?;
            r.expect(b':')?;
            match key {
                "code" => code = r.int_or_null()?,
                "version" => version = r.int_or_null()?,
                "opaque" => opaque = r.int_or_null()?,
                "flag" => flag = r.int_or_null()?,
                "language" => {
                    language = match r.scalar()? {
                        Scalar::Str(s) => LanguageCode::from_name(&s),
                        Scalar::Int(n) if n >= 0 => LanguageCode(n.min(255) as u8),
                        Scalar::Int(_) => LanguageCode::OTHER,
                        Scalar::Null | Scalar::Bool => LanguageCode::OTHER,
                    }
                }
                "remark" => {
                    remark = match r.scalar()? {
                        Scalar::Str(s) => Some(s.into_owned()),
                        Scalar::Null => None,
                        _ => return None,
                    }
                }
                "extFields" => ext_fields = r.ext_fields()?,
                _ => {
                    r.scalar()?;
                }
            }
            match r.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
    }
    r.skip_ws();
    if r.i != r.b.len() {
        return None;
    }
    let mut cmd = RemotingCommand::request(i32::try_from(code?).ok()?);
    cmd.version = i32::try_from(version.unwrap_or(0)).ok()?;
    cmd.opaque = i32::try_from(opaque.unwrap_or(0)).ok()?;
    cmd.flag = i32::try_from(flag.unwrap_or(0)).ok()?;
    cmd.language = language;
    cmd.remark = remark;
    cmd.ext_fields = ext_fields;
    cmd.serialize_type = SerializeType::Json;
    Some(cmd)
}

/// Bytes that end a run of plain string bytes: quote, backslash, control characters.
static STOPS: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

enum Scalar<'a> {
    Null,
    Bool,
    Int(i64),
    Str(Cow<'a, str>),
}

struct Reader<'a> {
    /// The header, known to be UTF-8, and its bytes.
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The next byte after white space, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.b.get(self.i).copied()
    }

    /// The next byte after white space, consumed.
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// Where the run of plain string bytes from `start` ends: at a quote, a backslash or a
    /// control character (which serde_json refuses in strings). Header strings are short,
    /// and a table lookup per byte beats setting up a vector search.
    fn run_end(&self, start: usize) -> Option<usize> {
        self.b[start..].iter().position(|&c| STOPS[c as usize]).map(|n| start + n)
    }

    /// A key without escapes, borrowed (header keys never have any).
    fn plain_key(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.i;
        let end = self.run_end(start)?;
        if self.b[end] != b'"' {
            return None;
        }
        self.i = end + 1;
        // Both ends are at ASCII quotes, so on character boundaries.
        self.s.get(start..end)
    }

    /// The rest of a string whose opening quote is consumed, unescaped onto `out`.
    fn string_into(&mut self, out: &mut String) -> Option<()> {
        loop {
            let start = self.i;
            let end = self.run_end(start)?;
            out.push_str(self.s.get(start..end)?);
            self.i = end + 1;
            match self.b[end] {
                b'"' => return Some(()),
                b'\\' => {}
                _ => return None, // a control character
            }
            let escape = *self.b.get(self.i)?;
            self.i += 1;
            let c = match escape {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let unit = self.hex4()?;
                    match unit {
                        0xD800..=0xDBFF => {
                            // A surrogate pair; anything else is left to serde_json's judgement.
                            self.literal(b"\\u")?;
                            let low = self.hex4()?;
                            if !(0xDC00..=0xDFFF).contains(&low) {
                                return None;
                            }
                            char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))?
                        }
                        0xDC00..=0xDFFF => return None,
                        _ => char::from_u32(unit)?,
                    }
                }
                _ => return None,
            };
            out.push(c);
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.b.get(self.i..self.i + 4)?;
        let mut v = 0;
        for &d in digits {
            v = v * 16 + (d as char).to_digit(16)?;
        }
        self.i += 4;
        Some(v)
    }

    /// An integer as serde_json reads one into an `i64`: no fraction, no exponent, no leading
    /// zeros. Anything else, or out of range, is `None`.
    fn int(&mut self) -> Option<i64> {
        let negative = self.b.get(self.i) == Some(&b'-');
        if negative {
            self.i += 1;
        }
        let start = self.i;
        let mut v: i128 = 0;
        while let Some(d @ b'0'..=b'9') = self.b.get(self.i) {
            v = v * 10 + (d - b'0') as i128;
            if v > 1 << 63 {
                return None;
            }
            self.i += 1;
        }
        let digits = self.i - start;
        if digits == 0 || (digits > 1 && self.b[start] == b'0') || matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        // serde_json reads `-0` as the float -0.0.
        if negative && v == 0 {
            return None;
        }
        i64::try_from(if negative { -v } else { v }).ok()
    }

    /// The rest of a string whose opening quote is consumed: borrowed when it has no escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.i;
        let end = self.run_end(start)?;
        if self.b[end] == b'"' {
            self.i = end + 1;
            return self.s.get(start..end).map(Cow::Borrowed);
        }
        let mut s = String::new();
        self.string_into(&mut s)?;
        Some(Cow::Owned(s))
    }

    fn scalar(&mut self) -> Option<Scalar<'a>> {
        Some(match self.peek()? {
            b'"' => {
                self.i += 1;
                Scalar::Str(self.string()?)
            }
            b'n' => {
                self.literal(b"null")?;
                Scalar::Null
            }
            b't' => {
                self.literal(b"true")?;
                Scalar::Bool
            }
            b'f' => {
                self.literal(b"false")?;
                Scalar::Bool
            }
            b'-' | b'0'..=b'9' => Scalar::Int(self.int()?),
            _ => return None,
        })
    }

    /// A header number: an integer or null (a number in a string is left to serde_json).
    fn int_or_null(&mut self) -> Option<Option<i64>> {
        match self.scalar()? {
            Scalar::Int(n) => Some(Some(n)),
            Scalar::Null => Some(None),
            _ => None,
        }
    }

    /// `extFields`: null, or an object whose values are kept as text (nulls dropped). Keys
    /// and values go straight into the fields' text; a repeated key keeps its last value.
    fn ext_fields(&mut self) -> Option<ExtFields> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(ExtFields::new());
        }
        self.expect(b'{')?;
        let mut fields = ExtFields::with_capacity(16, self.b.len());
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(fields);
        }
        loop {
            let key = fields.text_mut().len();
            self.expect(b'"')?;
            self.string_into(fields.text_mut())?;
            self.expect(b':')?;
            let value = fields.text_mut().len();
            let kept = match self.peek()? {
                b'"' => {
                    self.i += 1;
                    self.string_into(fields.text_mut())?;
                    true
                }
                b'n' => {
                    self.literal(b"null")?;
                    false
                }
                b't' => {
                    self.literal(b"true")?;
                    fields.text_mut().push_str("true");
                    true
                }
                b'f' => {
                    self.literal(b"false")?;
                    fields.text_mut().push_str("false");
                    true
                }
                b'-' | b'0'..=b'9' => {
                    use std::fmt::Write;
                    let n = self.int()?;
                    // Writing into a String cannot fail.
                    let _ = write!(fields.text_mut(), "{n}");
                    true
                }
                _ => return None,
            };
            if kept {
                fields.push_span(key, value);
            } else {
                fields.truncate_text(key);
            }
            match self.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
        fields.dedup();
        Some(fields)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::decode;
    use crate::command::json_readers_agree;

    /// A send header as the Java client writes it.
    const JAVA_SEND: &str = r#"{"code":310,"extFields":{"a":"PG","b":"TopicTest","c":"TBW102","d":"4","e":"3","f":"0","g":"1700000000000","h":"0","i":"UNIQ_KEY\u00017F0000010001\u0002WAIT\u0001true\u0002TAGS\u0001TagA","j":"0","k":"false","m":"false","n":"broker-a"},"flag":0,"language":"JAVA","opaque":42,"serializeTypeCurrentRPC":"JSON","version":453}"#;

    #[test]
    fn reads_the_usual_headers_itself_and_as_serde_does() {
        for h in [
            JAVA_SEND,
            r#"{"code":105,"flag":0,"language":"GO","opaque":7,"version":317,"extFields":{"topic":"t"}}"#,
            r#" { "code" : 0 , "extFields" : null , "remark" : "é\n\"x\" \ud83d\ude00" , "opaque" : -5 , "language" : 12 } "#,
            r#"{"code":1,"extFields":{"k":1,"k":2,"n":null,"b":true,"x":-9223372036854775808}}"#,
            r#"{"code":1,"extFields":{}}"#,
        ] {
            let cmd = decode(h.as_bytes()).unwrap_or_else(|| panic!("the fast reader declined {h}"));
            assert!(json_readers_agree(h.as_bytes()), "{h}");
            assert_eq!(cmd.serialize_type, crate::command::SerializeType::Json);
        }
        let cmd = decode(JAVA_SEND.as_bytes()).unwrap();
        assert_eq!((cmd.code, cmd.opaque, cmd.version, cmd.language.name()), (310, 42, 453, "JAVA"));
        assert_eq!(cmd.ext_fields.get("i"), Some("UNIQ_KEY\u{1}7F0000010001\u{2}WAIT\u{1}true\u{2}TAGS\u{1}TagA"));
        let dup = decode(br#"{"code":1,"extFields":{"k":1,"k":2,"n":null}}"#).unwrap();
        assert_eq!((dup.ext_fields.get("k"), dup.ext_fields.len()), (Some("2"), 1));
    }

    #[test]
    fn leaves_to_serde_what_serde_reads_otherwise_or_refuses() {
        for h in [
            r#"{"code":-0}"#,
            r#"{"code":1.0}"#,
            r#"{"code":1e2}"#,
            r#"{"code":01}"#,
            r#"{"code":"310"}"#,
            r#"{"code":99999999999}"#,
            r#"{"code":1,"extFields":{"a":1.5}}"#,
            r#"{"code":1,"extFields":{"a":{"b":1}}}"#,
            r#"{"code":1,"extFields":{"a":"\ud800"}}"#,
            r#"{"code":1,"extFields":{"a":"\x"}}"#,
            "{\"code\":1,\"extFields\":{\"a\":\"\u{1}\"}}",
            r#"{"code":1,"other":[1]}"#,
            r#"{"code":1,}"#,
            r#"{"code":1} x"#,
            r#"{"co\u0064e":1}"#,
            r#"{}"#,
            r#"[]"#,
        ] {
            assert!(decode(h.as_bytes()).is_none(), "the fast reader should decline {h}");
        }
    }

    /// JSON-ish text, mostly what the fast reader takes, some of it on the edges of what
    /// either reader accepts.
    fn value() -> impl Strategy<Value = String> {
        let usual = prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            Just("false".to_string()),
            Just("9223372036854775807".to_string()),
            Just("-9223372036854775808".to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<i32>().prop_map(|n| n.to_string()),
        ];
        let edges = prop_oneof![
            Just("-0".to_string()),
            Just("01".to_string()),
            Just("1.5".to_string()),
            Just("1e3".to_string()),
            Just("-".to_string()),
            Just("9223372036854775808".to_string()),
            Just("-9223372036854775809".to_string()),
            Just("18446744073709551616".to_string()),
            Just("{}".to_string()),
            Just("[1,{\"a\":null}]".to_string()),
            Just("{\"x\":\"y\"}".to_string()),
        ];
        let pieces = prop_oneof![
            8 => "[a-zA-Z0-9 é€]{0,6}",
            2 => Just("\\u0001".to_string()),
            2 => Just("\\u0002".to_string()),
            1 => Just("\\\"".to_string()),
            1 => Just("\\\\".to_string()),
            1 => Just("\\/".to_string()),
            1 => Just("\\b".to_string()),
            1 => Just("\\f".to_string()),
            1 => Just("\\n".to_string()),
            1 => Just("\\r".to_string()),
            1 => Just("\\t".to_string()),
            1 => Just("\\u00e9".to_string()),
            1 => Just("\\u00E9".to_string()),
            1 => Just("\\ud83d\\ude00".to_string()),
            1 => Just("\\u0000".to_string()),
        ];
        let bad_pieces = prop_oneof![
            Just("\\ud83d".to_string()),
            Just("\\ude00".to_string()),
            Just("\\ud83dx".to_string()),
            Just("\\ud83d\\u0041".to_string()),
            Just("\\uZZZZ".to_string()),
            Just("\\u12".to_string()),
            Just("\\q".to_string()),
            Just("\u{1}".to_string()),
        ];
        let good_string = prop::collection::vec(pieces.clone(), 0..5).prop_map(|p| format!("\"{}\"", p.concat()));
        let bad_string = (prop::collection::vec(pieces, 0..3), bad_pieces).prop_map(|(p, b)| format!("\"{}{b}\"", p.concat()));
        prop_oneof![6 => usual, 10 => good_string, 1 => edges, 1 => bad_string]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("code"),
            Just("version"),
            Just("opaque"),
            Just("flag"),
            Just("language"),
            Just("remark"),
            Just("serializeTypeCurrentRPC"),
            Just("a"),
            Just("co\\u0064e"),
        ]
        .prop_map(|k| format!("\"{k}\""))
    }

    fn header() -> impl Strategy<Value = String> {
        let ext_entry = (prop_oneof![8 => "[a-z]{1,3}", 1 => Just("k\\u0001".to_string()), 1 => Just("k\\n".to_string())], value())
            .prop_map(|(k, v)| format!("\"{k}\":{v}"));
        let ext = prop_oneof![
            1 => Just("null".to_string()),
            1 => Just("\"x\"".to_string()),
            8 => prop::collection::vec(ext_entry, 0..6).prop_map(|e| format!("{{{}}}", e.join(","))),
        ];
        let field = prop_oneof![
            1 => (key(), value()).prop_map(|(k, v)| format!("{k}:{v}")),
            2 => ext.prop_map(|e| format!("\"extFields\":{e}")),
        ];
        let ws = prop_oneof![4 => Just(""), 1 => Just(" "), 1 => Just("\n\t\r"), 1 => Just("\u{b}")];
        (any::<i16>(), prop::collection::vec(field, 0..6), ws, prop_oneof![8 => Just(""), 1 => Just(","), 1 => Just(" x")]).prop_map(
            |(code, fields, ws, tail)| {
                let mut all = vec![format!("\"code\":{code}")];
                all.extend(fields);
                format!("{ws}{{{ws}{}{ws}}}{tail}", all.join(&format!("{ws},")))
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn where_the_fast_reader_answers_it_agrees_with_serde(h in header()) {
            prop_assert!(json_readers_agree(h.as_bytes()), "{}", h);
        }

        #[test]
        fn it_never_panics_on_bytes(b in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&b);
            prop_assert!(json_readers_agree(&b));
        }
    }
}
