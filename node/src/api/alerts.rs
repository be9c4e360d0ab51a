//! `/v1/alerts`: issue an alert, list and read alerts with who has acknowledged them, and
//! acknowledge one. How updates and cancellations show is in [`super::alert_views`].

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rand::TryRng;
use rand::rngs::SysRng;
use serde::Deserialize;
use vigia_protocol::body::{
    Acknowledgement, Alert, AlertReference, AlertRelation, Certainty, Recipients, Severity, Tlp,
    Urgency,
};
use vigia_protocol::{Body, MemberCode};

use super::alert_views::{AckView, AlertDetail, AlertView};
use super::errors::{ApiError, ApiResult};
use super::extract::parse_member_param;
use super::extract::{JsonBody, QueryParams, paging, parse_bool, parse_enum, parse_member};
use super::model::PageView;
use super::publish::{now_ms, strip_prefix};
use super::records::{self, AlertWithAcks};
use super::{Context, Shared, time};
use crate::views::AlertStatus;

/// Alerts per page unless the request says otherwise.
const DEFAULT_PER_PAGE: usize = 50;
/// Largest page of alerts.
const MAX_PER_PAGE: usize = 500;
/// Longest expiry or answer time from now, relative or absolute: a year. Alerts are
/// operational; anything longer is a mistake in units or a date typed wrong.
const MAX_MINUTES: u64 = 366 * 24 * 60;

/// Query of `GET /v1/alerts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    active: Option<String>,
    severity: Option<String>,
    from: Option<String>,
    unacknowledged: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
}

/// `GET /v1/alerts`: newest first, filtered.
pub async fn list(
    State(context): State<Shared>,
    _caller: super::auth::Focal,
    QueryParams(params): QueryParams<ListParams>,
) -> ApiResult<Json<PageView<AlertView>>> {
    let (page, per_page) = paging(
        &params.page,
        &params.per_page,
        DEFAULT_PER_PAGE,
        MAX_PER_PAGE,
    )?;
    let active = parse_bool("active", &params.active)?;
    let severity: Option<Severity> = parse_enum("severity", &params.severity)?;
    let from = parse_member_param("from", &params.from)?;
    let unacknowledged = parse_bool("unacknowledged", &params.unacknowledged)?;
    let now = now_ms();
    let mut views: Vec<AlertView> = records::alerts(context.node.store())
        .await?
        .iter()
        .filter(|alert| from.is_none_or(|from| alert.record.entry.author == from))
        .filter(|alert| severity.is_none_or(|severity| alert.record.alert.severity == severity))
        .map(|alert| context.alert_view(alert, now))
        .filter(|view| active.is_none_or(|active| active == (view.status == "active")))
        .filter(|view| unacknowledged.is_none_or(|wanted| wanted == view.to_acknowledge))
        .collect();
    views.sort_by_key(|view| std::cmp::Reverse((view.issued_at_ms, view.member, view.seq)));
    let total = views.len();
    let items = views
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();
    Ok(Json(PageView {
        total,
        page,
        per_page,
        items,
    }))
}

/// `GET /v1/alerts/{member}/{seq}`.
pub async fn get(
    State(context): State<Shared>,
    _caller: super::auth::Focal,
    Path((member, seq)): Path<(String, String)>,
) -> ApiResult<Json<AlertDetail>> {
    let (member, seq) = alert_path(&context, &member, &seq)?;
    let alert = records::alert(context.node.store(), member, seq)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{member} has no alert at seq {seq}")))?;
    Ok(Json(context.alert_detail(alert, now_ms())))
}

fn alert_path(context: &Context, member: &str, seq: &str) -> ApiResult<(MemberCode, u64)> {
    let member = context.known_member(parse_member("member", member)?)?;
    let seq = seq
        .parse()
        .map_err(|_| ApiError::bad_request("seq", format!("{seq:?} is not a sequence number")))?;
    Ok((member, seq))
}

/// Body of `POST /v1/alerts`. Times are RFC 3339 or minutes from now; give one of
/// `expires_at` and `expires_in_minutes`, and at most one of `respond_by` and
/// `respond_in_minutes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertInput {
    #[serde(default)]
    id: Option<String>,
    title: String,
    #[serde(default)]
    description: String,
    severity: Severity,
    urgency: Urgency,
    certainty: Certainty,
    tlp: Tlp,
    recipients: serde_json::Value,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    expires_in_minutes: Option<u64>,
    #[serde(default)]
    respond_by: Option<String>,
    #[serde(default)]
    respond_in_minutes: Option<u64>,
    #[serde(default)]
    references: Option<ReferenceInput>,
}

