//! Credentials: password hashing, access tokens (JWT), refresh tokens, API
//! keys and the principal an authenticated request acts as.

use std::sync::Arc;
use std::time::Duration;

use argon2::{
    Algorithm as HashAlgorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::error::internal;
use charter_runtime::Problem;

/// Who an authenticated request acts for, and with which credential.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Uuid,
    /// The user's v1 integer id.
    pub user_seq: i64,
    /// The user's role, read from the database on every request, so a
    /// promotion or demotion applies to existing credentials at once.
    pub role: Role,
    pub via: CredentialKind,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// What an account may do beyond its own data. Stored in `users.role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        match s {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            _ => Err(UnknownRole(s.to_owned())),
        }
    }
}

impl TryFrom<String> for Role {
    type Error = UnknownRole;
    fn try_from(s: String) -> Result<Self, UnknownRole> {
        s.parse()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown role `{0}`")]
pub struct UnknownRole(String);

#[derive(Debug, Clone)]
pub enum CredentialKind {
    /// A bearer access token of a session, valid until `expires_at` (Unix seconds).
    AccessToken {
        session_id: Uuid,
        expires_at: i64,
    },
    ApiKey {
        key_id: Uuid,
        scopes: Vec<String>,
    },
}

/// Longest password accepted, checked before hashing so a huge input cannot
/// make the hasher do unbounded work.
pub const MAX_PASSWORD_BYTES: usize = 512;

/// Argon2id hashing (OWASP parameters: m=19456 KiB, t=2, p=1) on threads of
/// its own that run only on otherwise idle CPU, at most `permits` at a time:
/// a login flood uses spare CPU and cannot starve other requests.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    pool: Arc<HashPool>,
    /// A real hash of a random password, verified when the user is unknown so
    /// both login failures cost the same.
    dummy_hash: Arc<str>,
}

impl Passwords {
    pub fn new(concurrency: usize) -> anyhow::Result<Self> {
        let random: [u8; 32] = rand::random();
        let dummy = hash_blocking(&URL_SAFE_NO_PAD.encode(random))
            .map_err(|e| anyhow::anyhow!("password hasher does not work: {e}"))?;
        let concurrency = concurrency.max(1);
        Ok(Passwords {
            permits: Arc::new(Semaphore::new(concurrency)),
            pool: Arc::new(HashPool::new(concurrency)?),
            dummy_hash: dummy.into(),
        })
    }

    pub async fn hash(&self, password: &str) -> Result<String, Problem> {
        check_length(password)?;
        let password = password.to_owned();
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| internal("hasher closed", e))?;
        self.pool
            .run(move || hash_blocking(&password))
            .await?
            .map_err(|e| internal("password hashing failed", e))
    }

    /// Checks `password` against `hash`, or against a dummy hash when there is
    /// no user, so the time taken does not reveal which case it was.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, Problem> {
        let known = hash.is_some();
        let hash = hash.unwrap_or(&self.dummy_hash).to_owned();
        let password = password.to_owned();
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| internal("hasher closed", e))?;
        let matches = self
            .pool
            .run(move || {
                Argon2::default()
                    .verify_password(password.as_bytes(), hash.as_str())
                    .is_ok()
            })
            .await?;
        Ok(known && matches)
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Worker threads for password hashing. Each keeps to a core of its own,
/// leaving the first allowed core free of hashing, at the lowest priority, so
/// request work runs on a core whose caches argon2 has not flushed and wins
/// the CPU whenever both want it; they exit when the pool is dropped.
struct HashPool {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
}

