//! Language codes as the API takes them: ISO 639-1 codes that name a language.
//!
//! The protocol checks only the shape (two lowercase letters), and stays so: a node must
//! accept every entry an older node accepted, and the ISO list grows. A typo such as `xx`
//! would still be published to every member and written into vCards, so the API, where a
//! person can correct it, also looks the code up in the ISO 639-1 table.

use vigia_protocol::body::InvalidField;

/// Each of `languages` (a contact's, listed under the protocol field `field`) that has the
/// protocol's shape but names no language; malformed codes are the protocol's to report.
pub fn unknown(field: &str, languages: &[String]) -> Vec<InvalidField> {
    languages
        .iter()
        .enumerate()
        .filter(|(_, code)| well_formed(code) && isolang::Language::from_639_1(code).is_none())
        .map(|(index, code)| InvalidField {
            field: format!("{field}[{index}]"),
            reason: format!("{code:?} is not an ISO 639-1 language code such as \"es\" or \"pt\""),
        })
        .collect()
}

fn well_formed(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|byte| byte.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_that_name_no_language_are_named_and_the_rest_pass() {
        let languages = ["es", "qu", "xx", "SPA", "pt", "zz"].map(str::to_owned);
        let unknown: Vec<String> = unknown("contact.languages", &languages)
            .into_iter()
            .map(|invalid| invalid.field)
            .collect();
        assert_eq!(unknown, ["contact.languages[2]", "contact.languages[5]"]);
    }
}
