//! `vigia institutions list|show|export|put|remove`: the authorities each member
//! designates (police, financial intelligence unit, prosecutor…).

use std::io::Write;

use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use vigia_protocol::MemberCode;

use super::connection::ConnectionArgs;
use super::directory_admin::{self, RecordKind, RecordPath};
use super::output::{self, Details, Table};
use super::transfer::{self, InstitutionExportArgs};
use super::{FormatArgs, Session, api_name, parse_member, printed_json, run_with_session};
use crate::client::{segment, with_query};

/// Kinds of institution, as the API names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Kind {
    /// National or federal police.
    Police,
    /// Intelligence service.
    Intelligence,
    /// Financial intelligence unit.
    #[value(alias = "fiu")]
    FinancialIntelligenceUnit,
    /// Public prosecutor.
    Prosecutor,
    /// Customs.
    Customs,
    /// Migration authority.
    Migration,
    /// Computer security incident response team.
    Csirt,
    /// Ministry.
    Ministry,
    /// Armed forces.
    Military,
    /// Anything else.
    Other,
}

/// `vigia institutions …`.
#[derive(Debug, clap::Args)]
pub struct InstitutionsArgs {
    /// Output format.
    #[command(flatten)]
    pub format: FormatArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Institution commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List institutions, by member and id.
    List {
        /// Words of the name or id, such as `aduanas`.
        #[arg(value_name = "TEXT")]
        words: Vec<String>,
        /// Only this member's, such as PE.
        #[arg(long, value_parser = parse_member)]
        member: Option<MemberCode>,
        /// Only this kind.
        #[arg(long)]
        kind: Option<Kind>,
    },
    /// Show one institution.
    Show(RecordPath),
    /// Write institutions to a file (CSV for `vigia import`, or JSON).
    Export(InstitutionExportArgs),
    /// Create or replace one of this node's member's institutions from a JSON file (admin).
    Put(directory_admin::PutArgs),
    /// Remove one of this node's member's institutions; it must have no contacts (admin).
    Remove(RecordPath),
}

/// Runs an institution command against the node `connection` names.
pub fn run(
    connection: &ConnectionArgs,
    args: &InstitutionsArgs,
    out: &mut dyn Write,
) -> Result<()> {
    run_with_session(connection, args.format.json, out, |session, out| {
        dispatch(session, &args.command, out)
    })
}

fn dispatch(session: &Session, command: &Command, out: &mut dyn Write) -> Result<()> {
    match command {
        Command::List {
            words,
            member,
            kind,
        } => list(session, words, *member, *kind, out),
        Command::Show(path) => show(session, path, out),
        Command::Export(args) => {
            let format = args.format.into();
            transfer::export(session, RecordKind::Institution, format, &args.target, out)
        }
        Command::Put(args) => directory_admin::put(session, RecordKind::Institution, args, out),
        Command::Remove(path) => {
            directory_admin::remove(session, RecordKind::Institution, path, out)
        }
    }
}

fn list(
    session: &Session,
    words: &[String],
    member: Option<MemberCode>,
    kind: Option<Kind>,
    out: &mut dyn Write,
) -> Result<()> {
    let text = words.join(" ");
    let path = with_query(
        "/v1/institutions",
        &[
            ("q", (!text.trim().is_empty()).then_some(text)),
            ("member", member.map(|member| member.to_string())),
            ("kind", kind.as_ref().map(api_name)),
        ],
    );
    let answer = session.client.get(&path)?;
    if printed_json(session, out, &answer)? {
        return Ok(());
    }
    let mut table = Table::new(&["member", "id", "kind", "name", "contacts", "phone"])
        .max_width(3, 50)
        .right(4);
    for institution in answer["items"].as_array().into_iter().flatten() {
        table.row(vec![
            output::text(institution, "member").to_owned(),
            output::text(institution, "id").to_owned(),
            output::text(institution, "kind").to_owned(),
            output::text(institution, "name").to_owned(),
            output::number(institution, "contacts").to_string(),
            output::first(institution, "phones"),
        ]);
    }
    if table.is_empty() {
        writeln!(out, "no institution matches")?;
        return Ok(());
    }
    table.write(out)?;
    let total = output::number(&answer, "total");
    writeln!(out, "{}", output::count(total, "institution"))?;
    Ok(())
}

fn show(session: &Session, record: &RecordPath, out: &mut dyn Write) -> Result<()> {
    let path = format!("/v1/institutions/{}/{}", record.member, segment(&record.id));
    let institution = session.client.get(&path)?;
    if printed_json(session, out, &institution)? {
        return Ok(());
    }
    writeln!(
        out,
        "{}  ({} {})",
        output::clean(output::text(&institution, "name")),
        output::text(&institution, "member"),
        output::clean(output::text(&institution, "id"))
    )?;
    let mut details = Details::default();
    details.line("kind", output::text(&institution, "kind"));
    for language in ["es", "en", "pt", "fr"] {
        if let Some(name) = institution["names"][language].as_str() {
            details.line(language_label(language), name);
        }
    }
    details
        .line("address", output::text(&institution, "address"))
        .line("phones", output::list(&institution, "phones"))
        .line("emails", output::list(&institution, "emails"))
        .line(
            "contacts",
            output::number(&institution, "contacts").to_string(),
        )
        .line("entry", output::entry(&institution["entry"]));
    details.write(out)
}

fn language_label(language: &str) -> &'static str {
    match language {
        "es" => "name (es)",
        "en" => "name (en)",
        "pt" => "name (pt)",
        _ => "name (fr)",
    }
}

#[cfg(test)]
mod tests {
    use super::super::contract::{api_enum, cli_enum};
    use super::*;

    #[test]
    fn institution_kinds_match_the_api() {
        assert_eq!(cli_enum::<Kind>(), api_enum("InstitutionKind"));
    }
}
