//! The remoting request signature of RocketMQ's `AclClientRPCHook`: HMAC-SHA1, keyed by the
//! user's secret, over the values of every extension field but `Signature` in key order (no
//! keys, no separators), then the body; standard Base64 with padding.
//!
//! Hand-written over RustCrypto's HMAC-SHA1 (which uses the CPU's SHA instructions where
//! there are some: 3.6 times ring's portable SHA-1 here, and every signed request is hashed
//! whole): no crate speaks this scheme, and it is a dozen lines.

use base64::Engine;
use hmac::{Hmac, Mac};
use protocol::command::ExtFields;
use sha1::Sha1;

/// HMAC-SHA1 keyed by a user's secret (any key length is valid for HMAC).
fn mac(secret: &str) -> Hmac<Sha1> {
    Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length")
}

pub const ACCESS_KEY: &str = "AccessKey";
pub const SIGNATURE: &str = "Signature";
pub const SECURITY_TOKEN: &str = "SecurityToken";
/// Added by clients before 4.9.3 after they signed: left out of the content for them.
const UNIQUE_KEY_QUERY: &str = "_UNIQUE_KEY_QUERY";
/// `MQVersion.Version.V4_9_3`'s ordinal: requests of this version or older sign without it.
const V4_9_3: i32 = 399;

/// The fields a request's signature covers, in the order they are signed: every extension
/// field but `Signature` (and `_UNIQUE_KEY_QUERY` for old clients), sorted by key as Java's
/// TreeMap of Strings sorts them.
fn signed_fields(ext: &ExtFields, version: i32) -> Vec<(&str, &str)> {
    let mut fields: Vec<(&str, &str)> = ext.iter().filter(|(k, _)| *k != SIGNATURE && !(version <= V4_9_3 && *k == UNIQUE_KEY_QUERY)).collect();
    fields.sort_unstable_by(|a, b| java_string_order(a.0, b.0));
    fields
}

