//! `vigia import FILE` and `vigia contacts|institutions export`: the directory as files.
//!
//! Import sends a CSV file as it is to the node, which reads it all or nothing and reports
//! every bad row; this command shows those rows as a table. Export writes what the node
//! produces (CSV in the import's layout, vCard 4.0) or the API's JSON; a file is written
//! whole or not at all, readable by its owner only, since it holds the network's officers'
//! personal data.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use serde_json::Value;
use vigia_protocol::MemberCode;

use super::connection::ConnectionArgs;
use super::directory_admin::RecordKind;
use super::output::{self, Table};
use super::{
    FormatArgs, Session, node_error, parse_member, printed_json, read_input, run_with_session,
};
use crate::client::with_query;

/// Largest file `import` reads. The node's default body limit is 4 MiB and its row limit
/// 10 000; a node configured for more still fits well under this.
const MAX_IMPORT_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Contacts per page of a JSON export: the API's largest page.
const EXPORT_PAGE_SIZE: u64 = 200;

/// Most pages a JSON export reads (200 000 contacts): far above any network's directory,
/// and a stop for a node whose answers never end.
const MAX_EXPORT_PAGES: u64 = 1_000;

/// File formats of a contacts export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The import's CSV layout, one member's records (default: this node's member).
    Csv,
    /// vCard 4.0 (RFC 6350), for address books and phones.
    Vcard,
    /// The API's JSON, a list of records.
    Json,
}

/// File formats of an institutions export: vCard holds people, so it is not one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InstitutionFormat {
    /// The import's CSV layout, one member's records (default: this node's member).
    Csv,
    /// The API's JSON, a list of records.
    Json,
}

impl From<InstitutionFormat> for Format {
    fn from(format: InstitutionFormat) -> Self {
        match format {
            InstitutionFormat::Csv => Format::Csv,
            InstitutionFormat::Json => Format::Json,
        }
    }
}

/// Arguments of `contacts export`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// File format.
    #[arg(long)]
    pub format: Format,
    /// Whose records and where they go.
    #[command(flatten)]
    pub target: ExportTarget,
}

/// Arguments of `institutions export`.
#[derive(Debug, Clone, clap::Args)]
pub struct InstitutionExportArgs {
    /// File format.
    #[arg(long)]
    pub format: InstitutionFormat,
    /// Whose records and where they go.
    #[command(flatten)]
    pub target: ExportTarget,
}

/// Whose records an export writes, and where.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportTarget {
    /// Whose records, such as PE (default: with csv this node's member, with the other
    /// formats every member's).
    #[arg(long, value_parser = parse_member)]
    pub member: Option<MemberCode>,
    /// Write to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Arguments of `vigia import`.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// CSV file of contacts or institutions (the header says which; `-` reads standard
    /// input). Import institutions before the contacts that belong to them.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Check every row and report what would change, publishing nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[command(flatten)]
    pub format: FormatArgs,
}

/// Runs `vigia import` against the node `connection` names.
pub fn run_import(
    connection: &ConnectionArgs,
    args: &ImportArgs,
    out: &mut dyn Write,
) -> Result<()> {
    run_with_session(connection, args.format.json, out, |session, out| {
        import(session, args, out)
    })
}

fn import(session: &Session, args: &ImportArgs, out: &mut dyn Write) -> Result<()> {
    // Sent as bytes: the node decodes them, and says which line is not UTF-8 if one is not.
    let bytes = read_input(&args.file, MAX_IMPORT_FILE_BYTES, "split it")?;
    let path = format!("/v1/import?dry_run={}", args.dry_run);
    let report = match session.client.post_bytes(&path, "text/csv", bytes) {
        Ok(report) => report,
        Err(error) => {
            if !session.json {
                show_bad_rows(&error, out)?;
            }
            return Err(error);
        }
    };
    if printed_json(session, out, &report)? {
        return Ok(());
    }
    let rows = output::number(&report, "rows");
    let noun = match output::text(&report, "record_type") {
        "institutions" => "institution",
        _ => "contact",
    };
    let (created, updated, unchanged) = (
        output::number(&report, "created"),
        output::number(&report, "updated"),
        output::number(&report, "unchanged"),
    );
    let file = args.file.display();
    if args.dry_run {
        writeln!(
            out,
            "checked {rows} {noun} rows of {file}: {created} to create, {updated} to change, \
             {unchanged} unchanged; nothing published (dry run)"
        )?;
    } else {
        let published = output::number(&report, "published");
        writeln!(
            out,
            "imported {rows} {noun} rows of {file}: {created} created, {updated} updated, \
             {unchanged} unchanged; {published} entries published"
        )?;
    }
    Ok(())
}

