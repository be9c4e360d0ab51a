//! Derived views of the feeds: contacts, institutions, alerts and acknowledgements.
//!
//! Views are a function of the entries alone and can be dropped and rebuilt at any time
//! ([`crate::store::Store::rebuild_views`]). Each member changes only its own records, and
//! acknowledgements are keyed by the alert they name, so applying feeds in any interleaving
//! gives the same views.

use anyhow::{Context, Result};
use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use vigia_protocol::body::{Acknowledgement, Alert, AlertRelation, Contact, Institution};
use vigia_protocol::codec;
use vigia_protocol::{Body, EntryRef, Hash, MemberCode, SignedEntry};

/// (member, contact id) → [`ContactRecord`].
const CONTACTS: TableDefinition<(u16, &str), &[u8]> = TableDefinition::new("view_contacts");
/// (member, institution id) → [`InstitutionRecord`].
const INSTITUTIONS: TableDefinition<(u16, &str), &[u8]> = TableDefinition::new("view_institutions");
/// (author, seq) → [`AlertRecord`].
const ALERTS: TableDefinition<(u16, u64), &[u8]> = TableDefinition::new("view_alerts");
/// (alert author, alert seq, acknowledging member) → [`AckRecord`].
const ACKS: TableDefinition<(u16, u64, u16), &[u8]> = TableDefinition::new("view_acks");

/// Largest record a view holds: an entry body plus its reference.
const MAX_RECORD_BYTES: usize = vigia_protocol::codec::MAX_ENTRY_BYTES + 1024;

/// A contact as the directory shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRecord {
    /// The member that designates the contact.
    pub member: MemberCode,
    /// The contact.
    pub contact: Contact,
    /// The entry that last wrote it.
    pub entry: EntryRef,
}

/// An institution as the directory shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstitutionRecord {
    /// The member that designates it.
    pub member: MemberCode,
    /// The institution.
    pub institution: Institution,
    /// The entry that last wrote it.
    pub entry: EntryRef,
}

/// Where an alert stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// In force (until it expires).
    Active,
    /// Replaced by a later alert of the same author.
    Updated {
        /// The replacing alert.
        by: EntryRef,
    },
    /// Withdrawn by a later alert of the same author.
    Cancelled {
        /// The cancelling alert.
        by: EntryRef,
    },
}

/// An alert as members see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// The alert's entry.
    pub entry: EntryRef,
    /// When the author issued it.
    pub issued_at_ms: u64,
    /// The alert.
    pub alert: Alert,
    /// Whether a later alert updated or cancelled it.
    pub status: AlertStatus,
}

/// One member's acknowledgement of an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckRecord {
    /// The acknowledging member.
    pub member: MemberCode,
    /// The acknowledgement's entry.
    pub entry: EntryRef,
    /// When it was issued.
    pub issued_at_ms: u64,
    /// What it says, including the exact alert hash it acknowledges.
    pub acknowledgement: Acknowledgement,
}

/// Creates the view tables.
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(CONTACTS)?;
    txn.open_table(INSTITUTIONS)?;
    txn.open_table(ALERTS)?;
    txn.open_table(ACKS)?;
    Ok(())
}

/// Empties the view tables.
pub(crate) fn clear(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(CONTACTS)?.retain(|_, _| false)?;
    txn.open_table(INSTITUTIONS)?.retain(|_, _| false)?;
    txn.open_table(ALERTS)?.retain(|_, _| false)?;
    txn.open_table(ACKS)?.retain(|_, _| false)?;
    Ok(())
}

/// Applies one entry (already validated and chained) to the views.
pub(crate) fn apply(txn: &WriteTransaction, signed: &SignedEntry, hash: Hash) -> Result<()> {
    let entry = &signed.entry;
    let member = entry.author;
    let author = member.to_u16();
    let reference = EntryRef {
        author: member,
        seq: entry.seq,
        hash,
    };
    match &entry.body {
        Body::ContactPut(contact) => {
            let record = ContactRecord {
                member,
                contact: contact.clone(),
                entry: reference,
            };
            let bytes = codec::encode(&record)?;
            txn.open_table(CONTACTS)?
                .insert((author, contact.id.as_str()), bytes.as_slice())?;
        }
        Body::ContactRemove { id } => {
            txn.open_table(CONTACTS)?.remove((author, id.as_str()))?;
        }
        Body::InstitutionPut(institution) => {
            let institution = institution.clone();
            let id = institution.id.clone();
            let record = InstitutionRecord {
                member,
                institution,
                entry: reference,
            };
            let bytes = codec::encode(&record)?;
            txn.open_table(INSTITUTIONS)?
                .insert((author, id.as_str()), bytes.as_slice())?;
        }
        Body::InstitutionRemove { id } => {
            txn.open_table(INSTITUTIONS)?
                .remove((author, id.as_str()))?;
        }
        Body::Alert(alert) => apply_alert(txn, reference, entry.issued_at_ms, alert)?,
        Body::Acknowledgement(ack) => {
            let record = AckRecord {
                member,
                entry: reference,
                issued_at_ms: entry.issued_at_ms,
                acknowledgement: ack.clone(),
            };
            let key = (ack.alert.author.to_u16(), ack.alert.seq, author);
            txn.open_table(ACKS)?
                .insert(key, codec::encode(&record)?.as_slice())?;
        }
    }
    Ok(())
}

