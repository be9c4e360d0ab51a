//! `vigia testnet verify`: succeeds only when every running member holds the same heads and
//! the same directory; otherwise says who differs and how.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use vigia_protocol::MemberCode;

use super::layout::Layout;
use super::process;
use super::target::member_client;

/// One member's view: heads (feed → "seq:hash") and directory digest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    heads: BTreeMap<String, String>,
    digest: String,
}

fn view_of(layout: &Layout, code: MemberCode) -> Result<View> {
    let answer = member_client(layout, code)?.get("/v1/heads")?;
    let heads = answer["heads"]
        .as_object()
        .map(|heads| {
            heads
                .iter()
                .map(|(member, head)| {
                    (
                        member.clone(),
                        format!("{}:{}", head["seq"], head["hash"].as_str().unwrap_or("")),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let digest = answer["directory_digest"].as_str().unwrap_or("").to_owned();
    Ok(View { heads, digest })
}

/// Compares the running members once; returns the differences, empty when they agree.
fn differences(layout: &Layout) -> Result<(usize, Vec<String>)> {
    let running: Vec<MemberCode> = layout
        .manifest()?
        .members
        .iter()
        .map(|member| member.code)
        .filter(|code| process::running_pid(layout, *code).is_some())
        .collect();
    let mut views = Vec::new();
    let mut problems = Vec::new();
    for code in &running {
        match view_of(layout, *code) {
            Ok(view) => views.push((*code, view)),
            Err(err) => problems.push(format!("{code} does not answer: {err:#}")),
        }
    }
    let Some((first_code, first)) = views.first().cloned() else {
        if running.is_empty() {
            bail!("no member of the testnet is running");
        }
        return Ok((running.len(), problems));
    };
    for (code, view) in &views[1..] {
        // Each feed once, though both views usually name it.
        let feeds: BTreeSet<&String> = first.heads.keys().chain(view.heads.keys()).collect();
        for feed in feeds {
            let (ours, theirs) = (first.heads.get(feed), view.heads.get(feed));
            if ours != theirs {
                let show = |head: Option<&String>| {
                    head.map_or("nothing".to_owned(), |h| format!("seq {}", short(h)))
                };
                problems.push(format!(
                    "feed {feed}: {first_code} holds {}, {code} holds {}",
                    show(ours),
                    show(theirs)
                ));
            }
        }
        if view.digest != first.digest && view.heads == first.heads {
            problems.push(format!(
                "{code}'s directory differs from {first_code}'s with the same heads"
            ));
        }
    }
    problems.dedup();
    Ok((running.len(), problems))
}

fn short(head: &str) -> String {
    match head.split_once(':') {
        Some((seq, hash)) => format!("{seq} ({})", &hash[..hash.len().min(12)]),
        None => head.to_owned(),
    }
}

/// Waits up to `timeout` for agreement; exits with an error listing who differs.
pub fn verify(layout: &Layout, timeout: Duration, out: &mut dyn Write) -> Result<()> {
    let started = Instant::now();
    loop {
        let (running, problems) = differences(layout)?;
        if problems.is_empty() {
            writeln!(
                out,
                "{running} running members agree: same heads, same directory ({:.1} s)",
                started.elapsed().as_secs_f64()
            )?;
            return Ok(());
        }
        if started.elapsed() >= timeout {
            for problem in &problems {
                writeln!(out, "  {problem}")?;
            }
            bail!(
                "{} differences among {running} running members after {}s",
                problems.len(),
                timeout.as_secs()
            );
        }
        sleep(Duration::from_millis(250));
    }
}
