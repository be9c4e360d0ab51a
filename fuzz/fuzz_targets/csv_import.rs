//! CSV import of arbitrary bytes: the parser and row checks of `POST /v1/import`, run
//! against the fixture directory without a node.
//!
//! Asserts: nothing panics; a refused file says where: an unreadable file by line, header
//! problems on the header's line, bad rows each on their own line after the header, in
//! file order, naming a column of the layout or none; an accepted file's rows pass the
//! protocol's rules, and written out as the export writes them, import back to the same
//! records with the same verdicts (an export imports back unchanged).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigia_fuzz::{assert_locates, assert_locates_rows, directory, line_count};
use vigia_fuzz_fixtures::{ISSUED_AT_MS, fixture};
use vigia_node::api::csv_format::{
    CONTACT_COLUMNS, INSTITUTION_COLUMNS, RecordType, contact_row, institution_row,
};
use vigia_node::api::{CheckedImport, ImportError, check_import};
use vigia_protocol::Body;

/// The file as `GET /v1/export.csv` writes these rows: byte-order mark, CRLF, the header.
fn exported(checked: &CheckedImport) -> Vec<u8> {
    let mut file = "\u{feff}".as_bytes().to_vec();
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(&mut file);
    let header: &[&str] = match checked.record_type {
        RecordType::Contacts => &CONTACT_COLUMNS,
        RecordType::Institutions => &INSTITUTION_COLUMNS,
    };
    writer.write_record(header).expect("writes to memory");
    for row in &checked.rows {
        let cells = match &row.body {
            Body::ContactPut(contact) => contact_row(contact),
            Body::InstitutionPut(institution) => institution_row(institution),
            other => panic!("an import row publishes a {}", other.kind()),
        };
        writer.write_record(cells).expect("writes to memory");
    }
    writer.flush().expect("writes to memory");
    drop(writer);
    file
}

/// The line of the header: the first after any blank lines, which the reader skips.
fn header_line(data: &[u8]) -> u64 {
    let text = data.strip_prefix("\u{feff}".as_bytes()).unwrap_or(data);
    let blank = text
        .iter()
        .position(|byte| !matches!(byte, b'\r' | b'\n'))
        .unwrap_or(text.len());
    line_count(&String::from_utf8_lossy(&text[..blank]))
}

fn check_accepted(checked: &CheckedImport, lines: u64, header: u64) {
    let mut previous_line = header;
    for row in &checked.rows {
        assert!(
            row.line > previous_line && row.line <= lines,
            "row on line {}",
            row.line
        );
        previous_line = row.line;
        assert_eq!(row.body.validate(ISSUED_AT_MS), Ok(()));
    }
    let file = exported(checked);
    let again = check_import(&file, fixture().own_member(), directory(), ISSUED_AT_MS)
        .unwrap_or_else(|error| panic!("the export of an accepted file is refused: {error:?}"));
    assert_eq!(again.record_type, checked.record_type);
    let verdicts = |import: &CheckedImport| -> Vec<_> {
        import
            .rows
            .iter()
            .map(|row| (row.body.clone(), row.change))
            .collect()
    };
    assert_eq!(
        verdicts(&again),
        verdicts(checked),
        "the export imports back changed"
    );
}

fuzz_target!(|data: &[u8]| {
    let lines = line_count(&String::from_utf8_lossy(data));
    match check_import(data, fixture().own_member(), directory(), ISSUED_AT_MS) {
        Ok(checked) => check_accepted(&checked, lines, header_line(data)),
        Err(ImportError::Unreadable(error)) => {
            assert_locates(&error, lines);
            assert!(error.column.is_empty());
        }
        Err(ImportError::Header(errors)) => {
            assert!(!errors.is_empty(), "a refused header lists no error");
            let header = header_line(data);
            for error in &errors {
                assert_locates(error, lines);
                assert_eq!(error.line, header, "a header error off the header's line");
            }
        }
        Err(ImportError::Rows(errors)) => {
            assert!(errors.listed.len() <= errors.total && errors.rows <= errors.total);
            assert_locates_rows(&errors.listed, lines, header_line(data));
        }
        Err(ImportError::TooManyRows) => {}
        Err(other) => panic!("an import error this target does not know: {other:?}"),
    }
});
