//! `vigia alerts issue|list|show|ack|watch`: alerts to the network and their
//! acknowledgements. Severity, urgency and certainty follow the Common Alerting Protocol;
//! the handling mark is the Traffic Light Protocol (TLP 2.0).
//!
//! `issue` picks the alert's id itself unless `--id` gives one, so that when the connection
//! breaks after sending, the person can issue the same alert again without issuing it
//! twice: the node refuses a second alert with the same id.

use std::io::Write;

use anyhow::{Context, Result, anyhow};
use clap::{Subcommand, ValueEnum};
use rand::TryRng;
use rand::rngs::SysRng;
use reqwest::Method;
use serde_json::{Value, json};
use vigia_protocol::MemberCode;

use super::connection::ConnectionArgs;
use super::output::{self, Details, Table};
use super::watch::{self, WatchArgs};
use super::{
    FormatArgs, Session, api_name, node_error, parse_member, printed_json, run_with_session,
};
use crate::client::with_query;

/// How bad it is (CAP severity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Severity {
    /// Extraordinary threat to life or property.
    Extreme,
    /// Significant threat to life or property.
    Severe,
    /// Possible threat to life or property.
    Moderate,
    /// Minimal to no known threat.
    Minor,
    /// Not known.
    Unknown,
}

/// How soon to act (CAP urgency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Urgency {
    /// Act now.
    Immediate,
    /// Act soon, within the next hour.
    Expected,
    /// Act in the near future.
    Future,
    /// No longer needed.
    Past,
    /// Not known.
    Unknown,
}

/// How sure the issuer is (CAP certainty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Certainty {
    /// Determined to have occurred or to be ongoing.
    Observed,
    /// More likely than not.
    Likely,
    /// Possible but not likely.
    Possible,
    /// Not expected to occur.
    Unlikely,
    /// Not known.
    Unknown,
}

/// Who may see it (TLP 2.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Tlp {
    /// Anyone.
    Clear,
    /// The community, not the public.
    Green,
    /// The recipients' organizations, on a need-to-know basis.
    Amber,
    /// The recipients' organizations only, no further.
    #[value(alias = "amber+strict")]
    AmberStrict,
    /// The named recipients only.
    Red,
}

/// `vigia alerts …`.
#[derive(Debug, clap::Args)]
pub struct AlertsArgs {
    /// Output format.
    #[command(flatten)]
    pub format: FormatArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Alert commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Issue an alert signed by this node's member, to the whole network or some members.
    Issue(Box<IssueArgs>),
    /// List alerts, newest first.
    List(ListArgs),
    /// Show one alert with every recipient's acknowledgement.
    Show(AlertPath),
    /// Acknowledge an alert addressed to this node's member.
    Ack(AckArgs),
    /// Print each new alert and acknowledgement as it arrives, until Ctrl-C.
    Watch(WatchArgs),
}

/// `MEMBER SEQ` (or `MEMBER/SEQ`, as lists show it): one alert.
#[derive(Debug, Clone, clap::Args)]
pub struct AlertPath {
    /// The issuing member, such as PE, or the whole alert as PE/3.
    #[arg(value_name = "MEMBER")]
    pub member: String,
    /// The alert's sequence number in the member's feed.
    #[arg(value_name = "SEQ")]
    pub seq: Option<u64>,
}

impl AlertPath {
    /// The member and sequence number.
    pub fn resolve(&self) -> Result<(MemberCode, u64)> {
        let (member, seq) = match (self.member.split_once('/'), self.seq) {
            (None, Some(seq)) => (self.member.as_str(), seq),
            (Some((member, seq)), None) => {
                let seq = seq
                    .parse()
                    .with_context(|| format!("{:?} is not a sequence number", seq))?;
                (member, seq)
            }
            _ => anyhow::bail!("give the alert as MEMBER SEQ or MEMBER/SEQ, such as PE 3"),
        };
        Ok((parse_member(member)?, seq))
    }
}

