//! Users and ACLs: held in memory, written to `users.json` and `acls.json` in the broker's
//! `config/auth` directory on every change (written whole, then renamed over the old file:
//! a crash leaves the old or the new, never half). Changes apply to the next request.
//!
//! The operations keep the Java broker's semantics and remarks (AUTH_* request codes, 5.3.3).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use crate::error::{AuthError, AuthResult};
use crate::ip;
use crate::model::*;

#[derive(Default)]
struct State {
    users: BTreeMap<String, User>,
    /// By user name (every subject is `User:<name>`).
    acls: BTreeMap<String, Acl>,
}

pub struct Metadata {
    dir: Option<PathBuf>,
    state: RwLock<State>,
}

impl Metadata {
    /// Reads what `dir` holds (nothing yet is empty); `None` keeps everything in memory.
    pub fn open(dir: Option<&Path>) -> std::io::Result<Metadata> {
        let mut state = State::default();
        if let Some(dir) = dir {
            if let Some(users) = read_json::<Vec<User>>(&dir.join("users.json"))? {
                state.users = users.into_iter().map(|u| (u.username.clone(), u)).collect();
            }
            if let Some(acls) = read_json::<Vec<AclInfo>>(&dir.join("acls.json"))? {
                for info in acls {
                    let bad = |e: AuthError| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("acls.json: {}", e.remark));
                    let acl = parse_acl(&info, info.subject.as_deref().unwrap_or("")).map_err(bad)?;
                    state.acls.insert(user_of_subject(&acl.subject).map_err(bad)?.to_string(), acl);
                }
            }
        }
        Ok(Metadata { dir: dir.map(Path::to_path_buf), state: RwLock::new(state) })
    }

    /// Runs `f` on the user named and its ACL, under one read lock and without copies (every
    /// checked request comes here).
    pub fn with_user<T>(&self, name: &str, f: impl FnOnce(Option<(&User, Option<&Acl>)>) -> T) -> T {
        let s = self.read();
        f(s.users.get(name).map(|u| (u, s.acls.get(name))))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the state under the write lock (`f` says whether it changed anything) and
    /// saves it if so; nothing is kept if saving fails.
    fn change(&self, f: impl FnOnce(&mut State) -> AuthResult<bool>) -> AuthResult<()> {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        // Kept to undo a change that cannot be saved (admin requests only: small and rare).
        let before = self.dir.is_some().then(|| (state.users.clone(), state.acls.clone()));
        if !f(&mut state)? {
            return Ok(());
        }
        let Some((users, acls)) = before else { return Ok(()) };
        if let Err(e) = self.save(&state) {
            state.users = users;
            state.acls = acls;
            tracing::error!(error = %e, "saving users and ACLs failed; the change is not kept");
            return Err(AuthError::system("An system error occurred, please try again later."));
        }
        Ok(())
    }

    fn save(&self, state: &State) -> std::io::Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        std::fs::create_dir_all(dir)?;
        let users: Vec<&User> = state.users.values().collect();
        write_json(&dir.join("users.json"), &users)?;
        let acls: Vec<AclInfo> = state.acls.values().map(AclInfo::from).collect();
        write_json(&dir.join("acls.json"), &acls)
    }

    /// A super user from broker.conf (`initAuthenticationUser`,
    /// `innerClientAuthenticationCredentials`), made only if no user has its name (an
    /// existing one is never changed, as in Java).
    pub fn ensure_super_user(&self, username: &str, password: &str) -> AuthResult<()> {
        if username.trim().is_empty() || password.trim().is_empty() {
            return Err(AuthError::invalid("username and password can not be blank"));
        }
        self.change(|s| {
            if s.users.contains_key(username) {
                return Ok(false);
            }
            let user = User { username: username.to_string(), password: password.to_string(), user_type: UserType::Super, user_status: UserStatus::Enable };
            s.users.insert(username.to_string(), user);
            Ok(true)
        })
    }

    /// AUTH_CREATE_USER. `caller_super`: whether the caller may make super users.
    pub fn create_user(&self, caller_super: bool, header_username: Option<&str>, info: UserInfo) -> AuthResult<()> {
        let username = blank_username(header_username)?;
        let user_type = info.user_type.as_deref().and_then(UserType::parse).unwrap_or(UserType::Normal);
        if user_type == UserType::Super && !caller_super {
            return Err(AuthError::system("The super user can only be create by super user"));
        }
        let password = info.password.unwrap_or_default();
        if password.trim().is_empty() {
            return Err(AuthError::denied("password can not be blank"));
        }
        let user_status = info.user_status.as_deref().and_then(UserStatus::parse).unwrap_or(UserStatus::Enable);
        self.change(|s| {
            if s.users.contains_key(username) {
                return Err(AuthError::denied("The user is existed"));
            }
            s.users.insert(username.to_string(), User { username: username.to_string(), password, user_type, user_status });
            Ok(true)
        })
    }

    /// AUTH_UPDATE_USER: a non-blank password, and a type or status that parses, replace
    /// what the user has.
    pub fn update_user(&self, caller_super: bool, header_username: Option<&str>, info: UserInfo) -> AuthResult<()> {
        let username = blank_username(header_username)?;
        let new_type = info.user_type.as_deref().and_then(UserType::parse);
        if new_type == Some(UserType::Super) && !caller_super {
            return Err(AuthError::system("The super user can only be update by super user"));
        }
        self.change(|s| {
            let user = s.users.get_mut(username).ok_or_else(|| AuthError::denied("The user is not exist"))?;
            if user.is_super() && !caller_super {
                return Err(AuthError::denied("The super user can only be update by super user"));
            }
            if let Some(p) = info.password.filter(|p| !p.trim().is_empty()) {
                user.password = p;
            }
            if let Some(t) = new_type {
                user.user_type = t;
            }
            if let Some(st) = info.user_status.as_deref().and_then(UserStatus::parse) {
                user.user_status = st;
            }
            Ok(true)
        })
    }

    /// AUTH_DELETE_USER: the user and its ACL; a user that does not exist is no error.
    pub fn delete_user(&self, caller_super: bool, header_username: Option<&str>) -> AuthResult<()> {
        let username = blank_username(header_username)?;
        self.change(|s| {
            match s.users.get(username) {
                None => return Ok(false),
                Some(u) if u.is_super() && !caller_super => return Err(AuthError::denied("The super user can only be update by super user")),
                Some(_) => {}
            }
            s.users.remove(username);
            s.acls.remove(username);
            Ok(true)
        })
    }

    /// AUTH_GET_USER: `None` (no body) when there is no such user.
    pub fn get_user(&self, header_username: Option<&str>) -> AuthResult<Option<UserInfo>> {
        let username = blank_username(header_username)?;
        Ok(self.read().users.get(username).map(UserInfo::from))
    }

    /// AUTH_LIST_USER: names containing `filter`.
    pub fn list_users(&self, filter: Option<&str>) -> Vec<UserInfo> {
        let filter = filter.map(str::trim).filter(|f| !f.is_empty());
        self.read().users.values().filter(|u| filter.is_none_or(|f| u.username.contains(f))).map(UserInfo::from).collect()
    }

    /// AUTH_CREATE_ACL and AUTH_UPDATE_ACL (the same in Java): entries merge into the
    /// subject's policies by resource; nothing is removed.
    pub fn upsert_acl(&self, header_subject: Option<&str>, info: Option<AclInfo>) -> AuthResult<()> {
        let Some(info) = info.filter(|i| i.policies.as_ref().is_some_and(|p| !p.is_empty())) else {
            return Err(AuthError::system("The body of acl is null, or the policies of acl is empty."));
        };
        let subject = info.subject.clone().filter(|s| !s.trim().is_empty()).or_else(|| header_subject.map(str::to_string)).unwrap_or_default();
        let incoming = parse_acl(&info, &subject)?;
        let name = user_of_subject(&incoming.subject)?.to_string();
        self.change(|s| {
            if !s.users.contains_key(&name) {
                return Err(AuthError::denied(format!("The subject of {} is not exist.", incoming.subject)));
            }
            match s.acls.get_mut(&name) {
                None => {
                    s.acls.insert(name, incoming);
                }
                Some(acl) => merge(acl, incoming),
            }
            Ok(true)
        })
    }

    /// AUTH_DELETE_ACL: the whole ACL, or the entry for `resource` in `policy_type`'s policy.
    pub fn delete_acl(&self, subject: Option<&str>, policy_type: Option<&str>, resource: Option<&str>) -> AuthResult<()> {
        let name = subject.and_then(|s| user_of_subject(s.trim()).ok()).ok_or_else(|| AuthError::denied("The subject is null."))?;
        let policy_type = policy_type.and_then(PolicyType::parse).unwrap_or(PolicyType::Custom);
        let resource = resource.map(str::trim).filter(|r| !r.is_empty());
        self.change(|s| {
            if !s.users.contains_key(name) {
                return Err(AuthError::denied("The subject is not exist."));
            }
            let acl = s.acls.get_mut(name).ok_or_else(|| AuthError::denied("The acl is not exist."))?;
            let Some(resource) = resource else {
                s.acls.remove(name);
                return Ok(true);
            };
            let Some(resource) = Resource::parse(resource) else { return Ok(false) };
            let entries = |acl: &Acl| acl.policies.iter().map(|p| p.entries.len()).sum::<usize>();
            let had = entries(acl);
            for p in acl.policies.iter_mut().filter(|p| p.policy_type == policy_type) {
                p.entries.retain(|e| e.resource != resource);
            }
            acl.policies.retain(|p| !p.entries.is_empty());
            let changed = entries(acl) != had;
            if acl.policies.is_empty() {
                s.acls.remove(name);
            }
            Ok(changed)
        })
    }

    /// AUTH_GET_ACL: `None` (no body) when the user has none.
    pub fn get_acl(&self, subject: Option<&str>) -> AuthResult<Option<AclInfo>> {
        let name = user_of_subject(subject.unwrap_or("").trim())?;
        let s = self.read();
        if !s.users.contains_key(name) {
            return Err(AuthError::denied("The subject is not exist."));
        }
        Ok(s.acls.get(name).map(AclInfo::from))
    }

    /// AUTH_LIST_ACL: subjects containing `subject_filter`, entries whose resource contains
    /// `resource_filter`; emptied policies and ACLs left out.
    pub fn list_acls(&self, subject_filter: Option<&str>, resource_filter: Option<&str>) -> Vec<AclInfo> {
        let nonblank = |f: Option<&str>| f.map(str::trim).filter(|f| !f.is_empty()).map(str::to_string);
        let (sf, rf) = (nonblank(subject_filter), nonblank(resource_filter));
        let s = self.read();
        let mut out = Vec::new();
        for acl in s.acls.values().filter(|a| sf.as_deref().is_none_or(|f| a.subject.contains(f))) {
            let mut acl = acl.clone();
            if let Some(rf) = &rf {
                for p in &mut acl.policies {
                    p.entries.retain(|e| e.resource.to_string().contains(rf.as_str()));
                }
                acl.policies.retain(|p| !p.entries.is_empty());
            }
            if !acl.policies.is_empty() {
                out.push(AclInfo::from(&acl));
            }
        }
        out
    }
}

