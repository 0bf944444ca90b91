//! Expressions with properties and the verdict the Java 5.3.3 filter gives (checked against
//! its jar), and the expressions refused.

use super::*;

fn props(pairs: &str) -> Properties {
    let mut p = Properties::default();
    for kv in pairs.split(';').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').expect("k=v");
        p.set(k, v);
    }
    p
}

fn verdict(expr: &str, pairs: &str) -> bool {
    let f = SqlFilter::compile(expr, Limits::default()).unwrap_or_else(|e| panic!("{expr}: {e}"));
    let p = props(pairs);
    let parsed = f.matches(&p);
    assert_eq!(f.matches_raw(p.as_wire()), parsed, "{expr} over the stored string");
    let mut fields = super::Fields::default();
    super::split_properties(p.as_wire(), &mut fields);
    assert_eq!(f.matches_fields(&fields), parsed, "{expr} over the split string");
    parsed
}

#[test]
fn java_semantics_table() {
    let table: &[(&str, &str, bool)] = &[
        ("a = 'x'", "a=x", true),
        ("a = 'x'", "", false),
        ("'x' = a", "", false),
        ("'x' <> a", "", true),
        ("a <> 'x'", "", false),
        ("a <> 'x'", "a=y", true),
        ("a = b", "", true),
        ("a = 3", "a=3", true),
        ("a = 3", "a=+3", true),
        ("a = 3", "a=3.0", false),
        ("a = 3", "a=abc", false),
        ("a = 3.0", "a=3", true),
        ("a = 3.0", "a= 3 ", true),
        ("3 = a", "a=3", true),
        ("a > 3", "a=5", true),
        ("a > 3", "a=5.5", false),
        ("a > 3.0", "a=5.5", true),
        ("a > 3", "a=5000000000", false),
        ("a > 3000000000", "a=5000000000", true),
        ("a > 1.0", "a=NaN", true),
        ("a > b", "a=10;b=9", true),
        ("a > b", "a=abc;b=9", false),
        ("a > b", "a=10", false),
        ("a = b", "a=10;b=10.0", false),
        ("a = TRUE", "a=TRUE", true),
        ("a = FALSE", "a=yes", true),
        ("TRUE = a", "a=true", false),
        ("a", "a=true", false),
        ("NOT a", "a=true", true),
        ("NOT a", "", false),
        ("a IS NULL", "", true),
        ("a IS NULL", "a=", true),
        ("a IS NOT NULL", "", false),
        ("a BETWEEN 1 AND 5", "a=5", true),
        ("a BETWEEN 1 AND 5", "", false),
        ("a BETWEEN 1 AND 5.5", "a=5.2", false),
        ("a NOT BETWEEN 1 AND 5", "a=6", true),
        ("a NOT BETWEEN 5 AND 1", "a=3", true),
        ("a IN ('x','y')", "a=x", true),
        ("a IN ('1','2')", "a=1", true),
        ("a NOT IN ('x','y')", "", false),
        ("a NOT IN ('x','y')", "a=z", true),
        ("a CONTAINS 'b'", "a=abc", true),
        ("a CONTAINS ''", "a=abc", false),
        ("a NOT CONTAINS ''", "a=abc", false),
        ("a NOT CONTAINS 'z'", "", false),
        ("NOT (a CONTAINS 'z')", "", true),
        ("a STARTSWITH 'ab' AND a ENDSWITH 'bc'", "a=abc", true),
        ("a CONTAINS 'B'", "a=abc", false),
        ("TAGS = 'TagA' AND KEYS CONTAINS 'k1'", "TAGS=TagA;KEYS=k1 k2", true),
        ("a = 'x' OR a > 3", "a=x", true),
        ("a > 3 OR a = 'x'", "a=x", false),
        ("a = 'x' OR b = 'y' AND c = 'z'", "b=y", false),
        ("a = 'x' AND b = 'y'", "a=q", false),
        ("a = 'it''s'", "a=it's", true),
        ("-a = -3", "a=3", false),
        ("TRUE", "", true),
        ("FALSE", "", false),
        ("NULL", "", false),
        ("1 = 1.0", "", true),
        ("A = 'x'", "a=x", false),
        ("a = 'x' and b = 'y'", "a=x;b=y", true),
        ("a BETWEEN 0 AND 3 AND b = 'x'", "a=2;b=x", true),
        ("(a > 1 OR b < 0) AND NOT (c = 'z')", "a=2;c=y", true),
    ];
    for (expr, pairs, want) in table {
        assert_eq!(verdict(expr, pairs), *want, "{expr} with {pairs:?}");
    }
}

