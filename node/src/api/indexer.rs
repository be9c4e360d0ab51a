//! Keeps the directory index in step with the store: loads it whole at start, then follows
//! the node's `Applied` events and applies each directory entry.
//!
//! An event names an entry, so the indexer reads the entry back from the store to learn
//! what changed. If it falls behind the node's event channel (a burst of catch-up larger
//! than the channel), the events it missed are gone: it reloads the whole index from the
//! views instead, which is correct whatever was missed.

use anyhow::Result;
use tokio::sync::broadcast::{self, error::RecvError};
use vigia_protocol::{Body, EntryRef};

use super::records;
use crate::node::{NodeEvent, NodeHandle};
use crate::search::Directory;
use crate::views::{self, ContactRecord, InstitutionRecord};

/// Replaces the index with the views in the store.
pub async fn load(node: &NodeHandle, directory: &Directory) -> Result<()> {
    let store = node.store().clone();
    let (contacts, institutions) = tokio::task::spawn_blocking(move || -> Result<_> {
        let read = store.read()?;
        Ok((views::contacts(&read)?, views::institutions(&read)?))
    })
    .await??;
    directory.rebuild(contacts, institutions);
    tracing::info!(
        contacts = directory.contact_count(),
        "directory index loaded"
    );
    Ok(())
}

/// Applies the node's events to the index until the node stops.
pub async fn follow(
    node: NodeHandle,
    directory: std::sync::Arc<Directory>,
    mut events: broadcast::Receiver<NodeEvent>,
) {
    loop {
        let result = match events.recv().await {
            Ok(NodeEvent::Applied(entry)) => apply(&node, &directory, entry).await,
            Ok(_) => Ok(()),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "directory index fell behind the node's events; reloading it"
                );
                load(&node, &directory).await
            }
            Err(RecvError::Closed) => return,
        };
        if let Err(err) = result {
            tracing::error!(err = %format!("{err:#}"), "cannot update the directory index");
        }
    }
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

async fn apply(node: &NodeHandle, directory: &Directory, entry: EntryRef) -> Result<()> {
    if let Some(signed) = records::entry(node.store(), entry).await? {
        apply_body(directory, entry, &signed.entry.body);
    }
    Ok(())
}
