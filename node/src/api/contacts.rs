//! `/v1/contacts`: search the directory, read one contact, and (admin) put or remove the
//! node's own member's contacts.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use vigia_protocol::body::{Availability, Contact, InstitutionKind};
use vigia_protocol::{Body, MemberCode};

use super::Shared;
use super::auth::{Admin, Focal};
use super::errors::{ApiError, ApiResult};
use super::extract::{
    JsonBody, QueryParams, check_body_matches_path, paging, parse_bool, parse_enum, parse_member,
    parse_member_param, present, search_text,
};
use super::languages;
use super::model::{EntryView, PageView};
use super::publish::{self, strip_prefix};
use crate::search::{ContactHit, ContactQuery, MAX_PER_PAGE};

/// Results per page unless the request says otherwise.
const DEFAULT_PER_PAGE: usize = 20;

/// Office hours of a contact that is not reachable around the clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    /// IANA time zone, such as `America/Lima`.
    pub time_zone: String,
    /// Opening time, `HH:MM`.
    pub from: String,
    /// Closing time, `HH:MM`.
    pub to: String,
}

/// The institution of a contact, in brief.
#[derive(Debug, Serialize)]
pub struct InstitutionBrief {
    /// Official name.
    pub name: String,
    /// Kind of authority.
    pub kind: InstitutionKind,
}

/// A contact as the API shows it.
#[derive(Debug, Serialize)]
pub struct ContactView {
    /// The member that designates the contact.
    pub member: MemberCode,
    /// Id among the member's contacts.
    pub id: String,
    /// Given names.
    pub given_names: String,
    /// Family names.
    pub family_names: String,
    /// Id of the member's institution.
    pub institution_id: String,
    /// That institution, if the directory holds it.
    pub institution: Option<InstitutionBrief>,
    /// Role or position.
    pub role: String,
    /// E-mail addresses.
    pub emails: Vec<String>,
    /// Phones, E.164.
    pub phones: Vec<String>,
    /// Languages, ISO 639-1.
    pub languages: Vec<String>,
    /// Reachable around the clock.
    pub always_on: bool,
    /// Office hours when not always on.
    pub hours: Option<Hours>,
    /// Free text.
    pub notes: String,
    /// The entry that last wrote the contact.
    pub entry: EntryView,
    /// Relevance to the search text, in search results only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<u32>,
}

impl ContactView {
    /// The view of a search hit; `scored` adds the score.
    pub fn from_hit(hit: &ContactHit, scored: bool) -> Self {
        let record = &hit.record;
        let contact = &record.contact;
        let (always_on, hours) = match &contact.availability {
            Availability::AlwaysOn => (true, None),
            Availability::Hours {
                time_zone,
                from,
                to,
            } => (
                false,
                Some(Hours {
                    time_zone: time_zone.clone(),
                    from: from.clone(),
                    to: to.clone(),
                }),
            ),
        };
        Self {
            member: record.member,
            id: contact.id.clone(),
            given_names: contact.given_names.clone(),
            family_names: contact.family_names.clone(),
            institution_id: contact.institution_id.clone(),
            institution: hit
                .institution
                .as_ref()
                .map(|institution| InstitutionBrief {
                    name: institution.institution.name.clone(),
                    kind: institution.institution.kind,
                }),
            role: contact.role.clone(),
            emails: contact.emails.clone(),
            phones: contact.phones.clone(),
            languages: contact.languages.clone(),
            always_on,
            hours,
            notes: contact.notes.clone(),
            entry: record.entry.into(),
            score: scored.then_some(hit.score),
        }
    }
}

/// Query of `GET /v1/contacts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    q: Option<String>,
    member: Option<String>,
    kind: Option<String>,
    role: Option<String>,
    language: Option<String>,
    always_on: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
}

/// `GET /v1/contacts`: ranked, paged search.
pub async fn search(
    State(context): State<Shared>,
    _caller: Focal,
    QueryParams(params): QueryParams<SearchParams>,
) -> ApiResult<Json<PageView<ContactView>>> {
    let (page, per_page) = paging(
        &params.page,
        &params.per_page,
        DEFAULT_PER_PAGE,
        MAX_PER_PAGE,
    )?;
    let language = present(&params.language)
        .map(|language| {
            let valid = language.len() == 2 && language.bytes().all(|b| b.is_ascii_alphabetic());
            if valid {
                Ok(language.to_ascii_lowercase())
            } else {
                Err(ApiError::bad_request(
                    "language",
                    format!("language={language:?} is not an ISO 639-1 code such as es"),
                ))
            }
        })
        .transpose()?;
    let query = ContactQuery {
        text: search_text("q", params.q)?.unwrap_or_default(),
        member: parse_member_param("member", &params.member)?,
        kind: parse_enum("kind", &params.kind)?,
        role: present(&params.role).map(str::to_owned),
        language,
        always_on: parse_bool("always_on", &params.always_on)?,
        page,
        per_page,
    };
    let scored = !query.text.trim().is_empty();
    let found = context.directory.search(&query);
    Ok(Json(PageView {
        total: found.total,
        page,
        per_page,
        items: found
            .items
            .iter()
            .map(|hit| ContactView::from_hit(hit, scored))
            .collect(),
    }))
}

