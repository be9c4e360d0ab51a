//! The `vigia` command line, as a library so that tests can reach its parts.
//!
//! Who owns what:
//! - [`Cli`] and [`Command`]: the top of the command tree; each command group adds one variant
//!   and one module, and [`run`] only dispatches;
//! - [`keys`]: `vigia keygen`, a member's signing key and a node's libp2p identity;
//! - [`roster`]: `vigia roster init|sign|verify|show`, building and approving the roster;
//! - [`testnet`]: a member network on one machine: the OAS member list, synthetic directories;
//!
//! Key file formats and the file-writing rules live in `vigia_node::keys` and
//! `vigia_node::files`, since the node reads what these commands write.
//!
//! Commands write their results to the writer [`run`] is given and return errors with
//! context; `main` prints the whole chain.
#![deny(missing_docs)]

pub mod client;
pub mod keys;
pub mod roster;
pub mod testnet;

use std::io::Write;

use clap::{Parser, Subcommand};

/// The `vigia` command line.
#[derive(Debug, Parser)]
#[command(
    name = "vigia",
    version,
    about = "Administer a Vigía member node and its network"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The command groups.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a member signing key and a node identity into a directory.
    Keygen(keys::KeygenArgs),
    /// Build, sign, verify and inspect the network's roster.
    #[command(subcommand)]
    Roster(roster::Command),
    /// Run a network of member nodes on this machine, break it, check it heals.
    #[command(subcommand)]
    Testnet(testnet::Command),
    /// The `vigia-node` daemon's own commands (`vigia node run --config FILE`), so one
    /// executable can run a whole test network.
    #[command(subcommand)]
    Node(vigia_node::cli::Command),
}

/// Runs one command, writing what it reports to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    match cli.command {
        Command::Keygen(args) => keys::keygen(&args, out),
        Command::Roster(command) => roster::run(command, out),
        Command::Testnet(command) => testnet::commands::run(command, out),
        Command::Node(command) => vigia_node::cli::run(command),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
