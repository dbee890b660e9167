//! Live interop: a real Koa app (koa-session cookie mode) and a real Express app (express-session)
//! run in Node on loopback ports (tests/node/live-server.js); this test drives them over HTTP and
//! reads and writes their cookies with sessile-node, in both directions.
//!
//! Needs the fixture's node_modules: `npm ci --prefix crates/sessile-node/tests/node`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sessile_node::express_session::{self, Secrets};
use sessile_node::keygrip::{CookieOptions, Keygrip, KoaCookies};
use sessile_node::koa_session::{self, DecodeError, MaxAge};

const MAX_AGE_MS: u64 = 3_600_000;
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// The Node process; killed when dropped, whatever the test did.
struct NodeApps {
    child: Child,
    _stdin: Option<ChildStdin>,
    koa_port: u16,
    express_port: u16,
}

impl NodeApps {
    fn start() -> Self {
        let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node");
        assert!(
            fixture.join("node_modules/koa-session").is_dir()
                && fixture.join("node_modules/express-session").is_dir(),
            "the Node fixture is not installed: run `npm ci --prefix crates/sessile-node/tests/node` \
             (scripts/test does) before `cargo test -p sessile-node`"
        );
        let mut child = Command::new("node")
            .arg("live-server.js")
            .current_dir(&fixture)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `node` (is Node.js installed?): {e}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let mut apps = NodeApps {
            child,
            _stdin: stdin,
            koa_port: 0,
            express_port: 0,
        };
        let line = receiver
            .recv_timeout(STARTUP_TIMEOUT)
            .expect("live-server.js did not report its ports in time");
        let ports: Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("live-server.js printed {line:?}: {e}"));
        apps.koa_port = ports["koa"].as_u64().expect("koa port") as u16;
        apps.express_port = ports["express"].as_u64().expect("express port") as u16;
        apps
    }
}

