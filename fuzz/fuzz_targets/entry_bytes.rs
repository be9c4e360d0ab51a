//! Entry decoding and validation of arbitrary bytes, as gossip and sync hand them over.
//!
//! Asserts: nothing panics; bytes that decode are the canonical encoding of what they
//! decode to (re-encoding gives the same bytes), so an entry's hash names one byte string;
//! an entry that `verify_entry` accepts against the fixture roster decodes the same way,
//! keeps its exact bytes and hashes its signed bytes; a refused entry that did not decode
//! is refused as malformed or too large, never for its content.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigia_fuzz_fixtures::fixture;
use vigia_protocol::SignedEntry;
use vigia_protocol::entry::{hash_of_wire_bytes, hash_signed_bytes};
use vigia_protocol::validate::{ValidationError, verify_entry};

fuzz_target!(|data: &[u8]| {
    let decoded = SignedEntry::from_bytes(data);
    if let Ok(signed) = &decoded {
        let encoded = signed.to_bytes().expect("a decoded entry encodes");
        assert_eq!(encoded, data, "decoded bytes are not canonical");
    }
    assert_eq!(hash_of_wire_bytes(data).is_some(), decoded.is_ok());
    match verify_entry(&fixture().roster, data) {
        Ok(verified) => {
            let signed = decoded.expect("an accepted entry decodes on its own");
            assert_eq!(verified.signed, signed);
            assert_eq!(verified.bytes, data);
            let signed_bytes = signed.entry.signed_bytes().expect("encodes");
            assert_eq!(verified.hash, hash_signed_bytes(&signed_bytes));
            assert!(signed.entry.seq >= 1);
        }
        Err(error) => {
            if decoded.is_err() {
                assert!(
                    matches!(
                        error,
                        ValidationError::Malformed(_) | ValidationError::TooLarge { .. }
                    ),
                    "undecodable bytes refused as {error:?}"
                );
            }
            assert!(!error.reason().is_empty());
        }
    }
});
