//! What the API shows of alerts and acknowledgements, shared by the alert endpoints and the
//! event stream: each alert with its status at the time of the request and, per expected
//! recipient, whether and when it acknowledged.
//!
//! Updates and cancellations follow CAP 1.2's Update and Cancel messages. An update is an
//! alert in its own right: it replaces the earlier one (`updated`), is in force until it
//! expires and asks for acknowledgements like any alert. A cancellation only withdraws the
//! earlier alert (`cancelled`): it is never in force (status `cancellation`) and asks
//! nobody to acknowledge it. An alert that was updated or cancelled asks for no more
//! acknowledgements either; those already given stay listed.

use std::collections::BTreeMap;

use serde::Serialize;
use vigia_protocol::MemberCode;
use vigia_protocol::body::{AlertRelation, Certainty, Recipients, Severity, Tlp, Urgency};

use super::model::EntryView;
use super::records::AlertWithAcks;
use super::{Context, time};
use crate::views::{AckRecord, AlertRecord, AlertStatus};

/// A reference from an alert to an earlier one of the same member.
#[derive(Debug, Clone, Serialize)]
pub struct ReferenceView {
    relation: AlertRelation,
    #[serde(flatten)]
    alert: EntryView,
}

/// An alert as the API shows it, with a summary of its acknowledgements.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    pub(super) member: MemberCode,
    pub(super) seq: u64,
    id: String,
    title: String,
    description: String,
    severity: Severity,
    urgency: Urgency,
    certainty: Certainty,
    tlp: Tlp,
    /// `"network"` or a list of member codes.
    recipients: serde_json::Value,
    issued_at: String,
    #[serde(skip)]
    pub(super) issued_at_ms: u64,
    expires_at: String,
    respond_by: Option<String>,
    references: Option<ReferenceView>,
    /// `alert`, `update` (replaces the alert it references) or `cancel` (withdraws it).
    pub(super) kind: &'static str,
    /// `active`, `expired`, `updated` or `cancelled`; `cancellation` for a cancel, which is
    /// never in force itself.
    pub(super) status: &'static str,
    /// The alert that updated or cancelled this one.
    superseded_by: Option<EntryView>,
    /// Recipient members expected to acknowledge (every member but the author, or the
    /// listed ones); none for a cancel.
    expected: usize,
    /// How many of them have.
    acknowledged: usize,
    /// Those who have not, by code.
    not_acknowledged: Vec<MemberCode>,
    /// Whether this node's member has.
    pub(super) acknowledged_by_us: bool,
    /// Whether this node's member is expected to.
    pub(super) addressed_to_us: bool,
    /// Whether it waits for this node's member's acknowledgement: addressed to us, not
    /// acknowledged yet, and not updated or cancelled since.
    pub(super) to_acknowledge: bool,
    entry: EntryView,
}

/// One recipient's acknowledgement status.
#[derive(Debug, Serialize)]
pub struct RecipientStatus {
    member: MemberCode,
    name: String,
    acknowledged: bool,
    at: Option<String>,
    note: Option<String>,
    entry: Option<EntryView>,
}

/// An alert with every recipient's status.
#[derive(Debug, Serialize)]
pub struct AlertDetail {
    #[serde(flatten)]
    alert: AlertView,
    /// Every expected recipient, then anyone else who acknowledged, by member code.
    acknowledgements: Vec<RecipientStatus>,
}

/// An acknowledgement as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AckView {
    /// The acknowledging member.
    member: MemberCode,
    /// The alert acknowledged.
    alert: EntryView,
    note: Option<String>,
    at: String,
    entry: EntryView,
}

impl AckView {
    /// The view of a stored acknowledgement.
    pub fn new(record: &AckRecord) -> Self {
        Self {
            member: record.member,
            alert: record.acknowledgement.alert.into(),
            note: record.acknowledgement.note.clone(),
            at: time::format(record.issued_at_ms),
            entry: record.entry.into(),
        }
    }
}

impl Context {
    /// Members expected to acknowledge an alert: its recipients but its author, and nobody
    /// for a cancel.
    fn expected_recipients(&self, record: &AlertRecord) -> Vec<MemberCode> {
        if kind(record) == "cancel" {
            return Vec::new();
        }
        let author = record.entry.author;
        let mut expected: Vec<MemberCode> = match &record.alert.recipients {
            Recipients::Network => self
                .node
                .roster()
                .members()
                .iter()
                .map(|member| member.code)
                .collect(),
            Recipients::Members(members) => members.clone(),
        };
        expected.retain(|member| *member != author);
        expected.sort();
        expected
    }

