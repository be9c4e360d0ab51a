//! `vigia testnet demo`: a live network in the foreground. It creates a testnet (or reuses
//! `--dir`), brings it up, issues a sample alert and shows it reach every member, prints the
//! status and how to query each member, then runs until Ctrl-C stops every node cleanly.

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;
use vigia_protocol::MemberCode;

use super::init::{self, InitArgs};
use super::layout::Layout;
use super::target::member_client;
use super::{process, status, up, verify};

/// Arguments of `vigia testnet demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Testnet directory; created if it holds no testnet. Without it, a temporary directory
    /// is used and removed at the end.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Number of members (1 to 35).
    #[arg(long, default_value_t = 7, conflicts_with = "codes")]
    pub members: usize,
    /// Members by ISO code, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub codes: Vec<String>,
    /// Seed of keys and directories.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First libp2p port [default: the first free range of 21000, 22000, … 31000].
    #[arg(long, value_name = "BASE")]
    pub base_port: Option<u16>,
}

/// Runs the demo until Ctrl-C.
pub fn demo(args: &DemoArgs, out: &mut dyn Write) -> Result<()> {
    let (stop_tx, stop_rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .context("cannot watch Ctrl-C")?;
    let temporary = match &args.dir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("vigia-demo-")
                .tempdir()
                .context("cannot create a temporary directory")?,
        ),
    };
    let dir = args.dir.clone().unwrap_or_else(|| {
        temporary
            .as_ref()
            .map(|t| t.path().to_path_buf())
            .unwrap_or_default()
    });
    let layout = Layout::new(&dir);
    if !init::exists(&dir) {
        let note = if temporary.is_some() {
            " (removed when the demo stops; --dir keeps one)"
        } else {
            ""
        };
        writeln!(out, "== creating a testnet in {}{note}", dir.display())?;
        create(args, &dir, out)?;
    }
    let result = run(&layout, out, &stop_rx);
    // The nodes stop whatever became of the output: a reader that went away (`| head`)
    // must not leave them running, so no failed write may return before they are stopped.
    let _ = writeln!(out, "== stopping every node");
    let stopped = stop_every_node(&layout);
    drop(temporary);
    result?;
    writeln!(out, "stopped {} nodes cleanly", stopped?)?;
    Ok(())
}

fn stop_every_node(layout: &Layout) -> Result<usize> {
    let codes: Vec<MemberCode> = layout
        .manifest()?
        .members
        .iter()
        .map(|member| member.code)
        .collect();
    process::stop_all(layout, &codes)
}

fn create(args: &DemoArgs, dir: &std::path::Path, out: &mut dyn Write) -> Result<()> {
    let init_args = InitArgs {
        dir: dir.to_path_buf(),
        members: (args.codes.is_empty()).then_some(args.members),
        codes: args.codes.clone(),
        seed: args.seed,
        base_port: args.base_port,
        first_address: None,
    };
    init::init(&init_args, out).map(|_| ())
}

fn run(layout: &Layout, out: &mut dyn Write, stop: &mpsc::Receiver<()>) -> Result<()> {
    writeln!(out, "== starting the nodes")?;
    up::up(layout, out)?;
    let manifest = layout.manifest()?;
    let issuer = manifest.members[0].code;
    writeln!(out, "== {issuer} issues an alert to the whole network")?;
    let started = Instant::now();
    let alert = member_client(layout, issuer)?.send_json(
        reqwest::Method::POST,
        "/v1/alerts",
        &json!({
            "title": "Ejercicio: vehículo sospechoso en paso fronterizo",
            "description": "Mensaje de prueba de la red. Confirme recepción.",
            "severity": "severe", "urgency": "immediate", "certainty": "likely",
            "tlp": "amber", "recipients": "network", "expires_in_minutes": 120
        }),
    )?;
    let seq = alert["seq"]
        .as_u64()
        .context("the node's answer has no seq")?;
    verify::verify(layout, Duration::from_secs(60), out)?;
    writeln!(
        out,
        "alert {issuer}/{seq} reached all {} members in {} ms",
        manifest.members.len(),
        started.elapsed().as_millis()
    )?;
    writeln!(out, "== status")?;
    status::print(layout, false, out)?;
    writeln!(out, "\n== query any member, for example:")?;
    let dir = layout.root().display();
    let second = manifest.members.get(1).map_or(issuer, |member| member.code);
    writeln!(
        out,
        "  vigia --testnet {dir} --member {second} contacts search \"policia\""
    )?;
    writeln!(out, "  vigia --testnet {dir} --member {second} alerts list")?;
    writeln!(out, "  vigia testnet status --dir {dir}")?;
    writeln!(
        out,
        "  vigia testnet kill --dir {dir} {second}    # then: testnet start, testnet verify"
    )?;
    for member in &manifest.members {
        writeln!(
            out,
            "  {}  API http://127.0.0.1:{}  tokens in {}",
            member.code,
            member.api_port,
            layout.tokens(member.code).display()
        )?;
    }
    writeln!(out, "\nthe network runs; press Ctrl-C to stop every node")?;
    out.flush()?;
    // Either Ctrl-C, or the sender is gone (never, while the handler is installed).
    let _ = stop.recv();
    Ok(())
}
