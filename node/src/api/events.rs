//! `GET /v1/events`: a server-sent-events stream of alerts and acknowledgements as this node
//! applies them, whether issued here or received from another node.
//!
//! Events: `open` once when the stream starts (the subscription is in place from then on),
//! `alert` with an alert as `GET /v1/alerts/{member}/{seq}` shows it in brief (an update
//! or a cancellation too, told apart by its `kind`; a cancellation is the only event a
//! withdrawal makes, so clients learn the cancelled alert from its `references`),
//! `acknowledgement`, and `lagged` when the client read too slowly and the node's bounded
//! event buffer dropped events for it (the client should list alerts to catch up). Each
//! alert or acknowledgement event's id is `MEMBER/SEQ` of its entry.
//!
//! Bounds: at most [`super::MAX_EVENT_STREAMS`] streams at once; each reads from the node's
//! bounded broadcast channel, so a slow client costs no memory beyond it.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::broadcast::{self, error::RecvError};
use vigia_protocol::{Body, EntryRef};

use super::alert_views::AckView;
use super::auth::Focal;
use super::errors::{ApiError, ApiResult};
use super::publish::now_ms;
use super::{Shared, records};
use crate::node::NodeEvent;

/// Interval of keep-alive comments, so proxies and clients see a quiet stream is alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

struct Subscription {
    context: Shared,
    events: broadcast::Receiver<NodeEvent>,
    stopping: tokio::sync::watch::Receiver<bool>,
    opened: bool,
    /// Released when the stream is dropped, freeing a slot.
    _permit: OwnedSemaphorePermit,
}

/// `GET /v1/events`.
pub async fn stream(
    State(context): State<Shared>,
    _caller: Focal,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let permit = context.streams.clone().try_acquire_owned().map_err(|_| {
        ApiError::unavailable(
            "too_many_streams",
            "this node serves the most event streams it allows; close one or retry later",
        )
    })?;
    let subscription = Subscription {
        events: context.node.subscribe(),
        stopping: context.stopping.clone(),
        context,
        opened: false,
        _permit: permit,
    };
    let events = futures::stream::unfold(subscription, |mut subscription| async move {
        let event = subscription.next().await?;
        Some((Ok(event), subscription))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

impl Subscription {
    /// The next event for the client; `None` ends the stream.
    async fn next(&mut self) -> Option<Event> {
        if !self.opened {
            self.opened = true;
            let own = self.context.node.member();
            return json_event("open", &serde_json::json!({ "member": own }));
        }
        loop {
            let received = tokio::select! {
                _ = self.stopping.wait_for(|stop| *stop) => return None,
                received = self.events.recv() => received,
            };
            match received {
                Ok(NodeEvent::Applied(entry)) => {
                    if let Some(event) = self.render(entry).await {
                        return Some(event);
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "event stream client too slow; events dropped for it"
                    );
                    return json_event("lagged", &serde_json::json!({ "missed": missed }));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    async fn render(&self, entry: EntryRef) -> Option<Event> {
        let store = self.context.node.store();
        let signed = match records::entry(store, entry).await {
            Ok(signed) => signed?,
            Err(err) => {
                let err = format!("{err:#}");
                let member = entry.author;
                tracing::error!(%member, seq = entry.seq, %err, "cannot read an entry to stream");
                return None;
            }
        };
        let id = format!("{}/{}", entry.author, entry.seq);
        match signed.entry.body {
            Body::Alert(_) => {
                let alert = records::alert(store, entry.author, entry.seq)
                    .await
                    .ok()??;
                let view = self.context.alert_view(&alert, now_ms());
                json_event("alert", &view).map(|event| event.id(id))
            }
            Body::Acknowledgement(ack) => {
                let record = crate::views::AckRecord {
                    member: entry.author,
                    entry,
                    issued_at_ms: signed.entry.issued_at_ms,
                    acknowledgement: ack,
                };
                json_event("acknowledgement", &AckView::new(&record)).map(|event| event.id(id))
            }
            _ => None,
        }
    }
}

fn json_event(name: &str, data: &impl serde::Serialize) -> Option<Event> {
    match Event::default().event(name).json_data(data) {
        Ok(event) => Some(event),
        Err(err) => {
            tracing::error!(%err, "cannot encode an event");
            None
        }
    }
}
