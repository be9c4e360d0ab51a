//! Restoring a backup in place of a stopped node's store.
//!
//! Order, so that the store's name always holds a whole store (the old one or the backup)
//! and no node can open it half way:
//! 0. a "backup" that is the store itself (the same path, or another name of the same
//!    inode such as its `.before-restore` link) is refused before anything is touched;
//! 1. the store is opened with redb, which fails while a node has it open, and held open
//!    so that a node starting meanwhile fails to open it (a store too damaged to open is
//!    replaced all the same: redb takes its lock before it reads, so no process had it);
//! 2. the backup is copied beside the store (it is a closed file, so a plain copy is whole)
//!    and the copy is checked with [`super::check`]; a copy with any problem is dropped and
//!    nothing else changes;
//! 3. the old store gets a second name, `vigia.redb.before-restore` (a hard link: the
//!    store's own name never goes missing), and the checked copy is renamed over the store;
//! 4. the directory is flushed so both names survive a crash.
//!
//! After a restore of an old backup the node holds less of its own feed than the network.
//! It learns its head from peers before it publishes again (see [`crate::node`]), so it
//! does not reuse a sequence number that a peer holds. Known gap: entries this node wrote
//! after the backup and no peer received are only in the kept store; publishing again
//! reuses their sequence numbers, and should the kept entries ever reach a peer, it keeps
//! them as fork evidence against this member. Restore only on a node that was connected.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use redb::{Database, DatabaseError};
use vigia_protocol::Roster;

use super::check::{self, Report};
use crate::store::Store;

/// Suffix of the name the replaced store keeps.
pub const PREVIOUS_SUFFIX: &str = ".before-restore";

/// Why nothing was restored. In every case the store is left as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// A process (the node) has the store open.
    #[error("{}", super::in_use(.0))]
    InUse(PathBuf),
    /// The backup is the store itself (the same path, or another name of the same file).
    #[error(
        "{} is the node's store itself, not a backup of it; restore from a file written by \
         `vigia-node backup`",
        .0.display()
    )]
    SameFile(PathBuf),
    /// An earlier restore left the store it replaced, which this one would lose.
    #[error("{} exists from an earlier restore; move it away first", .0.display())]
    PreviousExists(PathBuf),
    /// The backup fails its check.
    #[error("the backup has {} problems; the store was not replaced", .0.problem_count)]
    Refused(Box<Report>),
    /// Reading or writing a file failed.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The check of the backup (clean).
    pub report: Report,
    /// Where the replaced store is kept, if there was one.
    pub previous: Option<PathBuf>,
    /// Why the replaced store could not be opened, if it could not.
    pub previous_damage: Option<String>,
}

/// Where the store at `store_path` is kept when a restore replaces it.
pub fn previous_path(store_path: &Path) -> PathBuf {
    let mut name = store_path.as_os_str().to_owned();
    name.push(PREVIOUS_SUFFIX);
    PathBuf::from(name)
}

/// Checks the backup at `backup` against `roster` and puts it in place of the store at
/// `store_path`, which no process may have open.
pub fn restore(
    backup: &Path,
    store_path: &Path,
    roster: &Roster,
) -> Result<Restored, RestoreError> {
    if same_file(backup, store_path) {
        return Err(RestoreError::SameFile(backup.to_owned()));
    }
    let dir = match store_path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    crate::files::create_private_dir(dir).context("cannot create data directory")?;
    let previous = previous_path(store_path);
    if previous.symlink_metadata().is_ok() {
        return Err(RestoreError::PreviousExists(previous));
    }
    let lock = StoreLock::take(store_path)?;

    let copy = tempfile::Builder::new()
        .prefix(".vigia-restore-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    copy_file(backup, copy.as_file())?;
    let report = check_copy(copy.path(), roster)?;
    if !report.is_clean() {
        return Err(RestoreError::Refused(Box::new(report)));
    }

    let kept = if lock.existed {
        std::fs::hard_link(store_path, &previous)
            .with_context(|| format!("cannot keep the current store as {}", previous.display()))?;
        Some(previous)
    } else {
        None
    };
    copy.persist(store_path)
        .map_err(|error| error.error)
        .with_context(|| format!("cannot move the backup to {}", store_path.display()))?;
    // The kept store has only its second name now; a store made before stores were
    // private may be readable by others, and the kept copy need not stay so.
    if let Some(kept) = &kept {
        let private = std::fs::Permissions::from_mode(crate::files::PRIVATE_FILE_MODE);
        std::fs::set_permissions(kept, private)
            .with_context(|| format!("cannot make {} private", kept.display()))?;
    }
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("cannot flush directory {}", dir.display()))?;
    let previous_damage = lock.damage.clone();
    lock.release();
    Ok(Restored {
        report,
        previous: kept,
        previous_damage,
    })
}

