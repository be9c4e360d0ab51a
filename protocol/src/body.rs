//! What an entry can say: directory changes, alerts and acknowledgements.
//!
//! Each kind checks its own fields in [`Body::validate`]; a failure names the field and the
//! reason. Enums use serde's external tagging because the binary codec is not
//! self-describing and cannot decode internally tagged forms. Limits are part of the
//! protocol: a node of any version must accept exactly what another accepts, so they are
//! constants here and not settings.

use serde::{Deserialize, Serialize};

use crate::entry::EntryRef;
use crate::member::MemberCode;

/// Longest identifier of a contact, institution or alert, in bytes.
pub const MAX_ID_LEN: usize = 64;
/// Longest name, title, role or address line, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest free text (notes, acknowledgement notes), in characters.
pub const MAX_NOTE_CHARS: usize = 2_000;
/// Longest alert description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 8_000;
/// Most phones, emails or languages on one record: a desk rarely has more than a handful.
pub const MAX_LIST_ITEMS: usize = 16;
/// Longest e-mail address (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// The body of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// Creates or replaces one of the author's contacts.
    ContactPut(Contact),
    /// Removes one of the author's contacts.
    ContactRemove {
        /// The contact's id.
        id: String,
    },
    /// Creates or replaces one of the author's institutions.
    InstitutionPut(Institution),
    /// Removes one of the author's institutions.
    InstitutionRemove {
        /// The institution's id.
        id: String,
    },
    /// Issues an alert.
    Alert(Alert),
    /// Acknowledges an alert (of any member).
    Acknowledgement(Acknowledgement),
}

/// A focal point: a person the member state designates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Identifier, unique among the author's contacts.
    pub id: String,
    /// Given names, as the person writes them.
    pub given_names: String,
    /// Family names (one or two, as is the custom of the country).
    pub family_names: String,
    /// Id of one of the author's institutions.
    pub institution_id: String,
    /// Role or position.
    pub role: String,
    /// E-mail addresses.
    pub emails: Vec<String>,
    /// Phone numbers in E.164 form (`+` and digits).
    pub phones: Vec<String>,
    /// Languages spoken, ISO 639-1 codes (`es`, `pt`, `fr`, `en`, …).
    pub languages: Vec<String>,
    /// When the contact can be reached.
    pub availability: Availability,
    /// Free text.
    pub notes: String,
}

/// When a contact can be reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// Around the clock, every day.
    AlwaysOn,
    /// Office hours in a time zone.
    Hours {
        /// IANA time zone name, such as `America/Lima`.
        time_zone: String,
        /// Opening time, `HH:MM`.
        from: String,
        /// Closing time, `HH:MM`.
        to: String,
    },
}

/// Kinds of institution a member state designates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum InstitutionKind {
    Police,
    Intelligence,
    FinancialIntelligenceUnit,
    Prosecutor,
    Customs,
    Migration,
    Csirt,
    Ministry,
    Military,
    Other,
}

/// Names of an institution in the OAS working languages, where it has them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct LocalizedNames {
    pub en: Option<String>,
    pub es: Option<String>,
    pub pt: Option<String>,
    pub fr: Option<String>,
}

/// An institution a member state designates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Institution {
    /// Identifier, unique among the author's institutions.
    pub id: String,
    /// Official name, in the country's language.
    pub name: String,
    /// The name in the OAS working languages.
    pub names: LocalizedNames,
    /// What kind of authority it is.
    pub kind: InstitutionKind,
    /// Postal address.
    pub address: String,
    /// Phone numbers in E.164 form.
    pub phones: Vec<String>,
    /// E-mail addresses.
    pub emails: Vec<String>,
}

/// CAP 1.2 severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Severity {
    Extreme,
    Severe,
    Moderate,
    Minor,
    Unknown,
}

/// CAP 1.2 urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Urgency {
    Immediate,
    Expected,
    Future,
    Past,
    Unknown,
}

/// CAP 1.2 certainty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Certainty {
    Observed,
    Likely,
    Possible,
    Unlikely,
    Unknown,
}

/// Traffic Light Protocol 2.0 label: who the recipients may share the alert with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Tlp {
    Clear,
    Green,
    Amber,
    AmberStrict,
    Red,
}

/// Who an alert is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipients {
    /// Every member of the network.
    Network,
    /// The listed members only (the author reads its own alerts anyway).
    Members(Vec<MemberCode>),
}