/// Arguments of `alerts issue`.
#[derive(Debug, Clone, clap::Args)]
pub struct IssueArgs {
    /// A short title (at most 200 characters).
    #[arg(long, required_unless_present_any = ["updates", "cancels"])]
    pub title: Option<String>,
    /// What happened and what recipients should do.
    #[arg(long)]
    pub description: Option<String>,
    /// How bad it is.
    #[arg(long, required_unless_present_any = ["updates", "cancels"])]
    pub severity: Option<Severity>,
    /// How soon to act.
    #[arg(long, required_unless_present_any = ["updates", "cancels"])]
    pub urgency: Option<Urgency>,
    /// How sure you are.
    #[arg(long, required_unless_present_any = ["updates", "cancels"])]
    pub certainty: Option<Certainty>,
    /// Who may see it (Traffic Light Protocol).
    #[arg(long, required_unless_present_any = ["updates", "cancels"])]
    pub tlp: Option<Tlp>,
    /// `network`, or member codes such as AR,BR [default: network].
    #[arg(long, value_name = "network|AR,BR")]
    pub to: Option<String>,
    /// Minutes until the alert expires.
    #[arg(
        long,
        value_name = "MINUTES",
        conflicts_with = "expires_at",
        required_unless_present_any = ["expires_at", "updates", "cancels"]
    )]
    pub expires_in: Option<u64>,
    /// When the alert expires, such as 2026-12-04T23:00:00Z or 2026-12-04T18:00:00-05:00.
    #[arg(long, value_name = "RFC3339")]
    pub expires_at: Option<String>,
    /// Minutes recipients have to answer.
    #[arg(long, value_name = "MINUTES", conflicts_with = "respond_by")]
    pub respond_in: Option<u64>,
    /// When recipients must have answered (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub respond_by: Option<String>,
    /// Replace your member's earlier alert SEQ; unset fields keep its values.
    #[arg(long, value_name = "SEQ", conflicts_with = "cancels")]
    pub updates: Option<u64>,
    /// Cancel your member's earlier alert SEQ; unset fields keep its values.
    #[arg(long, value_name = "SEQ")]
    pub cancels: Option<u64>,
    /// The alert's id [default: a new random one]. Reuse the id a failed attempt printed
    /// to retry without issuing twice.
    #[arg(long)]
    pub id: Option<String>,
}

/// Arguments of `alerts list`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// Only alerts in force (not expired, updated or cancelled).
    #[arg(long)]
    pub active: bool,
    /// Only alerts of this severity.
    #[arg(long)]
    pub severity: Option<Severity>,
    /// Only alerts of this member, such as AR.
    #[arg(long, value_parser = parse_member)]
    pub from: Option<MemberCode>,
    /// Only alerts addressed to this node's member that it has not acknowledged yet.
    #[arg(long)]
    pub unacknowledged: bool,
    /// Page to show, from 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub page: u32,
    /// Alerts per page (at most 500).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub per_page: u32,
}

/// Arguments of `alerts ack`.
#[derive(Debug, Clone, clap::Args)]
pub struct AckArgs {
    /// The alert.
    #[command(flatten)]
    pub alert: AlertPath,
    /// What you did or will do, for the issuer (at most 2000 characters).
    #[arg(long)]
    pub note: Option<String>,
}

/// Runs an alert command against the node `connection` names.
pub fn run(connection: &ConnectionArgs, args: &AlertsArgs, out: &mut dyn Write) -> Result<()> {
    run_with_session(connection, args.format.json, out, |session, out| {
        dispatch(session, &args.command, out)
    })
}

fn dispatch(session: &Session, command: &Command, out: &mut dyn Write) -> Result<()> {
    match command {
        Command::Issue(args) => issue(session, args, out),
        Command::List(args) => list(session, args, out),
        Command::Show(alert) => show(session, alert, out),
        Command::Ack(args) => acknowledge(session, args, out),
        Command::Watch(args) => watch::watch(session, args, out),
    }
}

fn issue(session: &Session, args: &IssueArgs, out: &mut dyn Write) -> Result<()> {
    let reference = match (args.updates, args.cancels) {
        (Some(seq), _) => Some(("updates", seq)),
        (None, Some(seq)) => Some(("cancels", seq)),
        (None, None) => None,
    };
    let earlier = reference
        .map(|(_, seq)| own_alert(session, seq))
        .transpose()?;
    let id = match &args.id {
        Some(id) => id.clone(),
        None => random_id()?,
    };
    let body = alert_body(args, earlier.as_ref(), reference, &id)?;
    let alert = session
        .client
        .send_json(Method::POST, "/v1/alerts", &body)
        .map_err(|error| {
            if node_error(&error).is_some() {
                return error;
            }
            error.context(format!(
                "the node may have issued the alert before the connection broke; \
                 `vigia alerts list` shows it if so; to try again without issuing it twice, \
                 add --id {id}"
            ))
        })?;
    if printed_json(session, out, &alert)? {
        return Ok(());
    }
    let (member, seq) = (
        output::text(&alert, "member"),
        output::number(&alert, "seq"),
    );
    if is_cancellation(&alert) {
        let target = reference_name(&alert);
        writeln!(out, "issued cancellation {member}/{seq} of {target}")?;
        summary(&alert).write(out)?;
        return Ok(());
    }
    writeln!(out, "issued alert {member}/{seq}")?;
    summary(&alert).write(out)?;
    let show = session.hint(&format!("alerts show {member} {seq}"));
    writeln!(out, "follow the acknowledgements: {show}")?;
    Ok(())
}