/// Whether `backup` and `store` name one file: the same path once links and `..` are
/// resolved, or the same inode (a hard link, such as the `.before-restore` name a restore
/// gives the store). A store that does not exist yet is nobody's backup.
fn same_file(backup: &Path, store: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(backup_path), Ok(store_path)) = (backup.canonicalize(), store.canonicalize()) else {
        return false;
    };
    if backup_path == store_path {
        return true;
    }
    match (std::fs::metadata(backup), std::fs::metadata(store)) {
        (Ok(backup), Ok(store)) => backup.dev() == store.dev() && backup.ino() == store.ino(),
        _ => false,
    }
}

fn copy_file(from: &Path, to: &File) -> Result<()> {
    let mut source =
        File::open(from).with_context(|| format!("cannot open backup {}", from.display()))?;
    let mut target = to;
    std::io::copy(&mut source, &mut target)
        .and_then(|_| to.sync_all())
        .with_context(|| format!("cannot copy backup {}", from.display()))?;
    Ok(())
}

/// Opens the copy as a store (which verifies redb's page checksums) and checks it. The
/// open may commit (it creates missing tables), so the copy is flushed again after it.
fn check_copy(path: &Path, roster: &Roster) -> Result<Report> {
    let store = Store::open_existing(path).context("the backup is not a readable store")?;
    let report = check::check(&store, roster)?;
    drop(store);
    File::open(path)
        .and_then(|file| file.sync_all())
        .with_context(|| format!("cannot flush {}", path.display()))?;
    Ok(report)
}

/// The store, held open through the restore so no node opens it meanwhile. A store file
/// that did not exist is created empty to be held, and removed again if the restore stops
/// before replacing it.
struct StoreLock {
    database: Option<Database>,
    path: PathBuf,
    existed: bool,
    /// Why the existing store could not be opened, if it could not.
    damage: Option<String>,
    released: bool,
}

impl StoreLock {
    fn take(path: &Path) -> Result<Self, RestoreError> {
        let existed = path.exists();
        // The integrity check turns damage into an error where a plain open may panic.
        let opened = if existed {
            Database::builder()
                .set_check_integrity_on_open(true)
                .open(path)
        } else {
            Database::create(path)
        };
        let (database, damage) = match opened {
            Ok(database) => (Some(database), None),
            Err(DatabaseError::DatabaseAlreadyOpen) => {
                return Err(RestoreError::InUse(path.to_owned()));
            }
            Err(error) if existed => (None, Some(error.to_string())),
            Err(error) => {
                let context = format!("cannot create store {}", path.display());
                return Err(RestoreError::Failed(
                    anyhow::Error::new(error).context(context),
                ));
            }
        };
        Ok(Self {
            database,
            path: path.to_owned(),
            existed,
            damage,
            released: false,
        })
    }

    /// Closes the held store. After the swap it is the file kept under its second name,
    /// which is where whatever redb writes on closing then goes.
    fn close(&mut self) {
        if let Some(database) = self.database.take()
            && let Err(error) = database.close()
        {
            let file = self.path.display();
            tracing::warn!(%file, err = %error, "store did not close cleanly");
        }
    }

    /// Marks the store replaced: the empty placeholder, if any, is gone already.
    fn release(mut self) {
        self.released = true;
        self.close();
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        self.close();
        if self.released || self.existed {
            return;
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(error) => {
                let file = self.path.display();
                tracing::warn!(%file, err = %error, "cannot remove the store a restore created");
            }
        }
    }
}
