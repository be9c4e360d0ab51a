//! Fixed-size byte strings (hashes, keys, signatures): hex in human formats, raw on the wire.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! fixed_bytes {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Number of bytes.
            pub const LEN: usize = $len;

            /// Lower-case hexadecimal form.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// Parses the hexadecimal form; the length must be exact.
            pub fn from_hex(text: &str) -> Result<Self, String> {
                let bytes = hex::decode(text.trim()).map_err(|err| err.to_string())?;
                let array: [u8; $len] = bytes.try_into().map_err(|bytes: Vec<u8>| {
                    format!("expected {} bytes, found {}", $len, bytes.len())
                })?;
                Ok(Self(array))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.serialize_str(&self.to_hex())
                } else {
                    serializer.serialize_bytes(&self.0)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    let text = String::deserialize(deserializer)?;
                    Self::from_hex(&text).map_err(serde::de::Error::custom)
                } else {
                    let bytes = serde_bytes_vec(deserializer)?;
                    let array: [u8; $len] = bytes.try_into().map_err(|bytes: Vec<u8>| {
                        serde::de::Error::invalid_length(bytes.len(), &stringify!($len))
                    })?;
                    Ok(Self(array))
                }
            }
        }
    };
}

fixed_bytes!(
    /// A SHA-256 digest: entry hashes and the network id.
    Hash,
    32
);
fixed_bytes!(
    /// An ed25519 public (verifying) key.
    PublicKey,
    32
);
fixed_bytes!(
    /// An ed25519 signature.
    Signature,
    64
);

impl Hash {
    /// The hash that the first entry of every feed names as its predecessor.
    pub const ZERO: Hash = Hash([0; 32]);
}

/// Reads a byte string whichever way the format hands it over.
fn serde_bytes_vec<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte string")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
    }
    deserializer.deserialize_bytes(Visitor)
}
