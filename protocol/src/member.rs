//! Member codes: the ISO 3166-1 alpha-2 code of each member state.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A member state's ISO 3166-1 alpha-2 code, always two ASCII capital letters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberCode([u8; 2]);

/// Why a string is not a member code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("member code {0:?} is not two capital letters (ISO 3166-1 alpha-2)")]
pub struct InvalidMemberCode(pub String);

impl MemberCode {
    /// Builds a code from two bytes, accepting only `A`..=`Z`.
    pub fn from_bytes(bytes: [u8; 2]) -> Result<Self, InvalidMemberCode> {
        if bytes.iter().all(u8::is_ascii_uppercase) {
            Ok(Self(bytes))
        } else {
            Err(InvalidMemberCode(
                String::from_utf8_lossy(&bytes).into_owned(),
            ))
        }
    }

    /// The two letters as a string slice.
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII capitals, checked at construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// The code packed into a `u16`, a compact and ordered storage key.
    pub fn to_u16(self) -> u16 {
        u16::from_be_bytes(self.0)
    }

    /// The inverse of [`MemberCode::to_u16`].
    pub fn from_u16(value: u16) -> Result<Self, InvalidMemberCode> {
        Self::from_bytes(value.to_be_bytes())
    }
}

impl FromStr for MemberCode {
    type Err = InvalidMemberCode;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.as_bytes() {
            [a, b] => Self::from_bytes([*a, *b]),
            _ => Err(InvalidMemberCode(text.to_owned())),
        }
    }
}

impl fmt::Display for MemberCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for MemberCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for MemberCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(self.as_str())
        } else {
            serializer.serialize_u16(self.to_u16())
        }
    }
}

impl<'de> Deserialize<'de> for MemberCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            text.parse().map_err(serde::de::Error::custom)
        } else {
            let value = u16::deserialize(deserializer)?;
            Self::from_u16(value).map_err(serde::de::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_two_capitals_only() {
        assert_eq!(
            "AR".parse::<MemberCode>().map(|c| c.to_string()),
            Ok("AR".into())
        );
        for bad in ["ar", "A", "ARG", "A1", "", "ÁR"] {
            assert!(bad.parse::<MemberCode>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn u16_packing_round_trips_and_keeps_order() {
        let ar: MemberCode = "AR".parse().expect("valid");
        let br: MemberCode = "BR".parse().expect("valid");
        assert_eq!(MemberCode::from_u16(ar.to_u16()), Ok(ar));
        assert!(ar.to_u16() < br.to_u16());
        assert!(MemberCode::from_u16(0).is_err());
    }
}
