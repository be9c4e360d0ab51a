//! `vigia contacts search|show|export|put|remove`: the people each member designates,
//! found by free text across the whole network.

use std::io::Write;

use anyhow::Result;
use clap::Subcommand;
use serde_json::Value;
use vigia_protocol::MemberCode;

use super::connection::ConnectionArgs;
use super::directory_admin::{self, RecordKind, RecordPath};
use super::institutions::Kind;
use super::output::{self, Details, Table};
use super::transfer::{self, ExportArgs};
use super::{FormatArgs, Session, api_name, parse_member, printed_json, run_with_session};
use crate::client::{segment, with_query};

/// `vigia contacts …`.
#[derive(Debug, clap::Args)]
pub struct ContactsArgs {
    /// Output format.
    #[command(flatten)]
    pub format: FormatArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Contact commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find contacts by any words of their names, institution, country, role or phone;
    /// case and accents are ignored (`jose peru` finds "José … Perú").
    Search(SearchArgs),
    /// Show one contact: every phone, e-mail and the office hours.
    Show(RecordPath),
    /// Write contacts to a file: csv (for `vigia import`), vcard (address books) or json.
    Export(ExportArgs),
    /// Create or replace one of this node's member's contacts from a JSON file (admin).
    Put(directory_admin::PutArgs),
    /// Remove one of this node's member's contacts (admin).
    Remove(RecordPath),
}

/// Arguments of `contacts search`.
#[derive(Debug, Clone, clap::Args)]
pub struct SearchArgs {
    /// Words to find, such as `jose peru` (no quotes needed); none lists everyone.
    #[arg(value_name = "TEXT")]
    pub words: Vec<String>,
    /// Only this member's contacts, such as PE.
    #[arg(long, value_parser = parse_member)]
    pub member: Option<MemberCode>,
    /// Only contacts of institutions of this kind.
    #[arg(long)]
    pub kind: Option<Kind>,
    /// Only contacts whose role contains this text.
    #[arg(long)]
    pub role: Option<String>,
    /// Only contacts who speak this language (ISO 639-1, such as es, pt, fr, en).
    #[arg(long)]
    pub language: Option<String>,
    /// Only contacts reachable around the clock.
    #[arg(long)]
    pub always_on: bool,
    /// Page to show, from 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub page: u32,
    /// Contacts per page (at most 200).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=200))]
    pub per_page: u32,
}

/// Runs a contact command against the node `connection` names.
pub fn run(connection: &ConnectionArgs, args: &ContactsArgs, out: &mut dyn Write) -> Result<()> {
    run_with_session(connection, args.format.json, out, |session, out| {
        dispatch(session, &args.command, out)
    })
}

fn dispatch(session: &Session, command: &Command, out: &mut dyn Write) -> Result<()> {
    match command {
        Command::Search(args) => search(session, args, out),
        Command::Show(record) => show(session, record, out),
        Command::Export(args) => {
            transfer::export(session, RecordKind::Contact, args.format, &args.target, out)
        }
        Command::Put(args) => directory_admin::put(session, RecordKind::Contact, args, out),
        Command::Remove(record) => {
            directory_admin::remove(session, RecordKind::Contact, record, out)
        }
    }
}