/// `GET /v1/contacts/{member}/{id}`.
pub async fn get(
    State(context): State<Shared>,
    _caller: Focal,
    Path((member, id)): Path<(String, String)>,
) -> ApiResult<Json<ContactView>> {
    let member = context.known_member(parse_member("member", &member)?)?;
    let hit = context
        .directory
        .contact(member, &id)
        .ok_or_else(|| ApiError::not_found(format!("{member} has no contact {id:?}")))?;
    Ok(Json(ContactView::from_hit(&hit, false)))
}

/// Body of `PUT /v1/contacts/{member}/{id}`. The read-only fields of [`ContactView`] may be
/// sent back as they were read, so a client can edit what it fetched.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    member: Option<String>,
    given_names: String,
    family_names: String,
    institution_id: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    emails: Vec<String>,
    #[serde(default)]
    phones: Vec<String>,
    #[serde(default)]
    languages: Vec<String>,
    always_on: bool,
    #[serde(default)]
    hours: Option<Hours>,
    #[serde(default)]
    notes: String,
    #[serde(default, rename = "institution")]
    _institution: Option<IgnoredAny>,
    #[serde(default, rename = "entry")]
    _entry: Option<IgnoredAny>,
    #[serde(default, rename = "score")]
    _score: Option<IgnoredAny>,
}

impl ContactInput {
    fn into_contact(self, member: MemberCode, id: &str) -> ApiResult<Contact> {
        check_body_matches_path(self.id.as_deref(), self.member.as_deref(), member, id)?;
        let availability = availability(self.always_on, self.hours)?;
        Ok(Contact {
            id: id.to_owned(),
            given_names: self.given_names,
            family_names: self.family_names,
            institution_id: self.institution_id,
            role: self.role,
            emails: self.emails,
            phones: self.phones,
            languages: self.languages,
            availability,
            notes: self.notes,
        })
    }
}

fn availability(always_on: bool, hours: Option<Hours>) -> ApiResult<Availability> {
    match (always_on, hours) {
        (true, None) => Ok(Availability::AlwaysOn),
        (true, Some(_)) => Err(ApiError::invalid(
            "hours",
            "hours must be absent (or null) when always_on is true",
        )),
        (false, Some(hours)) => Ok(Availability::Hours {
            time_zone: hours.time_zone,
            from: hours.from,
            to: hours.to,
        }),
        (false, None) => Err(ApiError::invalid(
            "hours",
            "hours (time_zone, from, to) are required when always_on is false",
        )),
    }
}

/// Request field of a protocol field of a contact.
pub fn field_name(field: &str) -> String {
    strip_prefix(field, "contact.", &[("availability.", "hours.")])
}

/// `PUT /v1/contacts/{member}/{id}`: creates (201) or replaces (200) one of the node's own
/// contacts. A body equal to the current contact publishes nothing.
pub async fn put(
    State(context): State<Shared>,
    Admin(caller): Admin,
    Path((member, id)): Path<(String, String)>,
    JsonBody(input): JsonBody<ContactInput>,
) -> ApiResult<(StatusCode, Json<ContactView>)> {
    let member = context.own_member(parse_member("member", &member)?)?;
    let contact = input.into_contact(member, &id)?;
    if let Some(unknown) = languages::unknown("contact.languages", &contact.languages).first() {
        return Err(publish::invalid_field(unknown, field_name));
    }
    let publisher = context.publisher(&caller).await;
    if context
        .directory
        .institution(member, &contact.institution_id)
        .is_none()
    {
        return Err(ApiError::invalid(
            "institution_id",
            format!(
                "{member} has no institution {:?}; put the institution first",
                contact.institution_id
            ),
        ));
    }
    let current = context.directory.contact(member, &id);
    let status = match &current {
        Some(hit) if hit.record.contact == contact => {
            return Ok((StatusCode::OK, Json(ContactView::from_hit(hit, false))));
        }
        Some(_) => StatusCode::OK,
        None => StatusCode::CREATED,
    };
    publisher
        .publish(Body::ContactPut(contact), field_name)
        .await?;
    drop(publisher);
    let hit = context
        .directory
        .contact(member, &id)
        .ok_or_else(|| anyhow::anyhow!("contact {member}/{id} missing right after publishing"))?;
    Ok((status, Json(ContactView::from_hit(&hit, false))))
}

/// What a removal published.
#[derive(Debug, Serialize)]
pub struct Removed {
    /// The member whose record was removed.
    pub member: MemberCode,
    /// The removed record's id.
    pub id: String,
    /// The entry that removed it.
    pub entry: EntryView,
}

/// `DELETE /v1/contacts/{member}/{id}`: removes one of the node's own contacts.
pub async fn delete(
    State(context): State<Shared>,
    Admin(caller): Admin,
    Path((member, id)): Path<(String, String)>,
) -> ApiResult<Json<Removed>> {
    let member = context.own_member(parse_member("member", &member)?)?;
    let publisher = context.publisher(&caller).await;
    if context.directory.contact(member, &id).is_none() {
        return Err(ApiError::not_found(format!(
            "{member} has no contact {id:?}"
        )));
    }
    let entry = publisher
        .publish(Body::ContactRemove { id: id.clone() }, |field| {
            strip_prefix(field, "contact_remove.", &[])
        })
        .await?;
    Ok(Json(Removed {
        member,
        id,
        entry: entry.into(),
    }))
}
