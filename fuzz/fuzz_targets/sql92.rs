//! SQL92 filter expressions: any text either compiles within its limits or is refused with a
//! position inside it; a compiled expression evaluates against any properties without panic.
#![no_main]

use broker::sql92::{Limits, SqlFilter};
use libfuzzer_sys::fuzz_target;
use protocol::message::Properties;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The first line is the expression; the rest, properties (k=v per line).
    let (expr, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let limits = Limits { max_length: 512, max_depth: 32 };
    match SqlFilter::compile(expr, limits) {
        Ok(f) => {
            let mut props = Properties::default();
            for line in rest.lines() {
                if let Some((k, v)) = line.split_once('=') {
                    props.set(k, v);
                }
            }
            let _ = f.matches(&props);
        }
        Err(e) => assert!(e.pos <= expr.chars().count().max(limits.max_length), "{e}"),
    }
});
