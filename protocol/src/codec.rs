//! The canonical binary encoding: the only module that knows about bincode.
//!
//! Format: bincode 2 `standard()` configuration (little-endian, variable-length integers),
//! driven by serde. Every decode checks the input length first, bounds what the decoder may
//! allocate, and requires that the value uses every input byte. That alone does not make the
//! encoding unique: bincode also accepts an integer written wider than needed (`5` as
//! `fb 05 00`). Where the bytes themselves matter, because they are stored and forwarded as
//! received, [`decode_canonical`] also requires the one encoding [`encode`] produces.
//! `docs/wire-format.md` describes the layouts.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest encoded entry a node accepts. Contacts and alerts are a few hundred bytes; 64 KiB
/// leaves room for long alert descriptions while keeping one gossip frame small.
pub const MAX_ENTRY_BYTES: usize = 64 * 1024;

/// Largest sync message (one page of entries). A page is cut well before this size
/// by the node that builds it; see [`crate::sync::MAX_PAGE_BYTES`].
pub const MAX_SYNC_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Why bytes could not be turned into a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is longer than the limit for this kind of message.
    #[error("{len} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit that applies.
        limit: usize,
    },
    /// The bytes are not a valid encoding.
    #[error("malformed bytes: {0}")]
    Malformed(String),
    /// A valid value was followed by bytes that belong to nothing.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
    /// The bytes decode, but are not the encoding of the value they decode to (an integer
    /// or length written wider than needed).
    #[error("bytes are not the canonical encoding of their value")]
    NonCanonical,
}

/// Why a value could not be encoded (only a serde type that refuses itself can cause it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode value: {0}")]
pub struct EncodeError(String);

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a value canonically.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, EncodeError> {
    bincode::serde::encode_to_vec(value, config()).map_err(|err| EncodeError(err.to_string()))
}

/// Decodes a value of at most `LIMIT` bytes, rejecting trailing bytes.
pub fn decode<T: DeserializeOwned, const LIMIT: usize>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > LIMIT {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            limit: LIMIT,
        });
    }
    let (value, used) = bincode::serde::decode_from_slice(bytes, config().with_limit::<LIMIT>())
        .map_err(|err| DecodeError::Malformed(err.to_string()))?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes(bytes.len() - used));
    }
    Ok(value)
}

/// Decodes a value from the start of `bytes`, ignoring whatever follows it: the cheap way to
/// read the leading fields of a larger message. It proves nothing about the rest.
pub fn decode_prefix<T: DeserializeOwned, const LIMIT: usize>(
    bytes: &[u8],
) -> Result<T, DecodeError> {
    let bytes = &bytes[..bytes.len().min(LIMIT)];
    bincode::serde::decode_from_slice(bytes, config().with_limit::<LIMIT>())
        .map(|(value, _)| value)
        .map_err(|err| DecodeError::Malformed(err.to_string()))
}

/// Decodes like [`decode`], and also refuses any encoding but the one [`encode`] produces, so
/// that one value has exactly one wire form.
pub fn decode_canonical<T, const LIMIT: usize>(bytes: &[u8]) -> Result<T, DecodeError>
where
    T: Serialize + DeserializeOwned,
{
    let value = decode::<T, LIMIT>(bytes)?;
    let canonical = encode(&value).map_err(|err| DecodeError::Malformed(err.to_string()))?;
    if canonical != bytes {
        return Err(DecodeError::NonCanonical);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = encode(&(7u64, "x".to_string())).expect("encodes");
        bytes.push(0);
        let result = decode::<(u64, String), 64>(&bytes);
        assert_eq!(result, Err(DecodeError::TrailingBytes(1)));
    }

    #[test]
    fn input_over_limit_is_refused_before_decoding() {
        let bytes = encode(&vec![0u8; 100]).expect("encodes");
        let result = decode::<Vec<u8>, 64>(&bytes);
        assert!(matches!(
            result,
            Err(DecodeError::TooLarge { limit: 64, .. })
        ));
    }

    #[test]
    fn length_prefix_beyond_input_is_malformed_not_allocated() {
        // A vector claiming 2^40 elements in five bytes must fail, not reserve memory.
        let bytes = [253u8, 0, 0, 0, 0, 1, 0, 0, 0];
        assert!(matches!(
            decode::<Vec<u64>, 64>(&bytes),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn widened_integer_is_not_canonical() {
        let widened = [251u8, 5, 0];
        assert_eq!(decode::<u64, 64>(&widened), Ok(5));
        assert_eq!(
            decode_canonical::<u64, 64>(&widened),
            Err(DecodeError::NonCanonical)
        );
        assert_eq!(decode_canonical::<u64, 64>(&[5]), Ok(5));
    }
}
