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
//! the node: [`store_in_use`] tells that case apart from a real failure to open.

pub mod backup;
pub mod check;
pub mod restore;

/// Whether opening a store failed because another process (a running node, another
/// maintenance command) has it open.
pub fn store_in_use(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<redb::DatabaseError>(),
        Some(redb::DatabaseError::DatabaseAlreadyOpen)
    )
}
