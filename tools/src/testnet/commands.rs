//! The `vigia testnet` command tree and its dispatch.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use vigia_protocol::MemberCode;

use super::layout::Layout;
use super::{demo, init, partition, process, status, up, verify};

/// `--dir DIR`, shared by the commands that act on an existing testnet.
#[derive(Debug, Clone, Args)]
pub struct DirArg {
    /// The testnet directory.
    #[arg(long)]
    pub dir: PathBuf,
}

/// Testnet commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create keys, a signed roster, configurations, tokens and directories.
    Init(init::InitArgs),
    /// Start every node, wait until connected, load the generated directory into each
    /// member whose feed is still empty (first start); later starts keep the directory as
    /// it is.
    Up(DirArg),
    /// Show each member's node, peers, entries, lag and forks.
    Status {
        /// The testnet.
        #[command(flatten)]
        dir: DirArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Kill one member's node at once, as a crash would.
    Kill {
        /// The testnet.
        #[command(flatten)]
        dir: DirArg,
        /// The member, such as PE.
        member: String,
    },
    /// Start one member's node and wait until it is connected to the running members it
    /// may reach (those on its side of a partition).
    Start {
        /// The testnet.
        #[command(flatten)]
        dir: DirArg,
        /// The member, such as PE.
        member: String,
    },
    /// Cut the network into groups: `partition --dir D AR,BR CL,CO,PE`; every member must be
    /// in one group.
    Partition {
        /// The testnet.
        #[command(flatten)]
        dir: DirArg,
        /// Two or more comma-separated groups of members.
        #[arg(required = true, num_args = 2..)]
        groups: Vec<String>,
    },
    /// Lift every partition.
    Heal(DirArg),
    /// Exit 0 only when every running member has the same heads and directory.
    Verify {
        /// The testnet.
        #[command(flatten)]
        dir: DirArg,
        /// Seconds to wait for agreement.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Stop every node cleanly; this also lifts any partition.
    Down(DirArg),
    /// Init, up, a sample alert and a status table, in the foreground until Ctrl-C.
    Demo(demo::DemoArgs),
}

fn member(text: &str) -> Result<MemberCode> {
    match text.to_uppercase().parse() {
        Ok(code) => Ok(code),
        Err(err) => bail!("{err}"),
    }
}

/// Runs one testnet command.
pub fn run(command: Command, out: &mut dyn Write) -> Result<()> {
    match command {
        Command::Init(args) => init::init(&args, out).map(|_| ()),
        Command::Up(dir) => up::up(&Layout::new(dir.dir), out),
        Command::Status { dir, json } => status::print(&Layout::new(dir.dir), json, out),
        Command::Kill { dir, member: code } => {
            let layout = Layout::new(dir.dir);
            let code = member(&code)?;
            layout.member(code)?;
            if process::kill_now(&layout, code)? {
                writeln!(out, "{code} killed")?;
            } else {
                writeln!(out, "{code} was not running")?;
            }
            Ok(())
        }
        Command::Start { dir, member: code } => {
            up::start_one(&Layout::new(dir.dir), member(&code)?, out)
        }
        Command::Partition { dir, groups } => partition::partition(
            &Layout::new(dir.dir),
            &partition::parse_groups(&groups)?,
            out,
        ),
        Command::Heal(dir) => partition::heal(&Layout::new(dir.dir), out),
        Command::Verify { dir, timeout } => {
            verify::verify(&Layout::new(dir.dir), Duration::from_secs(timeout), out)
        }
        Command::Down(dir) => {
            let layout = Layout::new(dir.dir);
            let codes: Vec<MemberCode> =
                layout.manifest()?.members.iter().map(|m| m.code).collect();
            let stopped = process::stop_all(&layout, &codes)?;
            // Stopped nodes have forgotten their block lists: nothing is cut any more.
            partition::Partition::remove(&layout)?;
            writeln!(out, "stopped {stopped} nodes")?;
            Ok(())
        }
        Command::Demo(args) => demo::demo(&args, out),
    }
}
