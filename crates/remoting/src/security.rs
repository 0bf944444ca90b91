//! Security settings Rocketry does not enforce yet. A server asked for authentication,
//! authorization (ACL 2.0, or ACL 1.0's `aclEnable`) that it would not apply refuses
//! to start, naming the key: an ignored security setting leaves an open door its operator
//! believes closed. The broker acts on `authenticationEnabled` and `authorizationEnabled`
//! itself (ACL 2.0, its own config keys), so only the NameServer, which does not check
//! users (nor does Java's), refuses them here.

/// Keys that ask for a protection this server does not give, when set to a value that turns
/// it on; what each would have protected.
const UNENFORCED: &[(&str, &str)] = &[
    ("aclEnable", "ACL 1.0 (plain access validation)"),
    ("authenticationEnabled", "authentication"),
    ("authorizationEnabled", "authorization (ACL 2.0)"),
    ("migrateAuthFromV1Enabled", "ACL migration"),
];

/// The refusal for `key = value` if it asks for a protection this server does not enforce:
/// a true boolean.
pub fn unenforced(key: &str, value: &str) -> Option<String> {
    let (_, what) = UNENFORCED.iter().find(|(k, _)| *k == key)?;
    let v = value.trim();
    v.eq_ignore_ascii_case("true").then(|| {
        format!("{what} is asked for ({key}={v}) but this server does not enforce it yet; it refuses to start rather than run without it (remove the key or turn it off)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_asked_for_is_refused_and_turned_off_is_not() {
        for (k, v) in [("aclEnable", "true"), ("authenticationEnabled", "TRUE"), ("authorizationEnabled", " true")] {
            let why = unenforced(k, v).unwrap_or_else(|| panic!("{k}={v} must be refused"));
            assert!(why.contains(k), "{why}");
        }
        for (k, v) in [("aclEnable", "false"), ("authenticationEnabled", "false"), ("brokerName", "true")] {
            assert_eq!(unenforced(k, v), None, "{k}={v}");
        }
    }
}
