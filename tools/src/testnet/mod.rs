//! `vigia testnet`: a member network on one machine, for testing and demonstration.
//!
//! Who owns what:
//! - [`members`]: the 35 OAS member states (the project's copy of the public facts in
//!   `testnet/oas-member-states.csv`) and which of them a testnet of N members runs;
//! - [`directory`]: each member's synthetic directory of institutions and contacts,
//!   invented and deterministic for a seed;
//! - [`layout`]: where a testnet keeps its files; [`init`] creates them;
//! - [`process`]: starting and stopping node processes; [`up`] brings the network up;
//! - [`status`], [`verify`], [`partition`]: watching, checking and cutting the network;
//! - [`target`]: pointing any `vigia` command at one member's node;
//! - [`demo`]: all of it in the foreground, the README's first command;
//! - [`commands`]: the command tree.

pub mod commands;
pub mod demo;
pub mod directory;
pub mod init;
pub mod layout;
pub mod members;
pub mod partition;
pub mod process;
pub mod status;
pub mod target;
pub mod up;
pub mod verify;

pub use commands::Command;
