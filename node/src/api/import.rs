//! `POST /v1/import`: loads a CSV file of the node's own contacts or institutions
//! (layout in [`super::csv_format`]), all or nothing.
//!
//! Steps, in order: decode the text (UTF-8, with or without a byte-order mark), find the
//! delimiter, read every row into a record, check each against the protocol's rules and
//! the directory (a contact's institution must exist), and only when no row has an error
//! publish one entry per new or changed row; rows equal to the directory publish nothing,
//! so importing an export changes nothing. With `dry_run=true` the last step is skipped.
//!
//! A refused file lists every bad cell of every row (line, column, reason), so one round of
//! corrections fixes the file; past [`MAX_REPORTED_ERRORS`] the rest are counted. A row of
//! another member (its `member` cell, or a contact whose institution only another member
//! has) is reported as such, once per row, rather than as a list of what it lacks here.
//!
//! Publishing is one entry per row, so "nothing" holds for every error a row can have; if
//! the node fails in the middle (storage), the entries published so far stay, the answer
//! says how many, and importing the same file again finishes the job.
//!
//! [`check_import`] is everything up to publishing, as a plain function of the bytes, the
//! directory and the time: the handler runs it, and so does the fuzz target `csv_import`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vigia_protocol::{Body, MemberCode};

use super::Shared;
use super::auth::Admin;
use super::csv_format::{
    CellError, Layout, MEMBER_COLUMN, RecordType, column_of, detect_delimiter,
};
use super::errors::{ApiError, ApiResult};
use super::extract::{QueryParams, body_bytes, parse_bool};
use super::publish::now_ms;
use super::{contacts, institutions};
use super::{languages, names};
use crate::search::{Directory, InstitutionQuery};

/// Most rows one import takes: ten thousand contacts is far beyond any member's directory,
/// and each row is one entry to sign and store.
pub const MAX_IMPORT_ROWS: usize = 10_000;
/// Most cell errors listed; past this the answer says how many more there are. A
/// thousand is more than anyone corrects in one sitting, and bounds the answer.
pub const MAX_REPORTED_ERRORS: usize = 1_000;
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedRow {
    /// Line of the file where the row starts.
    pub line: u64,
    /// The entry body the row publishes.
    pub body: Body,
    /// What publishing it would change.
    pub change: Change,
}

/// What a checked row would do to the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Its id is new.
    Created,
    /// It replaces a different record.
    Updated,
    /// It equals the record the directory holds.
    Unchanged,
}

/// A file whose every row passed: what [`check_import`] returns.
#[derive(Debug)]
pub struct CheckedImport {
    /// The record type its header names.
    pub record_type: RecordType,
    /// Its data rows, in file order (blank rows left out).
    pub rows: Vec<CheckedRow>,
}

/// Why a file cannot be imported. Every variant but [`ImportError::TooManyRows`] says where
/// the problem is, by line and (for a cell) column.
#[derive(Debug)]
#[non_exhaustive]
pub enum ImportError {
    /// The file as a whole cannot be read: not UTF-8, empty, or a header that is not CSV.
    /// `column` is empty.
    Unreadable(CellError),
    /// The header names no record type, an unknown column or one twice, or misses a
    /// required one; every error is on line 1.
    Header(Vec<CellError>),
    /// More than [`MAX_IMPORT_ROWS`] rows.
    TooManyRows,
    /// Rows or cells break the layout or the protocol's rules: every bad cell, in file
    /// order.
    Rows(RowErrors),
}

/// The bad cells of a file's rows: the first [`MAX_REPORTED_ERRORS`] listed, all counted.
#[derive(Debug, Default)]
pub struct RowErrors {
    /// The errors listed, in file order (by line, then column order within a row).
    pub listed: Vec<CellError>,
    /// Errors in all, listed or not.
    pub total: usize,
    /// Rows with at least one error.
    pub rows: usize,
}

impl RowErrors {
    fn add_row(&mut self, errors: Vec<CellError>) {
        if errors.is_empty() {
            return;
        }
        self.rows += 1;
        self.total += errors.len();
        let room = MAX_REPORTED_ERRORS.saturating_sub(self.listed.len());
        self.listed.extend(errors.into_iter().take(room));
    }
}

