//! ACL 2.0's users and ACLs: mqadmin's createUser … listAcl, with its names and flags
//! (AUTH_CREATE_USER … AUTH_LIST_ACL). Reads print the broker's JSON.

use auth::model::{AclInfo, PolicyEntryInfo, PolicyInfo, UserInfo};
use clap::Subcommand;
use protocol::codes::request as rq;
use protocol::RemotingCommand;

use super::{Output, Target};

/// A comma-separated list, as mqadmin takes them.
fn list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user (AUTH_CREATE_USER).
    ///
    /// Example: rocketry admin createUser -n 127.0.0.1:9876 -c DefaultCluster -u alice -p aliceSecret
    #[command(name = "createUser")]
    CreateUser {
        #[command(flatten)]
        target: Target,
        #[arg(short = 'u', long = "username")]
        username: String,
        #[arg(short = 'p', long = "password")]
        password: String,
        /// Super or Normal (the broker's default: Normal).
        #[arg(short = 't', long = "userType")]
        user_type: Option<String>,
    },
    /// Change a user's password, type or status (AUTH_UPDATE_USER).
    ///
    /// Example: rocketry admin updateUser -n 127.0.0.1:9876 -c DefaultCluster -u alice -s disable
    #[command(name = "updateUser")]
    UpdateUser {
        #[command(flatten)]
        target: Target,
        #[arg(short = 'u', long = "username")]
        username: String,
        #[arg(short = 'p', long = "password")]
        password: Option<String>,
        #[arg(short = 't', long = "userType")]
        user_type: Option<String>,
        /// enable or disable.
        #[arg(short = 's', long = "userStatus")]
        user_status: Option<String>,
    },
    /// Delete a user (AUTH_DELETE_USER).
    ///
    /// Example: rocketry admin deleteUser -n 127.0.0.1:9876 -c DefaultCluster -u alice
    #[command(name = "deleteUser")]
    DeleteUser {
        #[command(flatten)]
        target: Target,
        #[arg(short = 'u', long = "username")]
        username: String,
    },
    /// Show a user (AUTH_GET_USER).
    ///
    /// Example: rocketry admin getUser -n 127.0.0.1:9876 -b 127.0.0.1:10911 -u alice
    #[command(name = "getUser")]
    GetUser {
        #[command(flatten)]
        target: Target,
        #[arg(short = 'u', long = "username")]
        username: String,
    },
    /// List users, those whose name contains `-f` (AUTH_LIST_USER).
    ///
    /// Example: rocketry admin listUser -n 127.0.0.1:9876 -b 127.0.0.1:10911 -f ali
    #[command(name = "listUser")]
    ListUser {
        #[command(flatten)]
        target: Target,
        #[arg(short = 'f', long = "filter")]
        filter: Option<String>,
    },
    /// Add policy entries for a subject (AUTH_CREATE_ACL): each resource with the actions,
    /// source addresses and decision given.
    ///
    /// Example: rocketry admin createAcl -n 127.0.0.1:9876 -c DefaultCluster -s User:alice -r Topic:orders,Group:billing -a Pub,Sub -d Allow
    #[command(name = "createAcl")]
    CreateAcl {
        #[command(flatten)]
        acl: AclArgs,
    },
    /// Replace policy entries of a subject, by resource (AUTH_UPDATE_ACL).
    ///
    /// Example: rocketry admin updateAcl -n 127.0.0.1:9876 -c DefaultCluster -s User:alice -r Topic:orders -a Pub -d Deny
    #[command(name = "updateAcl")]
    UpdateAcl {
        #[command(flatten)]
        acl: AclArgs,
    },
    /// Delete a subject's ACL, or only its entries for the resources given (AUTH_DELETE_ACL).
    ///
    /// Example: rocketry admin deleteAcl -n 127.0.0.1:9876 -c DefaultCluster -s User:alice -r Topic:orders
    #[command(name = "deleteAcl")]
    DeleteAcl {
        #[command(flatten)]
        target: Target,
        #[arg(short = 's', long = "subject")]
        subject: String,
        /// Resources whose entries to delete (comma-separated); none: the whole ACL.
        #[arg(short = 'r', long = "resources")]
        resources: Option<String>,
    },
    /// Show a subject's ACL (AUTH_GET_ACL).
    ///
    /// Example: rocketry admin getAcl -n 127.0.0.1:9876 -b 127.0.0.1:10911 -s User:alice
    #[command(name = "getAcl")]
    GetAcl {
        #[command(flatten)]
        target: Target,
        #[arg(short = 's', long = "subject")]
        subject: String,
    },
    /// List ACLs, filtered by subject and resource (AUTH_LIST_ACL).
    ///
    /// Example: rocketry admin listAcl -n 127.0.0.1:9876 -b 127.0.0.1:10911 -s alice
    #[command(name = "listAcl")]
    ListAcl {
        #[command(flatten)]
        target: Target,
        #[arg(short = 's', long = "subject")]
        subject_filter: Option<String>,
        #[arg(short = 'r', long = "resource")]
        resource_filter: Option<String>,
    },
}