/// An earlier alert of this node's member that the new one updates or cancels.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceInput {
    relation: AlertRelation,
    seq: u64,
}

/// Request field of a protocol field of an alert.
fn field_name(field: &str) -> String {
    strip_prefix(
        field,
        "alert.",
        &[
            ("expires_at_ms", "expires_at"),
            ("respond_by_ms", "respond_by"),
            ("references.alert", "references.seq"),
        ],
    )
}

fn point_in_time(
    now: u64,
    (at_name, at): (&str, &Option<String>),
    (in_name, minutes): (&str, Option<u64>),
) -> ApiResult<Option<u64>> {
    match (at, minutes) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            in_name,
            format!("give {at_name} or {in_name}, not both"),
        )),
        (Some(text), None) => {
            let at = time::parse(text).map_err(|reason| ApiError::invalid(at_name, reason))?;
            if at > now.saturating_add(MAX_MINUTES * 60_000) {
                return Err(ApiError::invalid(
                    at_name,
                    format!(
                        "{at_name} {text} is more than {} days from now; alerts are \
                         operational and last at most that long",
                        MAX_MINUTES / (24 * 60)
                    ),
                ));
            }
            Ok(Some(at))
        }
        (None, Some(minutes)) if minutes == 0 || minutes > MAX_MINUTES => Err(ApiError::invalid(
            in_name,
            format!("{in_name} must be 1 to {MAX_MINUTES}"),
        )),
        (None, Some(minutes)) => Ok(Some(now + minutes * 60_000)),
        (None, None) => Ok(None),
    }
}

impl Context {
    fn recipients(&self, value: &serde_json::Value) -> ApiResult<Recipients> {
        let shape = || {
            ApiError::invalid(
                "recipients",
                "recipients must be \"network\" or a list of member codes such as [\"AR\", \"BR\"]",
            )
        };
        match value {
            serde_json::Value::String(word) if word == "network" => Ok(Recipients::Network),
            serde_json::Value::Array(items) => {
                let mut members = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    let field = format!("recipients[{index}]");
                    let text = item.as_str().ok_or_else(shape)?;
                    let member = parse_member(&field, text).map_err(|_| {
                        ApiError::invalid(&field, format!("{text:?} is not a member code"))
                    })?;
                    if self.node.roster().member(member).is_none() {
                        return Err(ApiError::invalid(
                            field,
                            format!("{member} is not a member of this network"),
                        ));
                    }
                    members.push(member);
                }
                Ok(Recipients::Members(members))
            }
            _ => Err(shape()),
        }
    }
}

/// The earlier alert of this node's member that a new one updates or cancels.
fn own_alert(
    alerts: &[AlertWithAcks],
    own: MemberCode,
    reference: ReferenceInput,
) -> ApiResult<AlertReference> {
    let seq = reference.seq;
    let target = alerts
        .iter()
        .map(|alert| alert.record.entry)
        .find(|entry| entry.author == own && entry.seq == seq)
        .ok_or_else(|| {
            ApiError::invalid(
                "references.seq",
                format!(
                    "{own} has no alert at seq {seq}; an alert can update or cancel only its \
                     own member's alerts"
                ),
            )
        })?;
    Ok(AlertReference {
        relation: reference.relation,
        alert: target,
    })
}

/// An id the client chose, if no alert of this node's member has it already.
fn unused_id(alerts: &[AlertWithAcks], own: MemberCode, id: String) -> ApiResult<String> {
    let taken = alerts
        .iter()
        .any(|alert| alert.record.entry.author == own && alert.record.alert.id == id);
    if taken {
        let message = format!("{own} already has an alert with id {id:?}");
        return Err(ApiError::conflict(message).with_field("id"));
    }
    Ok(id)
}

fn random_id() -> ApiResult<String> {
    let mut bytes = [0u8; 6];
    SysRng.try_fill_bytes(&mut bytes).map_err(|err| {
        anyhow::anyhow!("the operating system's random number generator failed: {err}")
    })?;
    Ok(format!("a-{}", hex::encode(bytes)))
}