/// The body of `POST /v1/alerts`: the flags given, then what `earlier` (the alert updated
/// or cancelled) said.
fn alert_body(
    args: &IssueArgs,
    earlier: Option<&Value>,
    reference: Option<(&str, u64)>,
    id: &str,
) -> Result<Value> {
    let inherited = |field: &str| earlier.map_or(Value::Null, |alert| alert[field].clone());
    let chosen =
        |value: Option<String>, field: &str| value.map_or_else(|| inherited(field), Value::from);
    let recipients = match &args.to {
        Some(to) => recipients(to)?,
        None if earlier.is_some() => inherited("recipients"),
        None => json!("network"),
    };
    let mut body = json!({
        "id": id,
        "title": chosen(args.title.clone(), "title"),
        "description": chosen(args.description.clone(), "description"),
        "severity": chosen(args.severity.as_ref().map(api_name), "severity"),
        "urgency": chosen(args.urgency.as_ref().map(api_name), "urgency"),
        "certainty": chosen(args.certainty.as_ref().map(api_name), "certainty"),
        "tlp": chosen(args.tlp.as_ref().map(api_name), "tlp"),
        "recipients": recipients,
    });
    match (args.expires_in, &args.expires_at) {
        (Some(minutes), _) => body["expires_in_minutes"] = json!(minutes),
        (None, Some(at)) => body["expires_at"] = json!(at),
        (None, None) => body["expires_at"] = inherited("expires_at"),
    }
    if let Some(minutes) = args.respond_in {
        body["respond_in_minutes"] = json!(minutes);
    }
    if let Some(at) = &args.respond_by {
        body["respond_by"] = json!(at);
    }
    if let Some((relation, seq)) = reference {
        body["references"] = json!({ "relation": relation, "seq": seq });
    }
    // Fields neither given nor inherited are left out, so the node names what is missing.
    if let Some(object) = body.as_object_mut() {
        object.retain(|_, value| !value.is_null());
    }
    Ok(body)
}

/// `network`, or a comma-separated list of member codes.
fn recipients(to: &str) -> Result<Value> {
    if to.trim().eq_ignore_ascii_case("network") {
        return Ok(json!("network"));
    }
    let codes = to
        .split(',')
        .filter(|code| !code.trim().is_empty())
        .map(|code| parse_member(code).map(|member| member.to_string()))
        .collect::<Result<Vec<_>>>()
        .context("--to takes `network` or member codes such as AR,BR")?;
    if codes.is_empty() {
        anyhow::bail!("--to takes `network` or member codes such as AR,BR");
    }
    Ok(json!(codes))
}

/// This node's member's alert `seq`, which a new alert updates or cancels.
fn own_alert(session: &Session, seq: u64) -> Result<Value> {
    let me = session.client.get("/v1/me")?;
    let member = output::text(&me, "member");
    session.client.get(&format!("/v1/alerts/{member}/{seq}"))
}

/// A random alert id, in the node's own format.
fn random_id() -> Result<String> {
    let mut bytes = [0u8; 6];
    SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|err| anyhow!("the operating system's random number generator failed: {err}"))?;
    Ok(format!("a-{}", hex::encode(bytes)))
}

