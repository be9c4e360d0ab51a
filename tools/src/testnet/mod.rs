//! `vigia testnet`: a member network on one machine, for testing and demonstration.
//!
//! Who owns what:
//! - [`members`]: the 35 OAS member states (the project's copy of the public facts in
//!   `testnet/oas-member-states.csv`) and which of them a testnet of N members runs;
//! - [`directory`]: each member's synthetic directory of institutions and contacts,
//!   invented and deterministic for a seed.

pub mod directory;
pub mod members;