/// How an alert relates to an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertRelation {
    /// Replaces the earlier alert's content.
    Updates,
    /// Withdraws the earlier alert.
    Cancels,
}

/// A reference from an alert to an earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertReference {
    /// Update or cancel.
    pub relation: AlertRelation,
    /// The earlier alert's entry.
    pub alert: EntryRef,
}

/// An operational alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Identifier, unique among the author's alerts.
    pub id: String,
    /// One-line summary.
    pub title: String,
    /// Full text.
    pub description: String,
    /// CAP severity.
    pub severity: Severity,
    /// CAP urgency.
    pub urgency: Urgency,
    /// CAP certainty.
    pub certainty: Certainty,
    /// TLP 2.0 sharing label.
    pub tlp: Tlp,
    /// Who it is for.
    pub recipients: Recipients,
    /// When it stops being relevant, milliseconds since the Unix epoch.
    pub expires_at_ms: u64,
    /// When recipients are asked to answer by, milliseconds since the Unix epoch.
    pub respond_by_ms: Option<u64>,
    /// The earlier alert this one updates or cancels.
    pub references: Option<AlertReference>,
}

/// A member's acknowledgement that it received an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// The alert's entry.
    pub alert: EntryRef,
    /// A short note for the issuer.
    pub note: Option<String>,
}

/// A field that breaks the protocol's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid field `{field}`: {reason}")]
pub struct InvalidField {
    /// Dotted path of the field, such as `contact.phones[1]`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

type Checked = Result<(), InvalidField>;

/// Every broken field of a record, in field order, for callers that show them all at once
/// (a spreadsheet import); [`Body::validate`] keeps only the first.
#[derive(Debug, Default)]
struct Problems(Vec<InvalidField>);

impl Problems {
    fn check(&mut self, result: Checked) {
        if let Err(invalid) = result {
            self.0.push(invalid);
        }
    }

    /// Each bad item of a list; a list over [`MAX_LIST_ITEMS`] is one problem, its items
    /// unchecked, so the list of problems stays as bounded as the record.
    fn list(&mut self, field: &str, items: &[String], check: fn(&str, &str) -> Checked) {
        if items.len() > MAX_LIST_ITEMS {
            let reason = format!("has more than {MAX_LIST_ITEMS} items");
            self.0.push(invalid(field, reason));
            return;
        }
        for (index, item) in items.iter().enumerate() {
            self.check(check(&format!("{field}[{index}]"), item));
        }
    }

    fn first(self) -> Checked {
        self.0.into_iter().next().map_or(Ok(()), Err)
    }
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> InvalidField {
    InvalidField {
        field: field.into(),
        reason: reason.into(),
    }
}

impl Body {
    /// Checks every field. `issued_at_ms` is the entry's issue time, which alert times
    /// must follow.
    pub fn validate(&self, issued_at_ms: u64) -> Checked {
        match self {
            Body::ContactPut(contact) => contact.validate(),
            Body::ContactRemove { id } => check_id("contact_remove.id", id),
            Body::InstitutionPut(institution) => institution.validate(),
            Body::InstitutionRemove { id } => check_id("institution_remove.id", id),
            Body::Alert(alert) => alert.validate(issued_at_ms),
            Body::Acknowledgement(ack) => {
                check_optional_text("acknowledgement.note", ack.note.as_deref(), MAX_NOTE_CHARS)
            }
        }
    }

    /// Short name of the body's kind, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::ContactPut(_) => "contact_put",
            Body::ContactRemove { .. } => "contact_remove",
            Body::InstitutionPut(_) => "institution_put",
            Body::InstitutionRemove { .. } => "institution_remove",
            Body::Alert(_) => "alert",
            Body::Acknowledgement(_) => "acknowledgement",
        }
    }
}

impl Contact {
    fn validate(&self) -> Checked {
        self.problems().first()
    }

    /// Every field that breaks the protocol's rules, in field order (the first is the one
    /// [`Body::validate`] reports).
    pub fn invalid_fields(&self) -> Vec<InvalidField> {
        self.problems().0
    }

