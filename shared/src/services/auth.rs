//! API users, password hashing and the JWTs of the Yalo-facing API.
//!
//! Passwords are stored as argon2id PHC strings. Tokens are HS256 JWTs with
//! `exp`; only HS256 is accepted when verifying, so a token signed with
//! another algorithm (or `none`) is refused.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::{Error, Result};

pub use crate::model::{ApiUser, Role};

pub const MIN_PASSWORD_LEN: usize = 12;

impl ApiUser {
    /// A new user with a freshly salted hash of `password`.
    pub fn new(username: &str, role: Role, password: &SecretString) -> Result<Self> {
        let name = username.trim();
        if name.is_empty()
            || name.len() > 128
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
        {
            return Err(Error::invalid(
                "username",
                "use 1-128 characters among letters, digits and . _ - @",
            ));
        }
        if password.expose_secret().chars().count() < MIN_PASSWORD_LEN {
            return Err(Error::invalid(
                "password",
                format!("must be at least {MIN_PASSWORD_LEN} characters"),
            ));
        }
        Ok(ApiUser { username: name.to_owned(), role, password_hash: hash_password(password)? })
    }
}

pub fn hash_password(password: &SecretString) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::permanent("hashing the password failed", Some(e.to_string().into())))
}

/// A hash of a random password, verified against when the username is unknown
/// so that the answer takes as long as for a known user.
static DECOY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    hash_password(&SecretString::from(uuid::Uuid::new_v4().to_string()))
        .expect("argon2 with default parameters")
});

/// Checks `password` against `user` (or against a decoy when there is no user), in constant time.
pub fn verify_password(user: Option<&ApiUser>, password: &str) -> bool {
    let stored = user.map(|u| u.password_hash.as_str()).unwrap_or(DECOY_HASH.as_str());
    let ok = PasswordHash::new(stored).is_ok_and(|h| matches_hash(&h, password.as_bytes()));
    ok && user.is_some()
}

/// argon2's working memory (19 MiB with the default parameters), kept for
/// the life of a warm function. Allocated per login, each freed copy stayed
/// on the allocator's heap: 223 MB after a burst of logins.
static ARGON2_MEMORY: std::sync::Mutex<Vec<argon2::Block>> = std::sync::Mutex::new(Vec::new());

/// `password` hashed with the algorithm, parameters and salt of `hash` is
/// `hash` (compared in constant time), computed in [`ARGON2_MEMORY`]; a
/// login racing another (only in the local runner) gets memory of its own.
fn matches_hash(hash: &PasswordHash, password: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else { return false };
    let Ok(algorithm) = argon2::Algorithm::try_from(hash.algorithm) else { return false };
    let Ok(version) =
        hash.version.map_or(Ok(argon2::Version::default()), argon2::Version::try_from)
    else {
        return false;
    };
    let Ok(params) = argon2::Params::try_from(hash) else { return false };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else { return false };
    let blocks = params.block_count();
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params);
    let hashed = match ARGON2_MEMORY.try_lock() {
        Ok(mut memory) => {
            if memory.len() < blocks {
                memory.resize(blocks, argon2::Block::default());
            }
            argon2.hash_password_into_with_memory(password, salt, &mut out, &mut memory[..blocks])
        }
        Err(_) => argon2.hash_password_into(password, salt, &mut out),
    };
    hashed.is_ok() && bool::from(out.ct_eq(expected.as_bytes()))
}

/// The claims of an omnibridge token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub username: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

const ISSUER: &str = "omnibridge";
pub const MIN_SECRET_LEN: usize = 32;

/// Signs and verifies tokens with one HMAC key.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
}

impl TokenKeys {
    pub fn new(secret: &SecretString, ttl: Duration) -> Result<Self> {
        crate::jwt::install();
        let bytes = secret.expose_secret().as_bytes();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(Error::Config(format!(
                "OMNIBRIDGE_JWT_SECRET must be at least {MIN_SECRET_LEN} bytes"
            )));
        }
        Ok(TokenKeys {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            ttl,
        })
    }

    pub fn issue(&self, user: &ApiUser, now_secs: i64) -> Result<String> {
        let claims = Claims {
            sub: user.username.clone(),
            username: user.username.clone(),
            role: user.role,
            iat: now_secs,
            exp: now_secs + self.ttl.as_secs() as i64,
            iss: ISSUER.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::permanent("signing the token failed", Some(Box::new(e))))
    }

    /// The claims of a valid token: right signature, HS256, our issuer, not expired.
    pub fn verify(&self, token: &str) -> std::result::Result<Claims, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 0;
        validation.validate_nbf = true;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map(|d| d.claims)
    }
}