impl HashPool {
    fn new(threads: usize) -> anyhow::Result<Self> {
        let (sender, receiver) = std::sync::mpsc::channel::<Job>();
        let receiver = Arc::new(std::sync::Mutex::new(receiver));
        let cores = allowed_cores();
        for index in 0..threads {
            let receiver = receiver.clone();
            // The last allowed cores, one each; the first is left to requests.
            let core = match cores.len() {
                0 | 1 => None,
                n => Some(cores[n - 1 - index % (n - 1)]),
            };
            std::thread::Builder::new()
                .name(format!("charter-hash-{index}"))
                .spawn(move || {
                    step_aside(core);
                    loop {
                        let job = match receiver.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => break,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => break,
                        }
                    }
                })?;
        }
        Ok(HashPool {
            jobs: std::sync::Mutex::new(sender),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Problem> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs
            .lock()
            .map_err(|e| internal("hash pool lock", e))?
            .send(job)
            .map_err(|e| internal("hash pool closed", e))?;
        result.await.map_err(|e| internal("hash pool job lost", e))
    }
}

/// The cores this process may run on, in order.
#[cfg(target_os = "linux")]
fn allowed_cores() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most
    // `size_of::<cpu_set_t>()` bytes into it and pid 0 means this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&core| libc::CPU_ISSET(core, &set))
            .collect()
    }
}

#[cfg(not(target_os = "linux"))]
fn allowed_cores() -> Vec<usize> {
    Vec::new()
}

/// Keeps the calling hashing thread out of the request workers' way.
///
/// With a core of its own: pinned there at nice 19. The scheduler then sees
/// that core busy and wakes request work on a core with warm caches, and a
/// request that does land there still preempts the hash at once. (Measured
/// with `cargo bench --bench login_flood`: this roughly halves the p99 of a
/// cheap GET under a login flood compared with an unpinned SCHED_IDLE
/// thread, which the scheduler counts as idle and so wakes request work
/// next to, on caches argon2 has just flushed.)
///
/// Without one (a single core): SCHED_IDLE, so it runs only on CPU time no
/// ordinary thread wants.
#[cfg(target_os = "linux")]
fn step_aside(core: Option<usize>) {
    if let Some(core) = core {
        // SAFETY: cpu_set_t is plain data, CPU_SET writes within it (core <
        // CPU_SETSIZE, as sched_getaffinity reported it), and both calls
        // read their arguments only during the call; 0 names this thread.
        let pinned = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(core, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
                && libc::setpriority(libc::PRIO_PROCESS, 0, 19) == 0
        };
        if pinned {
            return;
        }
        tracing::debug!(core, "could not pin the hashing thread; using SCHED_IDLE");
    }
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler reads `param` only during the call; on
    // Linux, pid 0 names the calling thread alone.
    let result = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if result != 0 {
        tracing::debug!("could not lower the hashing thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn step_aside(_core: Option<usize>) {}

/// Whether a stored hash was made with other than the current algorithm and
/// parameters ([`Argon2::default`]: argon2id v19, m=19456 KiB, t=2, p=1,
/// 32-byte output), so that it should be replaced by a fresh hash of the
/// password the next time the password is known, at login.
pub fn needs_rehash(stored: &str) -> bool {
    let Ok(parsed) = argon2::PasswordHash::new(stored) else {
        return true;
    };
    let current = Argon2::default();
    let current_params = current.params();
    let algorithm = HashAlgorithm::new(parsed.algorithm.as_str()).ok();
    let version = parsed.version.and_then(|v| Version::try_from(v).ok());
    let Ok(params) = Params::try_from(&parsed) else {
        return true;
    };
    algorithm != Some(HashAlgorithm::default())
        || version != Some(Version::default())
        || params.m_cost() != current_params.m_cost()
        || params.t_cost() != current_params.t_cost()
        || params.p_cost() != current_params.p_cost()
        || params.output_len() != Some(Params::DEFAULT_OUTPUT_LEN)
        || !params.keyid().is_empty()
        || !params.data().is_empty()
}

fn check_length(password: &str) -> Result<(), Problem> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Problem::unprocessable(
            "PASSWORD_TOO_LONG",
            format!("Passwords are at most {MAX_PASSWORD_BYTES} bytes."),
        ));
    }
    Ok(())
}

fn hash_blocking(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| e.to_string())
}

/// Claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: Uuid,
    iat: i64,
    exp: i64,
    jti: Uuid,
    typ: String,
    /// The session: the refresh-token family the token was issued in.
    sid: Uuid,
}

const ACCESS_TYP: &str = "access";
const ISSUER: &str = "charter";
const AUDIENCE: &str = "charter-api";
/// The only signature algorithm issued or accepted.
const ALGORITHM: Algorithm = Algorithm::HS256;

/// What a genuine, current access token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessClaims {
    pub user_id: Uuid,
    /// The session (refresh-token family) the token belongs to; the token is
    /// only as valid as that session.
    pub session_id: Uuid,
    /// Expiry, in seconds since the Unix epoch.
    pub expires_at: i64,
}

/// One verification key, named by its key id.
#[derive(Clone)]
struct VerifyingKey {
    kid: String,
    decoding: DecodingKey,
}

/// Signs and verifies access tokens (HS256; the algorithm is pinned).
///
/// Tokens are signed with the current key and carry its id in the `kid`
/// header; they verify with the current key or any previous one still
/// configured, chosen by `kid`, so the signing secret can be rotated without
/// logging everybody out.
#[derive(Clone)]
pub struct Tokens {
    kid: String,
    encoding: EncodingKey,
    /// The current key first, then the previous ones.
    verifying: Arc<[VerifyingKey]>,
    /// Access tokens that passed [`Tokens::verify_access`], by their text.
    verified: Arc<VerifiedTokens>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

/// Seconds a token is still accepted after its `exp` (clock skew).
const LEEWAY_SECONDS: i64 = 5;

/// Access tokens verified before, so that a client's next requests with
/// the same token skip decoding and the signature check (a tenth of an
/// authenticated request's CPU). Keyed by the token's whole text: only a
/// byte-identical token hits, and an entry is used only until the token
/// expires. Revocation is not decided here: the session is still checked
/// for every request (see `principal_cache`). Only genuine tokens are
/// stored, so the table grows with logins, not with requests; beyond
/// [`VerifiedTokens::CAPACITY`] expired entries are dropped, then all.
#[derive(Default)]
struct VerifiedTokens(std::sync::Mutex<std::collections::HashMap<Box<str>, AccessClaims>>);

impl VerifiedTokens {
    const CAPACITY: usize = 16_384;

    fn get(&self, token: &str, now: i64) -> Option<AccessClaims> {
        let entries = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(token)
            .filter(|claims| now <= claims.expires_at + LEEWAY_SECONDS)
            .copied()
    }

    fn insert(&self, token: &str, claims: AccessClaims, now: i64) {
        let mut entries = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= Self::CAPACITY {
            entries.retain(|_, claims| now <= claims.expires_at + LEEWAY_SECONDS);
            if entries.len() >= Self::CAPACITY {
                entries.clear();
            }
        }
        entries.insert(token.into(), claims);
    }
}

/// Shortest accepted signing secret: 32 bytes (256 bits).
pub const MIN_SECRET_BYTES: usize = 32;

/// The key id of a signing secret: it names the key without revealing it.
pub fn key_id(secret: &[u8]) -> String {
    hex(&Sha256::digest(secret)[..6])
}

impl Tokens {
    /// `secret` signs and verifies; each of `previous` only verifies. Every
    /// secret must be at least [`MIN_SECRET_BYTES`] long.
    pub fn new(
        secret: &[u8],
        previous: &[&[u8]],
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            secret.len() >= MIN_SECRET_BYTES,
            "the token signing secret must be at least {MIN_SECRET_BYTES} bytes"
        );
        for (i, old) in previous.iter().enumerate() {
            anyhow::ensure!(
                old.len() >= MIN_SECRET_BYTES,
                "previous token secret #{} must be at least {MIN_SECRET_BYTES} bytes",
                i + 1
            );
        }
        let mut verifying: Vec<VerifyingKey> = Vec::with_capacity(1 + previous.len());
        for key in std::iter::once(&secret).chain(previous) {
            let kid = key_id(key);
            if verifying.iter().all(|k| k.kid != kid) {
                verifying.push(VerifyingKey {
                    kid,
                    decoding: DecodingKey::from_secret(key),
                });
            }
        }
        Ok(Tokens {
            kid: key_id(secret),
            encoding: EncodingKey::from_secret(secret),
            verifying: verifying.into(),
            verified: Arc::default(),
            access_ttl,
            refresh_ttl,
        })
    }

