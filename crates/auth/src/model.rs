//! Users and access control lists, as RocketMQ 5's ACL 2.0 has them, and their JSON on the
//! wire (`UserInfo`, `AclInfo`: the bodies of the AUTH_* request codes) and on disk.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserType {
    Super,
    Normal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserStatus {
    #[serde(rename = "enable")]
    Enable,
    #[serde(rename = "disable")]
    Disable,
}

/// `ALL`, `name()` and `parse()` of a name-valued enum: names as RocketMQ writes them,
/// parsed ignoring case and surrounding spaces (Java's `getByName`), `None` for anything else.
macro_rules! named {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),*
                }
            }

            pub fn parse(s: &str) -> Option<$ty> {
                Self::ALL.iter().copied().find(|t| t.name().eq_ignore_ascii_case(s.trim()))
            }
        }
    };
}

named!(UserType { Super => "Super", Normal => "Normal" });
named!(UserStatus { Enable => "enable", Disable => "disable" });

/// A user: its password is the HMAC key of its requests' signatures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub username: String,
    pub password: String,
    pub user_type: UserType,
    pub user_status: UserStatus,
}

impl User {
    pub fn is_super(&self) -> bool {
        self.user_type == UserType::Super
    }
}

/// `UserInfo` on the wire: every field optional, enums by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_status: Option<String>,
}

impl From<&User> for UserInfo {
    /// With the password, as the Java broker answers AUTH_GET_USER (its proxy loads users so).
    fn from(u: &User) -> Self {
        UserInfo {
            username: Some(u.username.clone()),
            password: Some(u.password.clone()),
            user_type: Some(u.user_type.name().into()),
            user_status: Some(u.user_status.name().into()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceType {
    Cluster,
    Namespace,
    Topic,
    Group,
}

named!(ResourceType { Cluster => "Cluster", Namespace => "Namespace", Topic => "Topic", Group => "Group" });

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pattern {
    Literal,
    Prefixed,
    Any,
}

/// What a policy entry names: `*` (anything), `Topic:*` (any topic), `Topic:order*` (by
/// prefix), `Topic:orders` (exactly). `kind` is `None` only for `*`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Resource {
    pub kind: Option<ResourceType>,
    /// Without the trailing `*` of a prefix; empty for `Any`.
    pub name: String,
    pub pattern: Pattern,
}

impl Resource {
    /// The resource a request names (always literal).
    pub fn of(kind: ResourceType, name: &str) -> Resource {
        Resource { kind: Some(kind), name: name.to_string(), pattern: Pattern::Literal }
    }

    /// Parses `*` or `<Type>:<name>` (type ignoring case); `None` when blank or of no known type.
    pub fn parse(s: &str) -> Option<Resource> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        if s == "*" {
            return Some(Resource { kind: None, name: String::new(), pattern: Pattern::Any });
        }
        let (t, name) = s.split_once(':')?;
        let kind = ResourceType::parse(t)?;
        let name = name.trim();
        Some(if name == "*" {
            Resource { kind: Some(kind), name: String::new(), pattern: Pattern::Any }
        } else if let Some(prefix) = name.strip_suffix('*') {
            Resource { kind: Some(kind), name: prefix.to_string(), pattern: Pattern::Prefixed }
        } else {
            Resource { kind: Some(kind), name: name.to_string(), pattern: Pattern::Literal }
        })
    }

    /// Whether this (a policy's) resource covers `wanted` (a request's literal resource).
    pub fn covers(&self, wanted: &Resource) -> bool {
        let Some(kind) = self.kind else { return true };
        if wanted.kind != Some(kind) {
            return false;
        }
        match self.pattern {
            Pattern::Any => true,
            Pattern::Prefixed => wanted.name.starts_with(&self.name),
            Pattern::Literal => wanted.name == self.name,
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.pattern) {
            (None, _) => f.write_str("*"),
            (Some(k), Pattern::Any) => write!(f, "{}:*", k.name()),
            (Some(k), Pattern::Prefixed) => write!(f, "{}:{}*", k.name(), self.name),
            (Some(k), Pattern::Literal) => write!(f, "{}:{}", k.name(), self.name),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    All,
    Pub,
    Sub,
    Create,
    Update,
    Delete,
    Get,
    List,
    /// A request that any granted action allows (only asked, never granted).
    Any,
}

named!(Action {
    All => "All",
    Pub => "Pub",
    Sub => "Sub",
    Create => "Create",
    Update => "Update",
    Delete => "Delete",
    Get => "Get",
    List => "List",
    Any => "Any",
});

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

named!(Decision { Allow => "Allow", Deny => "Deny" });

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PolicyType {
    Custom,
    Default,
}

named!(PolicyType { Custom => "Custom", Default => "Default" });

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyEntry {
    pub resource: Resource,
    pub actions: Vec<Action>,
    /// Addresses or CIDR blocks the request must come from; empty for any.
    pub source_ips: Vec<String>,
    pub decision: Decision,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub policy_type: PolicyType,
    pub entries: Vec<PolicyEntry>,
}

/// A subject's (`User:<name>`) policies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    pub subject: String,
    pub policies: Vec<Policy>,
}

/// `AclInfo` on the wire and on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AclInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<PolicyInfo>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<PolicyEntryInfo>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyEntryInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ips: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
}

impl From<&Acl> for AclInfo {
    fn from(acl: &Acl) -> Self {
        let entry = |e: &PolicyEntry| PolicyEntryInfo {
            resource: Some(e.resource.to_string()),
            actions: Some(e.actions.iter().map(|a| a.name().to_string()).collect()),
            source_ips: (!e.source_ips.is_empty()).then(|| e.source_ips.clone()),
            decision: Some(e.decision.name().into()),
        };
        AclInfo {
            subject: Some(acl.subject.clone()),
            policies: Some(
                acl.policies
                    .iter()
                    .map(|p| PolicyInfo { policy_type: Some(p.policy_type.name().into()), entries: Some(p.entries.iter().map(entry).collect()) })
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_parse_print_and_match() {
        for (text, printed) in [
            ("*", "*"),
            ("topic:*", "Topic:*"),
            ("Topic:order*", "Topic:order*"),
            (" Group:g1 ", "Group:g1"),
            ("Cluster:DefaultCluster", "Cluster:DefaultCluster"),
        ] {
            assert_eq!(Resource::parse(text).unwrap().to_string(), printed, "{text}");
        }
        for bad in ["", "Queue:x", "orders", "  "] {
            assert_eq!(Resource::parse(bad), None, "{bad:?}");
        }
        let orders = Resource::of(ResourceType::Topic, "orders");
        let covers = |p: &str| Resource::parse(p).unwrap().covers(&orders);
        assert!(covers("*") && covers("Topic:*") && covers("Topic:ord*") && covers("Topic:orders") && covers("Topic:*"));
        assert!(!covers("Topic:order") && !covers("Topic:orders2*") && !covers("Group:orders") && !covers("Group:*"));
    }

    #[test]
    fn enums_parse_ignoring_case() {
        assert_eq!(UserType::parse("super"), Some(UserType::Super));
        assert_eq!(UserStatus::parse("DISABLE"), Some(UserStatus::Disable));
        assert_eq!(Action::parse("pub"), Some(Action::Pub));
        assert_eq!(Action::parse("Publish"), None);
        assert_eq!(Decision::parse("deny"), Some(Decision::Deny));
    }
}
