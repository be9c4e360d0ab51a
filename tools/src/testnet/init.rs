//! `vigia testnet init`: keys, a roster signed by every member, one configuration per member
//! with its own ports, an admin and a focal token per member, and a synthetic directory.
//!
//! Keys are derived from the seed so a testnet can be rebuilt identically; that makes them
//! worthless as secrets, which is why this command is for testnets only and writes a
//! warning into every member directory.

use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::Args;
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use vigia_node::keys::{self, MEMBER_KEY_FILE, NODE_KEY_FILE, PUBLIC_FILE, PublicIdentity};
use vigia_node::tokens::{Role, TokenStore};
use vigia_protocol::PublicKey;
use vigia_protocol::roster::{Member, NodeRecord, RosterBody, RosterFile};

use super::directory;
use super::layout::{Layout, Manifest, MemberEntry, MemberTokens};
use super::members::{self, OasMember, Selection};

/// Offset of API ports from libp2p ports: room for 500 members below it.
pub const API_PORT_OFFSET: u16 = 500;
/// First libp2p port a testnet tries when `--base-port` is not given. The ranges tried lie
/// below Linux's ephemeral ports (32768–60999): on a busy machine outgoing connections hold
/// thousands of those, and may take one between the check here and the node's start.
pub const DEFAULT_BASE_PORT: u16 = 21_000;
/// Distance between the port ranges tried without `--base-port`: a range's libp2p ports
/// and API ports ([`API_PORT_OFFSET`] above them) end below the next range.
const PORT_RANGE_STEP: u16 = 1_000;
/// Port ranges tried without `--base-port`, so that a testnet already running (the demo,
/// say) does not stop a second one; the last range ends below 32000.
const PORT_RANGES_TRIED: u16 = 11;
/// Contacts per institution in a member's synthetic directory.
const CONTACTS_PER_INSTITUTION: usize = 3;
/// Heads exchange interval of testnet nodes: short, so a tester sees healing quickly.
const TESTNET_SYNC_INTERVAL_SECS: u64 = 5;

/// Arguments of `vigia testnet init`.
#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// Directory to create the testnet in.
    #[arg(long)]
    pub dir: std::path::PathBuf,
    /// Number of members (the first N of a fixed, varied order).
    #[arg(long, conflicts_with = "codes")]
    pub members: Option<usize>,
    /// Members by ISO code, comma-separated: AR,BR,CL.
    #[arg(long, value_delimiter = ',')]
    pub codes: Vec<String>,
    /// Seed of keys and directories.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First libp2p port; member i uses BASE+i, and BASE+500+i for its API [default: the
    /// first free range of 21000, 22000, … 31000].
    #[arg(long, value_name = "BASE")]
    pub base_port: Option<u16>,
    /// Give member i its own address FIRST+i, for libp2p and its API, instead of 127.0.0.1.
    /// The addresses must exist when the nodes start: `testnet/netns.sh up` creates them,
    /// one network namespace per member.
    #[arg(long, value_name = "FIRST")]
    pub first_address: Option<Ipv4Addr>,
}

impl InitArgs {
    fn selection(&self) -> Selection {
        if self.codes.is_empty() {
            Selection::Count(self.members.unwrap_or(members::DEFAULT_MEMBER_COUNT))
        } else {
            Selection::Codes(self.codes.clone())
        }
    }
}

/// Creates the testnet.
pub fn init(args: &InitArgs, out: &mut dyn Write) -> Result<Manifest> {
    let layout = Layout::new(&args.dir);
    if layout.manifest_path().exists() {
        bail!(
            "{} already holds a testnet; stop it with `vigia testnet down` \
             and remove the directory first",
            args.dir.display()
        );
    }
    let chosen = members::select(&args.selection())?;
    let entries = choose_ports(&chosen, args.base_port, args.first_address)?;
    fs::create_dir_all(layout.root())
        .with_context(|| format!("cannot create {}", layout.root().display()))?;
    let mut roster_members = Vec::new();
    let mut signing_keys = Vec::new();
    for (member, entry) in chosen.iter().zip(&entries) {
        let (key, public) = write_keys(&layout, member, args.seed)?;
        roster_members.push(roster_member(member, entry, &public));
        signing_keys.push((member.alpha2, key));
    }
    write_roster(&layout, roster_members, &signing_keys)?;
    for (member, entry) in chosen.iter().zip(&entries) {
        write_config(&layout, entry)?;
        write_tokens(&layout, entry, "testnet")?;
        let generated = directory::generate(member, args.seed, CONTACTS_PER_INSTITUTION);
        write_directory(&layout, entry, &generated)?;
        writeln!(
            out,
            "  {} {:<32} {}  p2p {}  api {}",
            entry.code, entry.name, entry.address, entry.p2p_port, entry.api_port
        )?;
    }
    let manifest = Manifest {
        seed: args.seed,
        members: entries,
    };
    let text = toml::to_string_pretty(&manifest).context("cannot encode the manifest")?;
    fs::write(layout.manifest_path(), text).context("cannot write the manifest")?;
    writeln!(
        out,
        "testnet of {} members in {}",
        manifest.members.len(),
        layout.root().display()
    )?;
    Ok(manifest)
}