/// Java's `String.compareTo`: by UTF-16 code units. That is UTF-8 byte order unless a
/// character beyond the BMP (a 4-byte UTF-8 sequence, lead byte 0xF0 or above) is compared
/// with one in U+E000..U+FFFF, so bytes decide when neither key has one.
fn java_string_order(a: &str, b: &str) -> std::cmp::Ordering {
    if a.bytes().chain(b.bytes()).all(|c| c < 0xF0) {
        a.cmp(b)
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

/// The bytes a request's signature covers, built from the fields as received.
pub fn content(ext: &ExtFields, body: &[u8], version: i32) -> Vec<u8> {
    let fields = signed_fields(ext, version);
    let mut out = Vec::with_capacity(fields.iter().map(|(_, v)| v.len()).sum::<usize>() + body.len());
    for (_, v) in fields {
        out.extend_from_slice(v.as_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// The signature of a request (Base64 of HMAC-SHA1 over [`content`]), computed over the
/// fields and body where they are, without gathering them.
pub fn request_signature(secret: &str, ext: &ExtFields, body: &[u8], version: i32) -> String {
    let mut m = mac(secret);
    for (_, v) in signed_fields(ext, version) {
        m.update(v.as_bytes());
    }
    m.update(body);
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

/// Base64 of HMAC-SHA1 of `data` keyed by `secret`.
pub fn signature(secret: &str, data: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(data);
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

/// Whether `given` is the signature of `data` under `secret`, compared as text in constant
/// time (as Java compares the Base64 strings: a client's must be canonical).
pub fn verify(secret: &str, data: &[u8], given: &str) -> bool {
    constant_time_eq(signature(secret, data).as_bytes(), given.as_bytes())
}

/// Whether two signatures (as text) are equal, in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Signs a request as `AclClientRPCHook` does: adds `AccessKey` (and `SecurityToken`), then
/// `Signature` over the fields and body.
pub fn sign_request(ext: &mut ExtFields, body: &[u8], version: i32, access_key: &str, secret_key: &str, token: Option<&str>) {
    ext.insert(ACCESS_KEY, access_key);
    if let Some(t) = token {
        ext.insert(SECURITY_TOKEN, t);
    }
    let sig = request_signature(secret_key, ext, body, version);
    ext.insert(SIGNATURE, sig);
}

/// The gRPC `authorization` header of the 5.x SDKs, `MQv2-HMAC-SHA1 Credential=<AK>,
/// SignedHeaders=x-mq-date-time, Signature=<hex>`, read as Java's proxy reads it: the
/// algorithm word is ignored; `Credential`'s first `/`-piece is the user; the hex signature
/// (either case) is returned in Base64, as [`verify`] compares it. Errors carry Java's remarks.
pub fn parse_grpc_authorization(header: &str) -> Result<(String, String), crate::AuthError> {
    let denied = crate::AuthError::denied;
    let Some((_, rest)) = header.trim().split_once(' ') else {
        return Err(denied("authentication header is incorrect."));
    };
    let (mut user, mut signature) = (None, None);
    // Java's split drops trailing empty parts.
    for part in rest.trim_end_matches([',', ' ']).split(',') {
        let part = part.trim();
        let Some((k, v)) = part.split_once('=') else {
            return Err(denied("authentication keyValues length is incorrect, actual length=1."));
        };
        match k.trim() {
            "Credential" => user = v.trim().split('/').next().map(str::to_string),
            "Signature" => signature = Some(v.trim().to_string()),
            _ => {}
        }
    }
    let user = user.filter(|u| !u.is_empty()).ok_or_else(|| denied("username cannot be null."))?;
    let hex = signature.ok_or_else(|| denied("check signature failed."))?;
    let bytes = decode_hex(&hex).ok_or_else(|| denied("create authentication context error."))?;
    Ok((user, base64::engine::general_purpose::STANDARD.encode(bytes)))
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

/// The gRPC signature the 5.x SDKs send: upper-case hex of HMAC-SHA1 over the date-time.
pub fn grpc_signature_hex(secret: &str, date_time: &str) -> String {
    let mut m = mac(secret);
    m.update(date_time.as_bytes());
    m.finalize().into_bytes().iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha1_matches_rfc_2202() {
        // RFC 2202 test case 2: key "Jefe", data "what do ya want for nothing?", digest
        // effcdf6ae5eb2fa2d27416d5f184df9c259a7c79, in Base64:
        assert_eq!(signature("Jefe", b"what do ya want for nothing?"), "7/zfauXrL6LSdBbV8YTfnCWafHk=");
    }

    #[test]
    fn content_is_the_values_in_key_order_without_the_signature_then_the_body() {
        let mut ext = ExtFields::new();
        ext.insert("topic", "T");
        ext.insert("AccessKey", "ak");
        ext.insert("Signature", "ignored");
        ext.insert("b", "2");
        assert_eq!(content(&ext, b"BODY", 479), b"ak2TBODY".to_vec());
        ext.insert("_UNIQUE_KEY_QUERY", "x");
        assert_eq!(content(&ext, b"", 479), b"akx2T".to_vec(), "_ sorts between upper and lower case");
        assert_eq!(content(&ext, b"", 399), b"ak2T".to_vec());
    }

    #[test]
    fn a_signed_request_verifies_and_any_change_does_not() {
        let mut ext = ExtFields::new();
        ext.insert("topic", "T");
        sign_request(&mut ext, b"body", 479, "ak", "sk", None);
        let sig = ext.get(SIGNATURE).unwrap().to_string();
        assert!(verify("sk", &content(&ext, b"body", 479), &sig));
        assert!(!verify("sk2", &content(&ext, b"body", 479), &sig));
        assert!(!verify("sk", &content(&ext, b"bodY", 479), &sig));
        ext.insert("topic", "U");
        assert!(!verify("sk", &content(&ext, b"body", 479), &sig));
    }

    proptest::proptest! {
        /// Keys of every kind, supplementary characters against U+E000..U+FFFF included: the
        /// streamed signature is the one over the gathered content, and the order is Java's.
        #[test]
        fn the_streamed_signature_is_the_one_over_the_content(keys in proptest::collection::btree_set("[a-zA-Z_\u{e000}-\u{e0ff}\u{10000}-\u{100ff}]{1,4}", 0..12), body in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let mut ext = ExtFields::new();
            for (i, k) in keys.iter().enumerate() {
                ext.insert(k.as_str(), format!("v{i}"));
            }
            proptest::prop_assert_eq!(request_signature("sk", &ext, &body, 479), signature("sk", &content(&ext, &body, 479)));
            let mut sorted: Vec<&String> = keys.iter().collect();
            sorted.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            let order: Vec<&str> = signed_fields(&ext, 479).into_iter().map(|(k, _)| k).collect();
            proptest::prop_assert_eq!(order, sorted.iter().map(|k| k.as_str()).collect::<Vec<_>>());
        }
    }
}