impl Drop for NodeApps {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Response {
    status: u16,
    set_cookies: Vec<String>,
    body: String,
}

/// One `GET` over a fresh loopback connection, bounded by timeouts.
fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> Response {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, IO_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("header/body split");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let mut set_cookies = Vec::new();
    let mut chunked = false;
    for line in lines {
        let (name, value) = line.split_once(':').expect("header line");
        let name = name.to_ascii_lowercase();
        if name == "set-cookie" {
            set_cookies.push(value.trim().to_owned());
        } else if name == "transfer-encoding" && value.trim() == "chunked" {
            chunked = true;
        }
    }
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Response {
        status,
        set_cookies,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").expect("chunk size line");
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

/// What a browser sends back: the `name=value` part of each `Set-Cookie`, later ones replacing
/// earlier ones of the same name, removal cookies dropped.
fn cookie_header(jar: &mut Vec<(String, String)>, set_cookies: &[String]) -> String {
    for set_cookie in set_cookies {
        let pair = set_cookie.split(';').next().unwrap();
        let (name, value) = pair.split_once('=').unwrap();
        jar.retain(|(existing, _)| existing != name);
        if !set_cookie.contains("expires=Thu, 01 Jan 1970") {
            jar.push((name.to_owned(), value.to_owned()));
        }
    }
    jar.iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn koa_whoami(apps: &NodeApps, cookie: &str, keys: &str) -> (Value, Vec<String>) {
    let response = get(
        apps.koa_port,
        "/whoami",
        &[("Cookie", cookie), ("x-test-keys", keys)],
    );
    assert_eq!(response.status, 200, "{}", response.body);
    (
        serde_json::from_str(&response.body).expect("whoami JSON"),
        response.set_cookies,
    )
}

#[test]
fn koa_session_cookies_cross_both_ways_with_rotation_and_expiry() {
    let apps = NodeApps::start();
    let old_keys = KoaCookies::new(Keygrip::new(["k1"]).unwrap(), false);
    let rotated = KoaCookies::new(Keygrip::new(["k2", "k1"]).unwrap(), false);

    // Sign in on Node → Rust verifies and decodes the cookie and sees the user.
    let login = get(
        apps.koa_port,
        "/login?user=alice",
        &[("x-test-keys", r#"["k1"]"#)],
    );
    assert_eq!(login.status, 200);
    assert_eq!(login.set_cookies.len(), 2, "{:?}", login.set_cookies);
    let node_cookie = cookie_header(&mut Vec::new(), &login.set_cookies);
    let read = old_keys.get_signed(&node_cookie, "koa.sess");
    assert_eq!(read.key_index, Some(0));
    assert!(read.set_cookies.is_empty());
    let session = koa_session::decode(&read.value.unwrap(), now_ms()).expect("Node's session");
    assert_eq!(session.data["user"], "alice");
    assert_eq!(session.data["greeting"], "héllo ☃");
    assert_eq!(session.max_age, Some(MaxAge::Millis(MAX_AGE_MS)));
    let expire = session.expire_ms.expect("_expire");
    assert!(expire > now_ms() as f64 && expire <= (now_ms() + MAX_AGE_MS as i64) as f64);

    // Rust writes a session cookie → Node sees the data.
    let data = json!({"user": "bob", "roles": ["admin"], "name": "Zoë 日本 😀"});
    let now = now_ms();
    let value = koa_session::encode(data.as_object().unwrap(), MaxAge::Millis(MAX_AGE_MS), now);
    let options = CookieOptions {
        max_age_ms: Some(MAX_AGE_MS as i64),
        ..CookieOptions::default()
    };
    let rust_set_cookies = old_keys.set("koa.sess", &value, &options, now).unwrap();
    let rust_cookie = cookie_header(&mut Vec::new(), &rust_set_cookies);
    let (seen, node_headers) = koa_whoami(&apps, &rust_cookie, r#"["k1"]"#);
    assert_eq!(seen["is_new"], false);
    assert_eq!(seen["data"], data);
    assert!(node_headers.is_empty(), "{node_headers:?}");

    // Node has rotated to [k2, k1]: it accepts Rust's k1 cookie and re-signs exactly the `.sig`
    // cookie Rust predicts.
    let (seen, node_headers) = koa_whoami(&apps, &rust_cookie, r#"["k2","k1"]"#);
    assert_eq!(seen["data"], data);
    let predicted = rotated.get_signed(&rust_cookie, "koa.sess");
    assert_eq!(predicted.key_index, Some(1));
    assert_eq!(node_headers, predicted.set_cookies);

    // Rust has rotated to [k2, k1]: it accepts Node's k1 cookie and re-signs; Node on [k2, k1]
    // accepts the re-signed cookie; Node still on [k1] rejects it with the removal Rust predicts.
    let read = rotated.get_signed(&node_cookie, "koa.sess");
    assert_eq!(read.key_index, Some(1));
    let mut jar = vec![];
    cookie_header(&mut jar, &login.set_cookies);
    let resigned = cookie_header(&mut jar, &read.set_cookies);
    let (seen, node_headers) = koa_whoami(&apps, &resigned, r#"["k2","k1"]"#);
    assert_eq!(seen["data"]["user"], "alice");
    assert!(node_headers.is_empty(), "{node_headers:?}");
    let (seen, node_headers) = koa_whoami(&apps, &resigned, r#"["k1"]"#);
    assert_eq!(seen["is_new"], true);
    assert_eq!(
        node_headers,
        old_keys.get_signed(&resigned, "koa.sess").set_cookies
    );
    assert_eq!(node_headers.len(), 1);

    // Expired on Rust's side → empty on Node's.
    let two_hours_ago = now_ms() - 2 * MAX_AGE_MS as i64;
    let stale = koa_session::encode(
        data.as_object().unwrap(),
        MaxAge::Millis(MAX_AGE_MS),
        two_hours_ago,
    );
    let stale_cookie = cookie_header(
        &mut Vec::new(),
        &old_keys
            .set("koa.sess", &stale, &options, two_hours_ago)
            .unwrap(),
    );
    let (seen, _) = koa_whoami(&apps, &stale_cookie, r#"["k1"]"#);
    assert_eq!(seen["is_new"], true);
    assert_eq!(seen["data"], json!({}));

    // Expired on Node's side (signed in two hours ago) → no session for Rust.
    let then = two_hours_ago.to_string();
    let old_login = get(
        apps.koa_port,
        "/login?user=mallory",
        &[("x-test-keys", r#"["k1"]"#), ("x-test-now", &then)],
    );
    let old_cookie = cookie_header(&mut Vec::new(), &old_login.set_cookies);
    let value = old_keys.get_signed(&old_cookie, "koa.sess").value.unwrap();
    assert!(matches!(
        koa_session::decode_detailed(&value, now_ms()),
        Err(DecodeError::Expired { .. })
    ));
    assert!(koa_session::decode(&value, two_hours_ago).is_some());

    // Node logs out → the cookie it leaves behind is no session for Rust either.
    let logout = get(
        apps.koa_port,
        "/logout",
        &[("Cookie", &node_cookie), ("x-test-keys", r#"["k1"]"#)],
    );
    assert_eq!(logout.set_cookies.len(), 2, "{:?}", logout.set_cookies);
    let cleared = logout.set_cookies[0].split(';').next().unwrap();
    let cleared_sig = logout.set_cookies[1].split(';').next().unwrap();
    let read = old_keys.get_signed(&format!("{cleared}; {cleared_sig}"), "koa.sess");
    assert_eq!(read.value.as_deref(), Some(""));
    assert!(koa_session::decode("", now_ms()).is_none());
}

#[test]
fn express_session_cookies_cross_both_ways_with_rotation() {
    let apps = NodeApps::start();
    let old = Secrets::new(["s1"]).unwrap();
    let rotated = Secrets::new(["s2", "s1"]).unwrap();

    // Sign in on Node with a fixed clock → Rust reads the id, and issues the very same header.
    let issued_at = now_ms();
    let at = issued_at.to_string();
    let login = get(
        apps.express_port,
        "/login?user=alice",
        &[("x-test-secrets", r#"["s1"]"#), ("x-test-now", &at)],
    );
    assert_eq!(login.status, 200);
    let sid = login.body.clone();
    assert_eq!(login.set_cookies.len(), 1, "{:?}", login.set_cookies);
    let node_cookie = login.set_cookies[0].split(';').next().unwrap().to_owned();
    assert_eq!(
        express_session::read_session_id(&node_cookie, "connect.sid", &old).as_deref(),
        Some(sid.as_str())
    );
    assert_eq!(
        express_session::read_session_id(&node_cookie, "connect.sid", &rotated).as_deref(),
        Some(sid.as_str())
    );
    assert_eq!(
        express_session::read_session_id(
            &node_cookie,
            "connect.sid",
            &Secrets::new(["s2"]).unwrap()
        ),
        None
    );
    let options = express_session::CookieOptions {
        expires_ms: Some(issued_at + MAX_AGE_MS as i64),
        ..express_session::CookieOptions::default()
    };
    assert_eq!(
        old.set_cookie_header("connect.sid", &sid, &options)
            .unwrap(),
        login.set_cookies[0]
    );

    // Rust (rotated, signing with s2) writes the cookie → Node on [s2, s1] sees the user.
    let rust_header = rotated
        .set_cookie_header("connect.sid", &sid, &options)
        .unwrap();
    let rust_cookie = rust_header.split(';').next().unwrap();
    assert_ne!(rust_cookie, node_cookie);
    let whoami = |cookie: &str, secrets: &str| -> Value {
        let response = get(
            apps.express_port,
            "/whoami",
            &[("Cookie", cookie), ("x-test-secrets", secrets)],
        );
        assert_eq!(response.status, 200, "{}", response.body);
        assert!(
            response.set_cookies.is_empty(),
            "{:?}",
            response.set_cookies
        );
        serde_json::from_str(&response.body).unwrap()
    };
    let seen = whoami(rust_cookie, r#"["s2","s1"]"#);
    assert_eq!(seen["sid"], sid.as_str());
    assert_eq!(seen["user"], "alice");

    // Node not yet rotated ([s1]) rejects the s2 cookie: a new, empty session.
    let seen = whoami(rust_cookie, r#"["s1"]"#);
    assert_ne!(seen["sid"], sid.as_str());
    assert_eq!(seen["user"], Value::Null);

    // Node's own old cookie is still honoured after Node's rotation, as Rust predicts.
    let seen = whoami(&node_cookie, r#"["s2","s1"]"#);
    assert_eq!(seen["user"], "alice");

    // A tampered cookie is refused by both.
    let tampered = node_cookie.replacen("s%3A", "s%3Ax", 1);
    assert_eq!(
        express_session::read_session_id(&tampered, "connect.sid", &old),
        None
    );
    assert_eq!(whoami(&tampered, r#"["s1"]"#)["user"], Value::Null);
}
