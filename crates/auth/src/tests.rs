use super::*;

fn auth(authn: bool, authz: bool) -> Auth {
    let config = AuthConfig { authentication_enabled: authn, authorization_enabled: authz, ..Default::default() };
    let a = Auth::open(config, None).unwrap();
    a.metadata.ensure_super_user("root", "rootpw").unwrap();
    a.metadata.create_user(true, Some("alice"), UserInfo { password: Some("alicepw".into()), ..Default::default() }).unwrap();
    a
}

fn acl(a: &Auth, user: &str, entries: &[(&str, &[&str], &[&str], &str)]) {
    let entries = entries
        .iter()
        .map(|(r, actions, ips, d)| PolicyEntryInfo {
            resource: Some(r.to_string()),
            actions: Some(actions.iter().map(|s| s.to_string()).collect()),
            source_ips: (!ips.is_empty()).then(|| ips.iter().map(|s| s.to_string()).collect()),
            decision: Some(d.to_string()),
        })
        .collect();
    let info = AclInfo { subject: Some(format!("User:{user}")), policies: Some(vec![PolicyInfo { policy_type: None, entries: Some(entries) }]) };
    a.metadata.upsert_acl(None, Some(info)).unwrap();
}

fn signed(user: &str, secret: &str) -> ExtFields {
    let mut ext = ExtFields::new();
    ext.insert("topic", "T");
    sign::sign_request(&mut ext, b"body", 479, user, secret, None);
    ext
}

#[test]
fn authentication_refusals_carry_javas_remarks() {
    let a = auth(true, false);
    assert_eq!(a.authenticate(10, &signed("alice", "alicepw"), b"body", 479), Ok(Some("alice".into())));
    let remark = |ext: &ExtFields, body: &[u8]| a.authenticate(10, ext, body, 479).unwrap_err().remark;
    assert_eq!(remark(&signed("alice", "wrong"), b"body"), "check signature failed.");
    assert_eq!(remark(&signed("alice", "alicepw"), b"other body"), "check signature failed.");
    assert_eq!(remark(&signed("bob", "x"), b"body"), "User:bob is not found.");
    let mut unsigned = ExtFields::new();
    unsigned.insert("topic", "T");
    assert_eq!(remark(&unsigned, b""), "username cannot be null.");
    unsigned.insert("AccessKey", "alice");
    assert_eq!(remark(&unsigned, b""), "check signature failed.");
    a.metadata.update_user(true, Some("alice"), UserInfo { user_status: Some("disable".into()), ..Default::default() }).unwrap();
    assert_eq!(remark(&signed("alice", "alicepw"), b"body"), "User:alice is disabled.");
    assert_eq!(a.authenticate(10, &signed("alice", "alicepw"), b"body", 479).unwrap_err().code, NO_PERMISSION);
}

#[test]
fn whitelisted_codes_and_authentication_off_take_the_claimed_user() {
    let mut a = auth(true, false);
    a.config.authentication_whitelist = vec!["34".into()];
    let mut ext = ExtFields::new();
    ext.insert("AccessKey", "alice");
    assert_eq!(a.authenticate(34, &ext, b"", 479), Ok(Some("alice".into())));
    assert!(a.authenticate(10, &ext, b"", 479).is_err());
    a.config.authentication_enabled = false;
    assert_eq!(a.authenticate(10, &ext, b"", 479), Ok(Some("alice".into())));
}

const PUB: &[Action] = &[Action::Pub];
const SUB: &[Action] = &[Action::Sub];

#[test]
fn the_most_specific_matching_entry_decides() {
    let a = auth(true, true);
    let can = |topic: &str| a.authorize(10, Some("alice"), "10.0.0.1".parse().unwrap(), &[Check::topic(topic, PUB)]).is_ok();
    assert!(!can("ab"), "no ACL: denied");
    // The cases where Java 5.3.3's verdict depends on stored order: the intended one here.
    acl(&a, "alice", &[("Topic:ab", &["Pub"], &[], "Allow"), ("Topic:a*", &["Pub"], &[], "Deny")]);
    assert!(can("ab") && !can("ax"));
    acl(&a, "alice", &[("Topic:abc*", &["Pub"], &[], "Deny"), ("Topic:*", &["Pub"], &[], "Allow")]);
    assert!(!can("abcd") && can("zzz") && !can("axe"));
    acl(&a, "alice", &[("*", &["All"], &[], "Deny")]);
    assert!(can("ab"), "a typed entry beats *");
    assert!(can("b"), "Topic:* beats *");
    acl(&a, "alice", &[("Topic:b", &["Pub"], &[], "Deny")]);
    assert!(!can("b") && can("bb"), "an exact name beats Topic:*");
}