/// Member entries with their ports: from `base` when given (which must be free), else
/// from the first free range of [`PORT_RANGES_TRIED`].
fn choose_ports(
    chosen: &[OasMember],
    base: Option<u16>,
    first_address: Option<Ipv4Addr>,
) -> Result<Vec<MemberEntry>> {
    if let Some(base) = base {
        let entries = assign_ports(chosen, base, first_address)?;
        if let Some((p2p_port, api_port)) = busy_ports(&entries) {
            bail!(
                "port {p2p_port} or {api_port} on 127.0.0.1 is in use; choose another \
                 --base-port, or leave it out to use the first free range"
            );
        }
        return Ok(entries);
    }
    for range in 0..PORT_RANGES_TRIED {
        let base = DEFAULT_BASE_PORT + range * PORT_RANGE_STEP;
        let entries = assign_ports(chosen, base, first_address)?;
        if busy_ports(&entries).is_none() {
            return Ok(entries);
        }
    }
    bail!(
        "no free port range from {DEFAULT_BASE_PORT} on 127.0.0.1 (every {PORT_RANGE_STEP} \
         ports, {PORT_RANGES_TRIED} ranges); choose one with --base-port"
    )
}

fn assign_ports(
    chosen: &[OasMember],
    base: u16,
    first_address: Option<Ipv4Addr>,
) -> Result<Vec<MemberEntry>> {
    let mut entries = Vec::new();
    for (index, member) in chosen.iter().enumerate() {
        let index = u16::try_from(index).context("too many members")?;
        let p2p_port = base.checked_add(index).context("--base-port too high")?;
        let api_port = p2p_port
            .checked_add(API_PORT_OFFSET)
            .context("--base-port too high")?;
        let address = match first_address {
            Some(first) => u32::from(first)
                .checked_add(u32::from(index))
                .map(Ipv4Addr::from)
                .context("--first-address too high")?,
            None => Ipv4Addr::LOCALHOST,
        };
        entries.push(MemberEntry {
            code: member.alpha2,
            name: member.name_en.clone(),
            address,
            p2p_port,
            api_port,
        });
    }
    Ok(entries)
}

/// The first libp2p and API port pair of `entries` that something on this machine holds.
/// Ports on an address of its own live in that member's network namespace, not here.
fn busy_ports(entries: &[MemberEntry]) -> Option<(u16, u16)> {
    entries
        .iter()
        .filter(|entry| entry.address.is_loopback())
        .find(|entry| {
            let (address, p2p_port, api_port) = (entry.address, entry.p2p_port, entry.api_port);
            TcpListener::bind((address, p2p_port)).is_err()
                || UdpSocket::bind((address, p2p_port)).is_err()
                || TcpListener::bind((address, api_port)).is_err()
        })
        .map(|entry| (entry.p2p_port, entry.api_port))
}

/// A testnet secret: anyone who knows the seed can derive it.
fn derived_secret(seed: u64, member: &OasMember, purpose: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"vigia-testnet-key\0")
        .chain_update(seed.to_le_bytes())
        .chain_update(member.alpha2.as_str())
        .chain_update(purpose)
        .finalize()
        .into()
}

fn write_keys(
    layout: &Layout,
    member: &OasMember,
    seed: u64,
) -> Result<(SigningKey, PublicIdentity)> {
    let dir = layout.keys(member.alpha2);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    fs::write(
        layout
            .member_dir(member.alpha2)
            .join("TESTNET-KEYS-NOT-SECRET"),
        "These keys are derived from the testnet seed. Never use them outside a testnet.\n",
    )?;
    let member_secret = derived_secret(seed, member, "member");
    let node_secret = derived_secret(seed, member, "node");
    keys::write_secret(&dir.join(MEMBER_KEY_FILE), &member_secret)?;
    keys::write_secret(&dir.join(NODE_KEY_FILE), &node_secret)?;
    let key = SigningKey::from_bytes(&member_secret);
    let public = PublicIdentity {
        signing_key: PublicKey(key.verifying_key().to_bytes()),
        peer_id: keys::node_keypair(&node_secret)?
            .public()
            .to_peer_id()
            .to_string(),
    };
    keys::write_public(&dir.join(PUBLIC_FILE), &public)?;
    Ok((key, public))
}

