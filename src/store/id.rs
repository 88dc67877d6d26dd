//! What the store keeps, named once. Every id the replay and revocation store holds is
//! a [`StoreId`]; [`StoreId::encode`] is the only place that spells one, and
//! [`StoreId::namespace`] the only place that says which kind of entry it is.
//!
//! The encoding is part of the deployed state: Redis keys are
//! `<prefix><namespace>:<hex SHA-256 of the encoding>` (see `redis::key`), so a
//! revocation recorded by one version must be found by the next. Never change it.

use std::fmt;

/// One entry of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreId<'a> {
    /// One use of a single- or limited-use JWT: `jwt:<kid length>:<kid>:<jti>#<slot>`.
    /// The key id's length keeps key ids that contain `:` from colliding with another
    /// key's `jti`, and the slot number always ends the id, so a `jti` containing `#`
    /// cannot name another token's slot.
    UseSlot {
        /// The key id the token names.
        kid: &'a str,
        /// The token's `jti`.
        jti: &'a str,
        /// Which of the token's uses (1 to its use count).
        slot: u64,
    },
    /// A revoked cookie session: `sid:<session id>`.
    RevokedSession(&'a str),
    /// A revoked token id of one JWT key: `jti:<kid length>:<kid>:<jti>`.
    RevokedToken {
        /// The key id.
        kid: &'a str,
        /// The token's `jti`.
        jti: &'a str,
    },
    /// The "issued before T" cut-off of every token of one key id: `before:<kid>`.
    KeyCutOff(&'a str),
    /// The "issued before T" cut-off of every token of one subject:
    /// `before-sub:<subject>`.
    SubjectCutOff(&'a str),
}

/// The kinds of entry: each lives in its own namespace of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// Use slots, recorded once each (`check_and_record`).
    Used,
    /// Revocations, live until the revoked credential could not live anyway.
    Revoked,
    /// "Issued before T" cut-offs.
    Before,
}

impl Namespace {
    /// The namespace's name in store keys: `used`, `revoked`, `before`.
    pub fn as_str(self) -> &'static str {
        match self {
            Namespace::Used => "used",
            Namespace::Revoked => "revoked",
            Namespace::Before => "before",
        }
    }
}

impl StoreId<'_> {
    /// Which kind of entry this id names.
    pub fn namespace(&self) -> Namespace {
        match self {
            StoreId::UseSlot { .. } => Namespace::Used,
            StoreId::RevokedSession(_) | StoreId::RevokedToken { .. } => Namespace::Revoked,
            StoreId::KeyCutOff(_) | StoreId::SubjectCutOff(_) => Namespace::Before,
        }
    }

    /// The id's one encoding (see each variant).
    pub fn encode(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for StoreId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreId::UseSlot { kid, jti, slot } => {
                write!(f, "jwt:{}:{kid}:{jti}#{slot}", kid.len())
            }
            StoreId::RevokedSession(sid) => write!(f, "sid:{sid}"),
            StoreId::RevokedToken { kid, jti } => write!(f, "jti:{}:{kid}:{jti}", kid.len()),
            StoreId::KeyCutOff(kid) => write!(f, "before:{kid}"),
            StoreId::SubjectCutOff(subject) => write!(f, "before-sub:{subject}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoding_is_the_deployed_one() {
        // These strings are hashed into the Redis keys of running deployments.
        let cases = [
            (
                StoreId::UseSlot {
                    kid: "j1",
                    jti: "t#1",
                    slot: 2,
                },
                "jwt:2:j1:t#1#2",
                "used",
            ),
            (StoreId::RevokedSession("s-1"), "sid:s-1", "revoked"),
            (
                StoreId::RevokedToken {
                    kid: "a:b",
                    jti: "c",
                },
                "jti:3:a:b:c",
                "revoked",
            ),
            (StoreId::KeyCutOff("j1"), "before:j1", "before"),
            (
                StoreId::SubjectCutOff("alice"),
                "before-sub:alice",
                "before",
            ),
        ];
        for (id, encoded, namespace) in cases {
            assert_eq!(
                (id.encode().as_str(), id.namespace().as_str()),
                (encoded, namespace)
            );
        }
        // The key id's length keeps `kid:jti` splits apart.
        let one = StoreId::RevokedToken {
            kid: "a:b",
            jti: "c",
        };
        let other = StoreId::RevokedToken {
            kid: "a",
            jti: "b:c",
        };
        assert_ne!(one.encode(), other.encode());
    }
}