    /// A new access token for `user` in the session `session_id`.
    pub fn issue_access(&self, user_id: Uuid, session_id: Uuid) -> Result<String, Problem> {
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(self.access_ttl.as_secs()).unwrap_or(900);
        let claims = Claims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: user_id,
            iat: now,
            exp: now + ttl,
            jti: Uuid::new_v4(),
            typ: ACCESS_TYP.to_owned(),
            sid: session_id,
        };
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| internal("signing an access token failed", e))
    }

    /// The user and session an access token was issued for, if the token is
    /// genuine (HS256 under a configured key named by its `kid`), current,
    /// and an access token for this API. Whether the session is still live is
    /// for the caller to check against the database.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, Problem> {
        let now = chrono::Utc::now().timestamp();
        if let Some(claims) = self.verified.get(token, now) {
            return Ok(claims);
        }
        let claims = self.decode_access(token)?;
        self.verified.insert(token, claims, now);
        Ok(claims)
    }

    fn decode_access(&self, token: &str) -> Result<AccessClaims, Problem> {
        let invalid = || Problem::unauthorized("The access token is invalid or expired.");
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        // The header is attacker-controlled: only the pinned algorithm is
        // accepted, and only a key id this server knows.
        if header.alg != ALGORITHM || header.crit.is_some() {
            return Err(invalid());
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verifying.iter().find(|k| k.kid == kid))
            .ok_or_else(invalid)?;
        let mut validation = Validation::new(ALGORITHM);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = LEEWAY_SECONDS.unsigned_abs();
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map_err(|_| invalid())?;
        if data.claims.typ != ACCESS_TYP {
            return Err(invalid());
        }
        Ok(AccessClaims {
            user_id: data.claims.sub,
            session_id: data.claims.sid,
            expires_at: data.claims.exp,
        })
    }

    pub fn access_ttl_seconds(&self) -> i32 {
        i32::try_from(self.access_ttl.as_secs()).unwrap_or(i32::MAX)
    }
}

/// A random opaque secret, URL-safe.
pub fn random_secret(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256 of a high-entropy secret (refresh token, API key). Such secrets
/// need no slow hash: they cannot be guessed from their digest.
pub fn secret_digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

pub const API_KEY_PREFIX: &str = "chk_";
const API_KEY_RANDOM_CHARS: usize = 43; // 32 random bytes, base64url
const API_KEY_CHECK_CHARS: usize = 6;

/// A new API key: `chk_` + 32 random bytes + a 6-character checksum, so
/// secret scanners recognise it and typos are rejected without a lookup.
pub fn new_api_key() -> String {
    let random = random_secret(32);
    let check = api_key_checksum(&random);
    format!("{API_KEY_PREFIX}{random}{check}")
}

fn api_key_checksum(random: &str) -> String {
    let digest = Sha256::digest(random.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..6])[..API_KEY_CHECK_CHARS].to_owned()
}

/// Whether `key` has the shape and checksum of a Charter API key.
pub fn api_key_well_formed(key: &str) -> bool {
    let Some(rest) = key.strip_prefix(API_KEY_PREFIX) else {
        return false;
    };
    if rest.len() != API_KEY_RANDOM_CHARS + API_KEY_CHECK_CHARS || !rest.is_ascii() {
        return false;
    }
    let (random, check) = rest.split_at(API_KEY_RANDOM_CHARS);
    api_key_checksum(random) == check
}

