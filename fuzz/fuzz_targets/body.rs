//! JSON bodies as fastjson writes them (object and numeric map keys): whatever the reader
//! accepts, written back as standard JSON, must read back the same; nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::body;
use serde_json::Value;

/// Equal, with floats compared to a relative 1e-12: serde_json's default float reading is
/// not exact to the last bit, so a printed float can read back one ulp away.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w))),
        _ => a == b,
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = body::fastjson_value(data) {
        let again = body::fastjson_value(value.to_string().as_bytes()).expect("standard JSON reads back");
        assert!(same(&again, &value), "{value} read back as {again}");
    }
    let _ = body::object_keyed_entries(data, "offsetTable");
});
