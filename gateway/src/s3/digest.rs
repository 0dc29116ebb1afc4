//! Digests of bodies as they stream in: the MD5 that becomes the ETag and the
//! flexible checksum (CRC32, CRC32C, CRC64NVME, SHA1, SHA256), checked against
//! what the client sent — `Content-MD5`, an `x-amz-checksum-*` header, or an
//! aws-chunked trailer that only arrives after the last byte. A mismatch fails
//! the stream itself, so the store discards the blob and nothing is committed.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use cloud::types::Checksum;
use cloud::{ByteStream, Error};
use futures::Stream;
use md5::{Digest, Md5};
use s3s::crypto::Checksum as _;
use s3s::{S3Error, S3ErrorCode, TrailingHeaders};

/// The flexible checksum algorithms S3 defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl Algorithm {
    /// Parses `CRC32`, `crc32c`, … (header values and trailer names).
    pub fn parse(name: &str) -> Option<Algorithm> {
        match name.to_ascii_uppercase().as_str() {
            "CRC32" => Some(Algorithm::Crc32),
            "CRC32C" => Some(Algorithm::Crc32c),
            "CRC64NVME" => Some(Algorithm::Crc64Nvme),
            "SHA1" => Some(Algorithm::Sha1),
            "SHA256" => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    /// The wire name (`CRC32`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    /// The header that carries it (`x-amz-checksum-crc32`).
    pub fn header(self) -> String {
        format!("x-amz-checksum-{}", self.name().to_ascii_lowercase())
    }
}

enum Hasher {
    Crc32(s3s::crypto::Crc32),
    Crc32c(s3s::crypto::Crc32c),
    Crc64Nvme(s3s::crypto::Crc64Nvme),
    Sha1(s3s::crypto::Sha1),
    Sha256(s3s::crypto::Sha256),
}

impl Hasher {
    fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Crc32 => Hasher::Crc32(s3s::crypto::Crc32::new()),
            Algorithm::Crc32c => Hasher::Crc32c(s3s::crypto::Crc32c::new()),
            Algorithm::Crc64Nvme => Hasher::Crc64Nvme(s3s::crypto::Crc64Nvme::new()),
            Algorithm::Sha1 => Hasher::Sha1(s3s::crypto::Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(s3s::crypto::Sha256::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc32(h) => h.update(data),
            Hasher::Crc32c(h) => h.update(data),
            Hasher::Crc64Nvme(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    fn finalize(self) -> String {
        match self {
            Hasher::Crc32(h) => STANDARD.encode(h.finalize()),
            Hasher::Crc32c(h) => STANDARD.encode(h.finalize()),
            Hasher::Crc64Nvme(h) => STANDARD.encode(h.finalize()),
            Hasher::Sha1(h) => STANDARD.encode(h.finalize()),
            Hasher::Sha256(h) => STANDARD.encode(h.finalize()),
        }
    }
}

/// Where the expected checksum value comes from.
pub enum Expected {
    /// No value: compute and store it only.
    Compute,
    /// A request header's value.
    Header(String),
    /// An aws-chunked trailer, readable once the body has ended.
    Trailer(TrailingHeaders),
}

/// What a body is checked against.
pub struct Expectations {
    /// `Content-MD5`, decoded.
    pub md5: Option<Vec<u8>>,
    pub checksum: Option<(Algorithm, Expected)>,
}

impl Expectations {
    /// Reads the expectations of a request: `Content-MD5`, `x-amz-checksum-*`
    /// headers, `x-amz-trailer`, and the requested algorithm.
    pub fn from_request(
        headers: &http::HeaderMap,
        trailers: Option<&TrailingHeaders>,
        algorithm: Option<&str>,
    ) -> Result<Expectations, S3Error> {
        let md5 = match headers.get("content-md5").and_then(|v| v.to_str().ok()) {
            Some(value) => Some(
                STANDARD
                    .decode(value.trim())
                    .ok()
                    .filter(|bytes| bytes.len() == 16)
                    .ok_or_else(|| {
                        S3Error::with_message(
                            S3ErrorCode::InvalidDigest,
                            "The Content-MD5 you specified was invalid.",
                        )
                    })?,
            ),
            None => None,
        };
        let from_header = [
            Algorithm::Crc32,
            Algorithm::Crc32c,
            Algorithm::Crc64Nvme,
            Algorithm::Sha1,
            Algorithm::Sha256,
        ]
        .into_iter()
        .find_map(|a| {
            headers
                .get(a.header())
                .and_then(|v| v.to_str().ok())
                .map(|v| (a, Expected::Header(v.to_string())))
        });
        let from_trailer = headers
            .get("x-amz-trailer")
            .and_then(|v| v.to_str().ok())
            .and_then(|name| name.trim().strip_prefix("x-amz-checksum-"))
            .and_then(Algorithm::parse)
            .zip(trailers.cloned())
            .map(|(a, t)| (a, Expected::Trailer(t)));
        let requested = algorithm
            .and_then(Algorithm::parse)
            .map(|a| (a, Expected::Compute));
        Ok(Expectations {
            md5,
            checksum: from_header.or(from_trailer).or(requested),
        })
    }
}

/// What was computed, once the whole body went by and matched.
#[derive(Debug, Clone)]
pub struct Digests {
    pub md5: [u8; 16],
    pub checksum: Option<Checksum>,
}

/// Shared slot the stream fills when it ends successfully.
pub type DigestSlot = Arc<Mutex<Option<Digests>>>;

struct Hashing {
    inner: ByteStream,
    md5: Option<Md5>,
    checksum: Option<(Algorithm, Hasher, Expected)>,
    expected_md5: Option<Vec<u8>>,
    slot: DigestSlot,
}

impl Hashing {
    fn finish(&mut self) -> Result<(), Error> {
        let md5: [u8; 16] = self
            .md5
            .take()
            .map(|h| h.finalize().into())
            .unwrap_or_default();
        if let Some(expected) = &self.expected_md5 {
            if expected.as_slice() != md5 {
                return Err(Error::BadDigest(
                    "The Content-MD5 you specified did not match what we received.".into(),
                ));
            }
        }
        let checksum = match self.checksum.take() {
            None => None,
            Some((algorithm, hasher, expected)) => {
                let value = hasher.finalize();
                let wanted = match expected {
                    Expected::Compute => None,
                    Expected::Header(v) => Some(v),
                    Expected::Trailer(t) => t
                        .read(|h| {
                            h.get(algorithm.header())
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string)
                        })
                        .flatten(),
                };
                if let Some(wanted) = wanted {
                    if wanted.trim() != value {
                        return Err(Error::BadDigest(format!(
                            "The {} you specified did not match the calculated checksum.",
                            algorithm.name()
                        )));
                    }
                }
                Some(Checksum {
                    algorithm: algorithm.name().to_string(),
                    value,
                })
            }
        };
        if let Ok(mut slot) = self.slot.lock() {
            *slot = Some(Digests { md5, checksum });
        }
        Ok(())
    }
}

impl Stream for Hashing {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.md5.is_none() {
            return Poll::Ready(None);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(md5) = &mut self.md5 {
                    md5.update(&chunk);
                }
                if let Some((_, hasher, _)) = &mut self.checksum {
                    hasher.update(&chunk);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(None) => match self.finish() {
                Ok(()) => Poll::Ready(None),
                Err(error) => Poll::Ready(Some(Err(std::io::Error::other(error)))),
            },
            other => other,
        }
    }
}

/// Wraps `body` so it is hashed (and checked) as it streams; the slot holds the
/// digests once the stream has ended without a mismatch.
pub fn hashing(body: ByteStream, expectations: Expectations) -> (ByteStream, DigestSlot) {
    let slot = DigestSlot::default();
    let stream = Hashing {
        inner: body,
        md5: Some(Md5::new()),
        checksum: expectations.checksum.map(|(a, e)| (a, Hasher::new(a), e)),
        expected_md5: expectations.md5,
        slot: slot.clone(),
    };
    (Box::pin(stream), slot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn body(parts: &[&'static [u8]]) -> ByteStream {
        Box::pin(futures::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        ))
    }

    async fn drain(mut stream: ByteStream) -> Result<(), std::io::Error> {
        while let Some(item) = stream.next().await {
            item?;
        }
        Ok(())
    }

    #[tokio::test]
    async fn computes_md5_and_checksums_across_chunks() {
        let expect = Expectations {
            md5: None,
            checksum: Some((Algorithm::Sha256, Expected::Compute)),
        };
        let (stream, slot) = hashing(body(&[b"hello ", b"world"]), expect);
        drain(stream).await.unwrap();
        let digests = slot.lock().unwrap().clone().unwrap();
        assert_eq!(hex::encode(digests.md5), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(
            digests.checksum.unwrap().value,
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        );
    }

    #[tokio::test]
    async fn mismatches_fail_the_stream_with_bad_digest() {
        let wrong_md5 = Expectations {
            md5: Some(vec![0; 16]),
            checksum: None,
        };
        let (stream, slot) = hashing(body(&[b"data"]), wrong_md5);
        let error = drain(stream).await.unwrap_err();
        assert!(matches!(
            error.into_inner().unwrap().downcast::<Error>().map(|e| *e),
            Ok(Error::BadDigest(_))
        ));
        assert!(slot.lock().unwrap().is_none());
        // CRC32 of "data" is adf3f363 (base64 rfPzYw==).
        let right = Expectations {
            md5: None,
            checksum: Some((Algorithm::Crc32, Expected::Header("rfPzYw==".into()))),
        };
        let (stream, _) = hashing(body(&[b"da", b"ta"]), right);
        drain(stream).await.unwrap();
        let wrong = Expectations {
            md5: None,
            checksum: Some((Algorithm::Crc32, Expected::Header("AAAAAA==".into()))),
        };
        let (stream, _) = hashing(body(&[b"data"]), wrong);
        assert!(drain(stream).await.is_err());
    }
}
