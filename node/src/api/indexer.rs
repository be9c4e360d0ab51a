//! Keeps the directory index in step with the store: loads it whole at start, then follows
//! the node's `Applied` events and applies each directory entry.
//!
//! An event names an entry, so the indexer reads the entry back from the store to learn
//! what changed. If it falls behind the node's event channel (a burst of catch-up larger
//! than the channel), the events it missed are gone: it reloads the whole index from the
//! views instead, which is correct whatever was missed.

use std::sync::Arc;

use anyhow::Result;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use vigia_protocol::{Body, EntryRef};

use super::records;
use crate::node::{NodeEvent, NodeHandle};
use crate::search::Directory;
use crate::views::{self, ContactRecord, InstitutionRecord};

/// Replaces the index with the views in the store.
pub async fn load(node: &NodeHandle, directory: &Arc<Directory>) -> Result<()> {
    let store = node.store().clone();
    let building = directory.clone();
    // Building the index folds and sorts every name: seconds for a large directory on a
    // busy machine, which on an async thread would stall the node's event loop with it.
    tokio::task::spawn_blocking(move || -> Result<_> {
        let read = store.read()?;
        let (contacts, institutions) = (views::contacts(&read)?, views::institutions(&read)?);
        drop(read);
        building.rebuild(contacts, institutions);
        Ok(())
    })
    .await??;
    tracing::info!(
        contacts = directory.contact_count(),
        "directory index loaded"
    );
    Ok(())
}

/// Most events applied in one blocking task: a sync page's worth.
const MAX_BATCH: usize = 1_024;

/// Applies the node's events to the index until the node stops.
///
/// Every event already waiting is applied in the same blocking task as the first, so a
/// burst (a catch-up page, a write storm) costs one task rather than one per entry and the
/// index keeps up instead of falling behind and reloading everything.
pub async fn follow(
    node: NodeHandle,
    directory: Arc<Directory>,
    mut events: broadcast::Receiver<NodeEvent>,
) {
    loop {
        let mut batch = Vec::new();
        let mut behind = match events.recv().await {
            Ok(event) => {
                batch.extend(applied(event));
                false
            }
            Err(RecvError::Lagged(missed)) => fell_behind(missed),
            Err(RecvError::Closed) => return,
        };
        while !behind && batch.len() < MAX_BATCH {
            match events.try_recv() {
                Ok(event) => batch.extend(applied(event)),
                Err(TryRecvError::Lagged(missed)) => behind = fell_behind(missed),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        let result = if behind {
            load(&node, &directory).await
        } else {
            apply(&node, &directory, batch).await
        };
        if let Err(err) = result {
            tracing::error!(err = %format!("{err:#}"), "cannot update the directory index");
        }
    }
}

fn applied(event: NodeEvent) -> Option<EntryRef> {
    match event {
        NodeEvent::Applied(entry) => Some(entry),
        _ => None,
    }
}

/// The events missed are gone: only a reload is right whatever they were.
fn fell_behind(missed: u64) -> bool {
    tracing::warn!(
        missed,
        "directory index fell behind the node's events; reloading it"
    );
    true
}

/// Applies one entry, if it changes the directory. Also used by handlers right after they
/// publish, so the caller reads its own write; applying an entry twice changes nothing.
pub fn apply_body(directory: &Directory, entry: EntryRef, body: &Body) {
    let member = entry.author;
    match body {
        Body::ContactPut(contact) => directory.put_contact(ContactRecord {
            member,
            contact: contact.clone(),
            entry,
        }),
        Body::ContactRemove { id } => directory.remove_contact(member, id, entry.seq),
        Body::InstitutionPut(institution) => directory.put_institution(InstitutionRecord {
            member,
            institution: institution.clone(),
            entry,
        }),
        Body::InstitutionRemove { id } => directory.remove_institution(member, id, entry.seq),
        Body::Alert(_) | Body::Acknowledgement(_) => {}
    }
}

/// Reads each entry back and applies it, on a blocking thread: the store read and the
/// index update both take the CPU for a while on a large burst.
async fn apply(node: &NodeHandle, directory: &Arc<Directory>, batch: Vec<EntryRef>) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let store = node.store().clone();
    let directory = directory.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        for entry in batch {
            if let Some(signed) = records::entry_now(&store, entry)? {
                apply_body(&directory, entry, &signed.entry.body);
            }
        }
        Ok(())
    })
    .await?
}