impl From<ImportError> for ApiError {
    fn from(error: ImportError) -> Self {
        match error {
            ImportError::Unreadable(error) => ApiError::bad_request("body", error.reason),
            ImportError::TooManyRows => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_rows",
                format!("an import takes at most {MAX_IMPORT_ROWS} rows; split the file"),
            ),
            ImportError::Header(errors) => {
                let total = errors.len();
                rejected(RowErrors {
                    listed: errors,
                    total,
                    rows: 1,
                })
            }
            ImportError::Rows(errors) => rejected(errors),
        }
    }
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
    let checked =
        tokio::task::spawn_blocking(move || check_import(&bytes, member, &directory, now_ms()))
            .await
            .map_err(anyhow::Error::from)??;
    let (record_type, rows) = (checked.record_type, checked.rows);
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

fn count(rows: &[CheckedRow], change: Change) -> usize {
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

/// Reads and checks a CSV file of `member`'s records against `directory` at time `now_ms`,
/// as `POST /v1/import?dry_run=true` does, but without a node: any error fails the whole
/// file. Public so that fuzzing and tests reach the parser without a running node.
pub fn check_import(
    bytes: &[u8],
    member: MemberCode,
    directory: &Directory,
    now_ms: u64,
) -> Result<CheckedImport, ImportError> {
    let text = decode(bytes)?;
    let delimiter = detect_delimiter(text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|error| unreadable(1, format!("cannot read the header: {error}")))?
        .clone();
    // The csv crate ends a quoted field that is never closed at the end of the file, without
    // an error: the row it opens swallows every line after it. Said as what it is, rather
    // than as the width of that swallowing row.
    let unclosed = unclosed_quote(text, delimiter).map(|offset| {
        let mut lines = Lines::new(text);
        lines.advance_to(offset);
        (offset, unclosed_quote_error(lines.line))
    });
    let header_end = reader.position().byte();
    let mut lines = Lines::new(text);
    let header_line = lines.record_start(header.position());
    // On the header's line, as every header problem is, even if the quote opens below it.
    if let Some((offset, _)) = &unclosed
        && (*offset as u64) < header_end
    {
        return Err(ImportError::Header(vec![unclosed_quote_error(header_line)]));
    }
    let layout = Layout::from_header(&header).map_err(|mut errors| {
        for error in &mut errors {
            error.line = header_line;
        }
        ImportError::Header(errors)
    })?;
    let mut errors = RowErrors::default();
    let mut rows = Vec::new();
    let mut read = 0;
    let mut checker = RowChecker {
        layout: &layout,
        now: now_ms,
        member,
        directory,
        seen: HashMap::new(),
        owners: None,
    };
    let mut records = reader.records().peekable();
    while let Some(record) = records.next() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = lines.record_start(error.position());
                errors.add_row(vec![CellError {
                    line,
                    column: String::new(),
                    reason: error.to_string(),
                }]);
                continue;
            }
        };
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        read += 1;
        if read > MAX_IMPORT_ROWS {
            return Err(ImportError::TooManyRows);
        }
        let line = lines.record_start(record.position());
        if records.peek().is_none()
            && let Some((_, error)) = &unclosed
        {
            errors.add_row(vec![error.clone()]);
            continue;
        }
        match checker.check(&record, line) {
            Ok(row) => rows.push(row),
            Err(row_errors) => errors.add_row(row_errors),
        }
    }
    if errors.total == 0 {
        Ok(CheckedImport {
            record_type: layout.record_type,
            rows,
        })
    } else {
        Err(ImportError::Rows(errors))
    }
}

/// Where a quoted field opens that is still open at the end of `text`, read as the csv
/// crate reads it: a quote opens a field only as its first character, `""` inside is a
/// quote, and the field closes at the next lone quote.
fn unclosed_quote(text: &str, delimiter: u8) -> Option<usize> {
    enum State {
        FieldStart,
        Unquoted,
        Quoted(usize),
        QuoteInQuoted(usize),
    }
    let mut state = State::FieldStart;
    for (offset, byte) in text.bytes().enumerate() {
        let ends_field = byte == delimiter || matches!(byte, b'\n' | b'\r');
        state = match state {
            State::FieldStart if byte == b'"' => State::Quoted(offset),
            State::FieldStart | State::Unquoted if ends_field => State::FieldStart,
            State::FieldStart | State::Unquoted => State::Unquoted,
            State::Quoted(open) if byte == b'"' => State::QuoteInQuoted(open),
            State::Quoted(open) => State::Quoted(open),
            State::QuoteInQuoted(open) if byte == b'"' => State::Quoted(open),
            State::QuoteInQuoted(_) if ends_field => State::FieldStart,
            State::QuoteInQuoted(_) => State::Unquoted,
        };
    }
    match state {
        State::Quoted(open) => Some(open),
        _ => None,
    }
}

