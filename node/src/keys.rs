//! Key files: the member's signing key and the node's libp2p identity.
//!
//! Both are 32-byte ed25519 secrets stored as 64 hexadecimal characters and a newline, in
//! files only their owner may read (mode 0600). The two keys are separate on purpose: the
//! member key signs the state's feed and is rotated through the roster, while a node key
//! only names one machine.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result};
use ed25519_dalek::SigningKey;
use libp2p::identity::Keypair;

/// Reads a 32-byte secret written as hex.
pub fn read_secret(path: &Path) -> Result<[u8; 32]> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read key file {}", path.display()))?;
    let bytes = hex::decode(text.trim())
        .with_context(|| format!("key file {} is not hexadecimal", path.display()))?;
    let secret: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
        anyhow::anyhow!(
            "key file {} holds {} bytes, not 32",
            path.display(),
            bytes.len()
        )
    })?;
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(file = %path.display(), mode = format!("{mode:o}"), "key file is readable by other users; chmod 600 it");
    }
    Ok(secret)
}

/// Writes a 32-byte secret as hex to a new file with mode 0600; never overwrites.
pub fn write_secret(path: &Path, secret: &[u8; 32]) -> Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create key file {} (does it exist?)", path.display()))?;
    writeln!(file, "{}", hex::encode(secret))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write key file {}", path.display()))
}

/// Reads a member signing key.
pub fn read_signing_key(path: &Path) -> Result<SigningKey> {
    Ok(SigningKey::from_bytes(&read_secret(path)?))
}

/// Reads a node identity.
pub fn read_node_identity(path: &Path) -> Result<Keypair> {
    let mut secret = read_secret(path)?;
    Keypair::ed25519_from_bytes(&mut secret)
        .with_context(|| format!("key file {} is not an ed25519 secret", path.display()))
}

/// A fresh random 32-byte secret from the operating system's generator.
pub fn random_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    rand::fill(&mut secret);
    secret
}
