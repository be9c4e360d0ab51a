//! `/v1/institutions`: list and read institutions, and (admin) put or remove the node's own
//! member's institutions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use vigia_protocol::body::{Institution, InstitutionKind, LocalizedNames};
use vigia_protocol::{Body, MemberCode};

use super::Shared;
use super::auth::{Admin, Focal};
use super::contacts::Removed;
use super::errors::{ApiError, ApiResult};
use super::extract::{
    JsonBody, QueryParams, check_body_matches_path, parse_enum, parse_member, parse_member_param,
    search_text,
};
use super::model::EntryView;
use super::publish::strip_prefix;
use crate::search::InstitutionQuery;
use crate::views::InstitutionRecord;

/// Names in the OAS working languages.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Names {
    #[serde(default)]
    en: Option<String>,
    #[serde(default)]
    es: Option<String>,
    #[serde(default)]
    pt: Option<String>,
    #[serde(default)]
    fr: Option<String>,
}

/// An institution as the API shows it.
#[derive(Debug, Serialize)]
pub struct InstitutionView {
    member: MemberCode,
    id: String,
    name: String,
    names: Names,
    kind: InstitutionKind,
    address: String,
    phones: Vec<String>,
    emails: Vec<String>,
    /// How many of the member's contacts belong to it.
    contacts: usize,
    entry: EntryView,
}

impl InstitutionView {
    fn new(record: &InstitutionRecord, contacts: usize) -> Self {
        let institution = &record.institution;
        let names = &institution.names;
        Self {
            member: record.member,
            id: institution.id.clone(),
            name: institution.name.clone(),
            names: Names {
                en: names.en.clone(),
                es: names.es.clone(),
                pt: names.pt.clone(),
                fr: names.fr.clone(),
            },
            kind: institution.kind,
            address: institution.address.clone(),
            phones: institution.phones.clone(),
            emails: institution.emails.clone(),
            contacts,
            entry: record.entry.into(),
        }
    }
}

/// A list of institutions.
#[derive(Debug, Serialize)]
pub struct InstitutionList {
    total: usize,
    items: Vec<InstitutionView>,
}

/// Query of `GET /v1/institutions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    q: Option<String>,
    member: Option<String>,
    kind: Option<String>,
}

/// `GET /v1/institutions`: every institution matching the filters, by member and id.
/// Institutions number a handful per state, so the list is not paged.
pub async fn list(
    State(context): State<Shared>,
    _caller: Focal,
    QueryParams(params): QueryParams<ListParams>,
) -> ApiResult<Json<InstitutionList>> {
    let query = InstitutionQuery {
        text: search_text("q", params.q)?.unwrap_or_default(),
        member: parse_member_param("member", &params.member)?,
        kind: parse_enum("kind", &params.kind)?,
    };
    let directory = &context.directory;
    let items: Vec<InstitutionView> = directory
        .institutions(&query)
        .iter()
        .map(|record| {
            let count = directory.contacts_of_institution(record.member, &record.institution.id);
            InstitutionView::new(record, count)
        })
        .collect();
    Ok(Json(InstitutionList {
        total: items.len(),
        items,
    }))
}

/// `GET /v1/institutions/{member}/{id}`.
pub async fn get(
    State(context): State<Shared>,
    _caller: Focal,
    Path((member, id)): Path<(String, String)>,
) -> ApiResult<Json<InstitutionView>> {
    let member = context.known_member(parse_member("member", &member)?)?;
    let record = context
        .directory
        .institution(member, &id)
        .ok_or_else(|| ApiError::not_found(format!("{member} has no institution {id:?}")))?;
    let count = context.directory.contacts_of_institution(member, &id);
    Ok(Json(InstitutionView::new(&record, count)))
}

/// Body of `PUT /v1/institutions/{member}/{id}`; the read-only fields of
/// [`InstitutionView`] may be sent back as they were read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstitutionInput {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    member: Option<String>,
    name: String,
    #[serde(default)]
    names: Names,
    kind: InstitutionKind,
    #[serde(default)]
    address: String,
    #[serde(default)]
    phones: Vec<String>,
    #[serde(default)]
    emails: Vec<String>,
    #[serde(default, rename = "contacts")]
    _contacts: Option<IgnoredAny>,
    #[serde(default, rename = "entry")]
    _entry: Option<IgnoredAny>,
}

impl InstitutionInput {
    fn into_institution(self, member: MemberCode, id: &str) -> ApiResult<Institution> {
        check_body_matches_path(self.id.as_deref(), self.member.as_deref(), member, id)?;
        Ok(Institution {
            id: id.to_owned(),
            name: self.name,
            names: LocalizedNames {
                en: self.names.en,
                es: self.names.es,
                pt: self.names.pt,
                fr: self.names.fr,
            },
            kind: self.kind,
            address: self.address,
            phones: self.phones,
            emails: self.emails,
        })
    }
}

/// Request field of a protocol field of an institution.
pub fn field_name(field: &str) -> String {
    strip_prefix(field, "institution.", &[])
}

/// `PUT /v1/institutions/{member}/{id}`: creates (201) or replaces (200) one of the node's
/// own institutions. A body equal to the current institution publishes nothing.
pub async fn put(
    State(context): State<Shared>,
    Admin(caller): Admin,
    Path((member, id)): Path<(String, String)>,
    JsonBody(input): JsonBody<InstitutionInput>,
) -> ApiResult<(StatusCode, Json<InstitutionView>)> {
    let member = context.own_member(parse_member("member", &member)?)?;
    let institution = input.into_institution(member, &id)?;
    let publisher = context.publisher(&caller).await;
    let status = match context.directory.institution(member, &id) {
        Some(current) if current.institution == institution => {
            let count = context.directory.contacts_of_institution(member, &id);
            return Ok((StatusCode::OK, Json(InstitutionView::new(&current, count))));
        }
        Some(_) => StatusCode::OK,
        None => StatusCode::CREATED,
    };
    publisher
        .publish(Body::InstitutionPut(institution), field_name)
        .await?;
    drop(publisher);
    let record = context.directory.institution(member, &id).ok_or_else(|| {
        anyhow::anyhow!("institution {member}/{id} missing right after publishing")
    })?;
    let count = context.directory.contacts_of_institution(member, &id);
    Ok((status, Json(InstitutionView::new(&record, count))))
}

/// `DELETE /v1/institutions/{member}/{id}`: removes one of the node's own institutions,
/// unless contacts still belong to it (409): they would point at nothing.
pub async fn delete(
    State(context): State<Shared>,
    Admin(caller): Admin,
    Path((member, id)): Path<(String, String)>,
) -> ApiResult<Json<Removed>> {
    let member = context.own_member(parse_member("member", &member)?)?;
    let publisher = context.publisher(&caller).await;
    if context.directory.institution(member, &id).is_none() {
        return Err(ApiError::not_found(format!(
            "{member} has no institution {id:?}"
        )));
    }
    let contacts = context.directory.contacts_of_institution(member, &id);
    if contacts > 0 {
        return Err(ApiError::conflict(format!(
            "{contacts} contacts belong to institution {id:?}; move or remove them first"
        )));
    }
    let entry = publisher
        .publish(Body::InstitutionRemove { id: id.clone() }, |field| {
            strip_prefix(field, "institution_remove.", &[])
        })
        .await?;
    Ok(Json(Removed {
        member,
        id,
        entry: entry.into(),
    }))
}
