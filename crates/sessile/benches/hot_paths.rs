//! The per-request hot paths of the core, without any I/O: ids, signatures with a rotation list,
//! cookie sealing (and the AEADs it could use), the engine's own overhead around a store that does nothing, and delta
//! application. `cargo bench -p sessile`; numbers and their reading are in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::{header, HeaderMap, HeaderValue};
use serde_json::json;
use sessile::document::{Operation, Path};
use sessile::testkit::{
    bench_touch, delta_bench_change_sets, delta_bench_operation_sets, delta_bench_stored_data,
    BENCH_NOW,
};
use sessile::{
    ChangeSet, Clock, Config, CookieConfig, CreateOutcome, IncrementOutcome, Key, Keys, Record,
    RotateOutcome, SealedCookies, SessionId, SessionManager, SignedIds, Store, StoreError,
    StoreKey, SystemClock, Timestamp, Touch, UpdateOutcome,
};

/// A store that answers at once without storing anything: what is left of a request's cost is
/// the engine's.
struct NoopStore {
    record: Record,
}

#[async_trait]
impl Store for NoopStore {
    async fn load(&self, _: &StoreKey, _: Timestamp) -> Result<Option<Record>, StoreError> {
        Ok(Some(self.record.clone()))
    }
    async fn create(&self, _: &StoreKey, _: &Record) -> Result<CreateOutcome, StoreError> {
        Ok(CreateOutcome::Created)
    }
    async fn update(
        &self,
        _: &StoreKey,
        _: &ChangeSet,
        _: Timestamp,
    ) -> Result<UpdateOutcome, StoreError> {
        Ok(UpdateOutcome::Applied)
    }
    async fn rotate(
        &self,
        _: &StoreKey,
        _: &StoreKey,
        _: &ChangeSet,
        _: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        Ok(RotateOutcome::Rotated)
    }
    async fn increment(
        &self,
        _: &StoreKey,
        _: &str,
        by: i64,
        _: Touch,
        _: Timestamp,
    ) -> Result<IncrementOutcome, StoreError> {
        Ok(IncrementOutcome::Value(by))
    }
    async fn delete(&self, _: &StoreKey) -> Result<bool, StoreError> {
        Ok(true)
    }
    async fn list_user_sessions(
        &self,
        _: &str,
        _: Timestamp,
        _: Option<&str>,
        _: u32,
    ) -> Result<sessile::UserSessionsPage, StoreError> {
        Ok(sessile::UserSessionsPage::default())
    }
    async fn delete_user_sessions(&self, _: &str, _: Option<&StoreKey>) -> Result<u64, StoreError> {
        Ok(0)
    }
    async fn delete_expired(&self, _: Timestamp, _: u32) -> Result<u64, StoreError> {
        Ok(0)
    }
}

fn key(byte: u8) -> Key {
    Key::from_secret(&[byte; 32]).expect("32 bytes is long enough")
}

/// A live record holding `n` and, like a typical signed-in session, a few more keys.
fn record() -> Record {
    let now = SystemClock.now();
    let mut record = {
        let mut record = Record::new(
            now,
            now + Duration::from_secs(1800),
            now + Duration::from_secs(12 * 3600),
        );
        record.user = Some("alice".to_owned());
        record
    };
    record.data.insert("n".to_owned(), json!(41));
    for index in 0..8 {
        record
            .data
            .insert(format!("key{index}"), json!(format!("value {index}")));
    }
    record
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime builds")
}

/// The `Cookie` request header that carries the session `manager` issues for a first request
/// that stores `data`.
fn issued_cookie(
    runtime: &tokio::runtime::Runtime,
    manager: &SessionManager,
    data: &[(&str, serde_json::Value)],
) -> HeaderMap {
    let session = manager.start(&HeaderMap::new(), None);
    for (name, value) in data {
        session.insert(name, value).unwrap();
    }
    let issued = runtime.block_on(session.finish()).unwrap();
    let (_, set_cookie) = issued
        .headers
        .iter()
        .find(|(name, _)| name == header::SET_COOKIE)
        .expect("a new session with data sets the cookie");
    let pair = set_cookie.to_str().unwrap().split(';').next().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(header::COOKIE, HeaderValue::from_str(pair).unwrap());
    headers
}

fn ids(c: &mut Criterion) {
    let mut group = c.benchmark_group("id");
    group.bench_function("generate", |b| b.iter(SessionId::generate));
    group.bench_function("generate + store_key", |b| {
        b.iter(|| SessionId::generate().store_key())
    });
    let id = SessionId::generate();
    let encoded = id.encode();
    group.bench_function("store_key", |b| b.iter(|| black_box(&id).store_key()));
    group.bench_function("decode", |b| {
        b.iter(|| SessionId::decode(black_box(&encoded)))
    });
    group.finish();
}

