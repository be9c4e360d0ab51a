//! The `vigia` command line, as a library so that tests can reach its parts.
//!
//! Who owns what:
//! - [`Cli`] and [`Command`]: the top of the command tree; each command group adds one variant
//!   and one module, and [`run`] only dispatches;
//! - [`keys`]: `vigia keygen`, a member's signing key and a node's libp2p identity;
//! - [`roster`]: `vigia roster init|sign|verify|show`, building and approving the roster;
//! - [`testnet`]: a member network on one machine: the OAS member list, synthetic directories;
//! - [`cli`]: the commands focal points and IT teams run against their own node's API
//!   (`contacts`, `institutions`, `alerts`, `network`, `import`), over [`client`];
//! - [`bench`]: `vigia bench`, every performance figure beside its floor from the same run;
//!
//! Key file formats and the file-writing rules live in `vigia_node::keys` and
//! `vigia_node::files`, since the node reads what these commands write.
//!
//! Commands write their results to the writer [`run`] is given and return errors with
//! context; `main` prints the whole chain.
#![deny(missing_docs)]

pub mod bench;
pub mod cli;
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
    about = "Find focal points, issue and acknowledge alerts, and administer a Vigía node"
)]
pub struct Cli {
    /// Which node the client commands talk to (before the command).
    #[command(flatten)]
    pub connection: cli::connection::ConnectionArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The command groups.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Search the network's focal points, show, export; put and remove your own (admin).
    Contacts(cli::contacts::ContactsArgs),
    /// List and show the institutions of every member; put and remove your own (admin).
    Institutions(cli::institutions::InstitutionsArgs),
    /// Issue, list, show, acknowledge and watch alerts.
    Alerts(cli::alerts::AlertsArgs),
    /// Show every member as your node sees it: reachable, last seen, behind, forks.
    Network(cli::network::NetworkArgs),
    /// Import your member's contacts or institutions from a CSV file, all or nothing
    /// (admin).
    Import(cli::transfer::ImportArgs),
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
    /// Measure propagation, duplicates, catch-up, ingest, search, memory and scale, each
    /// beside its floor measured in the same run.
    Bench(bench::BenchArgs),
}

/// Runs one command, writing what it reports to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    let connection = &cli.connection;
    match cli.command {
        Command::Contacts(args) => cli::contacts::run(connection, &args, out),
        Command::Institutions(args) => cli::institutions::run(connection, &args, out),
        Command::Alerts(args) => cli::alerts::run(connection, &args, out),
        Command::Network(args) => cli::network::run(connection, &args, out),
        Command::Import(args) => cli::transfer::run_import(connection, &args, out),
        Command::Keygen(args) => keys::keygen(&args, out),
        Command::Roster(command) => roster::run(command, out),
        Command::Testnet(command) => testnet::commands::run(command, out),
        Command::Node(command) => vigia_node::cli::run(command, out),
        Command::Bench(args) => bench::run(&args, out),
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