fn apply_alert(
    txn: &WriteTransaction,
    reference: EntryRef,
    issued_at_ms: u64,
    alert: &Alert,
) -> Result<()> {
    let mut alerts = txn.open_table(ALERTS)?;
    let record = AlertRecord {
        entry: reference,
        issued_at_ms,
        alert: alert.clone(),
        status: AlertStatus::Active,
    };
    let key = (reference.author.to_u16(), reference.seq);
    alerts.insert(key, codec::encode(&record)?.as_slice())?;
    // Validation refuses a reference to another member's alert or a later one; checked
    // again here because a view that let one member withdraw another's alert would show
    // the recipients a false "cancelled", and entries replayed from a store are trusted.
    let Some(target) = alert.references.as_ref().filter(|target| {
        target.alert.author == reference.author && target.alert.seq < reference.seq
    }) else {
        return Ok(());
    };
    let key = (target.alert.author.to_u16(), target.alert.seq);
    let earlier = alerts
        .get(key)?
        .map(|value| decode::<AlertRecord>(value.value()));
    if let Some(mut earlier) = earlier.transpose()?
        && earlier.entry.hash == target.alert.hash
    {
        earlier.status = match target.relation {
            AlertRelation::Updates => AlertStatus::Updated { by: reference },
            AlertRelation::Cancels => AlertStatus::Cancelled { by: reference },
        };
        alerts.insert(key, codec::encode(&earlier)?.as_slice())?;
    }
    Ok(())
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    codec::decode::<T, MAX_RECORD_BYTES>(bytes).context("stored view record does not decode")
}

/// Every contact, ordered by member and id.
pub fn contacts(read: &ReadTransaction) -> Result<Vec<ContactRecord>> {
    read_all(read, CONTACTS)
}

/// Every institution, ordered by member and id.
pub fn institutions(read: &ReadTransaction) -> Result<Vec<InstitutionRecord>> {
    read_all(read, INSTITUTIONS)
}

fn read_all<T: serde::de::DeserializeOwned>(
    read: &ReadTransaction,
    definition: TableDefinition<(u16, &str), &[u8]>,
) -> Result<Vec<T>> {
    let table = read.open_table(definition)?;
    let mut records = Vec::new();
    for row in table.iter()? {
        records.push(decode(row?.1.value())?);
    }
    Ok(records)
}

/// Every alert, ordered by author and sequence number.
pub fn alerts(read: &ReadTransaction) -> Result<Vec<AlertRecord>> {
    let table = read.open_table(ALERTS)?;
    let mut records = Vec::new();
    for row in table.iter()? {
        records.push(decode(row?.1.value())?);
    }
    Ok(records)
}

/// The alert that `author`'s entry `seq` issued, if the view holds one.
pub fn alert(read: &ReadTransaction, author: MemberCode, seq: u64) -> Result<Option<AlertRecord>> {
    let table = read.open_table(ALERTS)?;
    let found = table.get((author.to_u16(), seq))?;
    found.map(|value| decode(value.value())).transpose()
}

/// The acknowledgements of one alert, ordered by member.
pub fn acknowledgements(read: &ReadTransaction, alert: &EntryRef) -> Result<Vec<AckRecord>> {
    let table = read.open_table(ACKS)?;
    let author = alert.author.to_u16();
    let mut records = Vec::new();
    for row in table.range((author, alert.seq, 0)..=(author, alert.seq, u16::MAX))? {
        records.push(decode(row?.1.value())?);
    }
    Ok(records)
}

/// SHA-256 over every contact and institution record in key order: two nodes with the
/// same digest show the same directory. (Alerts and acknowledgements follow from the same
/// heads and are not part of it.)
pub fn directory_digest(read: &ReadTransaction) -> Result<Hash> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for definition in [CONTACTS, INSTITUTIONS] {
        let table = read.open_table(definition)?;
        for row in table.iter()? {
            let (key, value) = row?;
            let (member, id) = key.value();
            hasher.update(member.to_be_bytes());
            hasher.update((id.len() as u64).to_be_bytes());
            hasher.update(id.as_bytes());
            hasher.update((value.value().len() as u64).to_be_bytes());
            hasher.update(value.value());
        }
    }
    Ok(Hash(hasher.finalize().into()))
}

/// How one view row of a store differs from what replaying its entries produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowDifference {
    /// The replay produces the row; the store lacks it.
    Missing,
    /// The store holds a row the replay does not produce.
    Unexpected,
    /// Both hold the row with different contents.
    Changed,
}

