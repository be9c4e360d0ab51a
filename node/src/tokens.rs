//! Bearer tokens of the local API: created, listed and revoked by `vigia-node token …`,
//! checked by the running node on every request.
//!
//! Where they live: `tokens.json` in the data directory (mode 0600), not a table in the
//! store. redb lets one process open a file at a time, so a command could not add a token
//! to the store of a running node; and tokens are this machine's state, not part of any
//! feed, so they have no business in a file that is rebuilt from feeds and backed up to be
//! restored elsewhere.
//!
//! How changes reach a running node: writers take an exclusive lock on `tokens.lock`, write
//! a new file beside the old one and rename it over it, so a reader sees the old or the new
//! list, never half of one. The node compares the file's identity (inode, size, modification
//! time) on every request and reads it again when it changed: a revoked token stops working
//! at the next request, for the cost of one `stat`.
//!
//! What is stored: the SHA-256 of each token, never the token. A token is 32 bytes from
//! the operating system's random generator, so finding a token from its hash is a 2^256
//! search; a deliberately slow password hash defends only guessable secrets, and would add
//! its delay to every request.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use rand::TryRng;
use rand::rngs::SysRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::files;

/// What every token starts with, so a leaked one is recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "vigia_";
/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;
/// Random bytes in a token's public id.
const ID_BYTES: usize = 6;
/// Most tokens a node keeps: one per person and script is a few dozen at most.
pub const MAX_TOKENS: usize = 1_000;
/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 64;
/// Largest token file read: [`MAX_TOKENS`] records of about 250 bytes, with room to spare.
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Mode of the token file and its lock: the hashes are not secrets, but nobody else has a
/// reason to read or replace them.
const FILE_MODE: u32 = 0o600;
/// Version of the file format, checked on reading.
const FORMAT_VERSION: u32 = 1;

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read the directory and the network; issue and acknowledge alerts.
    Focal,
    /// Everything a focal point may, and change the member's own directory.
    Admin,
}

impl Role {
    /// Whether this role may do what `required` may.
    pub fn allows(self, required: Role) -> bool {
        self >= required
    }

    /// The role's name, as written in the token file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Focal => "focal",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "focal" => Ok(Role::Focal),
            "admin" => Ok(Role::Admin),
            other => bail!("role {other:?} is neither \"focal\" nor \"admin\""),
        }
    }
}

/// One token as stored: everything but the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public id, 12 hexadecimal characters; names the token in lists and logs.
    pub id: String,
    /// Who or what holds it, unique among the tokens.
    pub label: String,
    /// What it allows.
    pub role: Role,
    /// When it was created, milliseconds since the epoch.
    pub created_at_ms: u64,
    /// SHA-256 of the token, hexadecimal.
    pub hash: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFile {
    version: u32,
    tokens: Vec<TokenRecord>,
}

/// The token file, for the commands that change it.
pub struct TokenStore {
    path: PathBuf,
}

impl TokenStore {
    /// The token file at `path` (created on the first token).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Creates a token and returns its record and the token, which is shown only now.
    pub fn create(&self, role: Role, label: &str) -> Result<(TokenRecord, String)> {
        check_label(label)?;
        let _lock = self.lock()?;
        let mut file = read_file(&self.path)?;
        if file.tokens.iter().any(|token| token.label == label) {
            bail!("a token labelled {label:?} exists; revoke it first or choose another label");
        }
        if file.tokens.len() >= MAX_TOKENS {
            bail!("this node already has {MAX_TOKENS} tokens; revoke unused ones first");
        }
        let token = format!("{TOKEN_PREFIX}{}", hex::encode(random::<TOKEN_BYTES>()?));
        let record = TokenRecord {
            id: hex::encode(random::<ID_BYTES>()?),
            label: label.to_owned(),
            role,
            created_at_ms: now_ms(),
            hash: hex::encode(hash(&token)),
        };
        file.tokens.push(record.clone());
        write_file(&self.path, &file)?;
        Ok((record, token))
    }

    /// Every token, oldest first.
    pub fn list(&self) -> Result<Vec<TokenRecord>> {
        Ok(read_file(&self.path)?.tokens)
    }

    /// Revokes the token with this id or label.
    pub fn revoke(&self, id_or_label: &str) -> Result<TokenRecord> {
        let _lock = self.lock()?;
        let mut file = read_file(&self.path)?;
        let position = file
            .tokens
            .iter()
            .position(|token| token.id == id_or_label || token.label == id_or_label)
            .with_context(|| format!("no token has the id or label {id_or_label:?}"))?;
        let record = file.tokens.remove(position);
        write_file(&self.path, &file)?;
        Ok(record)
    }

    /// Holds the writers' lock until dropped, so two commands never lose each other's change.
    fn lock(&self) -> Result<fs::File> {
        // The first token may come before the node ever ran and made its data directory.
        if let Some(directory) = self.path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            files::create_private_dir(directory)?;
        }
        let path = self.path.with_extension("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(FILE_MODE)
            .open(&path)
            .with_context(|| format!("cannot open lock file {}", path.display()))?;
        file.lock()
            .with_context(|| format!("cannot lock {}", path.display()))?;
        Ok(file)
    }
}

/// Who made a request, as its token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's public id.
    pub id: String,
    /// The token's label.
    pub label: String,
    /// The token's role.
    pub role: Role,
}

/// What a presented token turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A current token.
    Valid(Caller),
    /// Not a current token (never issued, or revoked).
    Unknown,
    /// The node has no tokens at all yet.
    NoTokens,
}

/// Checks presented tokens against the token file, re-reading it when it changes.
pub struct TokenVerifier {
    path: PathBuf,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    /// Identity of the file the cache was read from; `None` before the first read or when
    /// the file did not exist.
    identity: Option<FileIdentity>,
    by_hash: HashMap<[u8; 32], Caller>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    inode: u64,
    size: u64,
    modified_ns: i128,
}

