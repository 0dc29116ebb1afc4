//! Key pair material: generation, import and the fingerprints AWS documents.
//!
//! - Created RSA keys: SHA-1 of the private key in PKCS#8 DER, colon-separated hex.
//! - Imported RSA keys: MD5 of the public key in DER (SubjectPublicKeyInfo), colon-separated hex.
//! - ED25519 keys (created or imported): base64 SHA-256 of the OpenSSH public key blob.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cloud::types::KeyType;
use cloud::{Error, Result};
use md5::Md5;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use ssh_key::public::KeyData;

/// A generated key: the private half is returned to the caller once and never stored.
pub struct GeneratedKey {
    pub private_pem: String,
    pub public_openssh: String,
    pub fingerprint: String,
}

/// An imported public key.
pub struct ImportedKey {
    pub key_type: KeyType,
    pub public_openssh: String,
    pub fingerprint: String,
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn ed25519_fingerprint(key: &KeyData) -> Result<String> {
    let blob = ssh_key::PublicKey::from(key.clone())
        .to_bytes()
        .map_err(Error::internal)?;
    Ok(STANDARD.encode(Sha256::digest(blob)))
}

/// Generates a new key pair of `key_type` (RSA 2048 or ED25519).
pub fn generate(key_type: KeyType, comment: &str) -> Result<GeneratedKey> {
    let mut rng = rand::rngs::OsRng;
    match key_type {
        KeyType::Rsa => {
            let private = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(Error::internal)?;
            let pkcs8 = private.to_pkcs8_der().map_err(Error::internal)?;
            let fingerprint = colon_hex(&Sha1::digest(pkcs8.as_bytes()));
            let private_pem = private
                .to_pkcs1_pem(LineEnding::LF)
                .map_err(Error::internal)?
                .to_string();
            let public = ssh_key::public::RsaPublicKey::try_from(private.to_public_key())
                .map_err(Error::internal)?;
            let public_openssh = ssh_key::PublicKey::new(KeyData::Rsa(public), comment)
                .to_openssh()
                .map_err(Error::internal)?;
            Ok(GeneratedKey {
                private_pem,
                public_openssh,
                fingerprint,
            })
        }
        KeyType::Ed25519 => {
            let mut private = ssh_key::PrivateKey::random(&mut rng, ssh_key::Algorithm::Ed25519)
                .map_err(Error::internal)?;
            private.set_comment(comment);
            let fingerprint = ed25519_fingerprint(private.public_key().key_data())?;
            let private_pem = private
                .to_openssh(ssh_key::LineEnding::LF)
                .map_err(Error::internal)?
                .to_string();
            let public_openssh = private.public_key().to_openssh().map_err(Error::internal)?;
            Ok(GeneratedKey {
                private_pem,
                public_openssh,
                fingerprint,
            })
        }
    }
}

/// Parses public key material as ImportKeyPair receives it (after the wire's
/// base64 is removed): an OpenSSH line, or an RFC 4716 (SSH2) block.
pub fn import(material: &[u8]) -> Result<ImportedKey> {
    use rsa::pkcs8::DecodePublicKey;
    // DER SubjectPublicKeyInfo (binary) or its PEM form: RSA only, as on AWS.
    // AWS also takes a key file holding base64 DER (no PEM armour).
    let spki = match std::str::from_utf8(material) {
        Ok(text) if text.trim_start().starts_with("-----BEGIN PUBLIC KEY-----") => {
            Some(rsa::RsaPublicKey::from_public_key_pem(text.trim()))
        }
        Ok(text) => STANDARD
            .decode(text.split_whitespace().collect::<String>())
            .ok()
            .and_then(|der| rsa::RsaPublicKey::from_public_key_der(&der).ok())
            .map(Ok),
        Err(_) => Some(rsa::RsaPublicKey::from_public_key_der(material)),
    };
    if let Some(parsed) = spki {
        let rsa_key = parsed.map_err(|_| invalid_format())?;
        let data =
            ssh_key::public::RsaPublicKey::try_from(&rsa_key).map_err(|_| invalid_format())?;
        let public_openssh = ssh_key::PublicKey::new(KeyData::Rsa(data), "")
            .to_openssh()
            .map_err(Error::internal)?;
        return rsa_imported(rsa_key, public_openssh);
    }
    let text = std::str::from_utf8(material)
        .map_err(|_| invalid_format())?
        .trim();
    let public = if text.starts_with("---- BEGIN SSH2 PUBLIC KEY ----") {
        let body: String = text
            .lines()
            .filter(|line| !line.starts_with("----") && !line.contains(':'))
            .map(str::trim)
            .collect();
        let blob = STANDARD.decode(body).map_err(|_| invalid_format())?;
        ssh_key::PublicKey::from_bytes(&blob).map_err(|_| invalid_format())?
    } else {
        ssh_key::PublicKey::from_openssh(text).map_err(|_| invalid_format())?
    };
    let public_openssh = public.to_openssh().map_err(Error::internal)?;
    match public.key_data() {
        KeyData::Rsa(key) => rsa_imported(
            rsa::RsaPublicKey::try_from(key).map_err(|_| invalid_format())?,
            public_openssh,
        ),
        KeyData::Ed25519(_) => Ok(ImportedKey {
            key_type: KeyType::Ed25519,
            public_openssh,
            fingerprint: ed25519_fingerprint(public.key_data())?,
        }),
        _ => Err(Error::invalid(
            "PublicKeyMaterial",
            "only ssh-rsa and ssh-ed25519 keys are supported",
        )),
    }
}

fn rsa_imported(rsa_key: rsa::RsaPublicKey, public_openssh: String) -> Result<ImportedKey> {
    if rsa::traits::PublicKeyParts::size(&rsa_key) * 8 < 2048 {
        return Err(Error::invalid(
            "PublicKeyMaterial",
            "RSA keys must be at least 2048 bits",
        ));
    }
    let der = rsa_key.to_public_key_der().map_err(Error::internal)?;
    Ok(ImportedKey {
        key_type: KeyType::Rsa,
        public_openssh,
        fingerprint: colon_hex(&Md5::digest(der.as_bytes())),
    })
}

fn invalid_format() -> Error {
    Error::invalid(
        "PublicKeyMaterial",
        "Key is not in valid OpenSSH public key format",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_rsa_key_has_sha1_of_pkcs8_fingerprint() {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        let key = generate(KeyType::Rsa, "k").unwrap();
        assert!(key
            .private_pem
            .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let private = rsa::RsaPrivateKey::from_pkcs1_pem(&key.private_pem).unwrap();
        let expected = colon_hex(&Sha1::digest(private.to_pkcs8_der().unwrap().as_bytes()));
        assert_eq!(key.fingerprint, expected);
        assert_eq!(key.fingerprint.len(), 20 * 3 - 1);
        assert!(key.public_openssh.starts_with("ssh-rsa "));
    }

    #[test]
    fn ed25519_fingerprint_is_the_same_created_or_imported() {
        let key = generate(KeyType::Ed25519, "k").unwrap();
        assert!(key
            .private_pem
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        let imported = import(key.public_openssh.as_bytes()).unwrap();
        assert_eq!(imported.key_type, KeyType::Ed25519);
        assert_eq!(imported.fingerprint, key.fingerprint);
        assert_eq!(STANDARD.decode(&key.fingerprint).unwrap().len(), 32);
    }

    #[test]
    fn imported_rsa_key_has_md5_of_spki_fingerprint() {
        let key = generate(KeyType::Rsa, "k").unwrap();
        let imported = import(key.public_openssh.as_bytes()).unwrap();
        assert_eq!(imported.key_type, KeyType::Rsa);
        assert_eq!(imported.fingerprint.len(), 16 * 3 - 1);
        let parsed = ssh_key::PublicKey::from_openssh(&key.public_openssh).unwrap();
        let KeyData::Rsa(data) = parsed.key_data() else {
            panic!("not rsa")
        };
        let der = rsa::RsaPublicKey::try_from(data)
            .unwrap()
            .to_public_key_der()
            .unwrap();
        assert_eq!(
            imported.fingerprint,
            colon_hex(&Md5::digest(der.as_bytes()))
        );
    }

    #[test]
    fn der_and_pem_rsa_keys_import_with_the_same_fingerprint() {
        let key = generate(KeyType::Rsa, "k").unwrap();
        let from_openssh = import(key.public_openssh.as_bytes()).unwrap();
        let parsed = ssh_key::PublicKey::from_openssh(&key.public_openssh).unwrap();
        let KeyData::Rsa(data) = parsed.key_data() else {
            panic!("not rsa")
        };
        let rsa_key = rsa::RsaPublicKey::try_from(data).unwrap();
        let der = rsa_key.to_public_key_der().unwrap();
        assert_eq!(
            import(der.as_bytes()).unwrap().fingerprint,
            from_openssh.fingerprint
        );
        let base64_der = STANDARD.encode(der.as_bytes());
        assert_eq!(
            import(base64_der.as_bytes()).unwrap().fingerprint,
            from_openssh.fingerprint
        );
        let pem = rsa_key.to_public_key_pem(LineEnding::LF).unwrap();
        assert_eq!(
            import(pem.as_bytes()).unwrap().fingerprint,
            from_openssh.fingerprint
        );
    }

    #[test]
    fn garbage_is_rejected_with_a_format_error() {
        assert!(matches!(
            import(b"ssh-rsa not-base64"),
            Err(Error::InvalidParameter { .. })
        ));
        assert!(matches!(
            import(&[0xff, 0xfe]),
            Err(Error::InvalidParameter { .. })
        ));
    }
}
