//! The OAS member states a testnet can run, and which of them a testnet of N members runs.
//!
//! The list is the project's copy of public facts (ISO codes, names, languages, the time
//! zone of the capital, the calling code), kept in `testnet/oas-member-states.csv` and
//! compiled into the binary so that `vigia testnet` works from any directory.

use std::collections::HashSet;

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde::Deserialize;
use vigia_protocol::MemberCode;

/// The member list, embedded at build time.
const MEMBERS_CSV: &str = include_str!("../../../testnet/oas-member-states.csv");

/// Where [`MEMBERS_CSV`] comes from, for error messages.
const MEMBERS_CSV_PATH: &str = "testnet/oas-member-states.csv";

/// The members a testnet of N starts with, before the rest in alphabetical order. Seven of
/// them (the default testnet) already speak Spanish, Portuguese, English and French and
/// span the continent from Canada to Chile, so a small network exercises accents, calling
/// codes and time zones of every kind.
pub const PREFERRED_ORDER: [&str; 7] = ["AR", "BR", "CA", "CL", "MX", "PE", "US"];

/// How many members a testnet runs when not told otherwise: the [`PREFERRED_ORDER`] set.
pub const DEFAULT_MEMBER_COUNT: usize = PREFERRED_ORDER.len();

/// One OAS member state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OasMember {
    /// ISO 3166-1 alpha-2 code, the member's code on the network.
    pub alpha2: MemberCode,
    /// ISO 3166-1 alpha-3 code.
    pub alpha3: String,
    /// Name in English.
    pub name_en: String,
    /// Name in Spanish.
    pub name_es: String,
    /// Official languages, ISO 639-1, the most widely used first.
    pub languages: Vec<String>,
    /// IANA time zone of the capital, such as `America/Lima`.
    pub time_zone: String,
    /// International calling code with its `+`, such as `+51` or `+1268`.
    pub calling_code: String,
}

/// Which members a testnet runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// The first N in [`PREFERRED_ORDER`], then alphabetical by code.
    Count(usize),
    /// These codes, in this order (case-insensitive, each at most once).
    Codes(Vec<String>),
}

/// One CSV row as written, before its fields are checked.
#[derive(Debug, Deserialize)]
struct Row {
    alpha2: String,
    alpha3: String,
    name_en: String,
    name_es: String,
    languages: String,
    timezone: String,
    calling_code: String,
}

/// Every OAS member state, in the order of the embedded list.
pub fn oas_members() -> Result<Vec<OasMember>> {
    parse_members(MEMBERS_CSV).with_context(|| format!("reading {MEMBERS_CSV_PATH}"))
}

/// The members a selection names, in the order the testnet uses them.
pub fn select(selection: &Selection) -> Result<Vec<OasMember>> {
    select_from(oas_members()?, selection)
}

fn select_from(members: Vec<OasMember>, selection: &Selection) -> Result<Vec<OasMember>> {
    match selection {
        Selection::Count(count) => first(members, *count),
        Selection::Codes(codes) => by_codes(&members, codes),
    }
}

fn first(mut members: Vec<OasMember>, count: usize) -> Result<Vec<OasMember>> {
    ensure!(
        (1..=members.len()).contains(&count),
        "a testnet runs 1 to {} members (the OAS member states), not {count}",
        members.len()
    );
    // Preferred members sort before all others (by their place in the list), the rest by code.
    members.sort_by_key(|member| {
        let code = member.alpha2.as_str();
        let preferred = PREFERRED_ORDER.iter().position(|first| *first == code);
        (preferred.unwrap_or(PREFERRED_ORDER.len()), member.alpha2)
    });
    members.truncate(count);
    Ok(members)
}