/// The displayable start of a key (`chk_` and 8 characters).
pub fn api_key_display_prefix(key: &str) -> String {
    key.chars().take(API_KEY_PREFIX.len() + 8).collect()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_carry_a_checksum() {
        let key = new_api_key();
        assert!(key.starts_with("chk_"));
        assert!(api_key_well_formed(&key));
        let mut tampered = key.clone().into_bytes();
        let last = tampered.len() - 10;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(!api_key_well_formed(
            &String::from_utf8(tampered).unwrap_or_default()
        ));
        assert!(!api_key_well_formed("chk_short"));
    }

    #[test]
    fn access_tokens_round_trip_and_reject_other_keys() {
        let ttl = Duration::from_secs(60);
        let tokens = Tokens::new(&[7u8; 32], &[], ttl, ttl).expect("valid secret");
        let other = Tokens::new(&[8u8; 32], &[], ttl, ttl).expect("valid secret");
        let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
        let token = tokens.issue_access(user, session).expect("signs");
        let claims = tokens.verify_access(&token).expect("verifies");
        assert_eq!((claims.user_id, claims.session_id), (user, session));
        assert!(other.verify_access(&token).is_err());
        assert!(Tokens::new(&[1u8; 16], &[], ttl, ttl).is_err());
        assert!(Tokens::new(&[1u8; 32], &[&[2u8; 31]], ttl, ttl).is_err());
    }

    #[test]
    fn verified_tokens_are_recognised_by_their_exact_text_until_they_expire() {
        let ttl = Duration::from_secs(60);
        let tokens = Tokens::new(&[7u8; 32], &[], ttl, ttl).expect("valid secret");
        let token = tokens
            .issue_access(Uuid::new_v4(), Uuid::new_v4())
            .expect("signs");
        let first = tokens.verify_access(&token).expect("verifies");
        let now = chrono::Utc::now().timestamp();
        assert_eq!(tokens.verified.get(&token, now), Some(first), "remembered");
        assert_eq!(tokens.verify_access(&token).expect("again"), first);
        // One character of the signature changed: checked, and refused.
        let mut forged = token.clone().into_bytes();
        let at = forged.len() - 10;
        forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).expect("ascii");
        assert!(tokens.verify_access(&forged).is_err());
        assert!(tokens.verified.get(&forged, now).is_none());
        // Past its expiry (and the leeway) the entry no longer counts.
        let later = first.expires_at + LEEWAY_SECONDS + 1;
        assert!(tokens.verified.get(&token, later).is_none());
    }

    #[test]
    fn previous_keys_verify_but_do_not_sign() {
        let ttl = Duration::from_secs(60);
        let old = Tokens::new(&[7u8; 32], &[], ttl, ttl).expect("valid secret");
        let rotated = Tokens::new(&[8u8; 32], &[&[7u8; 32]], ttl, ttl).expect("valid secrets");
        let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
        let from_old = old.issue_access(user, session).expect("signs");
        assert!(rotated.verify_access(&from_old).is_ok());
        let from_new = rotated.issue_access(user, session).expect("signs");
        let header = jsonwebtoken::decode_header(&from_new).expect("header");
        assert_eq!(header.kid.as_deref(), Some(key_id(&[8u8; 32]).as_str()));
        assert!(old.verify_access(&from_new).is_err());
    }

    #[test]
    fn hashes_with_other_parameters_need_rehashing() {
        let current = hash_blocking("a password").expect("hash");
        assert!(!needs_rehash(&current));
        let weak = Argon2::new(
            HashAlgorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 1, 1, None).expect("params"),
        )
        .hash_password(b"a password")
        .expect("hash")
        .to_string();
        assert!(needs_rehash(&weak));
        let argon2i = Argon2::new(HashAlgorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(b"a password")
            .expect("hash")
            .to_string();
        assert!(needs_rehash(&argon2i));
        assert!(needs_rehash("not a PHC string"));
    }
}