impl TokenVerifier {
    /// A verifier of the token file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            cache: Mutex::new(Cache::default()),
        }
    }

    /// Checks a presented token. Fails only if the token file exists but cannot be read, in
    /// which case nobody is let in.
    pub fn verify(&self, token: &str) -> Result<Verdict> {
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| anyhow!("token cache lock poisoned"))?;
        let identity = file_identity(&self.path)?;
        if identity != cache.identity || identity.is_none() {
            cache.by_hash = read_file(&self.path)?
                .tokens
                .into_iter()
                .map(|record| decode_record(&record))
                .collect::<Result<_>>()?;
            cache.identity = identity;
        }
        if cache.by_hash.is_empty() {
            return Ok(Verdict::NoTokens);
        }
        Ok(match cache.by_hash.get(&hash(token)) {
            Some(caller) => Verdict::Valid(caller.clone()),
            None => Verdict::Unknown,
        })
    }
}

fn decode_record(record: &TokenRecord) -> Result<([u8; 32], Caller)> {
    let hash: [u8; 32] = hex::decode(&record.hash)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .with_context(|| format!("token {} has a malformed hash", record.id))?;
    let caller = Caller {
        id: record.id.clone(),
        label: record.label.clone(),
        role: record.role,
    };
    Ok((hash, caller))
}

fn file_identity(path: &Path) -> Result<Option<FileIdentity>> {
    match fs::metadata(path) {
        Ok(metadata) => Ok(Some(FileIdentity {
            inode: metadata.ino(),
            size: metadata.size(),
            modified_ns: i128::from(metadata.mtime()) * 1_000_000_000
                + i128::from(metadata.mtime_nsec()),
        })),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => {
            Err(error).with_context(|| format!("cannot inspect token file {}", path.display()))
        }
    }
}

fn check_label(label: &str) -> Result<()> {
    let length = label.chars().count();
    if label.trim().is_empty() || length > MAX_LABEL_CHARS {
        bail!("a label must have 1 to {MAX_LABEL_CHARS} characters");
    }
    if label.chars().any(char::is_control) {
        bail!("a label must not contain control characters");
    }
    Ok(())
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0; N];
    SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|err| anyhow!("the operating system's random number generator failed: {err}"))?;
    Ok(bytes)
}

fn now_ms() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

fn read_file(path: &Path) -> Result<TokenFile> {
    if file_identity(path)?.is_none() {
        return Ok(TokenFile {
            version: FORMAT_VERSION,
            tokens: Vec::new(),
        });
    }
    let text = files::read_bounded(path, MAX_FILE_BYTES)?;
    let file: TokenFile = serde_json::from_str(&text)
        .with_context(|| format!("token file {} is not valid", path.display()))?;
    if file.version != FORMAT_VERSION {
        bail!(
            "token file {} has format version {}, this node reads {FORMAT_VERSION}",
            path.display(),
            file.version
        );
    }
    Ok(file)
}

/// Replaces the file atomically (a reader sees the old list or the new one); a new file is
/// created with [`FILE_MODE`], which replacing keeps.
fn write_file(path: &Path, file: &TokenFile) -> Result<()> {
    let file = TokenFile {
        version: FORMAT_VERSION,
        tokens: file.tokens.clone(),
    };
    let mut text = serde_json::to_vec_pretty(&file)?;
    text.push(b'\n');
    if file_identity(path)?.is_none() {
        files::create_new(path, FILE_MODE, &text)
    } else {
        files::replace_atomically(path, &text)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn created_token_verifies_until_revoked() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("tokens.json");
        let store = TokenStore::new(&path);
        let verifier = TokenVerifier::new(&path);
        assert_eq!(
            verifier.verify("anything").expect("verify"),
            Verdict::NoTokens
        );
        let (record, token) = store.create(Role::Admin, "guardia").expect("create");
        assert!(token.starts_with(TOKEN_PREFIX));
        let verdict = verifier.verify(&token).expect("verify");
        assert!(matches!(
            verdict,
            Verdict::Valid(Caller {
                role: Role::Admin,
                ..
            })
        ));
        assert_eq!(
            verifier.verify("vigia_00").expect("verify"),
            Verdict::Unknown
        );
        store.create(Role::Focal, "otro").expect("second token");
        store.revoke(&record.id).expect("revoke by id");
        assert_eq!(verifier.verify(&token).expect("verify"), Verdict::Unknown);
    }

    #[test]
    fn file_holds_hashes_only_and_is_private() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("tokens.json");
        let (_, token) = TokenStore::new(&path)
            .create(Role::Focal, "analista")
            .expect("create");
        let text = fs::read_to_string(&path).expect("read");
        assert!(!text.contains(&token));
        let mode = fs::metadata(&path).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, FILE_MODE);
    }

    #[test]
    fn first_token_creates_the_data_directory() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("data").join("tokens.json");
        TokenStore::new(&path)
            .create(Role::Admin, "primero")
            .expect("create");
        assert!(path.exists());
    }

    #[test]
    fn labels_are_unique_and_revocable_by_label() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = TokenStore::new(dir.path().join("tokens.json"));
        store.create(Role::Focal, "noche").expect("create");
        assert!(store.create(Role::Admin, "noche").is_err());
        assert_eq!(store.revoke("noche").expect("revoke").label, "noche");
        assert!(store.revoke("noche").is_err());
        assert!(store.list().expect("list").is_empty());
    }

    #[test]
    fn admin_allows_focal_but_not_the_reverse() {
        assert!(Role::Admin.allows(Role::Focal));
        assert!(!Role::Focal.allows(Role::Admin));
    }
}