fn by_codes(members: &[OasMember], codes: &[String]) -> Result<Vec<OasMember>> {
    ensure!(!codes.is_empty(), "no member codes given");
    let mut seen = HashSet::new();
    let mut selected = Vec::with_capacity(codes.len());
    for code in codes {
        let wanted = code.trim().to_ascii_uppercase();
        let member = members
            .iter()
            .find(|member| member.alpha2.as_str() == wanted)
            .ok_or_else(|| unknown_code(code, members))?;
        ensure!(
            seen.insert(member.alpha2),
            "member {wanted} is listed twice"
        );
        selected.push(member.clone());
    }
    Ok(selected)
}

fn unknown_code(code: &str, members: &[OasMember]) -> anyhow::Error {
    let known: Vec<&str> = members
        .iter()
        .map(|member| member.alpha2.as_str())
        .collect();
    anyhow!(
        "unknown member code {code:?}: the OAS member states are {}",
        known.join(", ")
    )
}

fn parse_members(text: &str) -> Result<Vec<OasMember>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().context("reading the header line")?.clone();
    let mut members: Vec<OasMember> = Vec::new();
    for record in reader.records() {
        let record = record?;
        let line = record.position().map_or(0, csv::Position::line);
        let row: Row = record
            .deserialize(Some(&headers))
            .with_context(|| format!("line {line}"))?;
        let member = member_from_row(row)
            .map_err(|(column, reason)| anyhow!("line {line}, column `{column}`: {reason}"))?;
        if members.iter().any(|known| known.alpha2 == member.alpha2) {
            bail!(
                "line {line}, column `alpha2`: {} appears twice",
                member.alpha2
            );
        }
        members.push(member);
    }
    ensure!(!members.is_empty(), "the member list is empty");
    Ok(members)
}

/// A field that is wrong: its column and why.
type FieldError = (&'static str, String);

fn member_from_row(row: Row) -> Result<OasMember, FieldError> {
    let alpha2 = row
        .alpha2
        .parse()
        .map_err(|error| ("alpha2", format!("{error}")))?;
    let is_alpha3 = row.alpha3.len() == 3 && row.alpha3.bytes().all(|b| b.is_ascii_uppercase());
    check(is_alpha3, "alpha3", || {
        format!("{:?} is not three capital letters", row.alpha3)
    })?;
    check(!row.name_en.trim().is_empty(), "name_en", || {
        "is empty".into()
    })?;
    check(!row.name_es.trim().is_empty(), "name_es", || {
        "is empty".into()
    })?;
    let languages: Vec<String> = row.languages.split(';').map(str::to_owned).collect();
    let all_iso_639_1 = languages
        .iter()
        .all(|code| code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase()));
    check(all_iso_639_1, "languages", || {
        format!(
            "{:?} is not a `;`-separated list of ISO 639-1 codes",
            row.languages
        )
    })?;
    check(is_time_zone(&row.timezone), "timezone", || {
        format!(
            "{:?} is not an IANA time zone such as America/Lima",
            row.timezone
        )
    })?;
    check(is_calling_code(&row.calling_code), "calling_code", || {
        format!("{:?} is not a calling code such as +51", row.calling_code)
    })?;
    Ok(OasMember {
        alpha2,
        alpha3: row.alpha3,
        name_en: row.name_en,
        name_es: row.name_es,
        languages,
        time_zone: row.timezone,
        calling_code: row.calling_code,
    })
}

fn check(
    valid: bool,
    column: &'static str,
    reason: impl FnOnce() -> String,
) -> Result<(), FieldError> {
    if valid {
        Ok(())
    } else {
        Err((column, reason()))
    }
}

fn is_time_zone(zone: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+');
    zone.contains('/') && zone.chars().all(allowed)
}

