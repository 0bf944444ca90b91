//! Subscription groups (`config/subscriptionGroup.json`), auto-created on first use
//! when `autoCreateSubscriptionGroup` is on.

use std::sync::{Arc, RwLock};

use protocol::body::{SubscriptionGroupConfig, SubscriptionGroupWrapper};

use crate::persist;

pub struct GroupManager {
    auto_create: bool,
    state: Arc<RwLock<SubscriptionGroupWrapper>>,
    /// Writes subscriptionGroup.json: waited for on admin changes, in the background for
    /// groups created on first use.
    persister: persist::Persister,
}

impl GroupManager {
    pub fn load(root: &std::path::Path, auto_create: bool) -> std::io::Result<GroupManager> {
        let path = root.join("config").join("subscriptionGroup.json");
        let state: Arc<RwLock<SubscriptionGroupWrapper>> = Arc::new(RwLock::new(persist::load(&path)?));
        let persister = persist::Persister::json(path, "subscription groups", state.clone())?;
        Ok(GroupManager { auto_create, state, persister })
    }

    /// The group's config, created with defaults when allowed.
    pub fn find_or_create(&self, group: &str) -> Option<SubscriptionGroupConfig> {
        if let Some(g) = self.get(group) {
            return Some(g);
        }
        if !self.auto_create {
            return None;
        }
        let g = SubscriptionGroupConfig { group_name: group.to_string(), ..Default::default() };
        self.insert(g.clone());
        self.persister.mark();
        Some(g)
    }

    pub fn get(&self, group: &str) -> Option<SubscriptionGroupConfig> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).subscription_group_table.get(group).cloned()
    }

    /// Creates or replaces a group (admin): written to disk before it returns.
    pub fn upsert(&self, config: SubscriptionGroupConfig) {
        self.insert(config);
        self.persist();
    }

    fn insert(&self, config: SubscriptionGroupConfig) {
        let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
        s.subscription_group_table.insert(config.group_name.clone(), config);
        s.data_version.counter += 1;
    }

    pub fn delete(&self, group: &str) -> bool {
        let removed = {
            let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
            let removed = s.subscription_group_table.remove(group).is_some();
            s.data_version.counter += removed as i64;
            removed
        };
        if removed {
            self.persist();
        }
        removed
    }

    /// A replica takes its master's whole table (`ha::sync`), when its data version differs:
    /// returns whether it did.
    pub fn replace_all(&self, master: SubscriptionGroupWrapper) -> bool {
        let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
        if s.data_version == master.data_version {
            return false;
        }
        *s = master;
        drop(s);
        self.persist();
        true
    }

    pub fn snapshot(&self) -> SubscriptionGroupWrapper {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Writes subscriptionGroup.json and waits for it.
    pub fn persist(&self) {
        self.persister.save();
    }
}
