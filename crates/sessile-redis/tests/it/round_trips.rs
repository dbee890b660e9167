//! Counts the commands each operation sends, through a loopback proxy in front of the standalone
//! Redis that parses the client's RESP stream: load is one `HGETALL`, a commit one `EVALSHA`,
//! an increment one `EVALSHA`, both through the store and through a whole request.

use crate::common;

use std::sync::{Arc, Mutex};

use http::{HeaderMap, HeaderValue};
use sessile::{Clock, Keys, SessionManager, Store, SystemClock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type CommandLog = Arc<Mutex<Vec<String>>>;

/// The command name of the first complete RESP array in `buffer` (`SCRIPT LOAD` keeps its
/// subcommand) and its length, or `None` while the array is incomplete.
fn parse_command(buffer: &[u8]) -> Option<(String, usize)> {
    fn line(buffer: &[u8], at: usize) -> Option<(usize, usize)> {
        let end = buffer[at..].windows(2).position(|pair| pair == b"\r\n")? + at;
        let number = std::str::from_utf8(&buffer[at + 1..end])
            .ok()?
            .parse()
            .ok()?;
        Some((number, end + 2))
    }
    if buffer.is_empty() {
        return None;
    }
    assert_eq!(buffer[0], b'*', "clients send RESP arrays");
    let (count, mut at) = line(buffer, 0)?;
    let mut words = Vec::new();
    for _ in 0..count {
        assert_eq!(buffer.get(at), Some(&b'$'), "arrays of bulk strings");
        let (length, start) = line(buffer, at)?;
        if buffer.len() < start + length + 2 {
            return None;
        }
        words.push(String::from_utf8_lossy(&buffer[start..start + length]).to_uppercase());
        at = start + length + 2;
    }
    let name = match words.as_slice() {
        [first, second, ..] if first == "SCRIPT" => format!("{first} {second}"),
        [first, ..] => first.clone(),
        [] => String::new(),
    };
    Some((name, at))
}

async fn relay(mut client: TcpStream, upstream: String, log: CommandLog) {
    let server = TcpStream::connect(&upstream).await.unwrap_or_else(|error| {
        panic!("proxy cannot reach Redis at {upstream} ({error}); start it with `scripts/services`")
    });
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.into_split();
    let requests = async {
        let mut pending = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let read = client_read.read(&mut chunk).await.unwrap_or(0);
            if read == 0 {
                break;
            }
            pending.extend_from_slice(&chunk[..read]);
            while let Some((name, used)) = parse_command(&pending) {
                log.lock().expect("log lock").push(name);
                pending.drain(..used);
            }
            if server_write.write_all(&chunk[..read]).await.is_err() {
                break;
            }
        }
    };
    let replies = tokio::io::copy(&mut server_read, &mut client_write);
    let _ = tokio::join!(requests, replies);
}

/// A proxy to the standalone Redis; its URL and the log of commands that passed through.
async fn counting_proxy() -> (String, CommandLog) {
    let upstream = common::standalone_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a port");
    let address = listener.local_addr().expect("local address");
    let log = CommandLog::default();
    let proxy_log = log.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(relay(client, upstream.clone(), proxy_log.clone()));
        }
    });
    (format!("redis://{address}"), log)
}

fn take(log: &CommandLog) -> Vec<String> {
    std::mem::take(&mut *log.lock().expect("log lock"))
}

/// One request against `manager` with `cookie`; what `handle` did to the session, the new
/// cookie if one was set.
async fn request<F, Fut>(
    manager: &SessionManager,
    cookie: Option<&str>,
    handle: F,
) -> Option<String>
where
    F: FnOnce(sessile::Session) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut headers = HeaderMap::new();
    if let Some(cookie) = cookie {
        headers.insert(
            http::header::COOKIE,
            HeaderValue::from_str(cookie).expect("cookie"),
        );
    }
    let session = manager.start(&headers, None);
    handle(session.clone()).await;
    let mut response = HeaderMap::new();
    session
        .finish()
        .await
        .expect("commit")
        .apply_to(&mut response);
    response
        .get(http::header::SET_COOKIE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::to_owned)
}

#[tokio::test]
async fn each_operation_is_one_round_trip() {
    let (url, log) = counting_proxy().await;
    let store = sessile_redis::RedisStore::builder()
        .key_prefix(common::run_prefix("round-trips"))
        .connect(&url)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "cannot reach Redis through the proxy ({error}); start it with `scripts/services`"
            )
        });
    let manager = common::manager(
        store.clone(),
        Keys::generate(),
        std::time::Duration::from_secs(5),
    );

    // A new session with data: one insert-only create.
    take(&log);
    let cookie = request(&manager, None, |session| async move {
        session.insert("name", "ada").expect("insert");
    })
    .await
    .expect("a new session sets a cookie");
    assert_eq!(take(&log), ["EVALSHA"], "create is one script call");

    // Read, then write: one load, one commit.
    request(&manager, Some(&cookie), |session| async move {
        let name: Option<String> = session.get("name").await.expect("get");
        assert_eq!(name.as_deref(), Some("ada"));
        session.insert("seen", true).expect("insert");
    })
    .await;
    assert_eq!(take(&log), ["HGETALL", "EVALSHA"], "load 1, commit 1");

    // Write without reading: the delta alone, no load.
    request(&manager, Some(&cookie), |session| async move {
        session.insert("blind", 1).expect("insert");
    })
    .await;
    assert_eq!(take(&log), ["EVALSHA"], "a blind write is one commit");

    // Increment on an existing session: one script, nothing else to commit.
    request(&manager, Some(&cookie), |session| async move {
        assert_eq!(session.increment("hits", 1).await.expect("increment"), 1);
    })
    .await;
    assert_eq!(take(&log), ["EVALSHA"], "increment 1");

    // The same through the store directly.
    let key = sessile::SessionId::generate().store_key();
    let now = SystemClock.now();
    let record = sessile::Record::new(
        now,
        now + std::time::Duration::from_secs(60),
        now + std::time::Duration::from_secs(600),
    );
    store.create(&key, &record).await.expect("create");
    assert_eq!(take(&log), ["EVALSHA"]);
    store.load(&key, now).await.expect("load").expect("live");
    assert_eq!(take(&log), ["HGETALL"]);
    let mut changes = sessile::ChangeSet::default();
    changes.set("k", serde_json::json!(1));
    store.update(&key, &changes, now).await.expect("update");
    assert_eq!(take(&log), ["EVALSHA"]);
    let touch = sessile::Touch::new(now, now + std::time::Duration::from_secs(60));
    store
        .increment(&key, "k", 1, touch, now)
        .await
        .expect("increment");
    assert_eq!(take(&log), ["EVALSHA"]);

    // A server that lost its scripts (as after a restart) costs one fallback, once.
    let direct = redis::Client::open(common::standalone_url()).expect("url");
    let mut direct = direct
        .get_multiplexed_async_connection()
        .await
        .expect("direct connection");
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut direct)
        .await
        .expect("SCRIPT FLUSH");
    store
        .increment(&key, "k", 1, touch, now)
        .await
        .expect("increment");
    assert_eq!(
        take(&log),
        ["EVALSHA", "SCRIPT LOAD", "EVALSHA"],
        "NOSCRIPT fallback"
    );
    store
        .increment(&key, "k", 1, touch, now)
        .await
        .expect("increment");
    assert_eq!(take(&log), ["EVALSHA"]);
}
