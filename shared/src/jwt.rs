//! The cryptography under `jsonwebtoken`, done by `ring` (the library the
//! TLS stack already links), for the algorithms omnibridge uses: HMAC
//! (HS256/384/512: the API's tokens) and RSA PKCS#1 v1.5 (RS256/384/512: the
//! Salesforce assertion). Any other algorithm is refused.
//!
//! `jsonwebtoken`'s own back ends would add either aws-lc (about 2 MB per
//! function) or the RustCrypto `rsa` crate, which carries an unfixed
//! advisory (RUSTSEC-2023-0071). [`install`] must run before the first
//! signature or verification; `TokenKeys` and the Salesforce adapter call it.

use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::{hmac, rand, signature as rsig};

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    jwk_utils: JwkUtils::new_unimplemented(),
};

/// Makes this the process's provider. Idempotent.
pub fn install() {
    // Err: a provider is installed already (ours, by an earlier call).
    let _ = PROVIDER.install_default();
}

enum Key {
    Hmac(hmac::Key),
    RsaPair(rsig::RsaKeyPair, &'static dyn rsig::RsaEncoding),
    RsaPublic(Vec<u8>, &'static rsig::RsaParameters),
}

struct Jwk {
    algorithm: Algorithm,
    key: Key,
}

fn hmac_algorithm(algorithm: Algorithm) -> Option<hmac::Algorithm> {
    match algorithm {
        Algorithm::HS256 => Some(hmac::HMAC_SHA256),
        Algorithm::HS384 => Some(hmac::HMAC_SHA384),
        Algorithm::HS512 => Some(hmac::HMAC_SHA512),
        _ => None,
    }
}

fn rsa_algorithms(
    algorithm: Algorithm,
) -> Option<(&'static dyn rsig::RsaEncoding, &'static rsig::RsaParameters)> {
    match algorithm {
        Algorithm::RS256 => Some((&rsig::RSA_PKCS1_SHA256, &rsig::RSA_PKCS1_2048_8192_SHA256)),
        Algorithm::RS384 => Some((&rsig::RSA_PKCS1_SHA384, &rsig::RSA_PKCS1_2048_8192_SHA384)),
        Algorithm::RS512 => Some((&rsig::RSA_PKCS1_SHA512, &rsig::RSA_PKCS1_2048_8192_SHA512)),
        _ => None,
    }
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "the shape jsonwebtoken's CryptoProvider asks for"
)]
fn new_signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    let algorithm = *algorithm;
    let key = if let Some(alg) = hmac_algorithm(algorithm) {
        Key::Hmac(hmac::Key::new(alg, key.try_get_hmac_secret()?))
    } else if let Some((encoding, _)) = rsa_algorithms(algorithm) {
        if key.family() != AlgorithmFamily::Rsa {
            return Err(ErrorKind::InvalidKeyFormat.into());
        }
        let pair = rsig::RsaKeyPair::from_der(key.inner())
            .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?;
        Key::RsaPair(pair, encoding)
    } else {
        return Err(ErrorKind::InvalidAlgorithm.into());
    };
    Ok(Box::new(Jwk { algorithm, key }))
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "the shape jsonwebtoken's CryptoProvider asks for"
)]
fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    let algorithm = *algorithm;
    let key = if let Some(alg) = hmac_algorithm(algorithm) {
        Key::Hmac(hmac::Key::new(alg, key.try_get_hmac_secret()?))
    } else if let Some((_, parameters)) = rsa_algorithms(algorithm) {
        match (key.family(), key.kind()) {
            (AlgorithmFamily::Rsa, DecodingKeyKind::SecretOrDer(der)) => {
                Key::RsaPublic(der.clone(), parameters)
            }
            _ => return Err(ErrorKind::InvalidKeyFormat.into()),
        }
    } else {
        return Err(ErrorKind::InvalidAlgorithm.into());
    };
    Ok(Box::new(Jwk { algorithm, key }))
}

impl Signer<Vec<u8>> for Jwk {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        match &self.key {
            Key::Hmac(key) => Ok(hmac::sign(key, msg).as_ref().to_vec()),
            Key::RsaPair(pair, encoding) => {
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(*encoding, &rand::SystemRandom::new(), msg, &mut out)
                    .map_err(|_| signature::Error::new())?;
                Ok(out)
            }
            Key::RsaPublic(..) => Err(signature::Error::new()),
        }
    }
}

impl Verifier<Vec<u8>> for Jwk {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        match &self.key {
            Key::Hmac(key) => hmac::verify(key, msg, sig).map_err(|_| signature::Error::new()),
            Key::RsaPublic(der, parameters) => rsig::UnparsedPublicKey::new(*parameters, der)
                .verify(msg, sig)
                .map_err(|_| signature::Error::new()),
            Key::RsaPair(..) => Err(signature::Error::new()),
        }
    }
}

impl JwtSigner for Jwk {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

impl JwtVerifier for Jwk {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{decode, encode, Header, Validation};
    use serde_json::{json, Value};

    #[test]
    fn hmac_tokens_round_trip_and_a_changed_byte_is_refused() {
        install();
        let key = b"a-secret-of-at-least-thirty-two-bytes!!";
        let claims = json!({"sub": "u", "exp": 4_000_000_000u64});
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let token = encode(&Header::new(alg), &claims, &EncodingKey::from_secret(key)).unwrap();
            let got =
                decode::<Value>(&token, &DecodingKey::from_secret(key), &Validation::new(alg))
                    .unwrap();
            assert_eq!(got.claims, claims);
            let mut forged = token.clone().into_bytes();
            let last = forged.len() - 2;
            forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(forged).unwrap();
            assert!(decode::<Value>(
                &forged,
                &DecodingKey::from_secret(key),
                &Validation::new(alg)
            )
            .is_err());
        }
    }

    #[test]
    fn algorithms_not_provided_are_refused_not_panicked_on() {
        install();
        let err =
            encode(&Header::new(Algorithm::ES256), &json!({}), &EncodingKey::from_secret(b"k"))
                .unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::InvalidAlgorithm);
    }
}