#[test]
fn refused_expressions_say_why() {
    for expr in [
        "",
        "a = NULL",
        "NULL <> a",
        "a > 'x'",
        "a > TRUE",
        "a > 1 > 0",
        "a BETWEEN 5 AND 1",
        "a BETWEEN NULL AND 1",
        "a IN (1, 2)",
        "a IN ()",
        "a CONTAINS b",
        "'x' IN ('x')",
        "1",
        "'x'",
        "NOT 1",
        "a = 1 AND 3",
        "a == 'x'",
        "a != 'x'",
        "a * 2 = 2",
        "a = \"x\"",
        "a = 'x",
        // Java accepts these and they never mean what they say.
        "a = 1 garbage",
        "a + 1 = 2",
        "NOT a = 'x'",
    ] {
        assert!(SqlFilter::compile(expr, Limits::default()).is_err(), "{expr} must be refused");
    }
    let e = SqlFilter::compile("a = 1 b", Limits::default()).expect_err("trailing");
    assert_eq!(e.pos, 6, "{e}");
}

#[test]
fn a_literal_is_typed_by_its_size() {
    assert!(verdict("a = 2147483648", "a=2147483648"));
    assert!(!verdict("a = 2147483647", "a=2147483648"), "an Integer literal reads the property as an Integer, which fails");
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Expressions from the grammar: every one compiles, and evaluates without panic.
    fn expr() -> impl Strategy<Value = String> {
        let name = prop_oneof![Just("a".to_string()), Just("b".to_string()), Just("TAGS".to_string())];
        let number = prop_oneof![(-100i64..100).prop_map(|n| n.to_string()), (-100.0f64..100.0).prop_map(|f| format!("{f:.2}"))];
        let string = "[a-z']{0,4}".prop_map(|s| format!("'{}'", s.replace('\'', "''")));
        let leaf = prop_oneof![
            (name.clone(), string.clone()).prop_map(|(n, s)| format!("{n} = {s}")),
            (name.clone(), number.clone()).prop_map(|(n, v)| format!("{n} > {v}")),
            (name.clone(), number.clone(), number).prop_map(|(n, a, b)| format!("{n} NOT BETWEEN {a} AND {b}")),
            (name.clone(), string.clone()).prop_map(|(n, s)| format!("{n} IN ({s}, 'x')")),
            (name.clone(), string).prop_map(|(n, s)| format!("{n} CONTAINS {s}")),
            name.prop_map(|n| format!("{n} IS NOT NULL")),
        ];
        leaf.prop_recursive(4, 32, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) AND ({b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} OR {b}")),
                inner.prop_map(|a| format!("NOT ({a})")),
            ]
        })
    }

    proptest! {
        #[test]
        fn grammar_expressions_compile_and_evaluate(e in expr(), a in "[0-9a-z.]{0,4}", b in "[0-9a-z.]{0,4}") {
            let f = SqlFilter::compile(&e, Limits::default()).map_err(|err| TestCaseError::fail(format!("{e}: {err}")))?;
            let _ = f.matches(&props(&format!("a={a};b={b};TAGS=x")));
        }

        #[test]
        fn any_text_compiles_or_is_refused_without_panic(text in "\\PC{0,80}") {
            match SqlFilter::compile(&text, Limits { max_length: 60, max_depth: 8 }) {
                Ok(f) => { let _ = f.matches(&props("a=1;b=x")); }
                Err(e) => prop_assert!(e.pos <= text.chars().count().max(60)),
            }
        }
    }
}
