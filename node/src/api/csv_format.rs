//! The directory's CSV layout, shared by import and export so that an export imports back
//! unchanged.
//!
//! One file holds one record type, told apart by its header: a `given_names` column makes
//! it contacts, a `kind` column institutions (spreadsheets keep one table per sheet, and a
//! contact names its institution by id, so institutions are imported first). Columns may
//! come in any order, names are case-insensitive, and optional ones may be left out.
//!
//! Contacts: `id, given_names, family_names, institution_id, role, emails, phones,
//! languages, always_on, time_zone, from, to, notes`; required are `id`, `given_names`,
//! `family_names`, `institution_id` and `always_on` (`true`/`false`; when false,
//! `time_zone`, `from` and `to` give office hours).
//!
//! Institutions: `id, name, name_en, name_es, name_pt, name_fr, kind, address, phones,
//! emails`; required are `id`, `name` and `kind` (`police`, `intelligence`,
//! `financial_intelligence_unit`, `prosecutor`, `customs`, `migration`, `csirt`,
//! `ministry`, `military`, `other`).
//!
//! Both may have a `member` column, the member code of the member whose records they are;
//! the export writes it first, so a file read into the wrong member's node is recognised
//! as such rather than refused row by row for what it lacks.
//!
//! Lists (emails, phones, languages) separate items with `|`. Free text is taken exactly
//! as written; ids, codes and list items are trimmed of surrounding spaces.
//!
//! Formulas: any member publishes the text that another member's staff export and open in a
//! spreadsheet, which runs a cell starting with `=`, `+`, `-`, `@`, tab or carriage return
//! as a formula (OWASP "CSV injection"). The export therefore writes such a cell with a
//! single quote `'` in front, which spreadsheets read as "this is text"; cells that are
//! plainly data are left alone: a number (`-3`, `2.5`) or one E.164 phone (`+541143701234`).
//! A cell that is already quotes followed by a trigger (`'=x`) gets one more quote as
//! well, so that the import can undo exactly what the export did: it removes one leading
//! `'` from a cell that is one or more quotes and then a trigger character. Export then
//! import gives back every value unchanged.

use std::collections::HashMap;

use serde::Serialize;
use vigia_protocol::body::{Availability, Contact, Institution, InstitutionKind, LocalizedNames};

/// The optional column naming the member whose records a file holds.
pub const MEMBER_COLUMN: &str = "member";

/// Separator of list items within one cell.
pub const LIST_SEPARATOR: char = '|';

/// Contact columns, in export order.
pub const CONTACT_COLUMNS: [&str; 13] = [
    "id",
    "given_names",
    "family_names",
    "institution_id",
    "role",
    "emails",
    "phones",
    "languages",
    "always_on",
    "time_zone",
    "from",
    "to",
    "notes",
];
const CONTACT_REQUIRED: [&str; 5] = [
    "id",
    "given_names",
    "family_names",
    "institution_id",
    "always_on",
];

/// Institution columns, in export order.
pub const INSTITUTION_COLUMNS: [&str; 10] = [
    "id", "name", "name_en", "name_es", "name_pt", "name_fr", "kind", "address", "phones", "emails",
];
const INSTITUTION_REQUIRED: [&str; 3] = ["id", "name", "kind"];

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordType {
    /// Contacts.
    Contacts,
    /// Institutions.
    Institutions,
}

impl RecordType {
    fn columns(self) -> &'static [&'static str] {
        match self {
            RecordType::Contacts => &CONTACT_COLUMNS,
            RecordType::Institutions => &INSTITUTION_COLUMNS,
        }
    }

    fn required(self) -> &'static [&'static str] {
        match self {
            RecordType::Contacts => &CONTACT_REQUIRED,
            RecordType::Institutions => &INSTITUTION_REQUIRED,
        }
    }
}

/// A problem with one cell (or a whole row, or the header), where a spreadsheet user can
/// find it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CellError {
    /// Line of the file where the row starts, from 1 (the header is line 1).
    pub line: u64,
    /// The column, as the header names it; empty for a problem with the whole row.
    pub column: String,
    /// What is wrong.
    pub reason: String,
}

