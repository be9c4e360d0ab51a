//! What the fuzz targets share beyond the protocol fixtures: the directory that CSV files
//! are checked against, and the oracles that say what a CSV error must carry.
//!
//! The targets themselves are in `fuzz_targets/`, one file each; `fuzz/README.md` lists
//! what each one asserts.

use std::sync::LazyLock;

use vigia_fuzz_fixtures::{DIRECTORY_INSTITUTIONS, contact, fixture, institution, sample_feeds};
use vigia_node::api::csv_format::{CONTACT_COLUMNS, CellError, INSTITUTION_COLUMNS, MEMBER_COLUMN};
use vigia_node::search::Directory;
use vigia_node::views::{ContactRecord, InstitutionRecord};
use vigia_protocol::body::{Availability, InstitutionKind};
use vigia_protocol::{EntryRef, Hash};

static DIRECTORY: LazyLock<Directory> = LazyLock::new(build_directory);

/// The own member's directory: the institutions of [`DIRECTORY_INSTITUTIONS`] and one
/// contact, so that CSV rows can be new, changed or unchanged.
pub fn directory() -> &'static Directory {
    &DIRECTORY
}

fn build_directory() -> Directory {
    let roster = &fixture().roster;
    let names = roster
        .members()
        .iter()
        .map(|member| (member.code, member.name.clone()));
    let directory = Directory::new(names);
    let member = fixture().own_member();
    let entry = |seq| EntryRef {
        author: member,
        seq,
        hash: Hash([u8::try_from(seq).unwrap_or(0); 32]),
    };
    for (seq, id) in (1..).zip(DIRECTORY_INSTITUTIONS) {
        directory.put_institution(InstitutionRecord {
            member,
            institution: institution(id, InstitutionKind::Police),
            entry: entry(seq),
        });
    }
    directory.put_contact(ContactRecord {
        member,
        contact: contact("c-1", DIRECTORY_INSTITUTIONS[0], Availability::AlwaysOn),
        entry: entry(10),
    });
    // The sample feeds are what the seeds hold; building them here as well keeps a change
    // that breaks them from going unnoticed until the seeds are written.
    let _ = sample_feeds();
    directory
}

/// Number of lines in `text` as a spreadsheet counts them: a line ends at `\n`, at `\r\n`
/// or at a `\r` alone.
pub fn line_count(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let lone_carriage_returns = bytes
        .iter()
        .enumerate()
        .filter(|(index, byte)| **byte == b'\r' && bytes.get(index + 1) != Some(&b'\n'))
        .count();
    let line_feeds = bytes.iter().filter(|byte| **byte == b'\n').count();
    u64::try_from(line_feeds + lone_carriage_returns + 1).unwrap_or(u64::MAX)
}

/// Whether `column` is one a spreadsheet user can find: a column of either layout.
pub fn is_known_column(column: &str) -> bool {
    column == MEMBER_COLUMN
        || CONTACT_COLUMNS.contains(&column)
        || INSTITUTION_COLUMNS.contains(&column)
}

/// Panics unless `error` says where it is: a line within the file and a reason.
pub fn assert_locates(error: &CellError, lines: u64) {
    assert!(
        (1..=lines).contains(&error.line),
        "line {} outside 1..={lines}: {error:?}",
        error.line
    );
    assert!(!error.reason.trim().is_empty(), "no reason: {error:?}");
}

/// Panics unless the errors of bad rows each name a row after the header's line, in file
/// order (a row may have several), and a column of the layout or none (a problem with the
/// whole row).
pub fn assert_locates_rows(errors: &[CellError], lines: u64, header: u64) {
    assert!(!errors.is_empty(), "a rejected file lists no error");
    let mut previous_line = header;
    for error in errors {
        assert_locates(error, lines);
        assert!(
            error.line > header && error.line >= previous_line,
            "row error on line {} follows line {previous_line}: {errors:?}",
            error.line
        );
        assert!(
            error.column.is_empty() || is_known_column(&error.column),
            "row error names no column of the layout: {error:?}"
        );
        previous_line = error.line;
    }
}
