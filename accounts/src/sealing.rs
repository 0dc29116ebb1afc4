//! Sealing secret access keys at rest.
//!
//! Secrets must stay recoverable (HMAC needs them), so they are encrypted with
//! AES-256-GCM under a master key kept in its own file, apart from the database:
//! a stolen database dump alone reveals no secret. The access key ID is bound in
//! as associated data, so a sealed secret cannot be moved to another key.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cloud::{Error, Result};
use rand::RngCore;

/// Encrypts and decrypts secrets with the site's master key.
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl SecretBox {
    /// Loads the master key from `path`, creating it (mode 0600) on first use.
    pub fn load_or_create(path: &Path) -> Result<SecretBox> {
        let key = match std::fs::read_to_string(path) {
            Ok(text) => hex::decode(text.trim())
                .ok()
                .filter(|bytes| bytes.len() == 32)
                .ok_or_else(|| {
                    Error::internal(format!(
                        "{} does not hold a 64-digit hex key",
                        path.display()
                    ))
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = vec![0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut key);
                write_private_file(path, hex::encode(&key).as_bytes())?;
                key
            }
            Err(e) => return Err(Error::internal(format!("reading {}: {e}", path.display()))),
        };
        Ok(SecretBox::from_key(&key))
    }

    /// A box over a raw 32-byte key.
    pub fn from_key(key: &[u8]) -> SecretBox {
        SecretBox {
            cipher: Aes256Gcm::new_from_slice(key).expect("AES-256 key is 32 bytes"),
        }
    }

    /// Encrypts `secret` for the key `key_id`: base64(nonce ‖ ciphertext).
    pub fn seal(&self, key_id: &str, secret: &str) -> Result<String> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: key_id.as_bytes(),
                },
            )
            .map_err(|_| Error::internal("sealing a secret failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// Decrypts what [`SecretBox::seal`] produced for the same `key_id`.
    pub fn open(&self, key_id: &str, sealed: &str) -> Result<String> {
        let bytes = STANDARD
            .decode(sealed)
            .map_err(|_| Error::internal("sealed secret is not base64"))?;
        if bytes.len() < 12 {
            return Err(Error::internal("sealed secret is truncated"));
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: key_id.as_bytes(),
                },
            )
            .map_err(|_| Error::internal("a sealed secret does not open with this master key"))?;
        String::from_utf8(plain).map_err(|_| Error::internal("sealed secret is not UTF-8"))
    }
}

/// Writes a file readable by its owner only, durably.
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::internal(format!("creating {}: {e}", parent.display())))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::internal(format!("creating {}: {e}", path.display())))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::internal(format!("writing {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_for_their_key_id() {
        let sealer = SecretBox::from_key(&[7u8; 32]);
        let sealed = sealer.seal("AKIDEXAMPLE", "s3cr3t").unwrap();
        assert!(!sealed.contains("s3cr3t"));
        assert_eq!(sealer.open("AKIDEXAMPLE", &sealed).unwrap(), "s3cr3t");
        assert!(sealer.open("AKIDOTHER", &sealed).is_err());
        assert!(SecretBox::from_key(&[8u8; 32])
            .open("AKIDEXAMPLE", &sealed)
            .is_err());
    }

    #[test]
    fn master_key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let first = SecretBox::load_or_create(&path).unwrap();
        let sealed = first.seal("k", "v").unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let second = SecretBox::load_or_create(&path).unwrap();
        assert_eq!(second.open("k", &sealed).unwrap(), "v");
    }
}