impl CellError {
    fn new(line: u64, column: &str, reason: impl Into<String>) -> Self {
        Self {
            line,
            column: column.to_owned(),
            reason: reason.into(),
        }
    }
}

/// The columns of one file: which record type, and where each known column is.
#[derive(Debug)]
pub struct Layout {
    /// The record type the header names.
    pub record_type: RecordType,
    positions: HashMap<&'static str, usize>,
    width: usize,
}

/// The delimiter a file uses, from its first line: whichever of `,`, `;` and tab occurs
/// most there (spreadsheets in Spanish, Portuguese and French locales write `;`).
pub fn detect_delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or_default();
    let count = |delimiter: char| header.matches(delimiter).count();
    [(b';', count(';')), (b'\t', count('\t'))]
        .into_iter()
        .filter(|(_, found)| *found > count(','))
        .max_by_key(|(_, found)| *found)
        .map_or(b',', |(delimiter, _)| delimiter)
}

impl Layout {
    /// Reads the header.
    pub fn from_header(header: &csv::StringRecord) -> Result<Self, Vec<CellError>> {
        let names: Vec<String> = header
            .iter()
            .map(|name| name.trim().to_ascii_lowercase())
            .collect();
        let has = |column: &str| names.iter().any(|name| name == column);
        let record_type = if has("given_names") {
            RecordType::Contacts
        } else if has("kind") {
            RecordType::Institutions
        } else {
            return Err(vec![CellError::new(
                1,
                "",
                "the header names neither contacts (a given_names column) nor institutions \
                 (a kind column)",
            )]);
        };
        let mut errors = Vec::new();
        let mut positions = HashMap::new();
        for (position, name) in names.iter().enumerate() {
            let known = std::iter::once(&MEMBER_COLUMN).chain(record_type.columns());
            match known.into_iter().find(|column| *column == name) {
                Some(column) if positions.contains_key(column) => {
                    errors.push(CellError::new(1, name, "the column appears twice"));
                }
                Some(column) => {
                    positions.insert(*column, position);
                }
                None => errors.push(CellError::new(
                    1,
                    name,
                    format!(
                        "unknown column; expected some of {MEMBER_COLUMN}, {}",
                        record_type.columns().join(", ")
                    ),
                )),
            }
        }
        for required in record_type.required() {
            if !positions.contains_key(required) {
                errors.push(CellError::new(1, required, "required column is missing"));
            }
        }
        if errors.is_empty() {
            Ok(Self {
                record_type,
                positions,
                width: names.len(),
            })
        } else {
            Err(errors)
        }
    }

    /// Checks that a row has as many fields as the header.
    pub fn check_width(&self, row: &csv::StringRecord, line: u64) -> Result<(), CellError> {
        if row.len() == self.width {
            Ok(())
        } else {
            Err(CellError::new(
                line,
                "",
                format!(
                    "the row has {} fields; the header has {}",
                    row.len(),
                    self.width
                ),
            ))
        }
    }