#[test]
fn actions_any_of_and_ips_and_refusal_remarks() {
    let a = auth(true, true);
    acl(&a, "alice", &[("Topic:t", &["Sub"], &[], "Allow"), ("Group:g", &["Sub"], &["10.0.0.0/8"], "Allow"), ("Topic:secret", &["All"], &[], "Deny")]);
    let check = |checks: &[Check], ip: &str| a.authorize(11, Some("alice"), ip.parse().unwrap(), checks).map_err(|e| e.remark);
    assert_eq!(check(&[Check::topic("t", &[Action::Sub, Action::Get])], "1.1.1.1"), Ok(()));
    assert_eq!(check(&[Check::topic("t", PUB)], "1.1.1.1"), Err("User:alice has no permission to access Topic:t from 1.1.1.1, no matched policies.".into()));
    assert_eq!(check(&[Check::topic("t", SUB), Check::group("%RETRY%g", SUB)], "10.1.2.3"), Ok(()));
    assert_eq!(
        check(&[Check::topic("t", SUB), Check::group("g", SUB)], "11.1.2.3"),
        Err("User:alice has no permission to access Group:g from 11.1.2.3, no matched policies.".into())
    );
    assert_eq!(
        check(&[Check::topic("secret", SUB)], "1.1.1.1"),
        Err("User:alice has no permission to access Topic:secret from 1.1.1.1, the decision is deny.".into())
    );
    // Super users, no user, unknown users, nothing to check, whitelisted codes.
    assert_eq!(a.authorize(10, Some("root"), "1.1.1.1".parse().unwrap(), &[Check::topic("secret", PUB)]), Ok(()));
    assert_eq!(a.authorize(10, None, "1.1.1.1".parse().unwrap(), &[Check::topic("t", SUB)]).unwrap_err().remark, ANONYMOUS);
    assert_eq!(a.authorize(10, Some("eve"), "1.1.1.1".parse().unwrap(), &[Check::topic("t", SUB)]).unwrap_err().remark, "User:eve not found.");
    assert_eq!(a.authorize(10, None, "1.1.1.1".parse().unwrap(), &[]), Ok(()));
}

#[test]
fn default_policies_apply_only_when_no_custom_entry_matches() {
    let a = auth(true, true);
    let info = |policy_type: &str, resource: &str, decision: &str| AclInfo {
        subject: Some("User:alice".into()),
        policies: Some(vec![PolicyInfo {
            policy_type: Some(policy_type.into()),
            entries: Some(vec![PolicyEntryInfo {
                resource: Some(resource.into()),
                actions: Some(vec!["Pub".into(), "Sub".into()]),
                source_ips: None,
                decision: Some(decision.into()),
            }]),
        }]),
    };
    a.metadata.upsert_acl(None, Some(info("Default", "Topic:*", "Allow"))).unwrap();
    a.metadata.upsert_acl(None, Some(info("Custom", "Topic:*", "Deny"))).unwrap();
    assert!(a.authorize(10, Some("alice"), "1.1.1.1".parse().unwrap(), &[Check::topic("t", PUB)]).is_err(), "custom matched first");
    a.metadata.delete_acl(Some("User:alice"), Some("Custom"), Some("Topic:*")).unwrap();
    assert!(a.authorize(10, Some("alice"), "1.1.1.1".parse().unwrap(), &[Check::topic("t", PUB)]).is_ok(), "then default");
}

