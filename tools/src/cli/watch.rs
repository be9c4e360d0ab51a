//! `vigia alerts watch`: prints each new alert and acknowledgement the moment the node
//! applies it, from the node's event stream (`GET /v1/events`), until Ctrl-C.
//!
//! A focal point leaves this running through the night, so it survives the node: when the
//! stream breaks (node restarted, upgraded, host asleep) it reconnects with a capped
//! backoff, and once back it lists the latest alerts and prints those that arrived while it
//! was away. Acknowledgements made meanwhile are not replayed (`alerts show` has them).
//!
//! Lines go to standard output, one per event (`--json`: the event as one JSON object per
//! line); what the watch itself has to say (connected, lost, retrying) goes to standard
//! error, so a script reading the events never sees it.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};
use vigia_node::cli::escape_controls;

use super::Session;
use super::node_error;
use super::{alerts, output};
use crate::client::{ServerEvent, with_query};

/// First wait before reconnecting; short, since a restarting node is back in seconds.
const INITIAL_BACKOFF: Duration = Duration::from_millis(500);

/// Longest wait between attempts, so a watch notices a returning node within this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Alerts listed to find those missed while away: the API's page size, far more than a
/// network issues during a node restart.
const CATCH_UP_ALERTS: usize = 200;

/// Alert ids remembered to avoid printing one twice; the oldest are forgotten first.
const MAX_REMEMBERED: usize = 10_000;

/// Arguments of `alerts watch`.
#[derive(Debug, Clone, clap::Args)]
pub struct WatchArgs {}

/// What the watch knows of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// Listed when the watch started: old news, never printed.
    Before,
    /// Printed.
    Printed,
}

/// Alert ids (`PE/3`) seen so far, bounded.
#[derive(Debug, Default)]
struct Memory {
    known: HashMap<String, Known>,
    order: VecDeque<String>,
}

impl Memory {
    fn get(&self, id: &str) -> Option<Known> {
        self.known.get(id).copied()
    }

    fn set(&mut self, id: &str, known: Known) {
        if self.known.insert(id.to_owned(), known).is_none() {
            self.order.push_back(id.to_owned());
        }
        while self.order.len() > MAX_REMEMBERED {
            if let Some(oldest) = self.order.pop_front() {
                self.known.remove(&oldest);
            }
        }
    }
}

/// State of one watch across reconnections.
struct Watcher<'a> {
    session: &'a Session,
    memory: Memory,
    connected_before: bool,
}

