//! `GET /v1/export.csv` and `GET /v1/export.vcf`: the directory as files.
//!
//! The CSV export is one member's contacts or institutions in the layout the import reads
//! (see [`super::csv_format`]), with the member's code in a first `member` column, so an
//! IT team can edit its directory in a spreadsheet and import it back. It starts with a
//! UTF-8 byte-order mark unless `bom=false`: without it, common spreadsheets read UTF-8 as
//! a legacy code page and garble every accent.
//!
//! Each export is built whole in memory, then sent. At most [`super::MAX_EXPORTS`] are
//! built or sent at once (the permit lives as long as the response body); beyond that the
//! answer is 503 with `Retry-After`, so many clients asking at once cannot take the
//! node's memory. Writing rows as the client reads them would bound memory per export too,
//! but the directory index has no cursor to write from yet.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use vigia_protocol::MemberCode;

use super::Shared;
use super::auth::Focal;
use super::csv_format::{
    CONTACT_COLUMNS, INSTITUTION_COLUMNS, MEMBER_COLUMN, RecordType, contact_row, institution_row,
};
use super::errors::{ApiError, ApiResult};
use super::extract::{QueryParams, parse_bool, parse_member_param, present};
use super::vcard;
use crate::search::{Directory, InstitutionQuery};

/// The UTF-8 byte-order mark.
const BOM: &str = "\u{feff}";

/// Seconds a client refused for too many exports waits before retrying: an export of a
/// full directory takes about that long.
const EXPORT_RETRY_AFTER_SECS: u16 = 2;

/// A turn to export, or 503 when [`super::MAX_EXPORTS`] are running.
fn export_turn(exports: &Arc<Semaphore>) -> ApiResult<OwnedSemaphorePermit> {
    exports.clone().try_acquire_owned().map_err(|_| {
        ApiError::unavailable(
            "too_many_exports",
            "the node is writing as many exports as it holds in memory at once; retry shortly",
        )
        .with_retry_after(EXPORT_RETRY_AFTER_SECS)
    })
}

/// The file as a response body that keeps `turn` until it is sent or the client leaves, so
/// a built file counts against the limit until its memory is freed.
fn body_holding(content: impl Into<Body>, turn: OwnedSemaphorePermit) -> Body {
    super::server::body_holding(content.into(), turn)
}

/// Query of `GET /v1/export.csv`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvParams {
    member: Option<String>,
    #[serde(rename = "type")]
    record_type: Option<String>,
    bom: Option<String>,
}

/// `GET /v1/export.csv?member=&type=contacts|institutions&bom=`: one member's records
/// (this node's member unless named), ordered by id.
pub async fn csv(
    State(context): State<Shared>,
    _caller: Focal,
    QueryParams(params): QueryParams<CsvParams>,
) -> ApiResult<Response> {
    let member = parse_member_param("member", &params.member)?
        .map(|member| context.known_member(member))
        .transpose()?
        .unwrap_or_else(|| context.node.member());
    let record_type = match present(&params.record_type) {
        None | Some("contacts") => RecordType::Contacts,
        Some("institutions") => RecordType::Institutions,
        Some(other) => {
            return Err(ApiError::bad_request(
                "type",
                format!("type={other:?} is neither contacts nor institutions"),
            ));
        }
    };
    let bom = parse_bool("bom", &params.bom)?.unwrap_or(true);
    let turn = export_turn(&context.exports)?;
    // A directory of many thousand rows takes a while to write; it runs off the async
    // workers.
    let directory = context.directory.clone();
    let body = tokio::task::spawn_blocking(move || csv_file(&directory, member, record_type, bom))
        .await
        .map_err(anyhow::Error::from)??;
    let name = match record_type {
        RecordType::Contacts => "contacts",
        RecordType::Institutions => "institutions",
    };
    let disposition = format!("attachment; filename=\"{member}-{name}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body_holding(body, turn),
    )
        .into_response())
}

fn csv_file(
    directory: &Directory,
    member: MemberCode,
    record_type: RecordType,
    bom: bool,
) -> anyhow::Result<Vec<u8>> {
    let mut body = if bom {
        BOM.as_bytes().to_vec()
    } else {
        Vec::new()
    };
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(&mut body);
    // The member first, so that the file says whose it is wherever it is imported.
    let code = member.to_string();
    let with_member = |cells: Vec<String>| std::iter::once(code.clone()).chain(cells);
    match record_type {
        RecordType::Contacts => {
            writer.write_record(std::iter::once(MEMBER_COLUMN).chain(CONTACT_COLUMNS))?;
            for hit in directory.contacts_of(Some(member)) {
                writer.write_record(with_member(contact_row(&hit.record.contact)))?;
            }
        }
        RecordType::Institutions => {
            writer.write_record(std::iter::once(MEMBER_COLUMN).chain(INSTITUTION_COLUMNS))?;
            let query = InstitutionQuery {
                member: Some(member),
                ..InstitutionQuery::default()
            };
            for record in directory.institutions(&query) {
                writer.write_record(with_member(institution_row(&record.institution)))?;
            }
        }
    }
    writer.flush()?;
    drop(writer);
    Ok(body)
}

/// Query of `GET /v1/export.vcf`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VcardParams {
    member: Option<String>,
}

/// `GET /v1/export.vcf?member=`: the contacts of one member, or of every member, as vCard
/// 4.0.
pub async fn vcf(
    State(context): State<Shared>,
    _caller: Focal,
    QueryParams(params): QueryParams<VcardParams>,
) -> ApiResult<Response> {
    let member = parse_member_param("member", &params.member)?
        .map(|member| context.known_member(member))
        .transpose()?;
    let turn = export_turn(&context.exports)?;
    let directory = context.directory.clone();
    let body = tokio::task::spawn_blocking(move || vcard_file(&directory, member))
        .await
        .map_err(anyhow::Error::from)?;
    let file = member.map_or_else(|| "vigia".to_owned(), |member| member.to_string());
    let disposition = format!("attachment; filename=\"{file}-contacts.vcf\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/vcard; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body_holding(body, turn),
    )
        .into_response())
}

fn vcard_file(directory: &Directory, member: Option<MemberCode>) -> String {
    let mut body = String::new();
    for hit in directory.contacts_of(member) {
        let organization = hit
            .institution
            .as_ref()
            .map(|institution| institution.institution.name.as_str());
        body.push_str(&vcard::card(
            hit.record.member,
            &hit.record.contact,
            organization,
        ));
    }
    body
}
