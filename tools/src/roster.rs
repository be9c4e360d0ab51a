//! `vigia roster`: build the founding roster, collect every member's signature, check it.
//!
//! The flow: each member runs `vigia keygen` and hands over its `public.toml`; one person runs
//! `roster init` with all of them; the file then travels to each member, who runs
//! `roster sign` with its `member.key`; `roster verify` passes once every member has signed.
//! What a roster is and what its signatures cover belong to [`vigia_protocol::roster`].
//!
//! Known limit: `init` gives each member the single node described by its `public.toml`.
//! A member that runs several nodes (the roster allows up to
//! [`vigia_protocol::roster::MAX_NODES_PER_MEMBER`]) needs its file edited before signing.

mod show;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use ed25519_dalek::VerifyingKey;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use serde::Serialize;
use vigia_protocol::MemberCode;
use vigia_protocol::roster::{Member, NodeRecord, RosterBody, RosterFile};

use vigia_node::{files, keys as keyfile};

/// Largest roster file read: 256 members with 8 nodes of 8 addresses each fit with room.
const MAX_ROSTER_FILE_BYTES: u64 = 4 << 20;

/// The `vigia roster` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a new, unsigned roster from the members' public.toml files.
    Init(InitArgs),
    /// Add one member's signature to a roster file, in place.
    Sign(SignArgs),
    /// Check that a roster is valid and signed by every member.
    Verify(VerifyArgs),
    /// Print a roster's members, nodes and signatures.
    Show(show::ShowArgs),
}

/// Runs one roster subcommand.
pub fn run(command: Command, out: &mut dyn Write) -> Result<()> {
    match command {
        Command::Init(args) => init(&args, out),
        Command::Sign(args) => sign(&args, out),
        Command::Verify(args) => verify(&args, out),
        Command::Show(args) => show::show(&args, out),
    }
}

/// Arguments of `vigia roster init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Human name of the network.
    #[arg(long)]
    network: String,
    /// Member signatures needed to change the roster later.
    #[arg(long)]
    quorum: u32,
    /// Where to write the roster.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// A member: its ISO 3166-1 alpha-2 code, its name, and the key directory (or the
    /// public.toml) that `vigia keygen` wrote. Repeat for each member.
    #[arg(long = "member", value_name = "CODE=NAME=PATH", required = true)]
    members: Vec<MemberSpec>,
    /// An address at which other nodes dial a member's node. Repeat for several.
    #[arg(long = "address", value_name = "CODE=MULTIADDR")]
    addresses: Vec<AddressSpec>,
    /// Replace FILE if it already exists, dropping any signatures it holds.
    #[arg(long)]
    force: bool,
}

/// One `--member CODE=NAME=PATH`.
#[derive(Debug, Clone)]
struct MemberSpec {
    code: MemberCode,
    name: String,
    public: PathBuf,
}

impl FromStr for MemberSpec {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        let mut parts = text.splitn(3, '=');
        let (Some(code), Some(name), Some(public)) = (parts.next(), parts.next(), parts.next())
        else {
            bail!("expected CODE=NAME=PATH, e.g. MX=México=keys/mx");
        };
        Ok(Self {
            code: code.parse()?,
            name: name.to_owned(),
            public: public.into(),
        })
    }
}

/// One `--address CODE=MULTIADDR`; the address is checked once its member's peer id is known.
#[derive(Debug, Clone)]
struct AddressSpec {
    code: MemberCode,
    address: String,
}

impl FromStr for AddressSpec {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        let (code, address) = text
            .split_once('=')
            .context("expected CODE=MULTIADDR, e.g. MX=/dns4/…/tcp/4001")?;
        Ok(Self {
            code: code.parse()?,
            address: address.to_owned(),
        })
    }
}

fn init(args: &InitArgs, out: &mut dyn Write) -> Result<()> {
    // Before any other work, so that a roster others may be signing is not lost.
    if !args.force && args.out.exists() {
        bail!(
            "{} already exists; pass --force to replace it",
            args.out.display()
        );
    }

    let body = RosterBody {
        network: args.network.clone(),
        quorum: args.quorum,
        members: build_members(args)?,
    };
    body.check()
        .context("refusing to write an invalid roster")?;
    let unreachable = |member: &&Member| member.nodes.iter().all(|node| node.addresses.is_empty());
    for member in body.members.iter().filter(unreachable) {
        eprintln!(
            "note: member {} has no --address; other nodes cannot dial it",
            member.code
        );
    }

    let file = RosterFile {
        body,
        signatures: Vec::new(),
    };
    write_roster(&args.out, &file)?;
    writeln!(
        out,
        "wrote {}: network {:?}, {} members, quorum {}, no signatures yet",
        args.out.display(),
        file.body.network,
        file.body.members.len(),
        file.body.quorum
    )?;
    writeln!(
        out,
        "next: each member runs `vigia roster sign --roster {} --member CODE --key \
         KEYDIR/member.key`",
        args.out.display()
    )?;
    Ok(())
}