    /// The view of an alert at time `now_ms`.
    pub fn alert_view(&self, alert: &AlertWithAcks, now_ms: u64) -> AlertView {
        let record = &alert.record;
        let body = &record.alert;
        let own = self.node.member();
        let expected = self.expected_recipients(record);
        let acked = valid_acks(alert);
        let not_acknowledged: Vec<MemberCode> = expected
            .iter()
            .filter(|member| !acked.contains_key(member))
            .copied()
            .collect();
        let kind = kind(record);
        let (status, superseded_by) = match &record.status {
            AlertStatus::Active if kind == "cancel" => ("cancellation", None),
            AlertStatus::Active if body.expires_at_ms <= now_ms => ("expired", None),
            AlertStatus::Active => ("active", None),
            AlertStatus::Updated { by } => ("updated", Some(EntryView::from(*by))),
            AlertStatus::Cancelled { by } => ("cancelled", Some(EntryView::from(*by))),
        };
        let addressed_to_us = expected.contains(&own);
        let acknowledged_by_us = acked.contains_key(&own);
        let stands = matches!(status, "active" | "expired");
        AlertView {
            member: record.entry.author,
            seq: record.entry.seq,
            id: body.id.clone(),
            title: body.title.clone(),
            description: body.description.clone(),
            severity: body.severity,
            urgency: body.urgency,
            certainty: body.certainty,
            tlp: body.tlp,
            recipients: match &body.recipients {
                Recipients::Network => serde_json::json!("network"),
                Recipients::Members(members) => serde_json::json!(members),
            },
            issued_at: time::format(record.issued_at_ms),
            issued_at_ms: record.issued_at_ms,
            expires_at: time::format(body.expires_at_ms),
            respond_by: body.respond_by_ms.map(time::format),
            references: body.references.as_ref().map(|reference| ReferenceView {
                relation: reference.relation,
                alert: reference.alert.into(),
            }),
            kind,
            status,
            superseded_by,
            acknowledged: expected.len() - not_acknowledged.len(),
            expected: expected.len(),
            addressed_to_us,
            acknowledged_by_us,
            to_acknowledge: addressed_to_us && !acknowledged_by_us && stands,
            not_acknowledged,
            entry: record.entry.into(),
        }
    }

    pub fn alert_detail(&self, alert: AlertWithAcks, now_ms: u64) -> AlertDetail {
        let view = self.alert_view(&alert, now_ms);
        let expected = self.expected_recipients(&alert.record);
        let acked = valid_acks(&alert);
        let mut members = expected.clone();
        members.extend(acked.keys().filter(|member| !expected.contains(member)));
        let acknowledgements = members
            .into_iter()
            .map(|member| {
                let ack = acked.get(&member);
                RecipientStatus {
                    member,
                    name: self
                        .node
                        .roster()
                        .member(member)
                        .map(|listed| listed.name.clone())
                        .unwrap_or_default(),
                    acknowledged: ack.is_some(),
                    at: ack.map(|ack| time::format(ack.issued_at_ms)),
                    note: ack.and_then(|ack| ack.acknowledgement.note.clone()),
                    entry: ack.map(|ack| ack.entry.into()),
                }
            })
            .collect();
        AlertDetail {
            alert: view,
            acknowledgements,
        }
    }
}

/// `alert`, `update` or `cancel`, from what the alert references.
fn kind(record: &AlertRecord) -> &'static str {
    match record
        .alert
        .references
        .as_ref()
        .map(|reference| reference.relation)
    {
        None => "alert",
        Some(AlertRelation::Updates) => "update",
        Some(AlertRelation::Cancels) => "cancel",
    }
}

/// Acknowledgements of exactly this alert (a fork's rival alert shares author and seq but
/// not the hash), by member.
fn valid_acks(alert: &AlertWithAcks) -> BTreeMap<MemberCode, &AckRecord> {
    alert
        .acks
        .iter()
        .filter(|ack| ack.acknowledgement.alert == alert.record.entry)
        .map(|ack| (ack.member, ack))
        .collect()
}