    fn problems(&self) -> Problems {
        let mut problems = Problems::default();
        problems.check(check_id("contact.id", &self.id));
        problems.check(check_name("contact.given_names", &self.given_names));
        problems.check(check_name("contact.family_names", &self.family_names));
        problems.check(check_id("contact.institution_id", &self.institution_id));
        problems.check(check_text("contact.role", &self.role, MAX_NAME_CHARS));
        problems.list("contact.emails", &self.emails, check_email);
        problems.list("contact.phones", &self.phones, check_phone);
        problems.list("contact.languages", &self.languages, check_language);
        self.availability.check(&mut problems);
        problems.check(check_text("contact.notes", &self.notes, MAX_NOTE_CHARS));
        problems
    }
}

impl Availability {
    fn check(&self, problems: &mut Problems) {
        if let Availability::Hours {
            time_zone,
            from,
            to,
        } = self
        {
            problems.check(check_time_zone("contact.availability.time_zone", time_zone));
            problems.check(check_clock("contact.availability.from", from));
            problems.check(check_clock("contact.availability.to", to));
        }
    }
}

impl Institution {
    fn validate(&self) -> Checked {
        self.problems().first()
    }

    /// Every field that breaks the protocol's rules, in field order (the first is the one
    /// [`Body::validate`] reports).
    pub fn invalid_fields(&self) -> Vec<InvalidField> {
        self.problems().0
    }

    fn problems(&self) -> Problems {
        let mut problems = Problems::default();
        problems.check(check_id("institution.id", &self.id));
        problems.check(check_name("institution.name", &self.name));
        let localized = [
            ("institution.names.en", &self.names.en),
            ("institution.names.es", &self.names.es),
            ("institution.names.pt", &self.names.pt),
            ("institution.names.fr", &self.names.fr),
        ];
        for (field, name) in localized {
            if let Some(name) = name {
                problems.check(check_name(field, name));
            }
        }
        problems.check(check_text(
            "institution.address",
            &self.address,
            MAX_NAME_CHARS,
        ));
        problems.list("institution.phones", &self.phones, check_phone);
        problems.list("institution.emails", &self.emails, check_email);
        problems
    }
}

impl Alert {
    fn validate(&self, issued_at_ms: u64) -> Checked {
        check_id("alert.id", &self.id)?;
        check_name("alert.title", &self.title)?;
        check_text(
            "alert.description",
            &self.description,
            MAX_DESCRIPTION_CHARS,
        )?;
        if self.expires_at_ms <= issued_at_ms {
            return Err(invalid(
                "alert.expires_at_ms",
                "must be after the time of issue",
            ));
        }
        if let Some(respond_by) = self.respond_by_ms
            && (respond_by <= issued_at_ms || respond_by > self.expires_at_ms)
        {
            return Err(invalid(
                "alert.respond_by_ms",
                "must be after the time of issue and no later than expiry",
            ));
        }
        if let Recipients::Members(members) = &self.recipients {
            if members.is_empty() || members.len() > 256 {
                return Err(invalid("alert.recipients", "must list 1 to 256 members"));
            }
            let mut sorted = members.clone();
            sorted.sort();
            sorted.dedup();
            if sorted.len() != members.len() {
                return Err(invalid("alert.recipients", "lists a member twice"));
            }
        }
        Ok(())
    }
}

fn check_id(field: &str, id: &str) -> Checked {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(invalid(field, format!("must be 1 to {MAX_ID_LEN} bytes")));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if !id.chars().all(allowed) {
        return Err(invalid(
            field,
            "may contain only ASCII letters, digits, '-', '_' and '.'",
        ));
    }
    Ok(())
}

fn check_name(field: &str, name: &str) -> Checked {
    if name.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    check_text(field, name, MAX_NAME_CHARS)
}

fn check_text(field: &str, text: &str, max_chars: usize) -> Checked {
    if text.chars().count() > max_chars {
        return Err(invalid(
            field,
            format!("is longer than {max_chars} characters"),
        ));
    }
    // Control characters other than line breaks and tabs garble terminals and logs.
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(())
}

fn check_optional_text(field: &str, text: Option<&str>, max_chars: usize) -> Checked {
    text.map_or(Ok(()), |text| check_text(field, text, max_chars))
}

/// Syntax only (one `@`, no spaces, a dot in the domain): whether a mailbox exists is
/// not something a signature can prove.
fn check_email(field: &str, email: &str) -> Checked {
    let valid = email.len() <= MAX_EMAIL_LEN
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if valid {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{email:?} is not an e-mail address"),
        ))
    }
}