/// `+` and one to four digits, not starting with 0: an E.164 country code, or a NANP
/// country code with its area code (`+1268`), which the list gives as one.
fn is_calling_code(code: &str) -> bool {
    code.strip_prefix('+').is_some_and(|digits| {
        (1..=4).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(members: &[OasMember]) -> Vec<&str> {
        members
            .iter()
            .map(|member| member.alpha2.as_str())
            .collect()
    }

    #[test]
    fn embedded_list_has_the_35_member_states() {
        let members = oas_members().expect("the embedded list parses");
        assert_eq!(members.len(), 35);
        let peru = members
            .iter()
            .find(|m| m.alpha2.as_str() == "PE")
            .expect("PE");
        assert_eq!(peru.name_es, "Perú");
        assert_eq!(peru.time_zone, "America/Lima");
        assert_eq!(peru.calling_code, "+51");
        let haiti = members
            .iter()
            .find(|m| m.alpha2.as_str() == "HT")
            .expect("HT");
        assert_eq!(haiti.languages, ["fr", "ht"]);
    }

    #[test]
    fn default_seven_speak_the_four_oas_languages() {
        let members = select(&Selection::Count(DEFAULT_MEMBER_COUNT)).expect("7 members");
        assert_eq!(codes(&members), PREFERRED_ORDER);
        for language in ["es", "pt", "en", "fr"] {
            let speaks = |member: &OasMember| member.languages.iter().any(|l| l == language);
            assert!(members.iter().any(speaks), "nobody speaks {language}");
        }
    }

    #[test]
    fn count_continues_alphabetically_after_the_preferred_members() {
        let members = select(&Selection::Count(10)).expect("10 members");
        assert_eq!(
            codes(&members),
            ["AR", "BR", "CA", "CL", "MX", "PE", "US", "AG", "BB", "BO"]
        );
        let all = select(&Selection::Count(35)).expect("all members");
        let unique: HashSet<_> = all.iter().map(|member| member.alpha2).collect();
        assert_eq!(unique.len(), 35);
    }

    #[test]
    fn count_outside_one_to_35_is_refused() {
        for count in [0, 36] {
            let error = select(&Selection::Count(count)).expect_err("out of range");
            assert!(error.to_string().contains("1 to 35"), "{error}");
        }
    }

    #[test]
    fn codes_keep_their_order_and_ignore_case() {
        let selection = Selection::Codes(vec!["ht".into(), " BR".into(), "AG".into()]);
        let members = select(&selection).expect("known codes");
        assert_eq!(codes(&members), ["HT", "BR", "AG"]);
    }

    #[test]
    fn unknown_or_repeated_code_is_named() {
        let unknown = Selection::Codes(vec!["AR".into(), "XX".into()]);
        let error = select(&unknown).expect_err("XX is not a member");
        assert!(error.to_string().contains("\"XX\""), "{error}");
        let twice = Selection::Codes(vec!["AR".into(), "ar".into()]);
        let error = select(&twice).expect_err("AR twice");
        assert!(error.to_string().contains("AR is listed twice"), "{error}");
    }

    #[test]
    fn bad_field_error_names_line_and_column() {
        let header = "alpha2,alpha3,name_en,name_es,languages,timezone,calling_code\n";
        let good = "PE,PER,Peru,Perú,es,America/Lima,+51\n";
        let cases = [
            (
                "AR,ARG,Argentina,Argentina,es,America/Buenos_Aires,54\n",
                "calling_code",
            ),
            (
                "AR,ARG,Argentina,Argentina,spa,America/Buenos_Aires,+54\n",
                "languages",
            ),
            (
                "ar,ARG,Argentina,Argentina,es,America/Buenos_Aires,+54\n",
                "alpha2",
            ),
            (
                "AR,AR,Argentina,Argentina,es,America/Buenos_Aires,+54\n",
                "alpha3",
            ),
            ("PE,PER,Peru,Perú,es,America/Lima,+51\n", "alpha2"),
        ];
        for (row, column) in cases {
            let error = parse_members(&format!("{header}{good}{row}")).expect_err(column);
            let message = format!("{error:#}");
            assert!(
                message.contains(&format!("line 3, column `{column}`")),
                "{message}"
            );
        }
    }

    #[test]
    fn short_row_error_names_the_line() {
        let text = "alpha2,alpha3,name_en,name_es,languages,timezone,calling_code\nPE,PER\n";
        let message = format!("{:#}", parse_members(text).expect_err("short row"));
        assert!(message.contains("line: 2"), "{message}");
    }
}