fn list(session: &Session, args: &ListArgs, out: &mut dyn Write) -> Result<()> {
    let query = [
        ("active", args.active.then(|| "true".to_owned())),
        ("severity", args.severity.as_ref().map(api_name)),
        ("from", args.from.map(|member| member.to_string())),
        (
            "unacknowledged",
            args.unacknowledged.then(|| "true".to_owned()),
        ),
        ("page", Some(args.page.to_string())),
        ("per_page", Some(args.per_page.to_string())),
    ];
    let answer = session.client.get(&with_query("/v1/alerts", &query))?;
    if printed_json(session, out, &answer)? {
        return Ok(());
    }
    let items = answer["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() && args.page == 1 {
        writeln!(out, "no alerts")?;
        return Ok(());
    }
    let mut table = Table::new(&[
        "alert", "issued", "severity", "urgency", "status", "acks", "you", "title",
    ])
    .right(5)
    .max_width(7, 60);
    for alert in &items {
        // A cancellation asks for no acknowledgements: its row says what it withdraws.
        let (acks, title) = if is_cancellation(alert) {
            let title = format!(
                "cancels {}: {}",
                reference_name(alert),
                output::text(alert, "title")
            );
            ("-".to_owned(), title)
        } else {
            let acks = format!(
                "{}/{}",
                output::number(alert, "acknowledged"),
                output::number(alert, "expected")
            );
            (acks, output::text(alert, "title").to_owned())
        };
        table.row(vec![
            alert_name(alert),
            output::short_time(output::text(alert, "issued_at")),
            output::text(alert, "severity").to_owned(),
            output::text(alert, "urgency").to_owned(),
            output::text(alert, "status").to_owned(),
            acks,
            our_part(alert).to_owned(),
            title,
        ]);
    }
    table.write(out)?;
    writeln!(out, "{}", output::page_footer(&answer, "alert"))?;
    Ok(())
}

/// `PE/3`.
fn alert_name(alert: &Value) -> String {
    format!(
        "{}/{}",
        output::text(alert, "member"),
        output::number(alert, "seq")
    )
}

/// `PE/3` of the alert an update or cancellation references.
pub fn reference_name(alert: &Value) -> String {
    alert_name(&alert["references"])
}

/// Whether the alert is a cancellation of an earlier one, which asks for no acknowledgement.
pub fn is_cancellation(alert: &Value) -> bool {
    alert["kind"] == "cancel"
}

/// What this node's member owes the alert: `to ack`, `acked`, or nothing (an alert updated
/// or cancelled since asks for nothing more).
fn our_part(alert: &Value) -> &'static str {
    match (
        alert["to_acknowledge"] == Value::Bool(true),
        alert["acknowledged_by_us"] == Value::Bool(true),
    ) {
        (_, true) => "acked",
        (true, false) => "to ack",
        (false, false) => "",
    }
}

fn show(session: &Session, path: &AlertPath, out: &mut dyn Write) -> Result<()> {
    let (member, seq) = path.resolve()?;
    let alert = session.client.get(&format!("/v1/alerts/{member}/{seq}"))?;
    if printed_json(session, out, &alert)? {
        return Ok(());
    }
    writeln!(out, "alert {member}/{seq}")?;
    summary(&alert).write(out)?;
    writeln!(out)?;
    let mut table = Table::new(&["member", "name", "acknowledged", "at", "note"]).max_width(4, 60);
    for recipient in alert["acknowledgements"].as_array().into_iter().flatten() {
        let at = recipient["at"]
            .as_str()
            .map(output::short_time)
            .unwrap_or_default();
        table.row(vec![
            output::text(recipient, "member").to_owned(),
            output::text(recipient, "name").to_owned(),
            output::yes_no(recipient["acknowledged"] == Value::Bool(true)),
            at,
            output::text(recipient, "note").to_owned(),
        ]);
    }
    if table.is_empty() {
        writeln!(out, "no member is expected to acknowledge it")?;
    } else {
        table.write(out)?;
    }
    let missing = output::list(&alert, "not_acknowledged");
    let stands = matches!(output::text(&alert, "status"), "active" | "expired");
    if stands && !missing.is_empty() {
        writeln!(out, "not acknowledged yet: {missing}")?;
    }
    if our_part(&alert) == "to ack" {
        let ack = session.hint(&format!("alerts ack {member} {seq} --note \"…\""));
        writeln!(out, "acknowledge it: {ack}")?;
    }
    Ok(())
}

