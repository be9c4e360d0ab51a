//! `POST /v1/import`: loads a CSV file of the node's own contacts or institutions
//! (layout in [`super::csv_format`]), all or nothing.
//!
//! Steps, in order: decode the text (UTF-8, with or without a byte-order mark), find the
//! delimiter, read every row into a record, check each against the protocol's rules and
//! the directory (a contact's institution must exist), and only when no row has an error
//! publish one entry per new or changed row; rows equal to the directory publish nothing,
//! so importing an export changes nothing. With `dry_run=true` the last step is skipped.
//!
//! Publishing is one entry per row, so "nothing" holds for every error a row can have; if
//! the node fails in the middle (storage), the entries published so far stay, the answer
//! says how many, and importing the same file again finishes the job.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vigia_protocol::{Body, MemberCode};

use super::Shared;
use super::auth::Admin;
use super::csv_format::{CellError, Layout, RecordType, column_of, detect_delimiter};
use super::errors::{ApiError, ApiResult};
use super::extract::{QueryParams, body_bytes, parse_bool};
use super::publish::now_ms;
use super::{contacts, institutions};
use crate::search::Directory;

/// Most rows one import takes: ten thousand contacts is far beyond any member's directory,
/// and each row is one entry to sign and store.
pub const MAX_IMPORT_ROWS: usize = 10_000;
/// Most row errors reported; past this the answer says how many more there are.
const MAX_REPORTED_ERRORS: usize = 1_000;
/// The byte-order mark some spreadsheets put first in a UTF-8 file.
const BOM: &str = "\u{feff}";

/// Query of `POST /v1/import`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    dry_run: Option<String>,
}

/// What an import did, or with `dry_run` would do.
#[derive(Debug, Serialize)]
pub struct ImportReport {
    dry_run: bool,
    record_type: RecordType,
    /// Data rows read.
    rows: usize,
    /// Rows whose id is new.
    created: usize,
    /// Rows that change an existing record.
    updated: usize,
    /// Rows equal to the directory.
    unchanged: usize,
    /// Entries published (0 in a dry run).
    published: usize,
}

/// A row that passed every check.
struct Checked {
    line: u64,
    body: Body,
    change: Change,
}

#[derive(PartialEq, Eq)]
enum Change {
    Created,
    Updated,
    Unchanged,
}

/// `POST /v1/import?dry_run=`.
pub async fn import(
    State(context): State<Shared>,
    Admin(caller): Admin,
    QueryParams(params): QueryParams<ImportParams>,
    request: Request,
) -> ApiResult<Json<ImportReport>> {
    let dry_run = parse_bool("dry_run", &params.dry_run)?.unwrap_or(false);
    let bytes = body_bytes(request, &()).await?;
    let member = context.node.member();
    if !dry_run && !context.node.is_ready() {
        return Err(ApiError::unavailable(
            "not_ready",
            "this node has not yet confirmed its own feed with a peer, so it cannot publish; \
             a dry run works now, the import once it is connected (see /v1/network)",
        ));
    }
    // Held from the checks to the last entry, so no other write slips in between.
    let publisher = context.publisher(&caller).await;
    // Parsing and checking ten thousand rows takes a while; it runs off the async workers.
    let directory = context.directory.clone();
    let (record_type, rows) =
        tokio::task::spawn_blocking(move || read_rows(decode(&bytes)?, member, &directory))
            .await
            .map_err(anyhow::Error::from)??;
    let mut report = ImportReport {
        dry_run,
        record_type,
        rows: rows.len(),
        created: count(&rows, Change::Created),
        updated: count(&rows, Change::Updated),
        unchanged: count(&rows, Change::Unchanged),
        published: 0,
    };
    if dry_run {
        return Ok(Json(report));
    }
    let names = match record_type {
        RecordType::Contacts => contacts::field_name,
        RecordType::Institutions => institutions::field_name,
    };
    for row in rows
        .into_iter()
        .filter(|row| row.change != Change::Unchanged)
    {
        if let Err(error) = publisher.publish(row.body, names).await {
            tracing::error!(
                line = row.line,
                published = report.published,
                "import stopped part way"
            );
            return Err(interrupted(error, report.published, row.line));
        }
        report.published += 1;
    }
    let (published, rows) = (report.published, report.rows);
    tracing::info!(%member, published, rows, "csv import applied");
    Ok(Json(report))
}

fn count(rows: &[Checked], change: Change) -> usize {
    rows.iter().filter(|row| row.change == change).count()
}

