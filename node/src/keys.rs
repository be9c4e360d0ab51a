//! The key files of a member and its node: names, formats and permissions.
//!
//! `vigia keygen` writes one key directory:
//!
//! | file | holds | format | mode |
//! |---|---|---|---|
//! | `member.key` | the member's ed25519 signing secret (feed, roster) | hex, newline | 0600 |
//! | `node.key` | the node's libp2p ed25519 identity secret | hex, newline | 0600 |
//! | `public.toml` | `signing_key` (hex) and `peer_id` (base58) | TOML | 0644 |
//!
//! A secret is 32 bytes, so its hex form is 64 characters.
//!
//! The node reads `member.key` and `node.key` in the same format, so the two must change in
//! step. Readers trim surrounding whitespace and accept nothing but 64 hex characters, so a
//! truncated copy or a file of another kind fails loudly and names the file. The error never
//! quotes the content: it may be most of a secret.
//!
//! Known gap: secrets pass through byte arrays and strings that are not wiped after use.
//! Both readers keep only the `SigningKey` and libp2p `Keypair`, which wipe themselves on
//! drop, so the copies live for the moment of loading.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use ed25519_dalek::SigningKey;
use libp2p::identity::Keypair;
use rand::TryRng;
use rand::rngs::SysRng;
use serde::{Deserialize, Serialize};
use vigia_protocol::PublicKey;

/// The member's signing secret.
pub const MEMBER_KEY_FILE: &str = "member.key";
/// The node's libp2p identity secret.
pub const NODE_KEY_FILE: &str = "node.key";
/// The public halves of both keys.
pub const PUBLIC_FILE: &str = "public.toml";

/// Mode of the secret files: whoever reads one can sign as the member or pose as the node.
pub const SECRET_MODE: u32 = 0o600;
/// Mode of `public.toml`, which is meant to be shared.
pub const PUBLIC_MODE: u32 = 0o644;

/// Length of an ed25519 secret key.
pub const SECRET_LEN: usize = 32;

/// Largest key file read: a key file is 65 bytes, and the margin leaves room for CRLF line
/// ends and stray blank lines.
const MAX_KEY_FILE_BYTES: u64 = 1024;
/// Largest `public.toml` read: two short lines and a comment.
const MAX_PUBLIC_FILE_BYTES: u64 = 4096;

/// An ed25519 secret as raw bytes.
pub type Secret = [u8; SECRET_LEN];

/// The content of `public.toml`: what a member hands over to be listed in the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicIdentity {
    /// The member's signing public key.
    pub signing_key: PublicKey,
    /// The node's libp2p peer id, base58.
    pub peer_id: String,
}

/// Draws a new secret from the operating system's random number generator.
pub fn generate_secret() -> Result<Secret> {
    let mut secret = [0; SECRET_LEN];
    SysRng
        .try_fill_bytes(&mut secret)
        .map_err(|err| anyhow!("the operating system's random number generator failed: {err}"))?;
    Ok(secret)
}

/// The libp2p identity of a node whose secret is `secret`.
pub fn node_keypair(secret: &Secret) -> Result<Keypair> {
    // libp2p wipes the buffer it is given, so it gets a copy.
    let mut bytes = *secret;
    Keypair::ed25519_from_bytes(&mut bytes).context("not a valid ed25519 secret key")
}

/// Writes `secret` as a new key file readable by its owner only.
pub fn write_secret(path: &Path, secret: &Secret) -> Result<()> {
    let text = format!("{}\n", hex::encode(secret));
    crate::files::create_new(path, SECRET_MODE, text.as_bytes())
}

/// Reads a key file: 64 hex characters, surrounding whitespace ignored. A file that other
/// users can read is used but reported, so an operator sees the exposure in the log.
pub fn read_secret(path: &Path) -> Result<Secret> {
    let text = crate::files::read_bounded(path, MAX_KEY_FILE_BYTES)
        .with_context(|| format!("cannot read key file {}", path.display()))?;
    if let Ok(metadata) = std::fs::metadata(path) {
        let mode = std::os::unix::fs::PermissionsExt::mode(&metadata.permissions());
        if mode & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                mode = format!("{mode:o}"),
                "key file is readable by other users; chmod 600 it",
            );
        }
    }
    parse_secret(text.trim()).with_context(|| format!("{} is not a key file", path.display()))
}