fn search(session: &Session, args: &SearchArgs, out: &mut dyn Write) -> Result<()> {
    let text = args.words.join(" ");
    let query = [
        ("q", (!text.trim().is_empty()).then(|| text.clone())),
        ("member", args.member.map(|member| member.to_string())),
        ("kind", args.kind.as_ref().map(api_name)),
        ("role", args.role.clone()),
        ("language", args.language.clone()),
        ("always_on", args.always_on.then(|| "true".to_owned())),
        ("page", Some(args.page.to_string())),
        ("per_page", Some(args.per_page.to_string())),
    ];
    let answer = session.client.get(&with_query("/v1/contacts", &query))?;
    if printed_json(session, out, &answer)? {
        return Ok(());
    }
    let items = answer["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() && args.page == 1 {
        let what = if text.trim().is_empty() {
            String::new()
        } else {
            format!(" {text:?}")
        };
        writeln!(
            out,
            "no contact matches{what}; fewer words or filters find more"
        )?;
        return Ok(());
    }
    let mut table = Table::new(&[
        "member",
        "id",
        "name",
        "institution",
        "role",
        "phone",
        "available",
    ])
    .max_width(2, 30)
    .max_width(3, 26)
    .max_width(4, 30);
    for contact in &items {
        table.row(vec![
            output::text(contact, "member").to_owned(),
            output::text(contact, "id").to_owned(),
            full_name(contact),
            output::text(&contact["institution"], "name").to_owned(),
            output::text(contact, "role").to_owned(),
            output::first(contact, "phones"),
            availability(contact, false),
        ]);
    }
    table.write(out)?;
    writeln!(out, "{}", output::page_footer(&answer, "contact"))?;
    if let Some(top) = items.first() {
        let (member, id) = (
            output::text(top, "member"),
            output::clean(output::text(top, "id")),
        );
        let show = session.hint(&format!("contacts show {member} {id}"));
        writeln!(out, "every phone and e-mail: {show}")?;
    }
    Ok(())
}

fn show(session: &Session, record: &RecordPath, out: &mut dyn Write) -> Result<()> {
    let path = format!("/v1/contacts/{}/{}", record.member, segment(&record.id));
    let contact = session.client.get(&path)?;
    if printed_json(session, out, &contact)? {
        return Ok(());
    }
    writeln!(
        out,
        "{}  ({} {})",
        output::clean(&full_name(&contact)),
        output::text(&contact, "member"),
        output::clean(output::text(&contact, "id"))
    )?;
    let institution = &contact["institution"];
    let institution_line = if institution.is_object() {
        format!(
            "{} ({}, {})",
            output::text(institution, "name"),
            output::text(institution, "kind"),
            output::text(&contact, "institution_id")
        )
    } else {
        format!(
            "{} (not in the directory)",
            output::text(&contact, "institution_id")
        )
    };
    let mut details = Details::default();
    details
        .line("institution", institution_line)
        .line("role", output::text(&contact, "role"))
        .line("phones", output::list(&contact, "phones"))
        .line("emails", output::list(&contact, "emails"))
        .line("languages", output::list(&contact, "languages"))
        .line("available", availability(&contact, true))
        .line("notes", output::text(&contact, "notes"))
        .line("entry", output::entry(&contact["entry"]));
    details.write(out)
}

fn full_name(contact: &Value) -> String {
    let given = output::text(contact, "given_names");
    let family = output::text(contact, "family_names");
    format!("{given} {family}").trim().to_owned()
}

/// `24/7`, or office hours (`08:00–17:00`, with the time zone when `long`).
fn availability(contact: &Value, long: bool) -> String {
    if contact["always_on"] == Value::Bool(true) {
        return if long {
            "around the clock (24/7)"
        } else {
            "24/7"
        }
        .to_owned();
    }
    let hours = &contact["hours"];
    let span = format!(
        "{}–{}",
        output::text(hours, "from"),
        output::text(hours, "to")
    );
    if long {
        format!("{span} ({})", output::text(hours, "time_zone"))
    } else {
        span
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn availability_reads_24_7_or_the_office_hours() {
        let always = serde_json::json!({ "always_on": true, "hours": null });
        assert_eq!(availability(&always, false), "24/7");
        let office = serde_json::json!({
            "always_on": false,
            "hours": { "time_zone": "America/Lima", "from": "08:00", "to": "17:00" },
        });
        assert_eq!(availability(&office, false), "08:00–17:00");
        assert_eq!(availability(&office, true), "08:00–17:00 (America/Lima)");
    }
}
