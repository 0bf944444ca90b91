//! AUTH_CREATE_USER … AUTH_LIST_ACL: users and ACLs, as the Java broker serves them to
//! RocketMQ 5's mqadmin (its JSON bodies, codes and remarks).

use std::sync::Arc;

use protocol::RemotingCommand;

use super::ok;
use super::request::AuthAdmin;
use crate::error::{BrokerError, BrokerResult};
use crate::Broker;

/// Whether the caller may make or change super users: a request that names no user counts
/// as super (Java's rule; with authentication on, such a request is refused before this).
fn caller_super(b: &Broker, req: &RemotingCommand) -> BrokerResult<bool> {
    match req.ext_fields.get(auth::sign::ACCESS_KEY) {
        None => Ok(true),
        Some(user) => Ok(b.auth.is_super(user)?),
    }
}

fn with_json<T: serde::Serialize>(req: &RemotingCommand, body: Option<T>) -> BrokerResult<RemotingCommand> {
    let response = ok(req);
    Ok(match body {
        Some(b) => response.with_body(serde_json::to_vec(&b).map_err(|e| BrokerError::system(e.to_string()))?),
        None => response,
    })
}

pub fn handle(b: &Arc<Broker>, req: &RemotingCommand, a: &AuthAdmin<'_>) -> BrokerResult<RemotingCommand> {
    let m = &b.auth.metadata;
    match a {
        AuthAdmin::CreateUser { username, info } => m.create_user(caller_super(b, req)?, *username, info.clone())?,
        AuthAdmin::UpdateUser { username, info } => m.update_user(caller_super(b, req)?, *username, info.clone())?,
        AuthAdmin::DeleteUser { username } => m.delete_user(caller_super(b, req)?, *username)?,
        AuthAdmin::GetUser { username } => return with_json(req, m.get_user(*username)?),
        AuthAdmin::ListUsers { filter } => {
            let users = m.list_users(*filter);
            return with_json(req, (!users.is_empty()).then_some(users));
        }
        AuthAdmin::UpsertAcl { subject, info } => m.upsert_acl(*subject, info.clone())?,
        AuthAdmin::DeleteAcl { subject, policy_type, resource } => m.delete_acl(*subject, *policy_type, *resource)?,
        AuthAdmin::GetAcl { subject } => return with_json(req, m.get_acl(*subject)?),
        AuthAdmin::ListAcls { subject_filter, resource_filter } => {
            let acls = m.list_acls(*subject_filter, *resource_filter);
            return with_json(req, (!acls.is_empty()).then_some(acls));
        }
    }
    tracing::info!(code = req.code, "users or ACLs changed");
    Ok(ok(req))
}