    fn cell<'a>(&self, row: &'a csv::StringRecord, column: &str) -> &'a str {
        self.positions
            .get(column)
            .and_then(|position| row.get(*position))
            .map(restore_formula)
            .unwrap_or_default()
    }

    /// Where `column` is in the file, for ordering a row's errors as its cells are laid
    /// out; a column the file lacks sorts last.
    pub fn position(&self, column: &str) -> usize {
        self.positions.get(column).copied().unwrap_or(usize::MAX)
    }

    /// The row's `member` cell, trimmed, if the file has the column and the cell is not
    /// empty.
    pub fn member<'a>(&self, row: &'a csv::StringRecord) -> Option<&'a str> {
        Some(self.cell(row, MEMBER_COLUMN).trim()).filter(|member| !member.is_empty())
    }

    /// A contact from a row, and every cell the layout itself refuses (the protocol's
    /// rules are checked separately). Where a cell is refused, the contact holds a stand-in
    /// (always on) so that the other cells are still checked.
    pub fn contact(&self, row: &csv::StringRecord, line: u64) -> (Contact, Vec<CellError>) {
        let cell = |column| self.cell(row, column);
        let mut errors = Vec::new();
        let always_on = match cell("always_on").trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            other => {
                let reason = format!("{other:?} is not true or false");
                errors.push(CellError::new(line, "always_on", reason));
                None
            }
        };
        let hours = ["time_zone", "from", "to"].map(|column| cell(column).trim().to_owned());
        let availability = if always_on != Some(false) {
            if always_on == Some(true) {
                for (column, value) in ["time_zone", "from", "to"].iter().zip(&hours) {
                    if !value.is_empty() {
                        let reason = "must be empty when always_on is true";
                        errors.push(CellError::new(line, column, reason));
                    }
                }
            }
            Availability::AlwaysOn
        } else {
            let [time_zone, from, to] = hours;
            Availability::Hours {
                time_zone,
                from,
                to,
            }
        };
        let contact = Contact {
            id: cell("id").trim().to_owned(),
            given_names: cell("given_names").to_owned(),
            family_names: cell("family_names").to_owned(),
            institution_id: cell("institution_id").trim().to_owned(),
            role: cell("role").to_owned(),
            emails: list(cell("emails")),
            phones: list(cell("phones")),
            languages: list(cell("languages")),
            availability,
            notes: cell("notes").to_owned(),
        };
        (contact, errors)
    }

    /// An institution from a row, and every cell the layout itself refuses (the protocol's
    /// rules are checked separately); a refused kind is `other` in the stand-in returned.
    pub fn institution(&self, row: &csv::StringRecord, line: u64) -> (Institution, Vec<CellError>) {
        let cell = |column| self.cell(row, column);
        let optional = |column| Some(cell(column).to_owned()).filter(|name| !name.is_empty());
        let kind_text = cell("kind").trim();
        let mut errors = Vec::new();
        let kind: InstitutionKind =
            serde_json::from_value(serde_json::Value::String(kind_text.to_ascii_lowercase()))
                .unwrap_or_else(|_| {
                    errors.push(CellError::new(
                        line,
                        "kind",
                        format!(
                            "{kind_text:?} is not one of police, intelligence, \
                             financial_intelligence_unit, prosecutor, customs, migration, \
                             csirt, ministry, military, other"
                        ),
                    ));
                    InstitutionKind::Other
                });
        let institution = Institution {
            id: cell("id").trim().to_owned(),
            name: cell("name").to_owned(),
            names: LocalizedNames {
                en: optional("name_en"),
                es: optional("name_es"),
                pt: optional("name_pt"),
                fr: optional("name_fr"),
            },
            kind,
            address: cell("address").to_owned(),
            phones: list(cell("phones")),
            emails: list(cell("emails")),
        };
        (institution, errors)
    }
}

/// First characters that make a spreadsheet evaluate a cell as a formula.
const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// What spreadsheets read as "the rest of this cell is text"; they do not show it.
const TEXT_MARK: char = '\'';

/// Whether `cell`, past any leading [`TEXT_MARK`]s, starts with a formula trigger.
fn starts_like_a_formula(cell: &str) -> bool {
    cell.trim_start_matches(TEXT_MARK)
        .starts_with(FORMULA_TRIGGERS)
}

/// A number or a single E.164 phone: a spreadsheet reads it as a value, never as a formula,
/// and a quote in front would only get in the way of people who sort or dial it.
fn is_plain_data(cell: &str) -> bool {
    let unsigned = cell.strip_prefix(['+', '-']).unwrap_or(cell);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && digits(fraction)
}

/// `cell` as the export writes it: with a [`TEXT_MARK`] in front if a spreadsheet could
/// take it for a formula (see the module documentation for the exact rule).
pub fn neutralise_formula(cell: String) -> String {
    if starts_like_a_formula(&cell) && !is_plain_data(&cell) {
        format!("{TEXT_MARK}{cell}")
    } else {
        cell
    }
}

/// The inverse of [`neutralise_formula`], as the import reads a cell.
pub fn restore_formula(cell: &str) -> &str {
    match cell.strip_prefix(TEXT_MARK) {
        Some(rest) if starts_like_a_formula(rest) => rest,
        _ => cell,
    }
}

