//! `vigia keygen`: a new member signing key and node identity, in one key directory.
//!
//! The formats and modes of the files are `vigia_node::keys`'s. Generating refuses to touch
//! a directory that already holds any of them: a key that is overwritten is lost, and with it
//! the member's place in the roster.

use std::fs::DirBuilder;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use ed25519_dalek::SigningKey;
use vigia_protocol::PublicKey;

use vigia_node::keys::{
    self as keyfile, MEMBER_KEY_FILE, NODE_KEY_FILE, PUBLIC_FILE, PublicIdentity,
};

/// Mode of a key directory that `keygen` creates: only its owner lists or enters it.
const KEY_DIR_MODE: u32 = 0o700;

/// Arguments of `vigia keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Directory to write member.key, node.key and public.toml into; created if missing.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Generates both keys and writes the key directory.
pub fn keygen(args: &KeygenArgs, out: &mut dyn Write) -> Result<()> {
    let dir = &args.out;
    DirBuilder::new()
        .recursive(true)
        .mode(KEY_DIR_MODE)
        .create(dir)
        .with_context(|| format!("cannot create key directory {}", dir.display()))?;

    // Check all three before writing any, so a refusal leaves the directory as it was.
    for name in [MEMBER_KEY_FILE, NODE_KEY_FILE, PUBLIC_FILE] {
        let path = dir.join(name);
        if path.exists() {
            bail!(
                "{} already exists; refusing to overwrite a key (move it away or choose \
                 another --out)",
                path.display()
            );
        }
    }

    let member_secret = keyfile::generate_secret()?;
    let node_secret = keyfile::generate_secret()?;
    let identity = PublicIdentity {
        signing_key: PublicKey(
            SigningKey::from_bytes(&member_secret)
                .verifying_key()
                .to_bytes(),
        ),
        peer_id: keyfile::node_keypair(&node_secret)?
            .public()
            .to_peer_id()
            .to_base58(),
    };

    // public.toml goes last: its presence means the secrets it describes are on disk.
    keyfile::write_secret(&dir.join(MEMBER_KEY_FILE), &member_secret)?;
    keyfile::write_secret(&dir.join(NODE_KEY_FILE), &node_secret)?;
    keyfile::write_public(&dir.join(PUBLIC_FILE), &identity)?;
    report(out, dir, &identity)
}

fn report(out: &mut dyn Write, dir: &Path, identity: &PublicIdentity) -> Result<()> {
    writeln!(out, "signing key: {}", identity.signing_key)?;
    writeln!(out, "peer id:     {}", identity.peer_id)?;
    writeln!(
        out,
        "wrote {dir}/{MEMBER_KEY_FILE} and {dir}/{NODE_KEY_FILE} (secret, owner only) \
         and {dir}/{PUBLIC_FILE} (public)",
        dir = dir.display()
    )?;
    Ok(())
}
