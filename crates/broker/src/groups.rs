//! Subscription groups (`config/subscriptionGroup.json`), auto-created on first use
//! when `autoCreateSubscriptionGroup` is on.

use std::path::PathBuf;
use std::sync::RwLock;

use protocol::body::{SubscriptionGroupConfig, SubscriptionGroupWrapper};

use crate::persist;

pub struct GroupManager {
    path: PathBuf,
    auto_create: bool,
    state: RwLock<SubscriptionGroupWrapper>,
}

impl GroupManager {
    pub fn load(root: &std::path::Path, auto_create: bool) -> std::io::Result<GroupManager> {
        let path = root.join("config").join("subscriptionGroup.json");
        let state = persist::load(&path)?;
        Ok(GroupManager { path, auto_create, state: RwLock::new(state) })
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
        self.upsert(g.clone());
        Some(g)
    }

    pub fn get(&self, group: &str) -> Option<SubscriptionGroupConfig> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).subscription_group_table.get(group).cloned()
    }

    pub fn upsert(&self, config: SubscriptionGroupConfig) {
        {
            let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
            s.subscription_group_table.insert(config.group_name.clone(), config);
            s.data_version.counter += 1;
        }
        self.persist();
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

    pub fn snapshot(&self) -> SubscriptionGroupWrapper {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn persist(&self) {
        let body = serde_json::to_vec_pretty(&*self.state.read().unwrap_or_else(|e| e.into_inner())).unwrap_or_default();
        if let Err(e) = persist::write_atomic(&self.path, &body) {
            tracing::error!(path = %self.path.display(), error = %e, "failed to persist subscription groups");
        }
    }
}
