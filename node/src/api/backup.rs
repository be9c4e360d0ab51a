//! `POST /v1/admin/backup`: the running node writes a backup of its store to a new file on
//! its own machine (see [`crate::maintenance::backup`]).
//!
//! This is how `vigia-node backup` reaches a running node's store: redb lets only one
//! process open the file, and the node is that process. The path is the node's, not the
//! caller's, so it must be absolute. An admin can make the node create a file wherever the
//! node's user may write, but never replace one, and the file holds only what the admin
//! can read through the API anyway.

use std::path::PathBuf;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use super::Shared;
use super::auth::Admin;
use super::errors::{ApiError, ApiResult};
use super::extract::JsonBody;
use crate::maintenance::backup::{self, BackupError, Summary};

/// Backups written at once, in this process. A backup reads the whole store and writes as
/// much; a second one at the same time would only halve the speed of both.
static RUNNING: Semaphore = Semaphore::const_new(1);

/// Body of `POST /v1/admin/backup`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupInput {
    /// Absolute path of the new file, on the node's machine.
    path: String,
}

/// The answer: what the backup holds and how long it took.
#[derive(Debug, Serialize)]
struct BackupView {
    #[serde(flatten)]
    summary: Summary,
    took_ms: u64,
}

/// `POST /v1/admin/backup`.
pub async fn create(
    State(context): State<Shared>,
    Admin(caller): Admin,
    JsonBody(input): JsonBody<BackupInput>,
) -> ApiResult<impl IntoResponse> {
    let path = PathBuf::from(input.path.trim());
    if !path.is_absolute() {
        return Err(ApiError::invalid(
            "path",
            "must be an absolute path on the node's machine, such as /var/backups/vigia.redb",
        ));
    }
    let Ok(_permit) = RUNNING.try_acquire() else {
        return Err(ApiError::conflict(
            "a backup is being written; retry when it is done",
        ));
    };
    let store = context.node.store().clone();
    let started = Instant::now();
    let target = path.clone();
    let written = tokio::task::spawn_blocking(move || backup::write(&store, &target))
        .await
        .map_err(anyhow::Error::from)?;
    let summary = match written {
        Ok(summary) => summary,
        Err(BackupError::Exists(_)) => {
            return Err(ApiError::conflict(format!(
                "{} already exists; a backup never replaces a file",
                path.display()
            ))
            .with_field("path"));
        }
        Err(BackupError::NoDirectory(dir)) => {
            let message = format!("{} is not an existing directory", dir.display());
            return Err(ApiError::invalid("path", message));
        }
        Err(error) => return Err(anyhow::Error::from(error).into()),
    };
    let took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        file = %summary.path.display(),
        entries = summary.entries,
        bytes = summary.bytes,
        took_ms,
        label = %caller.label,
        "backup written"
    );
    Ok((StatusCode::CREATED, Json(BackupView { summary, took_ms })))
}
