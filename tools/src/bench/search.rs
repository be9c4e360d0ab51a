//! Directory search through the API: one node holding a large directory, searched from this
//! process over HTTP, next to the floor of an HTTP round trip to the same node
//! (`GET /v1/health`) timed in alternation with the searches, so both see the same load.
//!
//! The directory is one member's synthetic directory ([`directory::generate_many`]),
//! imported through the API in files of at most `MAX_IMPORT_ROWS` rows. Queries are what
//! people type, drawn from the directory itself with a fixed seed: a family name, a given
//! name with the start of a family name, an institution word with a role word, a bare
//! prefix of three letters (a person still typing), the country, and a word that matches
//! nothing. Broad queries match thousands of contacts and rank them all; they set the p99.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use vigia_protocol::body::Contact;

use super::catchup::contacts_csv;
use super::cluster::Cluster;
use super::memory::{MB, rss_bytes};
use super::stats::{Summary, per_second};
use crate::testnet::directory::{self, Directory};
use crate::testnet::members::{self, OasMember};

/// The member whose directory is searched: Spanish names with accents and two surnames.
pub const MEMBER: &str = "PE";
/// Requests of each kind before timing starts, so connections and caches are warm.
const WARM_UP: usize = 50;
/// Seed of the query choice.
const QUERY_SEED: u64 = 5;
/// Rows per import file: the most one `POST /v1/import` takes (the node's
/// `MAX_IMPORT_ROWS`, private to its API).
const MAX_IMPORT_ROWS: usize = 10_000;

/// What the search benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct SearchFigures {
    /// Contacts in the directory.
    pub contacts: usize,
    /// Entries per second the import published (sign, commit, index, one at a time).
    pub import_per_sec: f64,
    /// `GET /v1/contacts?q=…` round trips.
    pub search: Summary,
    /// `GET /v1/health` round trips, the floor.
    pub health: Summary,
    /// Mean matches per query.
    pub mean_matches: f64,
    /// The same searches by kind of query, to show which set the tail.
    pub by_kind: Vec<KindFigures>,
    /// Resident memory of the node holding the directory, in MB.
    pub node_rss_mb: f64,
}

/// Searches of one kind of query.
#[derive(Debug, Clone, Serialize)]
pub struct KindFigures {
    /// What the query is, such as `family name`.
    pub kind: &'static str,
    /// Their round trips.
    pub search: Summary,
    /// Mean matches per query.
    pub mean_matches: f64,
}

/// The kinds of query, in the order [`query`] cycles through them.
const KINDS: [&str; 6] = [
    "family name",
    "given name + 3 letters",
    "institution word + role word",
    "3 letters",
    "country",
    "no match",
];

/// Loads `contacts` contacts into a one-node network and times `searches` searches.
pub fn run(
    cluster: &Cluster,
    contacts: usize,
    searches: usize,
    progress: &mut dyn Write,
) -> Result<SearchFigures> {
    let member = members::oas_members()?
        .into_iter()
        .find(|member| member.alpha2.as_str() == MEMBER)
        .context("the search member is not an OAS member")?;
    let generated = directory::generate_many(&member, 1, contacts);
    let import_per_sec = import(cluster, &generated, progress)?;
    let queries = queries(&generated, &member, searches);
    let client = cluster.client(0);
    let mut kinds: Vec<(Vec<Duration>, u64)> = vec![(Vec::new(), 0); KINDS.len()];
    let mut health = Vec::with_capacity(searches);
    for (number, query) in queries.iter().enumerate() {
        let path = search_path(query)?;
        let (took, answer) = timed(|| client.get_text(&path))?;
        let (floor, _) = timed(|| client.get_text("/v1/health"))?;
        if number >= WARM_UP {
            let answer: serde_json::Value = serde_json::from_str(&answer)?;
            let kind = &mut kinds[number % KINDS.len()];
            kind.0.push(took);
            kind.1 += answer["total"].as_u64().unwrap_or(0);
            health.push(floor);
        }
    }
    let all: Vec<Duration> = kinds.iter().flat_map(|(took, _)| took.clone()).collect();
    let matches: u64 = kinds.iter().map(|(_, matches)| matches).sum();
    let by_kind = KINDS
        .iter()
        .zip(&kinds)
        .map(|(kind, (took, matches))| KindFigures {
            kind,
            search: Summary::of(took),
            mean_matches: *matches as f64 / took.len().max(1) as f64,
        })
        .collect();
    let pid = cluster.pid(0).context("the search node is not running")?;
    Ok(SearchFigures {
        contacts: generated.contacts.len(),
        import_per_sec,
        search: Summary::of(&all),
        health: Summary::of(&health),
        mean_matches: matches as f64 / all.len().max(1) as f64,
        by_kind,
        node_rss_mb: rss_bytes(pid)? as f64 / MB,
    })
}

fn timed<T>(request: impl FnOnce() -> Result<T>) -> Result<(Duration, T)> {
    let started = Instant::now();
    let answer = request()?;
    Ok((started.elapsed(), answer))
}

fn search_path(query: &str) -> Result<String> {
    let url = reqwest::Url::parse_with_params("http://127.0.0.1/v1/contacts", [("q", query)])?;
    Ok(format!("/v1/contacts?{}", url.query().unwrap_or_default()))
}

/// Imports the directory's institutions, then its contacts a file at a time; returns
/// entries published per second.
fn import(cluster: &Cluster, generated: &Directory, progress: &mut dyn Write) -> Result<f64> {
    use vigia_node::api::csv_format::{INSTITUTION_COLUMNS, institution_row};
    let client = cluster.client(0);
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(INSTITUTION_COLUMNS)?;
    for institution in &generated.institutions {
        writer.write_record(institution_row(institution))?;
    }
    let institutions = writer.into_inner().context("cannot write the CSV")?;
    client.post_bytes("/v1/import?dry_run=false", "text/csv", institutions)?;
    let started = Instant::now();
    let mut published = 0u64;
    for chunk in generated.contacts.chunks(MAX_IMPORT_ROWS) {
        let csv = contacts_csv(chunk)?;
        let report = client.post_bytes("/v1/import?dry_run=false", "text/csv", csv)?;
        published += report["published"].as_u64().unwrap_or(0);
        writeln!(progress, "  {published} contacts imported")?;
    }
    Ok(per_second(published as usize, started.elapsed()))
}

/// `count` queries (plus the warm-up) drawn from the directory with a fixed seed.
fn queries(generated: &Directory, member: &OasMember, count: usize) -> Vec<String> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(QUERY_SEED);
    let contacts = &generated.contacts;
    (0..count + WARM_UP)
        .map(|number| {
            let contact = &contacts[rng.random_range(0..contacts.len())];
            query(number, contact, generated, member)
        })
        .collect()
}

fn query(number: usize, contact: &Contact, generated: &Directory, member: &OasMember) -> String {
    let first = |text: &str| {
        text.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let start = |text: &str| text.chars().take(3).collect::<String>();
    match number % KINDS.len() {
        0 => contact.family_names.clone(),
        1 => format!(
            "{} {}",
            first(&contact.given_names),
            start(&contact.family_names)
        ),
        2 => {
            let institution = generated
                .institutions
                .iter()
                .find(|institution| institution.id == contact.institution_id)
                .map(|institution| institution.name.clone())
                .unwrap_or_default();
            let word = institution.split_whitespace().max_by_key(|word| word.len());
            format!("{} {}", word.unwrap_or_default(), first(&contact.role))
        }
        3 => start(&contact.family_names),
        4 => member.name_es.clone(),
        _ => "zzyzx".to_owned(),
    }
}
