//! RocketMQ 5's controller model for automatic failover: per broker group a master, a master
//! epoch and an in-sync set (`groups`), changed only by commands applied in one order on
//! every controller node — the order of a Raft log (`raft`, on openraft: not our own
//! consensus). `node` is a running controller: Raft over the remoting transport, the brokers'
//! requests, and the leader's watch over their heartbeats.

pub mod groups;
pub mod node;
pub mod raft;

pub use groups::{Command, Group, Groups, Outcome, Progress, Replica};
pub use node::{start, Controller, ControllerConfig, ControllerHandle};