/// Prints the node's list of bad rows, when the error is one.
fn show_bad_rows(error: &anyhow::Error, out: &mut dyn Write) -> Result<()> {
    let Some(details) = node_error(error).and_then(|node| node.details.as_ref()) else {
        return Ok(());
    };
    let Some(rows) = details["errors"].as_array() else {
        return Ok(());
    };
    let mut table = Table::new(&["line", "column", "reason"])
        .right(0)
        .max_width(2, 100);
    for row in rows {
        table.row(vec![
            output::number(row, "line").to_string(),
            output::text(row, "column").to_owned(),
            output::text(row, "reason").to_owned(),
        ]);
    }
    table.write(out)?;
    let total = output::number(details, "total");
    if total > rows.len() as u64 {
        writeln!(
            out,
            "… and {} more errors not listed ({total} in {} rows)",
            total - rows.len() as u64,
            output::number(details, "rows")
        )?;
    }
    Ok(())
}

/// Writes `kind` records in `format` to standard output or `--out`.
pub fn export(
    session: &Session,
    kind: RecordKind,
    format: Format,
    args: &ExportTarget,
    out: &mut dyn Write,
) -> Result<()> {
    if session.json && format != Format::Json {
        // Refused rather than ignored: a script that asked for JSON must not get CSV.
        bail!(
            "--json conflicts with --format {}: an export writes the format --format names \
             (--format json for the API's JSON)",
            super::api_name(&format)
        );
    }
    let member = args.member.map(|member| member.to_string());
    // A byte-order mark makes spreadsheets read the file's accents right; on standard
    // output it would only get in the way of the next program in the pipe.
    let bom = args.out.is_some().to_string();
    let (bytes, count) = match (format, kind) {
        (Format::Csv, _) => {
            let record_type = Some(kind.collection().to_owned());
            let query = [
                ("type", record_type),
                ("member", member),
                ("bom", Some(bom)),
            ];
            let text = session
                .client
                .get_text(&with_query("/v1/export.csv", &query))?;
            let count = csv_records(&text);
            (text.into_bytes(), count)
        }
        (Format::Vcard, RecordKind::Contact) => {
            let text = session
                .client
                .get_text(&with_query("/v1/export.vcf", &[("member", member)]))?;
            let count = text.lines().filter(|line| *line == "BEGIN:VCARD").count();
            (text.into_bytes(), count)
        }
        (Format::Vcard, RecordKind::Institution) => {
            bail!("vCard holds people: export institutions as csv or json")
        }
        (Format::Json, RecordKind::Contact) => json_bytes(&all_contacts(session, member)?)?,
        (Format::Json, RecordKind::Institution) => {
            let answer = session
                .client
                .get(&with_query("/v1/institutions", &[("member", member)]))?;
            json_bytes(&answer["items"])?
        }
    };
    let Some(path) = &args.out else {
        out.write_all(&bytes)?;
        return Ok(());
    };
    write_private(path, &bytes)?;
    let whose = args
        .member
        .map_or_else(String::new, |member| format!(" of {member}"));
    let wrote = output::count(count as u64, kind.noun());
    writeln!(out, "wrote {wrote}{whose} to {}", path.display())?;
    Ok(())
}

/// Every contact (of `member`, or of all), page by page.
fn all_contacts(session: &Session, member: Option<String>) -> Result<Value> {
    let mut contacts = Vec::new();
    for page in 1..=MAX_EXPORT_PAGES {
        let query = [
            ("member", member.clone()),
            ("page", Some(page.to_string())),
            ("per_page", Some(EXPORT_PAGE_SIZE.to_string())),
        ];
        let answer = session.client.get(&with_query("/v1/contacts", &query))?;
        let items = answer["items"].as_array().cloned().unwrap_or_default();
        let total = output::number(&answer, "total");
        let last = items.is_empty();
        contacts.extend(items);
        // A directory that changes between pages can shift a contact across a page
        // boundary; the export is as consistent as paging allows, like any listing.
        if last || contacts.len() as u64 >= total {
            return Ok(Value::Array(contacts));
        }
    }
    bail!(
        "the node lists more than {} contacts; stopped",
        MAX_EXPORT_PAGES * EXPORT_PAGE_SIZE
    )
}

fn json_bytes(value: &Value) -> Result<(Vec<u8>, usize)> {
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    Ok((bytes, value.as_array().map_or(0, Vec::len)))
}

/// Data rows of a CSV file with a header.
fn csv_records(text: &str) -> usize {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    csv::Reader::from_reader(text.as_bytes()).records().count()
}

/// Writes `bytes` to `path` atomically. A new file is readable by its owner only (the
/// temporary file's mode); a file replaced keeps the mode its owner gave it.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    if path.exists() {
        return vigia_node::files::replace_atomically(path, bytes);
    }
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".vigia-export-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    temp.persist(path)
        .map_err(|error| error.error)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn exported_files_are_private_and_replaced_whole() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("contacts.vcf");
        write_private(&path, b"first").expect("written");
        let mode = std::fs::metadata(&path)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        write_private(&path, b"second").expect("replaced");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
    }

    #[test]
    fn csv_records_count_quoted_line_breaks_as_one_row() {
        let text = "\u{feff}id,notes\r\nc-1,\"two\r\nlines\"\r\nc-2,x\r\n";
        assert_eq!(csv_records(text), 2);
    }
}