/// Runs the watch until Ctrl-C, a refused token, or a failure to write the output.
pub fn watch(session: &Session, _args: &WatchArgs, out: &mut dyn Write) -> Result<()> {
    let mut watcher = Watcher {
        session,
        memory: Memory::default(),
        connected_before: false,
    };
    let mut backoff = INITIAL_BACKOFF;
    loop {
        let mut output_error = None;
        let mut opened = false;
        let result = session.client.watch("/v1/events", |event| {
            if event.name == "open" {
                opened = true;
            }
            // A failed write (closed pipe) ends the watch; it is not the node's fault.
            if let Err(error) = watcher.on_event(event, out) {
                output_error = Some(error);
                return Ok(false);
            }
            Ok(true)
        });
        if let Some(error) = output_error {
            return Err(error);
        }
        if opened {
            backoff = INITIAL_BACKOFF;
        }
        match result {
            Ok(()) => eprintln!("the node closed the event stream; reconnecting in {backoff:?}"),
            Err(error) if is_final(&error) => return Err(error),
            Err(error) => eprintln!(
                "lost the node ({}); retrying in {backoff:?}",
                escape_controls(&format!("{error:#}"))
            ),
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Errors that retrying cannot fix: the node refused the token or the request.
fn is_final(error: &anyhow::Error) -> bool {
    node_error(error).is_some_and(|node| matches!(node.status, 400..=499) && node.status != 429)
}

impl Watcher<'_> {
    fn on_event(&mut self, event: &ServerEvent, out: &mut dyn Write) -> Result<()> {
        let data: Value =
            serde_json::from_str(&event.data).unwrap_or_else(|_| Value::String(event.data.clone()));
        match event.name.as_str() {
            "open" => self.on_open(event, &data, out)?,
            "alert" => {
                let id = event.id.clone().unwrap_or_else(|| alert_id(&data));
                if self.memory.get(&id) != Some(Known::Printed) {
                    self.memory.set(&id, Known::Printed);
                    self.print_alert(&id, &data, false, out)?;
                }
            }
            "acknowledgement" => self.print_acknowledgement(event, &data, out)?,
            "lagged" => {
                eprintln!("the node dropped events for this watch (read too slowly); catching up");
                self.print_event(event, &data, out)?;
                self.catch_up(out)?;
            }
            _ => {}
        }
        out.flush()?;
        Ok(())
    }

    /// The stream is live: from here on every alert the node applies reaches us.
    fn on_open(&mut self, event: &ServerEvent, data: &Value, out: &mut dyn Write) -> Result<()> {
        let base = self.session.client.base();
        if self.connected_before {
            eprintln!("reconnected to {base}");
            self.catch_up(out)?;
        } else {
            eprintln!("watching {base} for alerts and acknowledgements (Ctrl-C stops)");
            // Without this list a later catch-up would print old alerts as missed; that is
            // the worst a failure here does, so the watch goes on.
            match self.latest_alerts() {
                Ok(alerts) => {
                    for alert in alerts {
                        let id = alert_id(&alert);
                        if self.memory.get(&id).is_none() {
                            self.memory.set(&id, Known::Before);
                        }
                    }
                }
                Err(error) => eprintln!(
                    "cannot list the current alerts ({})",
                    escape_controls(&format!("{error:#}"))
                ),
            }
            self.connected_before = true;
        }
        if self.session.json {
            self.print_event(event, data, out)?;
        }
        Ok(())
    }

    /// Prints the alerts that arrived while the stream was down, oldest first.
    fn catch_up(&mut self, out: &mut dyn Write) -> Result<()> {
        let alerts = match self.latest_alerts() {
            Ok(alerts) => alerts,
            Err(error) => {
                eprintln!(
                    "cannot list the alerts missed meanwhile ({error:#}); see `{}`",
                    self.session.hint("alerts list")
                );
                return Ok(());
            }
        };
        for alert in alerts.iter().rev() {
            let id = alert_id(alert);
            if self.memory.get(&id).is_none() {
                self.memory.set(&id, Known::Printed);
                self.print_alert(&id, alert, true, out)?;
            }
        }
        Ok(())
    }

    fn latest_alerts(&self) -> Result<Vec<Value>> {
        let query = [("per_page", Some(CATCH_UP_ALERTS.to_string()))];
        let answer = self.session.client.get(&with_query("/v1/alerts", &query))?;
        Ok(answer["items"].as_array().cloned().unwrap_or_default())
    }

    fn print_event(&self, event: &ServerEvent, data: &Value, out: &mut dyn Write) -> Result<()> {
        if self.session.json {
            let line = json!({ "event": event.name, "id": event.id, "data": data });
            writeln!(out, "{line}")?;
        }
        Ok(())
    }

    fn print_alert(
        &self,
        id: &str,
        alert: &Value,
        missed: bool,
        out: &mut dyn Write,
    ) -> Result<()> {
        if self.session.json {
            let mut line = json!({ "event": "alert", "id": id, "data": alert });
            if missed {
                line["missed"] = Value::Bool(true);
            }
            writeln!(out, "{line}")?;
            return Ok(());
        }
        writeln!(out, "{}", alert_line(id, alert, missed))?;
        if alert["to_acknowledge"] == Value::Bool(true) {
            let (member, seq) = (output::text(alert, "member"), output::number(alert, "seq"));
            let ack = self
                .session
                .hint(&format!("alerts ack {member} {seq} --note \"…\""));
            writeln!(out, "    to acknowledge: {ack}")?;
        }
        Ok(())
    }

    fn print_acknowledgement(
        &self,
        event: &ServerEvent,
        ack: &Value,
        out: &mut dyn Write,
    ) -> Result<()> {
        if self.session.json {
            return self.print_event(event, ack, out);
        }
        let alert = &ack["alert"];
        let note = match ack["note"].as_str() {
            Some(note) if !note.trim().is_empty() => format!(": {}", output::clean(note)),
            _ => String::new(),
        };
        writeln!(
            out,
            "{}  ACK   {} acknowledged {}/{}{note}",
            output::short_time(output::text(ack, "at")),
            output::text(ack, "member"),
            output::text(alert, "member"),
            output::number(alert, "seq"),
        )?;
        Ok(())
    }
}

/// The line `watch` prints for an alert, an update or a cancellation.
fn alert_line(id: &str, alert: &Value, missed: bool) -> String {
    let marks = format!(
        "{}/{} TLP:{}",
        output::text(alert, "severity"),
        output::text(alert, "urgency"),
        output::text(alert, "tlp")
            .to_ascii_uppercase()
            .replace('_', "+")
    );
    let note = if missed {
        "  (arrived while disconnected)"
    } else {
        ""
    };
    let at = output::short_time(output::text(alert, "issued_at"));
    let title = output::clean(output::text(alert, "title"));
    // A cancellation withdraws an earlier alert and asks for nothing: it must not read
    // as one more alert with the same title.
    match alert["kind"].as_str() {
        Some("cancel") => {
            let target = alerts::reference_name(alert);
            format!("{at}  CANCEL {id} cancels {target}: {title}{note}")
        }
        Some("update") => {
            let target = alerts::reference_name(alert);
            format!("{at}  UPDATE {id} updates {target}  {marks}  {title}{note}")
        }
        _ => format!("{at}  ALERT {id}  {marks}  {title}{note}"),
    }
}

/// `PE/3` of an alert as the API shows it.
fn alert_id(alert: &Value) -> String {
    format!(
        "{}/{}",
        output::text(alert, "member"),
        output::number(alert, "seq")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancellation_reads_as_one_and_names_what_it_cancels() {
        let cancel = json!({
            "member": "PE", "seq": 40, "kind": "cancel", "status": "cancellation",
            "title": "Vehículo recuperado", "severity": "minor", "urgency": "past",
            "tlp": "amber", "issued_at": "2030-01-01T10:00:00Z",
            "references": { "relation": "cancels", "member": "PE", "seq": 39 },
        });
        let line = alert_line("PE/40", &cancel, false);
        assert!(
            line.ends_with("CANCEL PE/40 cancels PE/39: Vehículo recuperado"),
            "{line}"
        );
        let mut plain = cancel.clone();
        plain["kind"] = json!("alert");
        assert!(alert_line("PE/40", &plain, false).contains("ALERT PE/40"));
    }

    #[test]
    fn memory_forgets_the_oldest_ids_first_and_stays_bounded() {
        let mut memory = Memory::default();
        for seq in 0..MAX_REMEMBERED + 5 {
            memory.set(&format!("PE/{seq}"), Known::Printed);
        }
        assert_eq!(memory.known.len(), MAX_REMEMBERED);
        assert_eq!(memory.get("PE/0"), None);
        assert_eq!(
            memory.get(&format!("PE/{}", MAX_REMEMBERED + 4)),
            Some(Known::Printed)
        );
    }

    #[test]
    fn a_refused_token_stops_the_watch_but_a_busy_node_does_not() {
        let refused = anyhow::Error::new(crate::client::NodeError {
            status: 401,
            code: "unauthorized".into(),
            message: "no".into(),
            field: None,
            details: None,
        });
        assert!(is_final(&refused));
        let busy = anyhow::Error::new(crate::client::NodeError {
            status: 503,
            code: "too_many_streams".into(),
            message: "retry".into(),
            field: None,
            details: None,
        });
        assert!(!is_final(&busy));
        assert!(!is_final(&anyhow::anyhow!("connection refused")));
    }
}
