//! Names and titles as the API takes them: contacts' given and family names, institutions'
//! names in every language, alerts' titles.
//!
//! Two rules beyond the protocol's. A name may not hold bidirectional embeddings, overrides
//! or isolates (U+202A–U+202E, U+2066–U+2069): they make a name read as another one on a
//! focal point's screen. And a name that is empty once invisible format characters
//! (category Cf, such as U+200B zero-width space or U+FEFF) are taken away is empty, as
//! the protocol already holds a name of spaces to be.
//!
//! They are checked where a person writes the name (PUT, import, alert issue) and not in
//! the protocol: a node must keep accepting every entry the network already holds, and an
//! entry published before these rules, or by an older node, would otherwise fail
//! re-verification on every node that replays or syncs it.

use vigia_protocol::Body;
use vigia_protocol::body::InvalidField;

use crate::search::is_format_character;

/// Every name or title of `body` that breaks the API's rules, in field order. A name the
/// protocol already refuses as empty is left to the protocol, so it is reported once.
pub fn problems(body: &Body) -> Vec<InvalidField> {
    let mut names: Vec<(&str, &str)> = Vec::new();
    match body {
        Body::ContactPut(contact) => {
            names.push(("contact.given_names", &contact.given_names));
            names.push(("contact.family_names", &contact.family_names));
        }
        Body::InstitutionPut(institution) => {
            names.push(("institution.name", &institution.name));
            let localized = &institution.names;
            let languages = [
                ("institution.names.en", &localized.en),
                ("institution.names.es", &localized.es),
                ("institution.names.pt", &localized.pt),
                ("institution.names.fr", &localized.fr),
            ];
            for (field, name) in languages {
                if let Some(name) = name {
                    names.push((field, name));
                }
            }
        }
        Body::Alert(alert) => names.push(("alert.title", &alert.title)),
        _ => {}
    }
    names
        .into_iter()
        .filter_map(|(field, name)| problem(name).map(|reason| invalid(field, reason)))
        .collect()
}

fn problem(name: &str) -> Option<String> {
    if let Some(control) = name.chars().find(|c| is_bidi_control(*c)) {
        return Some(format!(
            "contains the bidirectional control U+{:04X}, which changes how the text \
             around it reads; remove it",
            u32::from(control)
        ));
    }
    let visible = |c: &char| !c.is_whitespace() && !is_format_character(*c);
    if !name.trim().is_empty() && !name.chars().any(|c| visible(&c)) {
        return Some("must not be empty (it holds only invisible characters)".to_owned());
    }
    None
}

/// Embeddings, overrides and isolates; the marks U+200E and U+200F are left alone, as
/// right-to-left scripts use them in ordinary text.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn invalid(field: &str, reason: String) -> InvalidField {
    InvalidField {
        field: field.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_only_and_bidi_controlled_names_are_refused() {
        assert!(problem("\u{200b}").is_some());
        assert!(problem("\u{200b} \u{feff}\u{2060}").is_some());
        assert!(problem("Ana\u{202e}lía").is_some_and(|reason| reason.contains("U+202E")));
        assert!(problem("\u{2066}Ana\u{2069}").is_some());
        assert_eq!(problem("José María"), None);
        assert_eq!(problem("عبد\u{200f}الله"), None);
        // Spaces only are the protocol's "must not be empty", not reported twice.
        assert_eq!(problem("  "), None);
    }
}