/// The lines that describe an alert, shared by `issue`, `show` and `watch`.
pub fn summary(alert: &Value) -> Details {
    let mut details = Details::default();
    let to = match &alert["recipients"] {
        Value::String(word) if word == "network" => "the whole network".to_owned(),
        _ => output::list(alert, "recipients"),
    };
    let marks = format!(
        "{} · {} · {} · TLP:{}",
        output::text(alert, "severity"),
        output::text(alert, "urgency"),
        output::text(alert, "certainty"),
        output::text(alert, "tlp")
            .to_ascii_uppercase()
            .replace('_', "+")
    );
    let status = match output::text(alert, "status") {
        "cancellation" => format!("cancellation of {}", reference_name(alert)),
        status => status.to_owned(),
    };
    details
        .line("title", output::text(alert, "title"))
        .line("status", status)
        .line("marks", marks)
        .line("to", to)
        .line("issued", output::when(output::text(alert, "issued_at")))
        .line("expires", output::when(output::text(alert, "expires_at")));
    if let Some(by) = alert["respond_by"].as_str() {
        details.line("answer by", output::when(by));
    }
    if alert["references"].is_object() {
        let reference = &alert["references"];
        details.line(
            "references",
            format!(
                "{} {}/{}",
                output::text(reference, "relation"),
                output::text(reference, "member"),
                output::number(reference, "seq")
            ),
        );
    }
    if alert["superseded_by"].is_object() {
        details.line("superseded by", output::entry(&alert["superseded_by"]));
    }
    let acknowledged = if is_cancellation(alert) {
        "not asked (a cancellation)".to_owned()
    } else {
        format!(
            "{} of {}",
            output::number(alert, "acknowledged"),
            output::number(alert, "expected")
        )
    };
    details
        .line("acknowledged", acknowledged)
        .line("description", output::text(alert, "description"))
        .line("id", output::text(alert, "id"));
    details
}

fn acknowledge(session: &Session, args: &AckArgs, out: &mut dyn Write) -> Result<()> {
    let (member, seq) = args.alert.resolve()?;
    let body = match &args.note {
        Some(note) => json!({ "note": note }),
        None => json!({}),
    };
    let path = format!("/v1/alerts/{member}/{seq}/ack");
    let ack = session.client.send_json(Method::POST, &path, &body)?;
    if printed_json(session, out, &ack)? {
        return Ok(());
    }
    writeln!(
        out,
        "acknowledged {member}/{seq} as {} at {} (entry {})",
        output::text(&ack, "member"),
        output::short_time(output::text(&ack, "at")),
        output::entry(&ack["entry"])
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::contract::{api_enum, cli_enum};
    use super::*;

    #[test]
    fn alert_enumerations_match_the_api() {
        assert_eq!(cli_enum::<Severity>(), api_enum("Severity"));
        assert_eq!(cli_enum::<Urgency>(), api_enum("Urgency"));
        assert_eq!(cli_enum::<Certainty>(), api_enum("Certainty"));
        assert_eq!(cli_enum::<Tlp>(), api_enum("Tlp"));
    }

    fn args() -> IssueArgs {
        IssueArgs {
            title: None,
            description: None,
            severity: None,
            urgency: None,
            certainty: None,
            tlp: None,
            to: None,
            expires_in: None,
            expires_at: None,
            respond_in: None,
            respond_by: None,
            updates: None,
            cancels: None,
            id: None,
        }
    }

    #[test]
    fn an_update_keeps_the_earlier_alert_s_fields_unless_given() {
        let earlier = json!({
            "title": "Vehículo robado", "description": "Placa ABC-123", "severity": "severe",
            "urgency": "immediate", "certainty": "likely", "tlp": "amber",
            "recipients": ["AR", "BR"], "expires_at": "2030-01-01T00:00:00Z",
        });
        let args = IssueArgs {
            severity: Some(Severity::Extreme),
            updates: Some(3),
            ..args()
        };
        let body = alert_body(&args, Some(&earlier), Some(("updates", 3)), "a-1").expect("body");
        assert_eq!(body["title"], "Vehículo robado");
        assert_eq!(body["severity"], "extreme");
        assert_eq!(body["recipients"], json!(["AR", "BR"]));
        assert_eq!(body["expires_at"], "2030-01-01T00:00:00Z");
        assert_eq!(
            body["references"],
            json!({ "relation": "updates", "seq": 3 })
        );
    }

    #[test]
    fn recipients_are_the_network_or_member_codes() {
        assert_eq!(recipients("network").expect("valid"), json!("network"));
        assert_eq!(recipients("ar, br").expect("valid"), json!(["AR", "BR"]));
        assert!(recipients("argentina").is_err());
        assert!(recipients(",").is_err());
    }

    #[test]
    fn alerts_are_named_as_member_seq_or_member_slash_seq() {
        let spaced = AlertPath {
            member: "pe".into(),
            seq: Some(3),
        };
        let slashed = AlertPath {
            member: "PE/3".into(),
            seq: None,
        };
        let code: MemberCode = "PE".parse().expect("code");
        assert_eq!(spaced.resolve().expect("valid"), (code, 3));
        assert_eq!(slashed.resolve().expect("valid"), (code, 3));
        assert!(
            AlertPath {
                member: "PE".into(),
                seq: None
            }
            .resolve()
            .is_err()
        );
    }
}
