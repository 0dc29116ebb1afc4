//! Crash safety and memory: kill -9 during writes loses no acknowledged byte and
//! leaves no half-written object or debris; 1 GiB streams through a small RSS.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use futures::StreamExt;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use crate::common::{Database, Server};
use crate::objects::walkdir;

fn body_for(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.gen()).collect()
}

#[tokio::test]
async fn kill_9_during_writes_loses_nothing_acknowledged() {
    let mut server = Server::start(Database::Sqlite, None).await;
    let keys = server.admin_keys();
    server
        .s3(&keys)
        .create_bucket()
        .bucket("crash")
        .send()
        .await
        .unwrap();
    // For each key: the digest of the last acknowledged write, and digests of
    // writes that were in flight at a crash (they may or may not have landed).
    let mut acknowledged: HashMap<String, String> = HashMap::new();
    let mut maybe: HashMap<String, HashSet<String>> = HashMap::new();
    // Every body ever sent per key: whatever is stored must be one of them, whole.
    let mut sent: HashMap<String, HashSet<String>> = HashMap::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut seed = 0u64;
    for round in 0..8 {
        let s3 = server.s3(&keys);
        let crash_after = Duration::from_millis(rng.gen_range(100..700));
        let started = Instant::now();
        let mut in_flight: Vec<(String, String, tokio::task::JoinHandle<bool>)> = Vec::new();
        while started.elapsed() < crash_after {
            // A few concurrent writers of mixed sizes, some overwriting.
            for _ in 0..3 {
                seed += 1;
                let key = format!("key-{}", rng.gen_range(0..6));
                // One write per key at a time: two overlapping PUTs of one key
                // commit in an order the client cannot observe, so "the last
                // acknowledged" would be undefined.
                if in_flight.iter().any(|(k, _, _)| *k == key) {
                    continue;
                }
                let len = if rng.gen_bool(0.3) {
                    rng.gen_range(256 * 1024..2 * 1024 * 1024)
                } else {
                    rng.gen_range(0..4096)
                };
                let body = body_for(seed, len);
                let digest = hex::encode(Sha256::digest(&body));
                sent.entry(key.clone()).or_default().insert(digest.clone());
                let client = s3.clone();
                let task_key = key.clone();
                let handle = tokio::spawn(async move {
                    client
                        .put_object()
                        .bucket("crash")
                        .key(task_key)
                        .body(ByteStream::from(body))
                        .send()
                        .await
                        .is_ok()
                });
                in_flight.push((key, digest, handle));
            }
            let mut still = Vec::new();
            for (key, digest, handle) in in_flight.drain(..) {
                if handle.is_finished() {
                    if handle.await.unwrap() {
                        acknowledged.insert(key.clone(), digest);
                        maybe.remove(&key);
                    }
                } else {
                    still.push((key, digest, handle));
                }
            }
            in_flight = still;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill();
        for (key, digest, handle) in in_flight {
            // Acknowledged just before the kill, or cut off: either may be on disk.
            if handle.await.unwrap_or(false) {
                acknowledged.insert(key.clone(), digest.clone());
            }
            maybe.entry(key).or_default().insert(digest);
        }
        server.restart();
        let s3 = server.s3(&keys);
        let snapshot: Vec<(String, String)> = acknowledged
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (key, digest) in &snapshot {
            let got = s3
                .get_object()
                .bucket("crash")
                .key(key)
                .send()
                .await
                .unwrap();
            let bytes = got.body.collect().await.unwrap().into_bytes();
            let got_digest = hex::encode(Sha256::digest(&bytes));
            let allowed =
                &got_digest == digest || maybe.get(key).is_some_and(|m| m.contains(&got_digest));
            assert!(
                allowed,
                "round {round}: {key} holds bytes nobody acknowledged or sent whole"
            );
            if &got_digest != digest {
                acknowledged.insert(key.clone(), got_digest);
            }
            maybe.remove(key);
        }
        // Recovery left no temporaries and no blob without a record, and every
        // stored object is one complete body that was sent for its key.
        let listed = s3.list_objects_v2().bucket("crash").send().await.unwrap();
        for object in listed.contents() {
            let key = object.key().unwrap();
            let got = s3
                .get_object()
                .bucket("crash")
                .key(key)
                .send()
                .await
                .unwrap();
            let bytes = got.body.collect().await.unwrap().into_bytes();
            let got_digest = hex::encode(Sha256::digest(&bytes));
            assert!(
                sent.get(key).is_some_and(|s| s.contains(&got_digest)),
                "round {round}: {key} is not a whole sent body"
            );
        }
        let tmp = server.data_dir.join("objects/crash/tmp");
        assert_eq!(
            std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0),
            0,
            "round {round}: temporaries survived a restart"
        );
        assert_eq!(
            walkdir(&server.data_dir.join("objects/crash")),
            listed.contents().len(),
            "round {round}: unreferenced blobs survived"
        );
    }
    assert!(!acknowledged.is_empty());
}

/// Peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_gibibyte_streams_through_under_100_mib() {
    const SIZE: usize = 1024 * 1024 * 1024;
    const CHUNK: usize = 1024 * 1024;
    let server = Server::start(Database::Sqlite, None).await;
    let s3 = server.s3(&server.admin_keys());
    s3.create_bucket().bucket("huge").send().await.unwrap();
    let presign = PresigningConfig::expires_in(Duration::from_secs(600)).unwrap();
    let put_url = s3
        .put_object()
        .bucket("huge")
        .key("gib")
        .presigned(presign.clone())
        .await
        .unwrap();

    // Deterministic 1 GiB, generated while sending, never held whole.
    let chunk_of = |i: usize| -> bytes::Bytes { bytes::Bytes::from(vec![(i % 251) as u8; CHUNK]) };
    let mut expected = Sha256::new();
    for i in 0..SIZE / CHUNK {
        expected.update(chunk_of(i));
    }
    let expected = hex::encode(expected.finalize());
    let stream =
        futures::stream::iter((0..SIZE / CHUNK).map(move |i| Ok::<_, std::io::Error>(chunk_of(i))));
    let client = reqwest::Client::new();
    let mut request = client
        .put(put_url.uri())
        .header("content-length", SIZE.to_string())
        .body(reqwest::Body::wrap_stream(stream));
    for (name, value) in put_url.headers() {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
    let after_put = peak_rss_kib(server.pid());

    let get_url = s3
        .get_object()
        .bucket("huge")
        .key("gib")
        .presigned(presign)
        .await
        .unwrap();
    let response = client.get(get_url.uri()).send().await.unwrap();
    assert!(response.status().is_success());
    let mut hasher = Sha256::new();
    let mut received = 0usize;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        received += chunk.len();
        hasher.update(&chunk);
    }
    assert_eq!(received, SIZE);
    assert_eq!(hex::encode(hasher.finalize()), expected);
    let after_get = peak_rss_kib(server.pid());
    assert!(
        after_put < 100 * 1024,
        "peak RSS after a 1 GiB PUT: {after_put} KiB"
    );
    assert!(
        after_get < 100 * 1024,
        "peak RSS after a 1 GiB GET: {after_get} KiB"
    );
}