/// One view row that differs, named for a person: table and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewDifference {
    /// The view table.
    pub table: &'static str,
    /// The row's key, such as `PE/c-12` or `PE/7/AR`.
    pub key: String,
    /// How it differs.
    pub difference: RowDifference,
}

/// Compares every row of every view table of `held` with `expected` (a replay of the same
/// entries), reporting each row that differs; returns the number of rows `held` has.
pub(crate) fn compare(
    held: &ReadTransaction,
    expected: &ReadTransaction,
    report: &mut dyn FnMut(ViewDifference),
) -> Result<u64> {
    let by_id = |(member, id): &(u16, &str)| format!("{}/{id}", member_text(*member));
    let alerts = |(author, seq): &(u16, u64)| format!("{}/{seq}", member_text(*author));
    let acks = |(author, seq, member): &(u16, u64, u16)| {
        format!("{}/{seq}/{}", member_text(*author), member_text(*member))
    };
    let rows = compare_table(held, expected, CONTACTS, "view_contacts", by_id, report)?
        + compare_table(
            held,
            expected,
            INSTITUTIONS,
            "view_institutions",
            by_id,
            report,
        )?
        + compare_table(held, expected, ALERTS, "view_alerts", alerts, report)?
        + compare_table(held, expected, ACKS, "view_acks", acks, report)?;
    Ok(rows)
}

/// Two passes of point lookups rather than one merge of two cursors: simpler, and the
/// check that uses it runs on a stopped node where time matters less than clarity.
fn compare_table<K: redb::Key + 'static>(
    held: &ReadTransaction,
    expected: &ReadTransaction,
    definition: TableDefinition<K, &[u8]>,
    table: &'static str,
    describe: impl Fn(&K::SelfType<'_>) -> String,
    report: &mut dyn FnMut(ViewDifference),
) -> Result<u64> {
    let held_table = held.open_table(definition)?;
    let expected_table = expected.open_table(definition)?;
    let mut differ = |key: &K::SelfType<'_>, difference| {
        report(ViewDifference {
            table,
            key: describe(key),
            difference,
        });
    };
    let mut rows = 0;
    for row in held_table.iter()? {
        let (key, value) = row?;
        rows += 1;
        match expected_table.get(key.value())? {
            None => differ(&key.value(), RowDifference::Unexpected),
            Some(wanted) if wanted.value() != value.value() => {
                differ(&key.value(), RowDifference::Changed);
            }
            Some(_) => {}
        }
    }
    for row in expected_table.iter()? {
        let (key, _) = row?;
        if held_table.get(key.value())?.is_none() {
            differ(&key.value(), RowDifference::Missing);
        }
    }
    Ok(rows)
}

fn member_text(value: u16) -> String {
    MemberCode::from_u16(value).map_or_else(|_| format!("{value:#06x}"), |code| code.to_string())
}

#[cfg(test)]
mod tests {
    use redb::ReadableDatabase;
    use redb::backends::InMemoryBackend;
    use vigia_protocol::body::{AlertReference, Certainty, Recipients, Severity, Tlp, Urgency};
    use vigia_protocol::{Entry, Signature};

    use super::*;

    fn alert_entry(author: &str, seq: u64, references: Option<AlertReference>) -> SignedEntry {
        let alert = Alert {
            id: format!("a-{seq}"),
            title: "Alerta".into(),
            description: String::new(),
            severity: Severity::Severe,
            urgency: Urgency::Immediate,
            certainty: Certainty::Likely,
            tlp: Tlp::Amber,
            recipients: Recipients::Network,
            expires_at_ms: 10_000,
            respond_by_ms: None,
            references,
        };
        SignedEntry {
            entry: Entry {
                network: Hash::ZERO,
                author: author.parse().expect("member code"),
                seq,
                prev: Hash::ZERO,
                issued_at_ms: 1_000,
                body: Body::Alert(alert),
            },
            signature: Signature([0; 64]),
        }
    }

    #[test]
    fn an_alert_naming_another_member_s_alert_does_not_cancel_it() {
        let database = redb::Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .expect("database");
        let txn = database.begin_write().expect("write");
        create_tables(&txn).expect("tables");
        let target = EntryRef {
            author: "AR".parse().expect("member code"),
            seq: 1,
            hash: Hash([1; 32]),
        };
        apply(&txn, &alert_entry("AR", 1, None), target.hash).expect("apply");
        let reference = AlertReference {
            relation: AlertRelation::Cancels,
            alert: target,
        };
        let foreign = alert_entry("PE", 2, Some(reference));
        apply(&txn, &foreign, Hash([2; 32])).expect("apply");
        txn.commit().expect("commit");
        let read = database.begin_read().expect("read");
        let records = alerts(&read).expect("alerts");
        let argentine = records
            .iter()
            .find(|record| record.entry == target)
            .expect("AR's alert");
        assert_eq!(argentine.status, AlertStatus::Active);
    }
}