fn signatures(c: &mut Criterion) {
    let mut group = c.benchmark_group("signature (3-key rotation list)");
    let keys = Keys::new(vec![key(0), key(1), key(2)]).unwrap();
    let value = SessionId::generate().encode();
    let under_key_0 = keys.sign("id", &value);
    let under_key_2 = Keys::new(vec![key(2)]).unwrap().sign("id", &value);
    assert_eq!(keys.verify("id", &value, &under_key_2), Some(2));
    group.bench_function("sign", |b| b.iter(|| keys.sign("id", black_box(&value))));
    group.bench_function("verify, signed by key 0", |b| {
        b.iter(|| keys.verify("id", black_box(&value), black_box(&under_key_0)))
    });
    group.bench_function("verify, signed by key 2", |b| {
        b.iter(|| keys.verify("id", black_box(&value), black_box(&under_key_2)))
    });
    group.finish();
}

fn sealing(c: &mut Criterion) {
    let keys = Keys::new(vec![key(0), key(1), key(2)]).unwrap();
    let rt = runtime();
    let manager = SessionManager::client_side(
        SealedCookies::new(keys.clone())
            .with_cookie(CookieConfig::builder().secure(false).build().unwrap()),
        Config::default(),
    );
    // (label, sealed plaintext for `Keys`, session data through the engine): 2,000 bytes of data
    // make a record whose sealed cookie is about 3 KB, the largest a browser comfortably keeps.
    for (label, plaintext_size, data_size) in [("200 B", 200, 200), ("3 KB", 3000, 2000)] {
        let mut group = c.benchmark_group(format!("cookie store, {label}"));
        let plaintext = vec![b'x'; plaintext_size];
        let sealed = keys.seal("id", &plaintext);
        group.bench_function("Keys::seal", |b| {
            b.iter(|| keys.seal("id", black_box(&plaintext)))
        });
        group.bench_function("Keys::open", |b| {
            b.iter(|| keys.open("id", black_box(&sealed)))
        });

        // Through the engine: JSON encoding of the record, sealing and the Set-Cookie header.
        let blob = "x".repeat(data_size);
        group.bench_function("new session: start, insert, finish (seal)", |b| {
            b.iter(|| {
                let session = manager.start(&HeaderMap::new(), None);
                session.insert("blob", &blob).unwrap();
                rt.block_on(session.finish()).unwrap()
            })
        });
        let cookie = issued_cookie(&rt, &manager, &[("blob", json!(blob))]);
        group.bench_function("existing: start, get, finish (open)", |b| {
            b.iter(|| {
                let session = manager.start(black_box(&cookie), None);
                rt.block_on(async {
                    let blob: Option<String> = session.get("blob").await.unwrap();
                    assert!(blob.is_some());
                    session.finish().await.unwrap()
                })
            })
        });
        group.finish();
    }
}

/// The AEADs a sealed cookie could use, on the sizes of small sessions, each with its cipher
/// state built once (as `Key` keeps it), and the nonce sources. The choice of AES-256-GCM-SIV is
/// explained in BENCHMARKS.md.
fn aeads(c: &mut Criterion) {
    use aes_gcm::aead::{AeadInPlace, KeyInit};
    use rand::RngCore;

    let key = [7u8; 32];
    let aad = b"id";
    let xchacha = chacha20poly1305::XChaCha20Poly1305::new(&key.into());
    let gcm = aes_gcm::Aes256Gcm::new(&key.into());
    let gcm_siv = aes_gcm_siv::Aes256GcmSiv::new(&key.into());
    for size in [64usize, 200, 1000] {
        let mut group = c.benchmark_group(format!("AEAD seal, {size} B"));
        let mut buffer = vec![b'x'; size];
        group.bench_function("XChaCha20-Poly1305", |b| {
            b.iter(|| {
                xchacha
                    .encrypt_in_place_detached(&[1u8; 24].into(), aad, black_box(&mut buffer))
                    .unwrap()
            })
        });
        group.bench_function("AES-256-GCM", |b| {
            b.iter(|| {
                gcm.encrypt_in_place_detached(&[1u8; 12].into(), aad, black_box(&mut buffer))
                    .unwrap()
            })
        });
        group.bench_function("AES-256-GCM-SIV", |b| {
            b.iter(|| {
                gcm_siv
                    .encrypt_in_place_detached(&[1u8; 12].into(), aad, black_box(&mut buffer))
                    .unwrap()
            })
        });
        group.finish();
    }
    let mut group = c.benchmark_group("nonce, 12 bytes");
    group.bench_function("OsRng (a getrandom system call)", |b| {
        b.iter(|| {
            let mut nonce = [0u8; 12];
            rand::rngs::OsRng.fill_bytes(&mut nonce);
            nonce
        })
    });
    group.bench_function("thread_rng (ChaCha12 seeded from the OS)", |b| {
        b.iter(|| {
            let mut nonce = [0u8; 12];
            rand::thread_rng().fill_bytes(&mut nonce);
            nonce
        })
    });
    group.finish();
}

