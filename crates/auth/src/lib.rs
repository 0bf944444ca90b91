//! RocketMQ 5's ACL 2.0 on a broker: who a request speaks for (authentication: the
//! `AclClientRPCHook` signature) and whether its user
//! may do what it asks (authorization: users' policies over topics, groups and the cluster).
//! The front ends say what each request touches ([`Check`]); this crate decides.
//!
//! Semantics are the Java broker's (5.3.3) with its remarks, but for the choice between
//! matching policy entries: Java 5.3.3 sorts them with a comparator that is not a total
//! order, so its verdict depends on the order entries were stored; Rocketry takes the most
//! specific entry, as upstream intends and later fixed (a typed resource over `*`, an exact
//! name over a prefix over `Type:*`, a longer prefix over a shorter), and between entries
//! equally specific, Deny.

mod error;
pub mod ip;
pub mod metadata;
pub mod model;
pub mod sign;

use std::net::IpAddr;
use std::path::Path;

use protocol::command::ExtFields;
use protocol::names::{DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX};

pub use error::{AuthError, AuthResult, NO_PERMISSION};
pub use metadata::Metadata;
pub use model::*;

/// The broker.conf keys of ACL 2.0 that Rocketry acts on.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    pub authentication_enabled: bool,
    pub authorization_enabled: bool,
    /// Request codes (remoting: decimal; gRPC: the request message's full name) that skip a step.
    pub authentication_whitelist: Vec<String>,
    pub authorization_whitelist: Vec<String>,
}

/// What one request asks to do to one resource; granted if the user may do any of `actions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub resource: Resource,
    pub actions: &'static [Action],
}

impl Check {
    pub fn topic(name: &str, actions: &'static [Action]) -> Check {
        Check { resource: Resource::of(ResourceType::Topic, name), actions }
    }

    /// A group: `%RETRY%` and `%DLQ%` prefixes name the group they belong to.
    pub fn group(name: &str, actions: &'static [Action]) -> Check {
        let name = name.strip_prefix(RETRY_GROUP_TOPIC_PREFIX).or_else(|| name.strip_prefix(DLQ_GROUP_TOPIC_PREFIX)).unwrap_or(name);
        Check { resource: Resource::of(ResourceType::Group, name), actions }
    }

    /// A topic, but a retry topic is its group.
    pub fn topic_or_retry_group(name: &str, actions: &'static [Action]) -> Check {
        if name.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
            Check::group(name, actions)
        } else {
            Check::topic(name, actions)
        }
    }

    pub fn cluster(name: &str, actions: &'static [Action]) -> Check {
        Check { resource: Resource::of(ResourceType::Cluster, name), actions }
    }
}

/// What a whitelist names: a remoting request code, or a gRPC request's full protobuf name
/// (`apache.rocketmq.v2.SendMessageRequest`).
#[derive(Debug, Clone, Copy)]
pub enum Rpc<'a> {
    Remoting(i32),
    Grpc(&'a str),
}

impl From<i32> for Rpc<'_> {
    fn from(code: i32) -> Self {
        Rpc::Remoting(code)
    }
}

impl<'a> From<&'a str> for Rpc<'a> {
    fn from(name: &'a str) -> Self {
        Rpc::Grpc(name)
    }
}

pub struct Auth {
    pub config: AuthConfig,
    pub metadata: Metadata,
}

const ANONYMOUS: &str = "Authorization failed. Please verify your access rights and try again.";

impl Auth {
    /// Users and ACLs from `dir` (`None`: in memory only).
    pub fn open(config: AuthConfig, dir: Option<&Path>) -> std::io::Result<Auth> {
        Ok(Auth { metadata: Metadata::open(dir)?, config })
    }

    pub fn enabled(&self) -> bool {
        self.config.authentication_enabled || self.config.authorization_enabled
    }

    /// Whether the call is on a whitelist (text only made when one is set).
    fn whitelisted(list: &[String], rpc: Rpc<'_>) -> bool {
        !list.is_empty()
            && match rpc {
                Rpc::Remoting(code) => {
                    let code = code.to_string();
                    list.contains(&code)
                }
                Rpc::Grpc(name) => list.iter().any(|w| w == name),
            }
    }

    /// Authenticates a remoting request: the user it speaks for, if it names one. With
    /// authentication off (or the code whitelisted) the `AccessKey` it claims is taken as is
    /// (authorization then trusts it, as Java does).
    pub fn authenticate(&self, code: i32, ext: &ExtFields, body: &[u8], version: i32) -> AuthResult<Option<String>> {
        let claimed = ext.get(sign::ACCESS_KEY).map(str::to_string);
        if !self.config.authentication_enabled || Self::whitelisted(&self.config.authentication_whitelist, Rpc::Remoting(code)) {
            return Ok(claimed);
        }
        let username = claimed.ok_or_else(|| AuthError::denied("username cannot be null."))?;
        let signature = ext.get(sign::SIGNATURE);
        self.verify_with(&username, signature, |password| sign::request_signature(password, ext, body, version))?;
        Ok(Some(username))
    }

