//! How client commands show what the node answered: aligned tables and labelled details
//! for people, the node's own JSON for scripts (`--json`).
//!
//! Everything shown to people passes through [`clean`]: names, notes and alert titles come
//! from other members' feeds, and a control character in them must not move the cursor,
//! recolour the terminal or reorder text on a focal point's screen.

use std::io::Write;

use anyhow::Result;
use serde_json::Value;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Space between table columns.
const GAP: &str = "  ";

/// Widest cell unless a column says otherwise; longer text ends in `…`.
const DEFAULT_MAX_WIDTH: usize = 40;

/// Longest text a detail line shows before cutting it; notes and descriptions are at most
/// a few thousand characters, and a screen of them is enough to act on.
const MAX_DETAIL_CHARS: usize = 8_000;

/// Writes the node's JSON, indented.
pub fn json(out: &mut dyn Write, value: &Value) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// `text` with every control and bidirectional-override character made harmless: line
/// breaks and tabs become spaces, the rest `�`.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() || is_bidi_control(c) => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// Like [`clean`], but keeps line breaks, for multi-line text such as notes.
pub fn clean_lines(text: &str) -> String {
    text.lines().map(clean).collect::<Vec<_>>().join("\n")
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// `text` cut to at most `width` columns, ending in `…` when cut.
pub fn truncate(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_owned();
    }
    let mut kept = String::new();
    let mut used = 0;
    for c in text.chars() {
        let c_width = c.width().unwrap_or(0);
        if used + c_width + 1 > width {
            break;
        }
        kept.push(c);
        used += c_width;
    }
    kept.push('…');
    kept
}

