//! `vigia-node`: the daemon a member state runs, and its maintenance commands.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use vigia_node::config::{LogFormat, NodeConfig, Overrides};
use vigia_node::node::{Node, NodeSetup};

/// A Vigía member node.
#[derive(Parser)]
#[command(name = "vigia-node", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the node until SIGINT or SIGTERM.
    Run(Overrides),
    /// Rebuilds the derived views (directory, alerts) from the stored entries.
    Rebuild(Overrides),
}

fn main() {
    if let Err(error) = run(Cli::parse()) {
        eprintln!("vigia-node: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(overrides) => {
            let config = NodeConfig::load(&overrides)?;
            init_logging(&config)?;
            let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
            runtime.block_on(serve(config))
        }
        Command::Rebuild(overrides) => {
            let config = NodeConfig::load(&overrides)?;
            let store = vigia_node::store::Store::open(&config.store_path())?;
            let count = store.rebuild_views()?;
            println!("views rebuilt from {count} entries");
            Ok(())
        }
    }
}

fn init_logging(config: &NodeConfig) -> Result<()> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log))
        .with_context(|| format!("invalid log filter {:?}", config.log))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

async fn serve(config: NodeConfig) -> Result<()> {
    let node = Node::start(NodeSetup::from_config(&config)?).await?;
    wait_for_signal().await?;
    tracing::info!("shutting down");
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
