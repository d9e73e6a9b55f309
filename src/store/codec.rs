//! How values are laid out in storage: one format-version byte, then postcard.
//!
//! Why the byte: postcard is not self-describing, so a struct that gains a field cannot
//! read old bytes. The version byte lets a later release decode v1 values with the v1
//! struct and upgrade them, instead of failing on an old database.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::StoreError;

/// The format every value is written in today.
pub const FORMAT_V1: u8 = 1;

/// `[FORMAT_V1] ++ postcard(value)`.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own plain structs into a Vec cannot fail (no maps with non-string
    // keys, no unsized sequences); fall back to an empty payload rather than panic.
    postcard::to_extend(value, vec![FORMAT_V1]).unwrap_or_else(|_| vec![FORMAT_V1])
}

/// Reverse of [`encode`]; an unknown version or corrupt bytes are an error, never a panic.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&FORMAT_V1, rest)) => postcard::from_bytes(rest)
            .map_err(|e| StoreError::Corrupt(format!("cannot decode stored value: {e}"))),
        Some((v, _)) => Err(StoreError::Corrupt(format!(
            "stored value has format version {v}, this build reads version {FORMAT_V1}"
        ))),
        None => Err(StoreError::Corrupt("empty stored value".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Tenant;

    #[test]
    fn values_round_trip_behind_a_version_byte() {
        let t = Tenant {
            id: "ten_1".into(),
            name: "Acme Motors".into(),
            created_at: 7,
            alert_emails: vec!["ops@example.com".into()],
        };
        let bytes = encode(&t);
        assert_eq!(bytes[0], FORMAT_V1);
        assert_eq!(decode::<Tenant>(&bytes).unwrap(), t);
    }

    #[test]
    fn unknown_version_is_an_error_not_a_panic() {
        let mut bytes = encode(&1u32);
        bytes[0] = 9;
        assert!(decode::<u32>(&bytes).is_err());
        assert!(decode::<u32>(&[]).is_err());
    }
}