fn blank_username(u: Option<&str>) -> AuthResult<&str> {
    u.map(str::trim).filter(|u| !u.is_empty()).ok_or_else(|| AuthError::invalid("The username is blank"))
}

/// The user name of a `User:<name>` subject.
fn user_of_subject(subject: &str) -> AuthResult<&str> {
    subject.strip_prefix("User:").filter(|n| !n.is_empty()).ok_or_else(|| AuthError::denied(format!("The subject {subject} is not a user.")))
}

/// Checks and converts what a client sent, with Java's remarks.
fn parse_acl(info: &AclInfo, subject: &str) -> AuthResult<Acl> {
    let subject = subject.trim();
    user_of_subject(subject)?;
    let mut policies = Vec::new();
    for p in info.policies.iter().flatten() {
        let Some(entries) = p.entries.as_ref().filter(|e| !e.is_empty()) else { continue };
        let policy_type = p.policy_type.as_deref().and_then(PolicyType::parse).unwrap_or(PolicyType::Custom);
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            out.push(parse_entry(e)?);
        }
        policies.push(Policy { policy_type, entries: out });
    }
    if policies.is_empty() {
        return Err(AuthError::denied("The policies is empty."));
    }
    Ok(Acl { subject: subject.to_string(), policies })
}

fn parse_entry(e: &PolicyEntryInfo) -> AuthResult<PolicyEntry> {
    let resource = e.resource.as_deref().and_then(Resource::parse).ok_or_else(|| AuthError::denied("The resource is null."))?;
    // Unknown action names are dropped, as Java does.
    let mut actions: Vec<Action> = e.actions.iter().flatten().filter_map(|a| Action::parse(a)).collect();
    actions.dedup();
    if actions.is_empty() {
        return Err(AuthError::denied("The actions is empty."));
    }
    if actions.contains(&Action::Any) {
        return Err(AuthError::denied("The actions can not be Any."));
    }
    let mut source_ips = Vec::new();
    for ip in e.source_ips.iter().flatten() {
        let ip = ip.trim();
        if ip.is_empty() {
            return Err(AuthError::denied("The source ip is empty."));
        }
        if !ip::valid(ip) {
            return Err(AuthError::denied("The source ip is invalid."));
        }
        source_ips.push(ip.to_string());
    }
    let decision = e.decision.as_deref().and_then(Decision::parse).ok_or_else(|| AuthError::denied("The decision is null or illegal."))?;
    Ok(PolicyEntry { resource, actions, source_ips, decision })
}

/// `Acl.updatePolicy`: per policy type, an entry for a resource already there replaces it
/// in place; new resources are appended; a new policy type is appended.
fn merge(acl: &mut Acl, incoming: Acl) {
    for p in incoming.policies {
        match acl.policies.iter_mut().find(|old| old.policy_type == p.policy_type) {
            None => acl.policies.push(p),
            Some(old) => {
                for e in p.entries {
                    match old.entries.iter_mut().find(|o| o.resource == e.resource) {
                        Some(o) => *o = e,
                        None => old.entries.push(e),
                    }
                }
            }
        }
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> std::io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map(Some).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    // Passwords are HMAC keys and must be kept as given: readable by the broker's user only.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
