//! RocketMQ 5's controller model for automatic failover: per broker group a master, a master
//! epoch and an in-sync set (`groups`), changed only by commands applied in one order on
//! every controller node.

pub mod groups;

pub use groups::{Command, Group, Groups, Outcome, Progress};