/// A table with aligned columns. Widths count terminal columns, so `Perú` is four wide and
/// a decomposed accent adds nothing.
#[derive(Debug)]
pub struct Table {
    headers: Vec<&'static str>,
    max_widths: Vec<usize>,
    right_aligned: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.to_vec(),
            max_widths: vec![DEFAULT_MAX_WIDTH; headers.len()],
            right_aligned: vec![false; headers.len()],
            rows: Vec::new(),
        }
    }

    /// Cuts column `column` at `width` instead of the default.
    pub fn max_width(mut self, column: usize, width: usize) -> Self {
        if let Some(slot) = self.max_widths.get_mut(column) {
            *slot = width.max(2);
        }
        self
    }

    /// Aligns column `column` to the right, as numbers read best.
    pub fn right(mut self, column: usize) -> Self {
        if let Some(slot) = self.right_aligned.get_mut(column) {
            *slot = true;
        }
        self
    }

    /// Adds a row; cells are cleaned and cut to their column's width.
    pub fn row(&mut self, cells: Vec<String>) {
        let row = cells
            .iter()
            .zip(&self.max_widths)
            .map(|(cell, width)| truncate(&clean(cell), *width))
            .collect();
        self.rows.push(row);
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Writes the header and the rows; the last column is not padded, so lines carry no
    /// trailing spaces.
    pub fn write(&self, out: &mut dyn Write) -> Result<()> {
        let header: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.width());
            }
        }
        for row in std::iter::once(&header).chain(&self.rows) {
            let last = row.len().saturating_sub(1);
            let mut line = String::new();
            for (index, cell) in row.iter().enumerate() {
                let padding = " ".repeat(widths[index].saturating_sub(cell.width()));
                if self.right_aligned[index] {
                    line.push_str(&padding);
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    if index != last {
                        line.push_str(&padding);
                    }
                }
                if index != last {
                    line.push_str(GAP);
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// Labelled lines (`role      Oficial de enlace`), labels padded to one width.
#[derive(Debug, Default)]
pub struct Details {
    lines: Vec<(&'static str, String)>,
}

impl Details {
    /// Adds a line; empty values are left out.
    pub fn line(&mut self, label: &'static str, value: impl Into<String>) -> &mut Self {
        let value = value.into();
        if !value.trim().is_empty() {
            self.lines.push((label, value));
        }
        self
    }

    /// Writes the lines; a multi-line value continues under its first line.
    pub fn write(&self, out: &mut dyn Write) -> Result<()> {
        let width = self
            .lines
            .iter()
            .map(|(label, _)| label.width())
            .max()
            .unwrap_or(0);
        for (label, value) in &self.lines {
            let value: String = clean_lines(value).chars().take(MAX_DETAIL_CHARS).collect();
            let indent = " ".repeat(width + GAP.len());
            let value = value.replace('\n', &format!("\n{indent}"));
            writeln!(out, "{label:<width$}{GAP}{value}")?;
        }
        Ok(())
    }
}

/// A string field of the node's JSON, or `""`.
pub fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or_default()
}

/// A list of strings of the node's JSON, joined with `, `.
pub fn list(value: &Value, field: &str) -> String {
    value[field]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// A list of numbers of the node's JSON, joined with `, `.
pub fn list_numbers(value: &Value, field: &str) -> String {
    value[field]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_u64)
                .map(|number| number.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// A number field of the node's JSON, or 0.
pub fn number(value: &Value, field: &str) -> u64 {
    value[field].as_u64().unwrap_or(0)
}

/// The first item of a list field, with `(+N more)` when there are more: a bare `+1` after
/// a phone number would read as a calling code.
pub fn first(value: &Value, field: &str) -> String {
    let items: Vec<&str> = value[field]
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    match items.as_slice() {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [first, rest @ ..] => format!("{first} (+{} more)", rest.len()),
    }
}

/// An entry as `PE/12 3fa2c1d0`: the member, the sequence number, the start of the hash.
pub fn entry(entry: &Value) -> String {
    let hash = text(entry, "hash");
    format!(
        "{}/{} {}",
        text(entry, "member"),
        number(entry, "seq"),
        hash.get(..8).unwrap_or(hash)
    )
}

/// `yes` or `no`.
pub fn yes_no(flag: bool) -> String {
    if flag { "yes" } else { "no" }.to_owned()
}

/// An RFC 3339 time of the node as `2026-12-04 15:00Z`: minutes are what a person acts on.
pub fn short_time(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(date), Some(time)) if rfc3339.ends_with('Z') => format!("{date} {time}Z"),
        _ => rfc3339.to_owned(),
    }
}

/// An RFC 3339 time with how far it is from now: `2026-12-04 15:00Z (in 1 h 55 min)`.
pub fn when(rfc3339: &str) -> String {
    match vigia_node::api::time::parse(rfc3339) {
        Ok(at_ms) => format!("{} ({})", short_time(rfc3339), relative(at_ms, now_ms())),
        Err(_) => rfc3339.to_owned(),
    }
}

/// How long ago an RFC 3339 time was, or how long until it, for table cells: `12 min ago`.
pub fn ago(rfc3339: &str) -> String {
    match vigia_node::api::time::parse(rfc3339) {
        Ok(at_ms) => relative(at_ms, now_ms()),
        Err(_) => rfc3339.to_owned(),
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Under this many seconds away a time reads as `now`: the clocks of the node and this
/// computer, and the time the answer took, blur anything closer.
const NOW_SECONDS: u64 = 2;

/// `at_ms` relative to `now_ms`: `in 5 min`, `12 s ago`, `2 h 3 min ago`, `3 days ago`,
/// `now`. Seconds under a minute: a peer silent for 55 s is not one seen just now.
pub fn relative(at_ms: u64, now_ms: u64) -> String {
    let (seconds, future) = if at_ms >= now_ms {
        ((at_ms - now_ms) / 1000, true)
    } else {
        ((now_ms - at_ms) / 1000, false)
    };
    let span = match seconds {
        0..NOW_SECONDS => return "now".to_owned(),
        NOW_SECONDS..60 => format!("{seconds} s"),
        60..3_600 => format!("{} min", seconds / 60),
        3_600..172_800 => match seconds / 60 % 60 {
            0 => format!("{} h", seconds / 3_600),
            minutes => format!("{} h {minutes} min", seconds / 3_600),
        },
        _ => format!("{} days", seconds / 86_400),
    };
    if future {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// `count` and `noun`, plural unless one: `1 alert`, `3 alerts`.
pub fn count(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// `1–20 of 57 contacts; next page: --page 2`, or `57 contacts` when one page holds all;
/// `noun` is singular.
pub fn page_footer(page: &Value, noun: &str) -> String {
    let (total, number, per_page) = (
        self::number(page, "total"),
        self::number(page, "page").max(1),
        self::number(page, "per_page").max(1),
    );
    let shown = page["items"].as_array().map_or(0, Vec::len) as u64;
    let first = (number - 1) * per_page + 1;
    if total <= per_page && number == 1 {
        return count(total, noun);
    }
    if shown == 0 {
        return format!("nothing on page {number}; there are {}", count(total, noun));
    }
    let last = first + shown - 1;
    let mut footer = format!("{first}–{last} of {}", count(total, noun));
    if last < total {
        footer.push_str(&format!("; next page: --page {}", number + 1));
    }
    footer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(table: &Table) -> String {
        let mut out = Vec::new();
        table.write(&mut out).expect("written");
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn accented_and_decomposed_names_align_by_display_width() {
        let mut table = Table::new(&["name", "member"]);
        table.row(vec!["José Perú".into(), "PE".into()]);
        table.row(vec!["Jose\u{301} Peru".into(), "PE".into()]);
        table.row(vec!["Ana".into(), "BR".into()]);
        let text = render(&table);
        let columns: Vec<usize> = text
            .lines()
            .zip(["member", "PE", "PE", "BR"])
            .map(|(line, cell)| line[..line.rfind(cell).expect("second column")].width())
            .collect();
        assert!(columns.windows(2).all(|pair| pair[0] == pair[1]), "{text}");
        assert!(text.lines().all(|line| !line.ends_with(' ')), "{text:?}");
    }

    #[test]
    fn control_characters_from_feeds_cannot_reach_the_terminal() {
        let mut table = Table::new(&["title"]);
        table.row(vec!["ok\u{1b}[2J\nnext\u{202e}evil".into()]);
        let text = render(&table);
        assert!(!text.contains('\u{1b}'));
        assert!(!text.contains('\u{202e}'));
        assert_eq!(text.lines().count(), 2, "{text:?}");
    }

    #[test]
    fn long_cells_are_cut_with_an_ellipsis_within_their_width() {
        let cut = truncate(
            "Superintendencia Nacional de Aduanas y de Administración",
            20,
        );
        assert_eq!(cut.width(), 20);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("Perú", 4), "Perú");
    }

    #[test]
    fn relative_times_read_like_speech() {
        let now = 1_000_000_000_000;
        assert_eq!(relative(now + 1_999, now), "now");
        assert_eq!(relative(now - 1_500, now), "now");
        assert_eq!(relative(now + 30_000, now), "in 30 s");
        assert_eq!(relative(now - 12_000, now), "12 s ago");
        assert_eq!(relative(now - 55_000, now), "55 s ago");
        assert_eq!(relative(now - 60_000, now), "1 min ago");
        assert_eq!(relative(now + 5 * 60_000, now), "in 5 min");
        assert_eq!(
            relative(now - (2 * 3_600 + 3 * 60) * 1000, now),
            "2 h 3 min ago"
        );
        assert_eq!(relative(now - 3 * 86_400_000, now), "3 days ago");
        assert_eq!(short_time("2026-12-04T15:00:07.123Z"), "2026-12-04 15:00Z");
    }

    #[test]
    fn first_items_say_how_many_more_there_are() {
        let value = serde_json::json!({ "phones": ["+511", "+512", "+513"], "emails": [] });
        assert_eq!(first(&value, "phones"), "+511 (+2 more)");
        assert_eq!(first(&value, "emails"), "");
    }

    #[test]
    fn page_footers_say_where_the_next_page_is() {
        let page =
            serde_json::json!({ "total": 57, "page": 1, "per_page": 20, "items": vec![0; 20] });
        assert_eq!(
            page_footer(&page, "contact"),
            "1–20 of 57 contacts; next page: --page 2"
        );
        let all = serde_json::json!({ "total": 3, "page": 1, "per_page": 20, "items": [1, 2, 3] });
        assert_eq!(page_footer(&all, "contact"), "3 contacts");
    }
}
