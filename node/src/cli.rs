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
use std::io::Write;
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
    let command = Cli::parse().command;
    let mut stdout = Output::new(std::io::stdout().lock());
    let result = run(command, &mut stdout).and_then(|()| Ok(stdout.flush()?));
    if let Err(error) = result {
        if stdout.cut_short(&error) {
            return;
        }
        print_error(&error);
        std::process::exit(1);
    }
}

/// Standard output for a command's results, which notices when its reader has gone away
/// (`vigia-node token list | head -1`). The command then fails with a broken pipe, and the
/// binary exits quietly and successfully, as `ripgrep` does: the reader got all it wanted.
#[derive(Debug)]
pub struct Output<W> {
    inner: W,
    reader_gone: bool,
}

impl<W: Write> Output<W> {
    /// Results written to `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            reader_gone: false,
        }
    }

    /// Whether `error` only says that the reader of the results went away: a write here
    /// failed with a broken pipe, and that is what the command failed of. Any other failure
    /// (a broken pipe to a node, say) is still the command's to report.
    pub fn cut_short(&self, error: &anyhow::Error) -> bool {
        self.reader_gone
            && error.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            })
    }

    fn note<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(error) = &result {
            self.reader_gone |= error.kind() == std::io::ErrorKind::BrokenPipe;
        }
        result
    }
}

impl<W: Write> Write for Output<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let result = self.inner.write(bytes);
        self.note(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.inner.flush();
        self.note(result)
    }
}

/// Worker threads of the node's runtime. The event loop is one task, and the work that
/// takes long (applying entries, serving ranges, store reads of the API) runs on blocking
/// threads, so one worker is enough; each extra one costs cross-thread wake-ups on every
/// message and its own stack and malloc arena, which on a machine shared by many nodes
/// (a testnet) is most of a node's memory and CPU at rest.
const WORKER_THREADS: usize = 1;
/// Blocking threads at most: one ingest job at a time, range answers (at most 32 at once,
/// and they queue beyond this), API reads and backups. Each idle one exits after 10 s.
const MAX_BLOCKING_THREADS: usize = 16;

fn node_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

/// Prints a failed command's error on standard error as both `vigia-node` and `vigia`
/// print it, so an operator reads one shape whichever binary ran the command.
pub fn print_error(error: &anyhow::Error) {
    // Nothing is left to report a failure to write the report to.
    let _ = write_error(&mut std::io::stderr().lock(), error);
}

/// `error:` with the outermost context (what failed), then one `caused by:` line per cause
/// (why), outermost first. Each message goes through [`escape_controls`]: a cause may quote
/// a node's answer or a file's contents, which must not drive the operator's terminal.
pub fn write_error(out: &mut dyn std::io::Write, error: &anyhow::Error) -> std::io::Result<()> {
    writeln!(out, "error: {}", escape_controls(&error.to_string()))?;
    for cause in error.chain().skip(1) {
        writeln!(out, "  caused by: {}", escape_controls(&cause.to_string()))?;
    }
    Ok(())
}

/// `text` with every character that can move the cursor, retitle the window, clear the
/// screen or reorder what follows written as a Rust escape (`\u{1b}`): C0 controls but line
/// feed and tab, DEL, C1 controls, and bidirectional embeddings, overrides and isolates.
/// Escaped rather than dropped, so the operator still sees that the text held them.
pub fn escape_controls(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if (c.is_control() && !matches!(c, '\n' | '\t')) || bidi {
            escaped.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            escaped.push(c);
        }
    }
    escaped
}

/// Runs one command, writing its results to `out` (progress and notes go to standard error).
pub fn run(command: Command, out: &mut dyn Write) -> Result<()> {
    match command {
        Command::Run(overrides) => {
            let config = NodeConfig::load(&overrides)?;
            init_logging(&config)?;
            let runtime = node_runtime()?;
            runtime.block_on(serve(config))
        }
        Command::Rebuild(overrides) => maintenance::rebuild(&overrides, out),
        Command::Config(overrides) => {
            let config = NodeConfig::load(&overrides)?;
            let text = toml::to_string(&config).context("cannot print the configuration")?;
            write!(out, "{text}")?;
            Ok(())
        }
        Command::Check { file, overrides } => maintenance::check(file, &overrides, out),
        Command::Backup {
            file,
            token,
            overrides,
        } => maintenance::back_up(&file, token, &overrides, out),
        Command::Restore { file, overrides } => maintenance::restore(&file, &overrides, out),
        Command::Token { command } => token(command, out),
    }
}

fn token(command: TokenCommand, out: &mut dyn Write) -> Result<()> {
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
            writeln!(out, "{token}")?;
            Ok(())
        }
        TokenCommand::List { overrides } => {
            let store = TokenStore::new(NodeConfig::load(&overrides)?.tokens_path());
            let records = store.list()?;
            if records.is_empty() {
                eprintln!("no tokens; create one with `vigia-node token create`");
                return Ok(());
            }
            writeln!(out, "{:<12}  {:<5}  {:<20}  LABEL", "ID", "ROLE", "CREATED")?;
            for record in records {
                // Whole seconds are enough to tell tokens apart in a list.
                let created = crate::api::time::format(record.created_at_ms / 1000 * 1000);
                writeln!(
                    out,
                    "{:<12}  {:<5}  {:<20}  {}",
                    record.id,
                    record.role.as_str(),
                    created,
                    record.label
                )?;
            }
            Ok(())
        }
        TokenCommand::Revoke { token, overrides } => {
            let store = TokenStore::new(NodeConfig::load(&overrides)?.tokens_path());
            let record = store.revoke(&token)?;
            writeln!(
                out,
                "revoked token {} labelled {:?}",
                record.id, record.label
            )?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_in_an_error_are_escaped() {
        let error = anyhow::anyhow!("the node answered 500: \u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}x")
            .context("cannot list\u{202e} contacts\r");
        let mut out = Vec::new();
        write_error(&mut out, &error).expect("written");
        let text = String::from_utf8(out).expect("UTF-8");
        assert_eq!(
            text,
            "error: cannot list\\u{202e} contacts\\u{d}\n  caused by: the node answered 500: \
             \\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{9b}x\n"
        );
        assert_eq!(escape_controls("line\nnext\tcell"), "line\nnext\tcell");
    }
}
