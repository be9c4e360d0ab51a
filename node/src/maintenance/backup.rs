//! A backup: a copy of a store taken from one read snapshot, so it is consistent while the
//! node keeps writing. A raw copy of a live redb file is not: it can catch a commit half
//! written.
//!
//! What the copy holds: the tables that are not derived (`entries`, `heads`, `forks`,
//! `arrivals`) copied row by row from the snapshot, and the views rebuilt from the copied
//! entries in the copy's own write transaction. Views are a function of the entries, so
//! rebuilding them gives the same rows as copying them would when the store is sound, and
//! a backup whose views follow from its entries when it is not.
//!
//! Order, so that a file with the target's name is always a whole backup:
//! 1. a temporary file is created beside the target (mode 0600: it holds the directory);
//! 2. the copy is written there and committed (redb's default durability flushes it);
//! 3. the temporary file is renamed to the target, which fails if the target exists, so
//!    a backup never replaces a file;
//! 4. the directory is flushed so the rename survives a crash.
//!
//! While the copy runs the node keeps writing; redb keeps the snapshot's pages until the
//! read transaction ends, so the store file may grow by what was written meanwhile.

use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use redb::{Database, ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};
use serde::Serialize;

use crate::store::{self, ARRIVALS, ENTRIES, FORKS, HEADS, Store};
use crate::views;

/// Why a backup was not written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// A file or directory has the target's name; a backup never replaces one.
    #[error("{} already exists; a backup never replaces a file", .0.display())]
    Exists(PathBuf),
    /// The directory the target names does not exist.
    #[error("{} is not an existing directory", .0.display())]
    NoDirectory(PathBuf),
    /// Reading the store or writing the copy failed; no file has the target's name.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Where it was written.
    pub path: PathBuf,
    /// Feeds (rows of `heads`).
    pub feeds: u64,
    /// Entries.
    pub entries: u64,
    /// Forks kept as evidence.
    pub forks: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
}

/// Writes a backup of `store` to `target`, a file that must not exist yet.
///
/// Blocking: it reads the whole store and writes as much. Async callers run it through
/// `spawn_blocking`.
pub fn write(store: &Store, target: &Path) -> Result<Summary, BackupError> {
    let dir = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(BackupError::NoDirectory(dir.to_owned()));
    }
    if target.symlink_metadata().is_ok() {
        return Err(BackupError::Exists(target.to_owned()));
    }
    let temp = tempfile::Builder::new()
        .prefix(".vigia-backup-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;

    let snapshot = store.read()?;
    let mut summary = copy(&snapshot, temp.path())
        .with_context(|| format!("cannot write the backup to {}", temp.path().display()))?;
    drop(snapshot);

    temp.persist_noclobber(target).map_err(|error| {
        if error.error.kind() == ErrorKind::AlreadyExists {
            BackupError::Exists(target.to_owned())
        } else {
            let context = format!("cannot rename the backup to {}", target.display());
            BackupError::Failed(anyhow::Error::new(error.error).context(context))
        }
    })?;
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("cannot flush directory {}", dir.display()))?;
    summary.path = target.to_owned();
    summary.bytes = std::fs::metadata(target)
        .with_context(|| format!("cannot read the size of {}", target.display()))?
        .len();
    Ok(summary)
}

/// Copies the snapshot into a new redb database at `path`, in one write transaction.
fn copy(snapshot: &ReadTransaction, path: &Path) -> Result<Summary> {
    let database = Database::create(path).context("cannot create the backup database")?;
    let txn = database.begin_write()?;
    let entries = copy_table(snapshot, &txn, ENTRIES)?;
    let feeds = copy_table(snapshot, &txn, HEADS)?;
    let forks = copy_table(snapshot, &txn, FORKS)?;
    copy_table(snapshot, &txn, ARRIVALS)?;
    views::create_tables(&txn)?;
    store::replay_views(&txn)?;
    txn.commit().context("cannot commit the backup")?;
    // Closing flushes nothing more (the commit was durable) and releases the file's lock
    // before the rename.
    database
        .close()
        .context("cannot close the backup database")?;
    Ok(Summary {
        path: path.to_owned(),
        feeds,
        entries,
        forks,
        bytes: 0,
    })
}

fn copy_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    snapshot: &ReadTransaction,
    txn: &WriteTransaction,
    definition: TableDefinition<K, V>,
) -> Result<u64> {
    let source = snapshot.open_table(definition)?;
    let mut target = txn.open_table(definition)?;
    let mut rows = 0;
    for row in source.iter()? {
        let (key, value) = row?;
        target.insert(key.value(), value.value())?;
        rows += 1;
    }
    Ok(rows)
}