fn interrupted(error: ApiError, published: usize, line: u64) -> ApiError {
    ApiError::new(
        error.status(),
        "import_interrupted",
        format!(
            "publishing stopped at the row on line {line} after {published} entries; those stay \
             applied, and importing the same file again publishes the rest"
        ),
    )
    .with_details(serde_json::json!({ "published": published, "line": line }))
}

/// The body as text, without a byte-order mark.
fn decode(bytes: &[u8]) -> ApiResult<&str> {
    let text = std::str::from_utf8(bytes).map_err(|error| {
        let line = bytes[..error.valid_up_to()]
            .iter()
            .filter(|byte| **byte == b'\n')
            .count()
            + 1;
        ApiError::bad_request(
            "body",
            format!(
                "the file is not UTF-8 (line {line}); save it as \"CSV UTF-8\" from the spreadsheet"
            ),
        )
    })?;
    let text = text.strip_prefix(BOM).unwrap_or(text);
    if text.trim().is_empty() {
        return Err(ApiError::bad_request("body", "the file is empty"));
    }
    Ok(text)
}

/// Reads and checks every row; any error fails the whole file.
fn read_rows(
    text: &str,
    member: MemberCode,
    directory: &Directory,
) -> ApiResult<(RecordType, Vec<Checked>)> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(detect_delimiter(text))
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|error| ApiError::bad_request("body", format!("cannot read the header: {error}")))?
        .clone();
    let layout = Layout::from_header(&header).map_err(rejected)?;
    let now = now_ms();
    let mut errors = Vec::new();
    let mut rows = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = error.position().map_or(0, csv::Position::line);
                errors.push(CellError {
                    line,
                    column: String::new(),
                    reason: error.to_string(),
                });
                continue;
            }
        };
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        if rows.len() + errors.len() >= MAX_IMPORT_ROWS {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_rows",
                format!("an import takes at most {MAX_IMPORT_ROWS} rows; split the file"),
            ));
        }
        let line = record.position().map_or(0, csv::Position::line);
        match check_row(&layout, &record, line, now, member, directory, &mut seen) {
            Ok(row) => rows.push(row),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok((layout.record_type, rows))
    } else {
        Err(rejected(errors))
    }
}

fn check_row(
    layout: &Layout,
    record: &csv::StringRecord,
    line: u64,
    now: u64,
    member: MemberCode,
    directory: &Directory,
    seen: &mut HashMap<String, u64>,
) -> Result<Checked, CellError> {
    layout.check_width(record, line)?;
    let (body, change) = match layout.record_type {
        RecordType::Contacts => {
            let contact = layout.contact(record, line)?;
            if directory
                .institution(member, &contact.institution_id)
                .is_none()
            {
                return Err(CellError {
                    line,
                    column: "institution_id".into(),
                    reason: format!(
                        "{member} has no institution {:?}; import institutions first",
                        contact.institution_id
                    ),
                });
            }
            let change = match directory.contact(member, &contact.id) {
                None => Change::Created,
                Some(hit) if hit.record.contact == contact => Change::Unchanged,
                Some(_) => Change::Updated,
            };
            (Body::ContactPut(contact), change)
        }
        RecordType::Institutions => {
            let institution = layout.institution(record, line)?;
            let change = match directory.institution(member, &institution.id) {
                None => Change::Created,
                Some(current) if current.institution == institution => Change::Unchanged,
                Some(_) => Change::Updated,
            };
            (Body::InstitutionPut(institution), change)
        }
    };
    body.validate(now).map_err(|invalid| {
        let (column, item) = column_of(&invalid.field);
        let reason = match item {
            Some(index) => format!("item {}: {}", index + 1, invalid.reason),
            None => invalid.reason,
        };
        CellError {
            line,
            column,
            reason,
        }
    })?;
    let id = match &body {
        Body::ContactPut(contact) => contact.id.clone(),
        Body::InstitutionPut(institution) => institution.id.clone(),
        _ => String::new(),
    };
    if let Some(first) = seen.insert(id.clone(), line) {
        return Err(CellError {
            line,
            column: "id".into(),
            reason: format!("id {id:?} is already on line {first}"),
        });
    }
    Ok(Checked { line, body, change })
}

/// The 422 answer listing every bad row.
fn rejected(mut errors: Vec<CellError>) -> ApiError {
    let total = errors.len();
    errors.truncate(MAX_REPORTED_ERRORS);
    let first = errors.first().map_or_else(String::new, |error| {
        let column = if error.column.is_empty() {
            String::new()
        } else {
            format!(", column {}", error.column)
        };
        format!(" (first: line {}{column}: {})", error.line, error.reason)
    });
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_rows",
        format!("{total} rows have errors; nothing was applied{first}"),
    )
    .with_details(serde_json::json!({ "errors": errors, "total": total }))
}
