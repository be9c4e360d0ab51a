//! Validation of entries that are correctly signed but say anything: the fuzzer writes the
//! unsigned entry, the target signs it with its author's fixture key, as a roster member
//! gone rogue would, and validates the wire bytes.
//!
//! Mutating a signed entry almost never keeps its signature valid, so this is the way to
//! reach the checks behind the signature (fields, alert references). Asserts: nothing
//! panics; a properly signed, canonically encoded entry of a member is never refused as
//! malformed or for its signature; when accepted, it decodes back to what was signed; an
//! entry by a non-member is refused for that.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigia_fuzz_fixtures::fixture;
use vigia_protocol::codec::{self, MAX_ENTRY_BYTES};
use vigia_protocol::validate::{ValidationError, verify_entry};
use vigia_protocol::{Entry, SignedEntry};

fuzz_target!(|data: &[u8]| {
    let Ok(entry) = codec::decode::<Entry, MAX_ENTRY_BYTES>(data) else {
        return;
    };
    let fixture = fixture();
    let member = fixture.roster.member(entry.author).is_some();
    let key = fixture.key_of(entry.author).unwrap_or(&fixture.keys[0].1);
    let signed = entry.sign(key).expect("a decoded entry encodes");
    let bytes = signed.to_bytes().expect("a signed entry encodes");
    match verify_entry(&fixture.roster, &bytes) {
        Ok(verified) => {
            assert!(
                member,
                "an entry of non-member {} accepted",
                signed.entry.author
            );
            assert_eq!(verified.signed, signed);
            assert_eq!(SignedEntry::from_bytes(&bytes).as_ref(), Ok(&signed));
        }
        Err(ValidationError::TooLarge { len, .. }) => assert!(len > MAX_ENTRY_BYTES),
        Err(ValidationError::UnknownAuthor(author)) => assert!(!member, "{author} is a member"),
        Err(error @ (ValidationError::Malformed(_) | ValidationError::BadSignature { .. })) => {
            panic!("a canonical entry signed by its author refused: {error}")
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});