#[test]
fn user_and_acl_management_keeps_javas_rules_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let a = Auth::open(AuthConfig::default(), Some(dir.path())).unwrap();
    let m = &a.metadata;
    let user = |p: &str, t: Option<&str>| UserInfo { password: Some(p.into()), user_type: t.map(str::to_string), ..Default::default() };
    assert_eq!(m.create_user(false, Some(" "), user("p", None)).unwrap_err().remark, "The username is blank");
    assert_eq!(m.create_user(false, Some("x"), user("p", Some("Super"))).unwrap_err().remark, "The super user can only be create by super user");
    m.create_user(true, Some("admin"), user("adminpw", Some("super"))).unwrap();
    m.create_user(false, Some("bob"), user("bobpw", None)).unwrap();
    assert_eq!(m.create_user(false, Some("bob"), user("p", None)).unwrap_err().remark, "The user is existed");
    assert_eq!(m.update_user(false, Some("admin"), user("new", None)).unwrap_err().remark, "The super user can only be update by super user");
    assert_eq!(m.update_user(false, Some("nobody"), user("new", None)).unwrap_err().remark, "The user is not exist");
    m.update_user(false, Some("bob"), user("bobpw2", None)).unwrap();
    let bob = m.get_user(Some("bob")).unwrap().unwrap();
    assert_eq!((bob.password.as_deref(), bob.user_type.as_deref(), bob.user_status.as_deref()), (Some("bobpw2"), Some("Normal"), Some("enable")));
    assert_eq!(m.get_user(Some("nobody")), Ok(None));
    assert_eq!(m.list_users(Some("ob")).len(), 1);
    assert_eq!(m.list_users(None).len(), 2);

    let entry = |r: &str, actions: &[&str], ips: Option<Vec<String>>, d: &str| PolicyEntryInfo {
        resource: Some(r.into()),
        actions: Some(actions.iter().map(|s| s.to_string()).collect()),
        source_ips: ips,
        decision: Some(d.into()),
    };
    let acl_of = |subject: &str, entries: Vec<PolicyEntryInfo>| {
        Some(AclInfo { subject: Some(subject.into()), policies: Some(vec![PolicyInfo { policy_type: None, entries: Some(entries) }]) })
    };
    let refused = |info| m.upsert_acl(None, info).unwrap_err().remark;
    assert_eq!(refused(acl_of("User:nobody", vec![entry("Topic:t", &["Pub"], None, "Allow")])), "The subject of User:nobody is not exist.");
    assert_eq!(refused(acl_of("User:bob", vec![entry("Queue:t", &["Pub"], None, "Allow")])), "The resource is null.");
    assert_eq!(refused(acl_of("User:bob", vec![entry("Topic:t", &["Publish"], None, "Allow")])), "The actions is empty.");
    assert_eq!(refused(acl_of("User:bob", vec![entry("Topic:t", &["Any"], None, "Allow")])), "The actions can not be Any.");
    assert_eq!(refused(acl_of("User:bob", vec![entry("Topic:t", &["Pub"], Some(vec!["10.*".into()]), "Allow")])), "The source ip is invalid.");
    assert_eq!(refused(acl_of("User:bob", vec![entry("Topic:t", &["Pub"], None, "Maybe")])), "The decision is null or illegal.");
    assert_eq!(m.upsert_acl(None, None).unwrap_err().code, 1);

    m.upsert_acl(None, acl_of("User:bob", vec![entry("Topic:t", &["Pub"], None, "Allow"), entry("Group:g", &["Sub"], None, "Allow")])).unwrap();
    // An update replaces the entry of the same resource and appends new ones.
    m.upsert_acl(
        None,
        acl_of("User:bob", vec![entry("topic:t", &["Sub"], Some(vec!["10.0.0.0/8".into()]), "Deny"), entry("Topic:u*", &["Pub"], None, "Allow")]),
    )
    .unwrap();
    let got = m.get_acl(Some("User:bob")).unwrap().unwrap();
    let entries = got.policies.as_ref().unwrap()[0].entries.clone().unwrap();
    let summary: Vec<String> = entries
        .iter()
        .map(|e| format!("{} {:?} {:?} {}", e.resource.as_deref().unwrap(), e.actions.as_ref().unwrap(), e.source_ips, e.decision.as_deref().unwrap()))
        .collect();
    assert_eq!(summary, ["Topic:t [\"Sub\"] Some([\"10.0.0.0/8\"]) Deny", "Group:g [\"Sub\"] None Allow", "Topic:u* [\"Pub\"] None Allow"]);
    assert_eq!(got.policies.as_ref().unwrap()[0].policy_type.as_deref(), Some("Custom"));
    assert_eq!(m.list_acls(None, Some("Group")).len(), 1);
    assert_eq!(m.list_acls(Some("alice"), None).len(), 0);

    // Reopened from disk: the same users and ACLs.
    drop(a);
    let b = Auth::open(AuthConfig::default(), Some(dir.path())).unwrap();
    assert_eq!(b.metadata.get_user(Some("bob")).unwrap().unwrap().password.as_deref(), Some("bobpw2"));
    assert_eq!(b.metadata.get_acl(Some("User:bob")).unwrap(), Some(got));
    // Deleting an entry, then the user (its ACL goes with it).
    b.metadata.delete_acl(Some("User:bob"), None, Some("Group:g")).unwrap();
    assert_eq!(b.metadata.list_acls(None, Some("Group")).len(), 0);
    b.metadata.delete_user(false, Some("bob")).unwrap();
    b.metadata.delete_user(false, Some("bob")).unwrap();
    assert_eq!(b.metadata.get_acl(Some("User:bob")).unwrap_err().remark, "The subject is not exist.");
    assert!(b.metadata.list_acls(None, None).is_empty());
}