#[derive(clap::Args)]
pub struct AclArgs {
    #[command(flatten)]
    target: Target,
    /// `User:<name>`.
    #[arg(short = 's', long = "subject")]
    subject: String,
    /// `Topic:<name>`, `Group:<name>`, `Topic:<prefix>*`, `*` … (comma-separated).
    #[arg(short = 'r', long = "resources")]
    resources: String,
    /// Pub, Sub, Create, Update, Delete, Get, List, All (comma-separated).
    #[arg(short = 'a', long = "actions")]
    actions: String,
    /// Allow or Deny.
    #[arg(short = 'd', long = "decision")]
    decision: String,
    /// Source addresses or CIDR ranges (comma-separated); none: any.
    #[arg(short = 'i', long = "sourceIp")]
    source_ips: Option<String>,
}

impl AclArgs {
    /// Java's `AclInfo.of`: one policy, an entry per resource.
    fn request(&self, code: i32) -> RemotingCommand {
        let entries = list(&self.resources)
            .into_iter()
            .map(|r| PolicyEntryInfo {
                resource: Some(r),
                actions: Some(list(&self.actions)),
                source_ips: self.source_ips.as_deref().map(list),
                decision: Some(self.decision.clone()),
            })
            .collect();
        let info = AclInfo { subject: Some(self.subject.clone()), policies: Some(vec![PolicyInfo { policy_type: None, entries: Some(entries) }]) };
        json_request(code, &info).with_ext("subject", &self.subject)
    }
}

fn json_request<T: serde::Serialize>(code: i32, body: &T) -> RemotingCommand {
    RemotingCommand::request(code).with_body(serde_json::to_vec(body).unwrap_or_default())
}

fn user_request(code: i32, username: &str, info: UserInfo) -> RemotingCommand {
    json_request(code, &UserInfo { username: Some(username.to_string()), ..info }).with_ext("username", username)
}

pub async fn run(cmd: UserCommand, out: &Output) -> Result<(), crate::Error> {
    let out = *out;
    let (target, what, requests) = match cmd {
        UserCommand::CreateUser { target, username, password, user_type } => {
            let info = UserInfo { password: Some(password), user_type, ..Default::default() };
            (target, "create user", vec![user_request(rq::AUTH_CREATE_USER, &username, info)])
        }
        UserCommand::UpdateUser { target, username, password, user_type, user_status } => {
            let info = UserInfo { password, user_type, user_status, ..Default::default() };
            (target, "update user", vec![user_request(rq::AUTH_UPDATE_USER, &username, info)])
        }
        UserCommand::DeleteUser { target, username } => {
            (target, "delete user", vec![RemotingCommand::request(rq::AUTH_DELETE_USER).with_ext("username", username)])
        }
        UserCommand::GetUser { target, username } => (target, "get user", vec![RemotingCommand::request(rq::AUTH_GET_USER).with_ext("username", username)]),
        UserCommand::ListUser { target, filter } => {
            let mut cmd = RemotingCommand::request(rq::AUTH_LIST_USER);
            if let Some(f) = filter {
                cmd = cmd.with_ext("filter", f);
            }
            (target, "list user", vec![cmd])
        }
        UserCommand::CreateAcl { acl } => {
            let cmd = acl.request(rq::AUTH_CREATE_ACL);
            (acl.target, "create acl", vec![cmd])
        }
        UserCommand::UpdateAcl { acl } => {
            let cmd = acl.request(rq::AUTH_UPDATE_ACL);
            (acl.target, "update acl", vec![cmd])
        }
        UserCommand::DeleteAcl { target, subject, resources } => {
            let whole = RemotingCommand::request(rq::AUTH_DELETE_ACL).with_ext("subject", &subject);
            let requests = match resources.as_deref().map(list) {
                Some(rs) if !rs.is_empty() => rs.into_iter().map(|r| whole.clone().with_ext("resource", r)).collect(),
                _ => vec![whole],
            };
            (target, "delete acl", requests)
        }
        UserCommand::GetAcl { target, subject } => (target, "get acl", vec![RemotingCommand::request(rq::AUTH_GET_ACL).with_ext("subject", subject)]),
        UserCommand::ListAcl { target, subject_filter, resource_filter } => {
            let mut cmd = RemotingCommand::request(rq::AUTH_LIST_ACL);
            if let Some(s) = subject_filter {
                cmd = cmd.with_ext("subjectFilter", s);
            }
            if let Some(r) = resource_filter {
                cmd = cmd.with_ext("resourceFilter", r);
            }
            (target, "list acl", vec![cmd])
        }
    };
    for cmd in requests {
        super::on_each(&target, what, cmd, out).await?;
    }
    Ok(())
}
