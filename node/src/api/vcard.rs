//! vCard 4.0 (RFC 6350) of contacts, for address books and phones.
//!
//! Lines end in CRLF and are folded at 75 octets without splitting a UTF-8 character
//! (§3.2); text values escape backslash, comma, semicolon and line breaks (§3.4). Phones are
//! `tel:` URIs (§6.4.1), languages carry their order as `PREF` (§6.4.4).

use std::fmt::Write as _;

use vigia_protocol::MemberCode;
use vigia_protocol::body::Contact;

/// Longest line in octets, without its CRLF (RFC 6350 §3.2).
const MAX_LINE_OCTETS: usize = 75;

/// Escapes a text value or a component of a structured one.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            ',' => escaped.push_str("\\,"),
            ';' => escaped.push_str("\\;"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                escaped.push_str("\\n");
            }
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Appends one content line, folded.
fn push_line(card: &mut String, line: &str) {
    let mut octets = 0;
    for c in line.chars() {
        // A continuation line starts with a space, which counts towards its 75 octets.
        if octets + c.len_utf8() > MAX_LINE_OCTETS {
            card.push_str("\r\n ");
            octets = 1;
        }
        card.push(c);
        octets += c.len_utf8();
    }
    card.push_str("\r\n");
}

/// The vCard of one contact of `member`, whose institution is called `organization`.
pub fn card(member: MemberCode, contact: &Contact, organization: Option<&str>) -> String {
    let mut card = String::new();
    push_line(&mut card, "BEGIN:VCARD");
    push_line(&mut card, "VERSION:4.0");
    push_line(&mut card, "KIND:individual");
    let full_name = format!("{} {}", contact.given_names, contact.family_names);
    push_line(&mut card, &format!("FN:{}", escape(full_name.trim())));
    push_line(
        &mut card,
        &format!(
            "N:{};{};;;",
            escape(&contact.family_names),
            escape(&contact.given_names)
        ),
    );
    // A URN of the contact's identity in the network, stable across exports.
    push_line(&mut card, &format!("UID:urn:vigia:{member}:{}", contact.id));
    if let Some(organization) = organization {
        push_line(&mut card, &format!("ORG:{}", escape(organization)));
    }
    if !contact.role.trim().is_empty() {
        push_line(&mut card, &format!("ROLE:{}", escape(&contact.role)));
    }
    for phone in &contact.phones {
        push_line(&mut card, &format!("TEL;VALUE=uri;TYPE=work:tel:{phone}"));
    }
    for email in &contact.emails {
        push_line(&mut card, &format!("EMAIL;TYPE=work:{}", escape(email)));
    }
    for (rank, language) in contact.languages.iter().enumerate() {
        let mut line = String::from("LANG");
        // PREF ranges 1..=100; more than 100 languages cannot occur (at most 16 items).
        let _ = write!(line, ";PREF={}:{language}", (rank + 1).min(100));
        push_line(&mut card, &line);
    }
    if !contact.notes.trim().is_empty() {
        push_line(&mut card, &format!("NOTE:{}", escape(&contact.notes)));
    }
    push_line(&mut card, "END:VCARD");
    card
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigia_protocol::body::Availability;

    fn contact() -> Contact {
        Contact {
            id: "c-1".into(),
            given_names: "José María".into(),
            family_names: "Quispe; Mamani".into(),
            institution_id: "pnp".into(),
            role: "Jefe, guardia".into(),
            emails: vec!["a@b.pe".into()],
            phones: vec!["+5114181234".into(), "+51999888777".into()],
            languages: vec!["es".into(), "qu".into()],
            availability: Availability::AlwaysOn,
            notes: "Línea 1\nLínea 2 con \\ barra".into(),
        }
    }

    #[test]
    fn card_escapes_and_uses_crlf() {
        let card = card(
            "PE".parse().expect("code"),
            &contact(),
            Some("Policía Nacional"),
        );
        assert!(card.starts_with("BEGIN:VCARD\r\nVERSION:4.0\r\n"));
        assert!(card.contains("N:Quispe\\; Mamani;José María;;;\r\n"));
        assert!(card.contains("ROLE:Jefe\\, guardia\r\n"));
        assert!(card.contains("TEL;VALUE=uri;TYPE=work:tel:+51999888777\r\n"));
        assert!(card.contains("LANG;PREF=2:qu\r\n"));
        assert!(card.contains("NOTE:Línea 1\\nLínea 2 con \\\\ barra\r\n"));
        assert!(card.ends_with("END:VCARD\r\n"));
        assert!(!card.replace("\r\n", "").contains('\n'));
    }

    #[test]
    fn long_lines_fold_at_75_octets_between_characters() {
        let mut contact = contact();
        contact.notes = "ñ".repeat(100);
        let card = card("PE".parse().expect("code"), &contact, None);
        for line in card.split("\r\n") {
            assert!(
                line.len() <= MAX_LINE_OCTETS,
                "{line:?} is {} octets",
                line.len()
            );
        }
        let unfolded = card.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("NOTE:{}\r\n", "ñ".repeat(100))));
    }
}