/// `POST /v1/alerts`: issues an alert signed by this node's member (201).
pub async fn issue(
    State(context): State<Shared>,
    super::auth::Focal(caller): super::auth::Focal,
    JsonBody(input): JsonBody<AlertInput>,
) -> ApiResult<(StatusCode, Json<AlertDetail>)> {
    let now = now_ms();
    let own = context.node.member();
    let expires = point_in_time(
        now,
        ("expires_at", &input.expires_at),
        ("expires_in_minutes", input.expires_in_minutes),
    )?
    .ok_or_else(|| ApiError::invalid("expires_at", "give expires_at or expires_in_minutes"))?;
    let respond_by = point_in_time(
        now,
        ("respond_by", &input.respond_by),
        ("respond_in_minutes", input.respond_in_minutes),
    )?;
    let recipients = context.recipients(&input.recipients)?;
    let publisher = context.publisher(&caller).await;
    // Read under the publisher's turn, so no alert of ours appears between check and use.
    let alerts = records::alerts(context.node.store()).await?;
    let references = input
        .references
        .map(|reference| own_alert(&alerts, own, reference))
        .transpose()?;
    let id = match input.id {
        Some(id) => unused_id(&alerts, own, id)?,
        None => random_id()?,
    };
    let alert = Alert {
        id,
        title: input.title,
        description: input.description,
        severity: input.severity,
        urgency: input.urgency,
        certainty: input.certainty,
        tlp: input.tlp,
        recipients,
        expires_at_ms: expires,
        respond_by_ms: respond_by,
        references,
    };
    let entry = publisher.publish(Body::Alert(alert), field_name).await?;
    drop(publisher);
    let alert = records::alert(context.node.store(), entry.author, entry.seq)
        .await?
        .ok_or_else(|| anyhow::anyhow!("alert {entry:?} missing right after publishing"))?;
    Ok((
        StatusCode::CREATED,
        Json(context.alert_detail(alert, now_ms())),
    ))
}

/// Why an alert addressed to us asks for no acknowledgement any more, if it does not: it was
/// updated (the update asks instead) or cancelled.
fn no_longer_asked(alert: &AlertWithAcks) -> Option<String> {
    let entry = alert.record.entry;
    let name = format!("{}/{}", entry.author, entry.seq);
    match &alert.record.status {
        AlertStatus::Active => None,
        AlertStatus::Updated { by } => Some(format!(
            "{name} was updated by {}/{}; acknowledge that one instead",
            by.author, by.seq
        )),
        AlertStatus::Cancelled { by } => Some(format!(
            "{name} was cancelled by {}/{}; it asks for no acknowledgement now",
            by.author, by.seq
        )),
    }
}

/// Body of `POST /v1/alerts/{member}/{seq}/ack`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckInput {
    #[serde(default)]
    note: Option<String>,
}

/// `POST /v1/alerts/{member}/{seq}/ack`: acknowledges an alert addressed to this node's
/// member (201). Refused (409): acknowledging twice (the first one stands), a cancel (it
/// asks nobody to acknowledge it), and an alert updated or cancelled since.
pub async fn acknowledge(
    State(context): State<Shared>,
    super::auth::Focal(caller): super::auth::Focal,
    Path((member, seq)): Path<(String, String)>,
    JsonBody(input): JsonBody<AckInput>,
) -> ApiResult<(StatusCode, Json<AckView>)> {
    let (member, seq) = alert_path(&context, &member, &seq)?;
    let own = context.node.member();
    let publisher = context.publisher(&caller).await;
    let alert = records::alert(context.node.store(), member, seq)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{member} has no alert at seq {seq}")))?;
    let view = context.alert_view(&alert, now_ms());
    if view.kind == "cancel" {
        return Err(ApiError::conflict(format!(
            "{member}/{seq} is a cancellation; it asks nobody to acknowledge it"
        )));
    }
    if !view.addressed_to_us {
        return Err(ApiError::conflict(if member == own {
            format!("this is {own}'s own alert")
        } else {
            format!("{member}'s alert {seq} is not addressed to {own}")
        }));
    }
    if view.acknowledged_by_us {
        return Err(ApiError::conflict(format!(
            "{own} has already acknowledged {member}'s alert {seq}"
        )));
    }
    if let Some(reason) = no_longer_asked(&alert) {
        return Err(ApiError::conflict(reason));
    }
    let note = input.note.filter(|note| !note.trim().is_empty());
    let body = Body::Acknowledgement(Acknowledgement {
        alert: alert.record.entry,
        note,
    });
    let entry = publisher
        .publish(body, |field| strip_prefix(field, "acknowledgement.", &[]))
        .await?;
    drop(publisher);
    let alert = records::alert(context.node.store(), member, seq)
        .await?
        .ok_or_else(|| anyhow::anyhow!("alert {member}/{seq} vanished"))?;
    let ack = alert
        .acks
        .iter()
        .find(|ack| ack.entry == entry)
        .ok_or_else(|| {
            anyhow::anyhow!("acknowledgement {entry:?} missing right after publishing")
        })?;
    Ok((StatusCode::CREATED, Json(AckView::new(ack))))
}