fn list(cell: &str) -> Vec<String> {
    cell.split(LIST_SEPARATOR)
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

fn join(items: &[String]) -> String {
    items.join(&LIST_SEPARATOR.to_string())
}

/// A protocol field path as a CSV column and a reason prefix: `contact.phones[1]` is the
/// `phones` column, "item 2".
pub fn column_of(field: &str) -> (String, Option<usize>) {
    let field = field
        .strip_prefix("contact.")
        .or_else(|| field.strip_prefix("institution."))
        .unwrap_or(field);
    let field = field.strip_prefix("availability.").unwrap_or(field);
    let (field, item) = match field.split_once('[') {
        Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
        None => (field, None),
    };
    let column = match field.strip_prefix("names.") {
        Some(language) => format!("name_{language}"),
        None => field.to_owned(),
    };
    (column, item)
}

/// A contact's cells, in [`CONTACT_COLUMNS`] order.
pub fn contact_row(contact: &Contact) -> Vec<String> {
    let (always_on, time_zone, from, to) = match &contact.availability {
        Availability::AlwaysOn => ("true", "", "", ""),
        Availability::Hours {
            time_zone,
            from,
            to,
        } => ("false", time_zone.as_str(), from.as_str(), to.as_str()),
    };
    neutralised(vec![
        contact.id.clone(),
        contact.given_names.clone(),
        contact.family_names.clone(),
        contact.institution_id.clone(),
        contact.role.clone(),
        join(&contact.emails),
        join(&contact.phones),
        join(&contact.languages),
        always_on.to_owned(),
        time_zone.to_owned(),
        from.to_owned(),
        to.to_owned(),
        contact.notes.clone(),
    ])
}

/// An institution's cells, in [`INSTITUTION_COLUMNS`] order.
pub fn institution_row(institution: &Institution) -> Vec<String> {
    let names = &institution.names;
    let name = |name: &Option<String>| name.clone().unwrap_or_default();
    let kind = serde_json::to_value(institution.kind)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default();
    neutralised(vec![
        institution.id.clone(),
        institution.name.clone(),
        name(&names.en),
        name(&names.es),
        name(&names.pt),
        name(&names.fr),
        kind,
        institution.address.clone(),
        join(&institution.phones),
        join(&institution.emails),
    ])
}

fn neutralised(cells: Vec<String>) -> Vec<String> {
    cells.into_iter().map(neutralise_formula).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiter_follows_the_header() {
        assert_eq!(detect_delimiter("id;given_names;family_names\n1,2;3"), b';');
        assert_eq!(detect_delimiter("id,given_names\n"), b',');
        assert_eq!(detect_delimiter("id\tkind\tname"), b'\t');
        assert_eq!(detect_delimiter("id"), b',');
    }

    #[test]
    fn cells_a_spreadsheet_would_run_are_exported_as_text() {
        let cases = [
            ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
            ("@SUM(1)", "'@SUM(1)"),
            (
                "=HYPERLINK(\"http://x.example\")",
                "'=HYPERLINK(\"http://x.example\")",
            ),
            ("+1+1", "'+1+1"),
            ("-2+3", "'-2+3"),
            ("\tTAB", "'\tTAB"),
            ("\rCR", "'\rCR"),
            ("'=already quoted", "''=already quoted"),
            ("+541143701234|+5411", "'+541143701234|+5411"),
            ("+541143701234", "+541143701234"),
            ("-3", "-3"),
            ("2.5", "2.5"),
            ("José María", "José María"),
            ("'quoted text", "'quoted text"),
            ("", ""),
        ];
        for (value, exported) in cases {
            assert_eq!(neutralise_formula(value.to_owned()), exported, "{value:?}");
            assert_eq!(restore_formula(exported), value, "{exported:?}");
        }
    }

    #[test]
    fn protocol_fields_map_to_columns() {
        assert_eq!(column_of("contact.phones[1]"), ("phones".into(), Some(1)));
        assert_eq!(
            column_of("contact.availability.from"),
            ("from".into(), None)
        );
        assert_eq!(column_of("institution.names.fr"), ("name_fr".into(), None));
    }
}
