//! Opaque, tamper-proof cursors for keyset pagination.
//!
//! A cursor carries the position of the last item of a page and an HMAC over
//! that position and the listing it belongs to (which includes the caller),
//! so a client can neither forge a position nor replay a cursor against
//! another listing or as another user.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use charter_runtime::Problem;

const MAC_BYTES: usize = 16;

#[derive(Clone)]
pub struct Cursors {
    key: [u8; 32],
}

impl Cursors {
    pub fn new(key: [u8; 32]) -> Self {
        Cursors { key }
    }

    fn mac(&self, listing: &str, position: i64) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(listing.as_bytes());
        mac.update(&[0]);
        mac.update(&position.to_be_bytes());
        mac
    }

    /// A cursor that resumes `listing` after `position`.
    pub fn encode(&self, listing: &str, position: i64) -> String {
        let tag = self.mac(listing, position).finalize().into_bytes();
        let mut raw = position.to_be_bytes().to_vec();
        raw.extend_from_slice(&tag[..MAC_BYTES]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The position a cursor resumes after; 400 when it was not issued for
    /// this listing by this server.
    pub fn decode(&self, listing: &str, cursor: &str) -> Result<i64, Problem> {
        let invalid = || {
            Problem::bad_request(
                "INVALID_CURSOR",
                "The cursor is malformed or was not issued for this listing.",
            )
        };
        let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        if raw.len() != 8 + MAC_BYTES {
            return Err(invalid());
        }
        let (position, tag) = raw.split_at(8);
        let position = i64::from_be_bytes(position.try_into().map_err(|_| invalid())?);
        self.mac(listing, position)
            .verify_truncated_left(tag)
            .map_err(|_| invalid())?;
        Ok(position)
    }
}

/// Splits a page fetched with `limit + 1` rows into the page and whether more follow.
pub fn split_page<T>(mut rows: Vec<T>, limit: usize) -> (Vec<T>, bool) {
    let more = rows.len() > limit;
    rows.truncate(limit);
    (rows, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        let cursors = Cursors::new([3; 32]);
        let cursor = cursors.encode("users:alice", 42);
        assert_eq!(cursors.decode("users:alice", &cursor).ok(), Some(42));
        assert!(cursors.decode("users:bob", &cursor).is_err());
        let mut raw = URL_SAFE_NO_PAD.decode(&cursor).unwrap_or_default();
        raw[7] ^= 1;
        assert!(
            cursors
                .decode("users:alice", &URL_SAFE_NO_PAD.encode(raw))
                .is_err()
        );
        assert!(cursors.decode("users:alice", "AAAA").is_err());
    }
}
