//! Reads from the store for the handlers: one entry, the alerts and their
//! acknowledgements. redb is synchronous, so each read runs on the blocking pool.

use anyhow::{Context as _, Result};
use vigia_protocol::{EntryRef, MemberCode, SignedEntry};

use crate::store::Store;
use crate::views::{self, AckRecord, AlertRecord};

/// An alert with the acknowledgements the node holds for it.
#[derive(Debug, Clone)]
pub struct AlertWithAcks {
    /// The alert.
    pub record: AlertRecord,
    /// Its acknowledgements, ordered by member.
    pub acks: Vec<AckRecord>,
}

async fn blocking<T: Send + 'static>(
    store: &Store,
    read: impl FnOnce(&Store) -> Result<T> + Send + 'static,
) -> Result<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || read(&store))
        .await
        .context("store read task failed")?
}

/// The entry `reference` names, if the store holds it.
pub async fn entry(store: &Store, reference: EntryRef) -> Result<Option<SignedEntry>> {
    blocking(store, move |store| entry_now(store, reference)).await
}

/// As [`entry`], for a caller already on a blocking thread.
pub fn entry_now(store: &Store, reference: EntryRef) -> Result<Option<SignedEntry>> {
    let page = store.entries(reference.author, reference.seq, 1, usize::MAX)?;
    let Some(bytes) = page.into_iter().next() else {
        return Ok(None);
    };
    let signed = SignedEntry::from_bytes(&bytes).context("stored entry does not decode")?;
    Ok((signed.entry.seq == reference.seq).then_some(signed))
}

/// Every alert with its acknowledgements, from one snapshot.
pub async fn alerts(store: &Store) -> Result<Vec<AlertWithAcks>> {
    blocking(store, |store| {
        let read = store.read()?;
        views::alerts(&read)?
            .into_iter()
            .map(|record| {
                let acks = views::acknowledgements(&read, &record.entry)?;
                Ok(AlertWithAcks { record, acks })
            })
            .collect()
    })
    .await
}

/// One alert with its acknowledgements.
pub async fn alert(store: &Store, author: MemberCode, seq: u64) -> Result<Option<AlertWithAcks>> {
    blocking(store, move |store| {
        let read = store.read()?;
        views::alert(&read, author, seq)?
            .map(|record| {
                let acks = views::acknowledgements(&read, &record.entry)?;
                Ok(AlertWithAcks { record, acks })
            })
            .transpose()
    })
    .await
}