/// Said without its line: every report of a cell error names the line already.
fn unclosed_quote_error(line: u64) -> CellError {
    CellError {
        line,
        column: String::new(),
        reason: "a quoted field is not closed: its quote runs to the end of the file".into(),
    }
}

/// The body as text, without a byte-order mark.
fn decode(bytes: &[u8]) -> Result<&str, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|error| {
        let mut lines = Lines::new(bytes);
        lines.advance_to(error.valid_up_to());
        let line = lines.line;
        unreadable(
            line,
            format!(
                "the file is not UTF-8 (line {line}); save it as \"CSV UTF-8\" from the spreadsheet"
            ),
        )
    })?;
    let text = text.strip_prefix(BOM).unwrap_or(text);
    if text.trim().is_empty() {
        return Err(unreadable(1, "the file is empty"));
    }
    Ok(text)
}

/// Numbers the lines of a file as a spreadsheet does, from 1: a line ends at `\n`, at
/// `\r\n` or at a lone `\r`. Moves forward only, so numbering every row of a file reads it
/// once.
///
/// The csv crate's own line numbers do not fit: a record's position is taken where the
/// previous record's terminator stopped, which is before the `\n` of a `\r\n` (so every row
/// of a spreadsheet's CRLF file came out one line short), before any blank lines it skips,
/// and it never counts a lone `\r`.
struct Lines<'a> {
    bytes: &'a [u8],
    /// Bytes before this offset are counted.
    offset: usize,
    /// The line the byte at `offset` is on.
    line: u64,
}

impl<'a> Lines<'a> {
    fn new(text: &'a (impl AsRef<[u8]> + ?Sized)) -> Self {
        Self {
            bytes: text.as_ref(),
            offset: 0,
            line: 1,
        }
    }

    /// Counts the line breaks before `end`.
    fn advance_to(&mut self, end: usize) {
        let end = end.min(self.bytes.len());
        for index in self.offset..end {
            let breaks = match self.bytes[index] {
                b'\n' => true,
                b'\r' => self.bytes.get(index + 1) != Some(&b'\n'),
                _ => false,
            };
            self.line += u64::from(breaks);
        }
        self.offset = self.offset.max(end);
    }

    /// The line of the first byte of the record the reader placed at `position`: past the
    /// line breaks and blank lines that the reader skips before a record.
    fn record_start(&mut self, position: Option<&csv::Position>) -> u64 {
        let Some(position) = position else {
            return self.line;
        };
        let mut start = usize::try_from(position.byte()).unwrap_or(usize::MAX);
        while matches!(self.bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        self.advance_to(start);
        self.line
    }
}

fn unreadable(line: u64, reason: impl Into<String>) -> ImportError {
    ImportError::Unreadable(CellError {
        line,
        column: String::new(),
        reason: reason.into(),
    })
}

/// Checks rows one by one against the layout, the protocol, the API's rules and the
/// directory, remembering what the file has said so far.
struct RowChecker<'a> {
    layout: &'a Layout,
    now: u64,
    member: MemberCode,
    directory: &'a Directory,
    /// Ids already in the file, with their line.
    seen: HashMap<String, u64>,
    /// Which members hold each institution id, read from the directory the first time a
    /// contact names an institution this member lacks.
    owners: Option<HashMap<String, Vec<MemberCode>>>,
}

