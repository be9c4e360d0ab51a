//! The `vigia-node` command line: run the daemon, check, rebuild, back up and restore its
//! store ([`maintenance`]), manage API tokens.
//!
//! It lives in the library so that `vigia node …` runs exactly the same code: a test
//! network started by `vigia testnet` then needs no second binary built beside it.

use crate::api::{ApiServer, ApiSettings};
use crate::config::{LogFormat, NodeConfig, Overrides};
use crate::node::{Node, NodeSetup};
use crate::tokens::{Role, TokenStore};
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use tracing_subscriber::EnvFilter;

mod maintenance;

/// A Vigía member node.
#[derive(Debug, Parser)]
#[command(name = "vigia-node", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The daemon's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the node until SIGINT or SIGTERM.
    Run(Overrides),
    /// Rebuilds the derived views (directory, alerts) from the stored entries.
    Rebuild(Overrides),
    /// Verifies a stopped node's store, or a backup: every feed whole and chained, every
    /// entry signed by its author's roster key, heads, fork evidence, arrival times, and
    /// the views against a replay of the entries. Prints a report; exits 0 only if clean.
    /// Opening the store may repair it after a crash, as the node's own start would.
    Check {
        /// A store file to check instead of the configured one, such as a backup.
        file: Option<PathBuf>,
        /// Where the node's configuration (and so the roster) comes from.
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Writes a consistent copy of the store to FILE, which must not exist. While the node
    /// runs, the node itself writes it through its local API (so FILE is a path on the
    /// node's machine, and an admin token is needed); when it is stopped, this command
    /// reads the store directly.
    Backup {
        /// The new file.
        file: PathBuf,
        /// An admin token of the node's API, needed while the node runs.
        #[arg(long, env = "VIGIA_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Where the node's configuration comes from.
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Replaces a stopped node's store with a backup, after checking the backup as `check`
    /// does. The replaced store is kept beside it as `vigia.redb.before-restore`.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// Where the node's configuration comes from.
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Prints the configuration the node would run with, after defaults, file, `VIGIA_`
    /// variables and flags, with paths resolved.
    Config(Overrides),
    /// Manages the bearer tokens of the local API; works while the node runs.
    Token {
        /// What to do with tokens.
        #[command(subcommand)]
        command: TokenCommand,
    },
}

/// Token commands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Creates a token and prints it on standard output, once: only its hash is kept.
    Create {
        /// focal (read, issue and acknowledge alerts) or admin (also change the directory).
        #[arg(long)]
        role: Role,
        /// Who or what will hold it, such as a person's name or "monitoring"; unique.
        #[arg(long)]
        label: String,
        /// Where the node's configuration comes from.
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Lists the tokens (never the tokens themselves).
    List {
        /// Where the node's configuration comes from.
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Revokes a token, named by its id or label; it stops working at once.
    Revoke {
        /// The token's id (from `token list`) or its label.
        token: String,
        /// Where the node's configuration comes from.
        #[command(flatten)]
        overrides: Overrides,
    },
}

/// Parses the process's arguments, runs the command, and exits non-zero with the whole
/// error chain on failure.
pub fn main() {
    if let Err(error) = run(Cli::parse().command) {
        print_error(&error);
        std::process::exit(1);
    }
}

/// Prints a failed command's error on standard error as both `vigia-node` and `vigia`
/// print it, so an operator reads one shape whichever binary ran the command.
pub fn print_error(error: &anyhow::Error) {
    // Nothing is left to report a failure to write the report to.
    let _ = write_error(&mut std::io::stderr().lock(), error);
}

/// `error:` with the outermost context (what failed), then one `caused by:` line per cause
/// (why), outermost first.
pub fn write_error(out: &mut dyn std::io::Write, error: &anyhow::Error) -> std::io::Result<()> {
    writeln!(out, "error: {error}")?;
    for cause in error.chain().skip(1) {
        writeln!(out, "  caused by: {cause}")?;
    }
    Ok(())
}

/// Runs one command.
pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Run(overrides) => {
            let config = NodeConfig::load(&overrides)?;
            init_logging(&config)?;
            let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
            runtime.block_on(serve(config))
        }
        Command::Rebuild(overrides) => maintenance::rebuild(&overrides),
        Command::Config(overrides) => {
            let config = NodeConfig::load(&overrides)?;
            print!(
                "{}",
                toml::to_string(&config).context("cannot print the configuration")?
            );
            Ok(())
        }
        Command::Check { file, overrides } => maintenance::check(file, &overrides),
        Command::Backup {
            file,
            token,
            overrides,
        } => maintenance::back_up(&file, token, &overrides),
        Command::Restore { file, overrides } => maintenance::restore(&file, &overrides),
        Command::Token { command } => token(command),
    }
}

fn token(command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Create {
            role,
            label,
            overrides,
        } => {
            let store = TokenStore::new(NodeConfig::load(&overrides)?.tokens_path());
            let (record, token) = store.create(role, &label)?;
            eprintln!(
                "created {} token {} labelled {:?}; it is shown only now:",
                record.role.as_str(),
                record.id,
                record.label
            );
            println!("{token}");
            Ok(())
        }
        TokenCommand::List { overrides } => {
            let store = TokenStore::new(NodeConfig::load(&overrides)?.tokens_path());
            let records = store.list()?;
            if records.is_empty() {
                eprintln!("no tokens; create one with `vigia-node token create`");
                return Ok(());
            }
            println!("{:<12}  {:<5}  {:<20}  LABEL", "ID", "ROLE", "CREATED");
            for record in records {
                // Whole seconds are enough to tell tokens apart in a list.
                let created = crate::api::time::format(record.created_at_ms / 1000 * 1000);
                println!(
                    "{:<12}  {:<5}  {:<20}  {}",
                    record.id,
                    record.role.as_str(),
                    created,
                    record.label
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { token, overrides } => {
            let store = TokenStore::new(NodeConfig::load(&overrides)?.tokens_path());
            let record = store.revoke(&token)?;
            println!("revoked token {} labelled {:?}", record.id, record.label);
            Ok(())
        }
    }
}

fn init_logging(config: &NodeConfig) -> Result<()> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log))
        .with_context(|| format!("invalid log filter {:?}", config.log))?;
    // Colour only for a person at a terminal; log files and collectors get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

async fn serve(config: NodeConfig) -> Result<()> {
    let settings = ApiSettings::from_config(&config)?;
    let node = Node::start(NodeSetup::from_config(&config)?).await?;
    let api = match ApiServer::start(node.handle(), settings).await {
        Ok(api) => api,
        Err(error) => {
            // The node started; stop it in order before reporting why the API could not.
            let _ = node.shutdown().await;
            return Err(error);
        }
    };
    wait_for_signal().await?;
    tracing::info!("shutting down");
    if let Err(error) = api.shutdown().await {
        tracing::warn!(err = %format!("{error:#}"), "api did not stop cleanly");
    }
    node.shutdown().await
}

async fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("cannot watch SIGINT"),
        _ = terminate.recv() => Ok(()),
    }
}