#[test]
fn grpc_calls_authenticate_by_the_signed_date_time() {
    const SEND: &str = "apache.rocketmq.v2.SendMessageRequest";
    let a = auth(true, false);
    let date = "20261207T101500Z";
    let header = |user: &str, secret: &str| {
        format!("MQv2-HMAC-SHA1 Credential={user}, SignedHeaders=x-mq-date-time, Signature={}", sign::grpc_signature_hex(secret, date))
    };
    assert_eq!(a.authenticate_grpc(SEND, Some(&header("alice", "alicepw")), Some(date)), Ok(Some("alice".into())));
    // Lower-case hex and a Credential with a scope are read too.
    let lower = format!("MQv2-HMAC-SHA1 Credential=alice/region/x,Signature={}", sign::grpc_signature_hex("alicepw", date).to_lowercase());
    assert_eq!(a.authenticate_grpc(SEND, Some(&lower), Some(date)), Ok(Some("alice".into())));
    let remark = |h: Option<&str>, d: Option<&str>| a.authenticate_grpc(SEND, h, d).unwrap_err().remark;
    assert_eq!(remark(Some(&header("alice", "wrong")), Some(date)), "check signature failed.");
    assert_eq!(remark(Some(&header("alice", "alicepw")), Some("20261207T101501Z")), "check signature failed.", "the date-time is what is signed");
    assert_eq!(remark(Some(&header("bob", "x")), Some(date)), "User:bob is not found.");
    assert_eq!(remark(None, Some(date)), "username cannot be null.");
    assert_eq!(remark(Some(&header("alice", "alicepw")), None), "datetime is null.");
    assert_eq!(remark(Some("MQv2-HMAC-SHA1 Credential=alice, Signature"), Some(date)), "authentication keyValues length is incorrect, actual length=1.");
    assert_eq!(remark(Some("MQv2-HMAC-SHA1"), Some(date)), "authentication header is incorrect.");
    let trailing = format!("{},", header("alice", "alicepw"));
    assert_eq!(a.authenticate_grpc(SEND, Some(&trailing), Some(date)), Ok(Some("alice".into())), "a trailing comma, as Java's split");
    assert_eq!(remark(Some("MQv2-HMAC-SHA1 Credential=alice, Signature=+F"), Some(date)), "create authentication context error.");
    // Whitelisted by the request's protobuf name, or authentication off: the named user as is.
    let mut open = auth(false, true);
    assert_eq!(open.authenticate_grpc(SEND, Some(&header("alice", "wrong")), Some(date)), Ok(Some("alice".into())));
    open.config.authentication_enabled = true;
    open.config.authentication_whitelist = vec![SEND.into()];
    assert_eq!(open.authenticate_grpc(SEND, None, None), Ok(None));
    assert!(open.authenticate_grpc("apache.rocketmq.v2.QueryRouteRequest", None, Some(date)).is_err());
}
