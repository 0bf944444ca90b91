//! Broker state that changes while serving, apart from the frozen [`BrokerConfig`]:
//! the permission (`updateBrokerConfig brokerPermission`, wipe/add write permission) and,
//! with replication, the role. Read on every send and pull: atomics, no lock.
//!
//! [`BrokerConfig`]: crate::BrokerConfig

use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};

/// `brokerRole`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerRole {
    AsyncMaster,
    SyncMaster,
    Slave,
}

impl BrokerRole {
    pub fn name(self) -> &'static str {
        match self {
            BrokerRole::AsyncMaster => "ASYNC_MASTER",
            BrokerRole::SyncMaster => "SYNC_MASTER",
            BrokerRole::Slave => "SLAVE",
        }
    }

    pub fn is_master(self) -> bool {
        self != BrokerRole::Slave
    }

    fn from_u8(v: u8) -> BrokerRole {
        match v {
            1 => BrokerRole::SyncMaster,
            2 => BrokerRole::Slave,
            _ => BrokerRole::AsyncMaster,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            BrokerRole::AsyncMaster => 0,
            BrokerRole::SyncMaster => 1,
            BrokerRole::Slave => 2,
        }
    }
}

impl std::str::FromStr for BrokerRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ASYNC_MASTER" => Ok(BrokerRole::AsyncMaster),
            "SYNC_MASTER" => Ok(BrokerRole::SyncMaster),
            "SLAVE" => Ok(BrokerRole::Slave),
            other => Err(format!("{other}: expected ASYNC_MASTER, SYNC_MASTER or SLAVE")),
        }
    }
}

impl std::fmt::Display for BrokerRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug)]
pub struct RuntimeState {
    permission: AtomicI32,
    role: AtomicU8,
}

impl RuntimeState {
    pub fn new(permission: i32, role: BrokerRole) -> RuntimeState {
        RuntimeState { permission: AtomicI32::new(permission), role: AtomicU8::new(role.as_u8()) }
    }

    /// `brokerPermission`: `perm::READ | perm::WRITE` bits.
    pub fn permission(&self) -> i32 {
        self.permission.load(Ordering::Acquire)
    }

    pub fn set_permission(&self, permission: i32) {
        self.permission.store(permission, Ordering::Release);
    }

    pub fn role(&self) -> BrokerRole {
        BrokerRole::from_u8(self.role.load(Ordering::Acquire))
    }

    pub fn set_role(&self, role: BrokerRole) {
        self.role.store(role.as_u8(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_and_role_change_while_serving() {
        let r = RuntimeState::new(6, BrokerRole::AsyncMaster);
        r.set_permission(4);
        assert_eq!(r.permission(), 4);
        for role in [BrokerRole::SyncMaster, BrokerRole::Slave, BrokerRole::AsyncMaster] {
            r.set_role(role);
            assert_eq!(r.role(), role);
        }
    }
}