fn build_members(args: &InitArgs) -> Result<Vec<Member>> {
    let mut addresses: BTreeMap<MemberCode, Vec<&str>> = BTreeMap::new();
    for spec in &args.addresses {
        if !args.members.iter().any(|member| member.code == spec.code) {
            bail!(
                "--address {}={}: {} is not a --member",
                spec.code,
                spec.address,
                spec.code
            );
        }
        addresses.entry(spec.code).or_default().push(&spec.address);
    }
    let mut members = Vec::with_capacity(args.members.len());
    for spec in &args.members {
        let identity = keyfile::read_public(&spec.public)
            .with_context(|| format!("member {}: cannot read its public keys", spec.code))?;
        let peer_id = PeerId::from_str(&identity.peer_id).with_context(|| {
            format!(
                "member {}: peer id {:?} in {} is not a libp2p peer id",
                spec.code,
                identity.peer_id,
                spec.public.display()
            )
        })?;
        let listed = addresses
            .get(&spec.code)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let node = NodeRecord {
            peer_id: peer_id.to_base58(),
            addresses: check_addresses(spec.code, peer_id, listed)?,
        };
        members.push(Member {
            code: spec.code,
            name: spec.name.clone(),
            signing_key: identity.signing_key,
            nodes: vec![node],
        });
    }
    Ok(members)
}

/// Parses each address and returns its canonical form.
///
/// An address that ends in `/p2p/…` must name the member's own node: a dial to it would
/// otherwise be refused after the handshake, far from this mistake.
fn check_addresses(code: MemberCode, peer_id: PeerId, addresses: &[&str]) -> Result<Vec<String>> {
    let mut checked = Vec::with_capacity(addresses.len());
    for address in addresses {
        let multiaddr = Multiaddr::from_str(address).with_context(|| {
            format!("member {code}: address {address:?} is not a valid multiaddr")
        })?;
        if let Some(Protocol::P2p(named)) = multiaddr.iter().last()
            && named != peer_id
        {
            bail!("member {code}: address {address:?} names peer {named}, not its node {peer_id}");
        }
        checked.push(multiaddr.to_string());
    }
    Ok(checked)
}

/// Arguments of `vigia roster sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The roster file; it is rewritten in place with the new signature.
    #[arg(long, value_name = "FILE")]
    roster: PathBuf,
    /// The member to sign as.
    #[arg(long, value_name = "CODE")]
    member: MemberCode,
    /// That member's secret key file (member.key from `vigia keygen`).
    #[arg(long, value_name = "PATH")]
    key: PathBuf,
}

fn sign(args: &SignArgs, out: &mut dyn Write) -> Result<()> {
    let mut file = read_roster(&args.roster)?;
    file.body.check().with_context(|| {
        format!(
            "refusing to sign {}: it is not valid",
            args.roster.display()
        )
    })?;
    let member = file
        .body
        .members
        .iter()
        .find(|member| member.code == args.member)
        .ok_or_else(|| {
            anyhow!(
                "member {} is not listed in {}",
                args.member,
                args.roster.display()
            )
        })?;

    // A key of another member would produce a signature that verify rejects later, far from
    // the mistake: catch it here.
    let key = keyfile::read_member_key(&args.key)?;
    let public = key.verifying_key().to_bytes();
    if public != member.signing_key.0 {
        bail!(
            "{} is not the key of member {}: its public key is {}, the roster lists {}",
            args.key.display(),
            member.code,
            hex::encode(public),
            member.signing_key
        );
    }

    let signature = file.body.sign(args.member, &key);
    file.add_signature(signature);
    write_roster(&args.roster, &file)?;
    let signed_bytes = file.body.signed_bytes();
    let signed = file
        .body
        .members
        .iter()
        .filter(|member| signature_status(&file, &signed_bytes, member) == SignatureStatus::Valid)
        .count();
    writeln!(
        out,
        "signed {} as {}; {signed} of {} members have signed",
        args.roster.display(),
        args.member,
        file.body.members.len()
    )?;
    Ok(())
}

/// Arguments of `vigia roster verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The roster file.
    #[arg(value_name = "FILE")]
    roster: PathBuf,
}

fn verify(args: &VerifyArgs, out: &mut dyn Write) -> Result<()> {
    let roster = read_roster(&args.roster)?
        .verify()
        .with_context(|| format!("roster {} does not verify", args.roster.display()))?;
    writeln!(
        out,
        "roster OK: network {}, id {}, {} members",
        roster.network(),
        roster.id(),
        roster.members().len()
    )?;
    Ok(())
}

/// Reads and parses a roster file, without checking it.
fn read_roster(path: &Path) -> Result<RosterFile> {
    let text = files::read_bounded(path, MAX_ROSTER_FILE_BYTES)
        .with_context(|| format!("cannot read roster {}", path.display()))?;
    RosterFile::from_toml(&text).with_context(|| format!("cannot parse roster {}", path.display()))
}

fn write_roster(path: &Path, file: &RosterFile) -> Result<()> {
    files::replace_atomically(path, file.to_toml().as_bytes())
}

/// Where one member stands in approving a roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum SignatureStatus {
    /// Its signature verifies over the roster as it is now.
    Valid,
    /// It signed, but not this content (or not with its listed key).
    Invalid,
    /// It has not signed.
    Missing,
}

/// Checks one member's signature the way [`RosterFile::verify`] does, so that `show` and
/// `sign` can report on each member rather than stop at the first problem.
///
/// `signed_bytes` are `file.body.signed_bytes()`, passed in to be encoded once per file.
fn signature_status(file: &RosterFile, signed_bytes: &[u8], member: &Member) -> SignatureStatus {
    let Some(approval) = file
        .signatures
        .iter()
        .find(|approval| approval.member == member.code)
    else {
        return SignatureStatus::Missing;
    };
    let Ok(key) = VerifyingKey::from_bytes(&member.signing_key.0) else {
        return SignatureStatus::Invalid;
    };
    let signature = ed25519_dalek::Signature::from_bytes(&approval.signature.0);
    match key.verify_strict(signed_bytes, &signature) {
        Ok(()) => SignatureStatus::Valid,
        Err(_) => SignatureStatus::Invalid,
    }
}