/// E.164: a `+`, a country code that does not start with 0, at most 15 digits in all.
fn check_phone(field: &str, phone: &str) -> Checked {
    let digits = phone.strip_prefix('+').unwrap_or("");
    let valid = (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if valid {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{phone:?} is not an E.164 number such as +541143707000"),
        ))
    }
}

fn check_language(field: &str, code: &str) -> Checked {
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{code:?} is not an ISO 639-1 code such as \"es\""),
        ))
    }
}

fn check_time_zone(field: &str, zone: &str) -> Checked {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+');
    if !zone.is_empty() && zone.len() <= 64 && zone.chars().all(allowed) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{zone:?} is not an IANA time zone such as America/Lima"),
        ))
    }
}

fn check_clock(field: &str, clock: &str) -> Checked {
    let parsed = clock.split_once(':').and_then(|(hours, minutes)| {
        let two_digits = hours.len() == 2 && minutes.len() == 2;
        let hours: u8 = hours.parse().ok()?;
        let minutes: u8 = minutes.parse().ok()?;
        (two_digits && hours < 24 && minutes < 60).then_some(())
    });
    parsed.ok_or_else(|| invalid(field, format!("{clock:?} is not a time of day HH:MM")))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn contact() -> Contact {
        Contact {
            id: "c-1".into(),
            given_names: "José María".into(),
            family_names: "Quispe Mamani".into(),
            institution_id: "pnp".into(),
            role: "Jefe de guardia".into(),
            emails: vec!["guardia@policia.example.pe".into()],
            phones: vec!["+5114181234".into()],
            languages: vec!["es".into(), "qu".into()],
            availability: Availability::AlwaysOn,
            notes: String::new(),
        }
    }

    #[test]
    fn valid_contact_passes() {
        assert_eq!(Body::ContactPut(contact()).validate(0), Ok(()));
    }

    /// A change that breaks one field of a valid contact.
    type Breakage = fn(&mut Contact);

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(Breakage, &str)> = vec![
            (|c| c.id = "has space".into(), "contact.id"),
            (|c| c.given_names = "  ".into(), "contact.given_names"),
            (|c| c.phones.push("0114181234".into()), "contact.phones[1]"),
            (|c| c.phones[0] = "+0114181234".into(), "contact.phones[0]"),
            (|c| c.emails[0] = "no-at-sign".into(), "contact.emails[0]"),
            (|c| c.languages[0] = "spa".into(), "contact.languages[0]"),
            (|c| c.notes = "bell\u{7}".into(), "contact.notes"),
            (
                |c| {
                    c.availability = Availability::Hours {
                        time_zone: "America/Lima".into(),
                        from: "8:00".into(),
                        to: "17:00".into(),
                    }
                },
                "contact.availability.from",
            ),
        ];
        for (break_it, field) in cases {
            let mut contact = contact();
            break_it(&mut contact);
            let error = Body::ContactPut(contact).validate(0).expect_err(field);
            assert_eq!(error.field, field);
        }
    }

    #[test]
    fn every_bad_field_is_listed_and_the_first_is_the_one_validate_names() {
        let mut contact = contact();
        contact.given_names = " ".into();
        contact.phones = vec!["+5114181234".into(), "0114".into(), "+0".into()];
        contact.languages[1] = "spa".into();
        contact.notes = "bell\u{7}".into();
        let fields: Vec<String> = contact
            .invalid_fields()
            .into_iter()
            .map(|invalid| invalid.field)
            .collect();
        assert_eq!(
            fields,
            [
                "contact.given_names",
                "contact.phones[1]",
                "contact.phones[2]",
                "contact.languages[1]",
                "contact.notes",
            ]
        );
        let first = Body::ContactPut(contact).validate(0).expect_err("invalid");
        assert_eq!(first.field, "contact.given_names");
    }

    #[test]
    fn alert_must_expire_after_issue() {
        let alert = Alert {
            id: "a-1".into(),
            title: "Alerta".into(),
            description: String::new(),
            severity: Severity::Severe,
            urgency: Urgency::Immediate,
            certainty: Certainty::Likely,
            tlp: Tlp::Amber,
            recipients: Recipients::Network,
            expires_at_ms: 1_000,
            respond_by_ms: None,
            references: None,
        };
        assert_eq!(Body::Alert(alert.clone()).validate(999), Ok(()));
        let error = Body::Alert(alert)
            .validate(1_000)
            .expect_err("expired at issue");
        assert_eq!(error.field, "alert.expires_at_ms");
    }
}