    /// Authenticates a gRPC call of `rpc` (the request message's full protobuf name) by its
    /// `authorization` and `x-mq-date-time` headers (see [`sign::parse_grpc_authorization`]):
    /// the user it speaks for, if any. As in Java, the signature covers the date-time alone and
    /// the time is not compared with the clock.
    pub fn authenticate_grpc(&self, rpc: &str, authorization: Option<&str>, date_time: Option<&str>) -> AuthResult<Option<String>> {
        let authorization = authorization.filter(|a| !a.trim().is_empty());
        if !self.config.authentication_enabled || Self::whitelisted(&self.config.authentication_whitelist, Rpc::Grpc(rpc)) {
            // Not checked: the user named is taken as is (authorization trusts it, as Java).
            return Ok(authorization.and_then(|a| sign::parse_grpc_authorization(a).ok()).map(|(user, _)| user));
        }
        let authorization = authorization.ok_or_else(|| AuthError::denied("username cannot be null."))?;
        let date_time = date_time.filter(|d| !d.is_empty()).ok_or_else(|| AuthError::denied("datetime is null."))?;
        let (username, signature) = sign::parse_grpc_authorization(authorization)?;
        self.verify_with(&username, Some(&signature), |password| sign::signature(password, date_time.as_bytes()))?;
        Ok(Some(username))
    }

    /// Checks `signature` (Base64) against the one `expected` computes with `username`'s password.
    fn verify_with(&self, username: &str, signature: Option<&str>, expected: impl FnOnce(&str) -> String) -> AuthResult<()> {
        self.metadata.with_user(username, |found| {
            let (user, _) = found.ok_or_else(|| AuthError::denied(format!("User:{username} is not found.")))?;
            if user.user_status == UserStatus::Disable {
                return Err(AuthError::denied(format!("User:{username} is disabled.")));
            }
            match signature {
                Some(s) if sign::constant_time_eq(expected(&user.password).as_bytes(), s.as_bytes()) => Ok(()),
                _ => Err(AuthError::denied("check signature failed.")),
            }
        })
    }

    /// Whether `username` (as authenticated) may make a request of `code` from `ip` that asks
    /// for `checks`; every check must pass. The address is written out (as [`ip::render`]
    /// does) only for entries that name addresses and for a refusal.
    pub fn authorize<'a>(&self, rpc: impl Into<Rpc<'a>>, username: Option<&str>, ip: IpAddr, checks: &[Check]) -> AuthResult<()> {
        if !self.config.authorization_enabled || checks.is_empty() || Self::whitelisted(&self.config.authorization_whitelist, rpc.into()) {
            return Ok(());
        }
        let username = username.ok_or_else(|| AuthError::denied(ANONYMOUS))?;
        self.metadata.with_user(username, |found| {
            let (user, acl) = found.ok_or_else(|| AuthError::denied(format!("User:{username} not found.")))?;
            if user.is_super() {
                return Ok(());
            }
            for check in checks {
                let why = match acl.and_then(|acl| decide(acl, check, ip)) {
                    Some(Decision::Allow) => continue,
                    Some(Decision::Deny) => "the decision is deny.",
                    None => "no matched policies.",
                };
                let ip = ip::render(ip);
                return Err(AuthError::denied(format!("User:{username} has no permission to access {} from {ip}, {why}", check.resource)));
            }
            Ok(())
        })
    }

    /// Checks a user's password itself (the dashboard's sign-in), in constant time.
    pub fn check_password(&self, username: &str, password: &str) -> AuthResult<()> {
        self.verify_with(username, Some(password), |p| p.to_string())
    }

    /// Whether requests naming this user are ones the ACL does not restrict (a super user).
    pub fn is_super(&self, username: &str) -> AuthResult<bool> {
        self.metadata.with_user(username, |found| found.map(|(u, _)| u.is_super())).ok_or_else(|| AuthError::system(format!("User:{username} is not found.")))
    }
}

/// The decision of the most specific matching entry: Custom policies first, Default ones
/// only if no Custom entry matches; `None` if nothing matches.
fn decide(acl: &Acl, check: &Check, ip: IpAddr) -> Option<Decision> {
    let rendered = std::cell::OnceCell::new();
    let ip = || rendered.get_or_init(|| ip::render(ip)).as_str();
    let matching = |t: PolicyType| {
        acl.policies
            .iter()
            .filter(move |p| p.policy_type == t)
            .flat_map(|p| &p.entries)
            .filter(|e| e.resource.covers(&check.resource))
            .filter(|e| e.actions.contains(&Action::All) || check.actions.contains(&Action::Any) || check.actions.iter().any(|a| e.actions.contains(a)))
            .filter(|e| e.source_ips.is_empty() || e.source_ips.iter().any(|s| ip::matches(s, ip())))
            .min_by_key(|e| specificity(e))
    };
    matching(PolicyType::Custom).or_else(|| matching(PolicyType::Default)).map(|e| e.decision)
}

/// Lower is more specific.
fn specificity(e: &PolicyEntry) -> (bool, u8, std::cmp::Reverse<usize>, bool) {
    let pattern = match e.resource.pattern {
        Pattern::Literal => 0,
        Pattern::Prefixed => 1,
        Pattern::Any => 2,
    };
    (e.resource.kind.is_none(), pattern, std::cmp::Reverse(e.resource.name.len()), e.decision == Decision::Allow)
}

#[cfg(test)]
mod tests;