impl RowChecker<'_> {
    /// The row as an entry to publish, or every error it has.
    fn check(
        &mut self,
        record: &csv::StringRecord,
        line: u64,
    ) -> Result<CheckedRow, Vec<CellError>> {
        // Cells do not line up with the header, so nothing in them can be told apart.
        self.layout
            .check_width(record, line)
            .map_err(|error| vec![error])?;
        if let Some(error) = self.other_member(record, line) {
            return Err(vec![error]);
        }
        let (body, mut errors) = match self.layout.record_type {
            RecordType::Contacts => {
                let (contact, errors) = self.layout.contact(record, line);
                (Body::ContactPut(contact), errors)
            }
            RecordType::Institutions => {
                let (institution, errors) = self.layout.institution(record, line);
                (Body::InstitutionPut(institution), errors)
            }
        };
        let mut invalid = match &body {
            Body::ContactPut(contact) => {
                let mut invalid = contact.invalid_fields();
                invalid.extend(languages::unknown("contact.languages", &contact.languages));
                invalid
            }
            Body::InstitutionPut(institution) => institution.invalid_fields(),
            _ => Vec::new(),
        };
        invalid.extend(names::problems(&body));
        errors.extend(invalid.into_iter().map(|invalid| cell_error(line, invalid)));
        if let Body::ContactPut(contact) = &body
            && !errors.iter().any(|error| error.column == "institution_id")
            && let Err(error) = self.institution_exists(&contact.institution_id, line)
        {
            // A contact of another member's file: that is the whole story of this row.
            if error.column == MEMBER_COLUMN {
                return Err(vec![error]);
            }
            errors.push(error);
        }
        let id = match &body {
            Body::ContactPut(contact) => contact.id.clone(),
            Body::InstitutionPut(institution) => institution.id.clone(),
            _ => String::new(),
        };
        if let Some(first) = self.seen.insert(id.clone(), line) {
            errors.push(CellError {
                line,
                column: "id".into(),
                reason: format!("id {id:?} is already on line {first}"),
            });
        }
        if !errors.is_empty() {
            // Within a row, in the order of the header's columns, as a person reads it.
            errors.sort_by_key(|error| self.layout.position(&error.column));
            return Err(errors);
        }
        // The protocol's own verdict stays final, whatever the lists above cover.
        body.validate(self.now)
            .map_err(|invalid| vec![cell_error(line, invalid)])?;
        let change = self.change(&body);
        Ok(CheckedRow { line, body, change })
    }

    /// The error of a row whose `member` cell names another member, or no member.
    fn other_member(&self, record: &csv::StringRecord, line: u64) -> Option<CellError> {
        let text = self.layout.member(record)?;
        let own = self.member;
        let reason = match text.to_ascii_uppercase().parse::<MemberCode>() {
            Ok(member) if member == own => return None,
            Ok(member) => {
                format!("row is for member {member}; this node publishes only {own}'s directory")
            }
            Err(_) => format!("{text:?} is not a member code such as {own}"),
        };
        Some(CellError {
            line,
            column: MEMBER_COLUMN.into(),
            reason,
        })
    }

    /// Whether this member has the institution a contact names. When it does not and
    /// other members do, the file is most likely theirs, and the error says so.
    fn institution_exists(&mut self, id: &str, line: u64) -> Result<(), CellError> {
        let own = self.member;
        if self.directory.institution(own, id).is_some() {
            return Ok(());
        }
        let directory = self.directory;
        let owners = self.owners.get_or_insert_with(|| {
            let mut owners: HashMap<String, Vec<MemberCode>> = HashMap::new();
            for record in directory.institutions(&InstitutionQuery::default()) {
                owners
                    .entry(record.institution.id.clone())
                    .or_default()
                    .push(record.member);
            }
            owners
        });
        match owners.get(id).map(Vec::as_slice) {
            Some([other]) => Err(CellError {
                line,
                column: MEMBER_COLUMN.into(),
                reason: format!(
                    "row is for member {other} (institution {id:?} is {other}'s); this node \
                     publishes only {own}'s directory"
                ),
            }),
            _ => Err(CellError {
                line,
                column: "institution_id".into(),
                reason: format!("{own} has no institution {id:?}; import institutions first"),
            }),
        }
    }

    fn change(&self, body: &Body) -> Change {
        let member = self.member;
        match body {
            Body::ContactPut(contact) => match self.directory.contact(member, &contact.id) {
                None => Change::Created,
                Some(hit) if hit.record.contact == *contact => Change::Unchanged,
                Some(_) => Change::Updated,
            },
            Body::InstitutionPut(institution) => {
                match self.directory.institution(member, &institution.id) {
                    None => Change::Created,
                    Some(current) if current.institution == *institution => Change::Unchanged,
                    Some(_) => Change::Updated,
                }
            }
            _ => Change::Created,
        }
    }
}

/// A protocol field's error as the cell it is in: `contact.phones[1]` is the `phones`
/// column, "item 2".
fn cell_error(line: u64, invalid: vigia_protocol::body::InvalidField) -> CellError {
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
}