/// Why a request was not let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    /// Neither an Authorization header nor a `token` query parameter.
    Missing,
    /// An Authorization header that is not `Bearer <token>`.
    MalformedHeader,
    /// Bad signature, wrong algorithm, expired, or not ours.
    InvalidToken,
    /// A valid token whose role may not call this endpoint.
    WrongRole,
}

/// Finds the token (the Authorization header wins over `?token=`), verifies
/// it and checks the role.
pub fn authorize(
    keys: &TokenKeys,
    authorization: Option<&str>,
    query_token: Option<&str>,
    allowed: &[Role],
) -> std::result::Result<Claims, Denied> {
    let token = match (authorization, query_token) {
        (Some(h), _) => h
            .strip_prefix("Bearer ")
            .filter(|t| !t.is_empty() && !t.contains(' '))
            .ok_or(Denied::MalformedHeader)?,
        (None, Some(q)) if !q.is_empty() => q,
        _ => return Err(Denied::Missing),
    };
    let claims = keys.verify(token).map_err(|e| {
        tracing::info!(reason = %e, "token refused");
        Denied::InvalidToken
    })?;
    if !allowed.contains(&claims.role) {
        return Err(Denied::WrongRole);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(&SecretString::from("k".repeat(40)), Duration::from_secs(60)).unwrap()
    }

    fn user(role: Role) -> ApiUser {
        ApiUser { username: "yaloUser".into(), role, password_hash: String::new() }
    }

    #[test]
    fn when_token_is_fresh_should_authorize_its_role() {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let t = keys().issue(&user(Role::Yalo), now).unwrap();
        let c = authorize(&keys(), Some(&format!("Bearer {t}")), None, &[Role::Yalo]).unwrap();
        assert_eq!(c.username, "yaloUser");
        assert_eq!(authorize(&keys(), None, Some(&t), &[Role::Salesforce]), Err(Denied::WrongRole));
    }

    #[test]
    fn when_token_is_expired_should_be_invalid() {
        let t = keys().issue(&user(Role::Yalo), 1_000).unwrap();
        assert_eq!(authorize(&keys(), None, Some(&t), &[Role::Yalo]), Err(Denied::InvalidToken));
    }

    #[test]
    fn when_header_is_not_bearer_should_be_malformed_even_with_a_query_token() {
        assert_eq!(
            authorize(&keys(), Some("Basic abc"), Some("x"), &[Role::Yalo]),
            Err(Denied::MalformedHeader)
        );
        assert_eq!(authorize(&keys(), None, None, &[Role::Yalo]), Err(Denied::Missing));
    }

    #[test]
    fn when_secret_is_short_should_refuse_to_start() {
        assert!(TokenKeys::new(&SecretString::from("short"), Duration::from_secs(60)).is_err());
    }

    #[test]
    fn when_password_is_right_should_verify_and_wrong_should_not() {
        let u =
            ApiUser::new("ops", Role::Yalo, &SecretString::from("correct horse battery")).unwrap();
        assert!(u.password_hash.starts_with("$argon2id$"));
        assert!(verify_password(Some(&u), "correct horse battery"));
        assert!(!verify_password(Some(&u), "correct horse batterz"));
        assert!(!verify_password(None, "correct horse battery"));
    }

    #[test]
    fn when_a_hash_has_other_parameters_should_verify_as_argon2_itself_does() {
        use argon2::password_hash::PasswordVerifier;
        let salt = SaltString::generate(&mut OsRng);
        for (algorithm, params) in [
            (argon2::Algorithm::Argon2id, argon2::Params::new(4096, 2, 1, Some(32)).unwrap()),
            (argon2::Algorithm::Argon2i, argon2::Params::new(8192, 1, 2, Some(16)).unwrap()),
            (argon2::Algorithm::Argon2id, argon2::Params::default()),
        ] {
            let hash = Argon2::new(algorithm, argon2::Version::V0x13, params)
                .hash_password(b"secret words", &salt)
                .unwrap()
                .to_string();
            let parsed = PasswordHash::new(&hash).unwrap();
            for (password, right) in
                [(&b"secret words"[..], true), (b"secret wordz", false), (b"", false)]
            {
                assert_eq!(matches_hash(&parsed, password), right, "{hash}");
                assert_eq!(Argon2::default().verify_password(password, &parsed).is_ok(), right);
            }
        }
        // The memory is kept at its largest and reused.
        assert!(ARGON2_MEMORY.lock().unwrap().len() >= argon2::Params::default().block_count());
    }
}