fn roster_member(member: &OasMember, entry: &MemberEntry, public: &PublicIdentity) -> Member {
    let (address, port) = (entry.address, entry.p2p_port);
    Member {
        code: member.alpha2,
        name: member.name_en.clone(),
        signing_key: public.signing_key,
        nodes: vec![NodeRecord {
            peer_id: public.peer_id.clone(),
            addresses: vec![
                format!("/ip4/{address}/udp/{port}/quic-v1"),
                format!("/ip4/{address}/tcp/{port}"),
            ],
        }],
    }
}

fn write_roster(
    layout: &Layout,
    members: Vec<Member>,
    keys: &[(vigia_protocol::MemberCode, SigningKey)],
) -> Result<()> {
    let count = u32::try_from(members.len()).context("too many members")?;
    let body = RosterBody {
        network: "vigia-testnet".into(),
        quorum: count / 2 + 1,
        members,
    };
    body.check().context("generated roster is invalid")?;
    let mut file = RosterFile {
        body: body.clone(),
        signatures: Vec::new(),
    };
    for (code, key) in keys {
        file.add_signature(body.sign(*code, key));
    }
    file.verify().context("generated roster does not verify")?;
    fs::write(layout.roster(), file.to_toml()).context("cannot write the roster")
}

fn write_config(layout: &Layout, entry: &MemberEntry) -> Result<()> {
    let mut text = String::new();
    writeln!(
        text,
        "# Testnet node {} ({}); see configs/node.toml for every setting.",
        entry.code, entry.name
    )?;
    writeln!(text, "member = \"{}\"", entry.code)?;
    writeln!(text, "roster = \"../roster.toml\"")?;
    writeln!(text, "member_key = \"keys/member.key\"")?;
    writeln!(text, "node_key = \"keys/node.key\"")?;
    writeln!(text, "data_dir = \"data\"")?;
    writeln!(text, "sync_interval_secs = {TESTNET_SYNC_INTERVAL_SECS}")?;
    writeln!(
        text,
        "\n[api]\nlisten = \"{}:{}\"",
        entry.address, entry.api_port
    )?;
    fs::write(layout.config(entry.code), text).context("cannot write a node configuration")
}

/// Creates the member's data directory (for its owner only, as a node creates it) with an
/// admin and a focal token labelled `{label}-admin` and `{label}-focal`, and writes both
/// tokens where `vigia --testnet` finds them.
pub(crate) fn write_tokens(layout: &Layout, entry: &MemberEntry, label: &str) -> Result<()> {
    let data = layout.data(entry.code);
    vigia_node::files::create_private_dir(&data)?;
    let store = TokenStore::new(data.join(vigia_node::config::TOKENS_FILE));
    let (_, admin) = store.create(Role::Admin, &format!("{label}-admin"))?;
    let (_, focal) = store.create(Role::Focal, &format!("{label}-focal"))?;
    let text = toml::to_string(&MemberTokens { admin, focal })?;
    vigia_node::files::create_new(&layout.tokens(entry.code), 0o600, text.as_bytes())
}

fn write_directory(
    layout: &Layout,
    entry: &MemberEntry,
    generated: &directory::Directory,
) -> Result<()> {
    use vigia_node::api::csv_format::{
        CONTACT_COLUMNS, INSTITUTION_COLUMNS, contact_row, institution_row,
    };
    let institutions = generated.institutions.iter().map(institution_row);
    write_csv(
        &layout.institutions_csv(entry.code),
        &INSTITUTION_COLUMNS,
        institutions,
    )?;
    let contacts = generated.contacts.iter().map(contact_row);
    write_csv(&layout.contacts_csv(entry.code), &CONTACT_COLUMNS, contacts)
}

fn write_csv(path: &Path, header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Result<()> {
    let mut writer = csv::Writer::from_path(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writer.write_record(header)?;
    for row in rows {
        writer.write_record(&row)?;
    }
    writer
        .flush()
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Whether `dir` holds a testnet.
pub fn exists(dir: &Path) -> bool {
    Layout::new(dir).manifest_path().exists()
}