/// The 422 answer listing the bad cells.
fn rejected(errors: RowErrors) -> ApiError {
    let RowErrors {
        listed,
        total,
        rows,
    } = errors;
    let first = listed.first().map_or_else(String::new, |error| {
        let column = if error.column.is_empty() {
            String::new()
        } else {
            format!(", column {}", error.column)
        };
        format!(" (first: line {}{column}: {})", error.line, error.reason)
    });
    let rows_text = if rows == 1 {
        "1 row has".to_owned()
    } else {
        format!("{rows} rows have")
    };
    // "3 rows have errors" while each bad row has one; the count of errors when it differs.
    let errors_text = match total {
        _ if total == rows => "errors".to_owned(),
        1 => "1 error".to_owned(),
        _ => format!("{total} errors"),
    };
    let not_listed = total - listed.len();
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_rows",
        format!("{rows_text} {errors_text}; nothing was applied{first}"),
    )
    .with_details(serde_json::json!({
        "errors": listed,
        "total": total,
        "rows": rows,
        "not_listed": not_listed,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pe() -> MemberCode {
        "PE".parse().expect("member code")
    }

    /// The (line, column) of every error of a refused institutions file.
    fn error_places(file: &str) -> Vec<(u64, String)> {
        let directory = Directory::new([(pe(), "Perú".to_owned())]);
        let errors = match check_import(file.as_bytes(), pe(), &directory, 0) {
            Err(ImportError::Rows(errors)) => errors.listed,
            Err(ImportError::Header(errors)) => errors,
            other => panic!("{file:?} was not refused for its rows or header: {other:?}"),
        };
        errors
            .into_iter()
            .map(|error| (error.line, error.column))
            .collect()
    }

    fn places(expected: &[(u64, &str)]) -> Vec<(u64, String)> {
        expected
            .iter()
            .map(|(line, column)| (*line, (*column).to_owned()))
            .collect()
    }

    // Regression: the csv crate places a record before the `\n` of the previous `\r\n`, so
    // every row of a spreadsheet's CRLF file was reported one line short (found by the
    // `csv_import` fuzz target).
    #[test]
    fn rows_of_a_crlf_file_are_reported_on_their_own_lines() {
        let file = concat!(
            "id,name,kind\r\nok,Uno,police\r\nbad,Dos,navy\r\n",
            "\"q\",\"three\r\nlines\r\n\",army\r\n",
        );
        assert_eq!(error_places(file), places(&[(3, "kind"), (4, "kind")]));
    }

    #[test]
    fn rows_after_blank_lines_and_lone_carriage_returns_are_reported_on_their_own_lines() {
        let blank_lines = "id,name,kind\n\n\nbad,Uno,navy\n\r\n\r\nworse,,police\n";
        assert_eq!(
            error_places(blank_lines),
            places(&[(4, "kind"), (7, "name")])
        );
        let old_mac = "id,name,kind\rok,Uno,police\rbad,Dos,navy\r";
        assert_eq!(error_places(old_mac), places(&[(3, "kind")]));
    }

    #[test]
    fn an_unclosed_quote_is_reported_on_the_line_it_opens() {
        let directory = Directory::new([(pe(), "Perú".to_owned())]);
        let file = "id,name,kind\nok,\"Uno\"\"s\",police\nbad,\"Dos,police\nx,Tres,police\n";
        let errors = match check_import(file.as_bytes(), pe(), &directory, 0) {
            Err(ImportError::Rows(errors)) => errors.listed,
            other => panic!("not refused for its rows: {other:?}"),
        };
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, 3);
        assert!(
            errors[0].reason.starts_with("a quoted field is not closed"),
            "{errors:?}"
        );
        let header = "id,\"name,kind\nx,Tres,police\n";
        match check_import(header.as_bytes(), pe(), &directory, 0) {
            Err(ImportError::Header(errors)) => {
                assert_eq!(errors, vec![unclosed_quote_error(1)]);
            }
            other => panic!("not refused for its header: {other:?}"),
        }
        // Quotes that close, and quotes inside an unquoted field, open nothing.
        assert_eq!(unclosed_quote("a,\"b\"\"\nc\",d\ne\"f,g\n", b','), None);
    }

    #[test]
    fn a_header_after_blank_lines_is_reported_on_its_own_line() {
        let file = "\r\n\nid,name,kind,colour\nx,Uno,police,red\n";
        assert_eq!(error_places(file), places(&[(3, "colour")]));
    }

    #[test]
    fn a_file_that_is_not_utf8_is_refused_with_the_line_of_the_first_bad_byte() {
        let directory = Directory::new([(pe(), "Perú".to_owned())]);
        let file = b"id,name,kind\r\nok,Uno,police\r\nbad,D\xf3s,army\r\n";
        match check_import(file, pe(), &directory, 0) {
            Err(ImportError::Unreadable(error)) => assert_eq!(error.line, 3),
            other => panic!("not refused as unreadable: {other:?}"),
        }
    }
}