fn engine(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine, no-op store");
    let rt = runtime();
    let keys = Keys::new(vec![key(0), key(1), key(2)]).unwrap();
    let manager = SessionManager::new(
        NoopStore { record: record() },
        SignedIds::new(keys).with_cookie(CookieConfig::builder().secure(false).build().unwrap()),
        Config::default(),
    );
    let cookie = issued_cookie(&rt, &manager, &[("n", json!(1))]);
    let empty = HeaderMap::new();

    group.bench_function("no cookie: start, finish", |b| {
        b.iter(|| {
            let session = manager.start(black_box(&empty), None);
            rt.block_on(session.finish()).unwrap()
        })
    });
    group.bench_function("cookie, untouched: start, finish", |b| {
        b.iter(|| {
            let session = manager.start(black_box(&cookie), None);
            rt.block_on(session.finish()).unwrap()
        })
    });
    group.bench_function("cookie: start, get, insert, finish", |b| {
        b.iter(|| {
            let session = manager.start(black_box(&cookie), None);
            rt.block_on(async {
                let n: i64 = session.get("n").await.unwrap().unwrap_or(0);
                session.insert("n", n + 1).unwrap();
                session.finish().await.unwrap()
            })
        })
    });
    group.bench_function("cookie: start, increment, finish", |b| {
        b.iter(|| {
            let session = manager.start(black_box(&cookie), None);
            rt.block_on(async {
                session.increment("n", 1).await.unwrap();
                session.finish().await.unwrap()
            })
        })
    });
    group.bench_function("no cookie: start, insert, finish (create, sign)", |b| {
        b.iter(|| {
            let session = manager.start(black_box(&empty), None);
            session.insert("n", 1).unwrap();
            rt.block_on(session.finish()).unwrap()
        })
    });
    group.finish();
}

fn deltas(c: &mut Criterion) {
    let mut group = c.benchmark_group("ChangeSet");
    let base = record();
    let mut changes = ChangeSet::default();
    changes.set("n", json!(42));
    changes.set("theme", json!("dark"));
    changes.set("cart", json!({"items": [1, 2, 3]}));
    changes.remove("key3");
    changes.touch = Some(Touch::new(base.last_seen, base.idle_deadline));
    group.bench_function("apply_to (3 sets, 1 remove, touch; 9-key record)", |b| {
        b.iter_batched_ref(
            || base.clone(),
            |record| changes.apply_to(record),
            BatchSize::SmallInput,
        )
    });
    // What a store with document operations does in Rust (SQL in its locked transaction,
    // Redis before its compare-and-set): apply them, and turn them into plain key changes.
    let mut operations = ChangeSet::default();
    let path = |text: &str| Path::parse(text).unwrap();
    operations.operate(Operation::Push {
        path: path("cart.items"),
        values: vec![json!(4)],
    });
    operations.operate(Operation::AddToSet {
        path: path("tags"),
        values: vec![json!("new")],
    });
    operations.operate(Operation::Increment {
        path: path("n"),
        by: 1,
    });
    operations.touch = changes.touch;
    let mut with_data = base.clone();
    with_data
        .data
        .insert("cart".into(), json!({"items": [1, 2, 3]}));
    with_data.data.insert("tags".into(), json!(["a", "b"]));
    group.bench_function(
        "apply_to (push, add_to_set, increment; 11-key record)",
        |b| {
            b.iter_batched_ref(
                || with_data.clone(),
                |record| operations.apply_to(record),
                BatchSize::SmallInput,
            )
        },
    );
    group.bench_function("resolve_operations (the same three)", |b| {
        b.iter_batched_ref(
            || operations.clone(),
            |changes| changes.resolve_operations(&with_data.data),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// The memory store's (and the cookie store's, before its seal) share of the per-store delta
/// table in BENCHMARKS.md: `apply_to` on the record, for the change sets the SQL and Redis
/// delta benches encode, with and without document operations.
fn store_deltas(c: &mut Criterion) {
    let mut group = c.benchmark_group("delta per store");
    let week = Timestamp::from_millis(BENCH_NOW.as_millis() + 7 * 86_400_000);
    let mut base = Record::new(BENCH_NOW, bench_touch().idle_deadline, week);
    base.data = delta_bench_stored_data();
    for (name, changes) in delta_bench_change_sets()
        .into_iter()
        .chain(delta_bench_operation_sets())
    {
        group.bench_function(format!("memory apply_to: {name}"), |b| {
            b.iter_batched_ref(
                || base.clone(),
                |record| changes.apply_to(record).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn short() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = hot_paths;
    config = short();
    targets = ids, signatures, sealing, aeads, engine, deltas, store_deltas
}
criterion_main!(hot_paths);
