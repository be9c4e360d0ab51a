//! Store maintenance: checking a store, backing it up, restoring it.
//!
//! Who owns what:
//! - [`check`] verifies every invariant `docs/storage.md` lists, on one read snapshot, and
//!   reports each problem with the feed and sequence number it concerns;
//! - [`backup`] copies a store from one read snapshot into a new file, which works while
//!   the node runs (the local API calls it; `vigia-node backup` asks the API, or opens the
//!   store itself when the node is stopped);
//! - [`restore`] checks a backup with [`check`] and puts it in place of a stopped node's
//!   store, keeping the replaced file.
//!
//! redb lets one process open a file, so a running node's store is reached only through
//! the node: [`store_in_use`] tells that case apart from a real failure to open, and
//! [`open_stopped`] is how every command that needs the node stopped opens the store, so
//! each explains that case the same way.

use std::path::Path;

use crate::store::Store;

pub mod backup;
pub mod check;
pub mod restore;

/// Opens the existing store at `path` for a command that needs the node stopped; while a
/// process holds it, the error says so and what to do, with `hint` (another way to get
/// the job done, if there is one) after it.
pub fn open_stopped(path: &Path, hint: Option<&str>) -> anyhow::Result<Store> {
    Store::open_existing(path).map_err(|error| {
        if !store_in_use(&error) {
            return error;
        }
        match hint {
            Some(hint) => error.context(format!("{}; {hint}", in_use(path))),
            None => error.context(in_use(path)),
        }
    })
}

/// What to tell an operator whose command found the store at `path` open elsewhere.
pub fn in_use(path: &Path) -> String {
    format!(
        "{} is open in another process, probably the running node: stop it first (the node \
         must not run while its store is rebuilt, checked or restored)",
        path.display()
    )
}

/// Whether opening a store failed because another process (a running node, another
/// maintenance command) has it open.
pub fn store_in_use(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<redb::DatabaseError>(),
        Some(redb::DatabaseError::DatabaseAlreadyOpen)
    )
}