fn parse_secret(text: &str) -> Result<Secret> {
    let expected = 2 * SECRET_LEN;
    if text.len() != expected {
        bail!(
            "expected {expected} hexadecimal characters, found {}",
            text.chars().count()
        );
    }
    let mut secret = [0; SECRET_LEN];
    hex::decode_to_slice(text, &mut secret)
        .map_err(|_| anyhow!("expected only hexadecimal characters (0-9, a-f)"))?;
    Ok(secret)
}

/// Reads a member's signing key from a `member.key` file.
pub fn read_member_key(path: &Path) -> Result<SigningKey> {
    Ok(SigningKey::from_bytes(&read_secret(path)?))
}

/// Reads a node's libp2p identity from a `node.key` file.
pub fn read_node_keypair(path: &Path) -> Result<Keypair> {
    node_keypair(&read_secret(path)?).with_context(|| format!("in {}", path.display()))
}

/// Writes a new `public.toml`.
pub fn write_public(path: &Path, identity: &PublicIdentity) -> Result<()> {
    let body = toml::to_string(identity).context("cannot encode the public keys as TOML")?;
    let text = format!(
        "# Public halves of the keys beside this file; safe to share.\n\
         # Give it to whoever runs `vigia roster init --member CODE=NAME=PATH`.\n{body}"
    );
    crate::files::create_new(path, PUBLIC_MODE, text.as_bytes())
}

/// Reads a `public.toml`, given either its path or the key directory that holds it.
pub fn read_public(path: &Path) -> Result<PublicIdentity> {
    let file = public_file_path(path);
    let text = crate::files::read_bounded(&file, MAX_PUBLIC_FILE_BYTES)?;
    toml::from_str(&text).with_context(|| format!("{} is not a valid public.toml", file.display()))
}

fn public_file_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(PUBLIC_FILE)
    } else {
        path.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn secret_survives_a_write_and_read_with_whitespace_around_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(MEMBER_KEY_FILE);
        let secret = generate_secret().expect("random");
        write_secret(&path, &secret).expect("write");
        assert_eq!(read_secret(&path).expect("read"), secret);

        let mode = fs::metadata(&path).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, SECRET_MODE);

        let padded = dir.path().join("padded.key");
        fs::write(&padded, format!("  {}\r\n\n", hex::encode(secret))).expect("write");
        assert_eq!(read_secret(&padded).expect("read"), secret);
    }

    #[test]
    fn key_file_of_the_wrong_length_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("short.key");
        fs::write(&path, "abcd\n").expect("write");
        let err = format!("{:#}", read_secret(&path).expect_err("must refuse"));
        assert!(err.contains("short.key"), "{err}");
        assert!(
            err.contains("expected 64 hexadecimal characters, found 4"),
            "{err}"
        );
    }

    #[test]
    fn key_file_with_non_hex_characters_is_refused_without_quoting_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("odd.key");
        let content = format!("{}zz", "ab".repeat(31));
        fs::write(&path, &content).expect("write");
        let err = format!("{:#}", read_secret(&path).expect_err("must refuse"));
        assert!(
            err.contains("odd.key") && err.contains("hexadecimal"),
            "{err}"
        );
        assert!(
            !err.contains(&content),
            "the error must not quote key material: {err}"
        );
    }

    #[test]
    fn public_identity_is_found_from_its_directory_or_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = generate_secret().expect("random");
        let identity = PublicIdentity {
            signing_key: PublicKey(SigningKey::from_bytes(&secret).verifying_key().to_bytes()),
            peer_id: node_keypair(&secret)
                .expect("keypair")
                .public()
                .to_peer_id()
                .to_base58(),
        };
        write_public(&dir.path().join(PUBLIC_FILE), &identity).expect("write");
        assert_eq!(read_public(dir.path()).expect("by directory"), identity);
        let by_path = read_public(&dir.path().join(PUBLIC_FILE)).expect("by path");
        assert_eq!(by_path, identity);
    }
}
