//! Every vector in tests/node/vectors.json, produced by running the real npm packages with a fixed
//! clock (tests/node/gen-vectors.js), checked both ways: Rust produces exactly what Node produced,
//! and Rust reads what Node wrote the way Node reads it.

use serde_json::{Map, Value};
use sessile_node::express_session::{self, Secrets};
use sessile_node::keygrip::{self, Algorithm, CookieOptions, Keygrip, KoaCookies};
use sessile_node::koa_session::{self, MaxAge};
use sessile_node::{Priority, SameSite};

fn vectors() -> Value {
    let text = include_str!("../node/vectors.json");
    serde_json::from_str(text).expect("vectors.json is JSON")
}

fn list<'v>(vectors: &'v Value, name: &str) -> &'v [Value] {
    let items = vectors[name]
        .as_array()
        .unwrap_or_else(|| panic!("vectors.json has no array {name}"));
    assert!(!items.is_empty(), "{name} is empty");
    items
}

fn str_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

fn algorithm(value: &Value) -> Algorithm {
    match value.as_str() {
        Some("sha1") => Algorithm::Sha1,
        Some("sha256") => Algorithm::Sha256,
        other => panic!("unknown algorithm {other:?}"),
    }
}

fn grip(case: &Value) -> Keygrip {
    Keygrip::with_algorithm(str_list(&case["keys"]), algorithm(&case["algorithm"])).unwrap()
}

fn opt_str(value: &Value) -> Option<&str> {
    value.as_str()
}

#[test]
fn keygrip_signs_and_indexes_like_the_package() {
    let vectors = vectors();
    for case in list(&vectors, "keygrip") {
        let keys = grip(case);
        let data = case["data"].as_str().unwrap();
        let signature = case["signature"].as_str().unwrap();
        assert_eq!(keys.sign(data), signature, "{case}");
        let index = |field: &str| case[field].as_i64().unwrap();
        let as_node = |found: Option<usize>| found.map_or(-1, |i| i as i64);
        assert_eq!(
            as_node(keys.index(data, signature)),
            index("index_of_signature")
        );
        let by_last = case["signature_of_last_key"].as_str().unwrap();
        assert_eq!(
            as_node(keys.index(data, by_last)),
            index("index_of_last_key_signature"),
            "{case}"
        );
        assert_eq!(
            as_node(keys.index(data, &signature[1..])),
            index("index_of_bogus")
        );
    }
}

#[test]
fn signed_get_returns_the_value_and_the_headers_node_emits() {
    let vectors = vectors();
    for case in list(&vectors, "cookies_get") {
        let cookies = KoaCookies::new(grip(case), case["secure"].as_bool().unwrap());
        let read = cookies.get_signed(
            case["header"].as_str().unwrap(),
            case["name"].as_str().unwrap(),
        );
        assert_eq!(read.value.as_deref(), opt_str(&case["value"]), "{case}");
        assert_eq!(read.set_cookies, str_list(&case["set_cookies"]), "{case}");
    }
}

fn koa_options(opts: &Value) -> CookieOptions {
    let mut options = CookieOptions::default();
    if let Some(max_age) = opts["maxAge"].as_i64() {
        options.max_age_ms = Some(max_age);
    }
    options.expires_ms = opts["expires"].as_i64();
    if let Some(path) = opts["path"].as_str() {
        options.path = Some(path.to_owned());
    }
    options.domain = opts["domain"].as_str().map(str::to_owned);
    options.same_site = opts["sameSite"].as_str().map(|s| match s {
        "strict" => SameSite::Strict,
        "lax" => SameSite::Lax,
        "none" => SameSite::None,
        other => panic!("sameSite {other}"),
    });
    options.priority = opts["priority"]
        .as_str()
        .map(|p| match p.to_ascii_lowercase().as_str() {
            "low" => Priority::Low,
            "medium" => Priority::Medium,
            "high" => Priority::High,
            other => panic!("priority {other}"),
        });
    options.secure = opts["secure"].as_bool();
    if let Some(http_only) = opts["httpOnly"].as_bool() {
        options.http_only = http_only;
    }
    options.partitioned = opts["partitioned"].as_bool().unwrap_or(false);
    options.signed = opts["signed"].as_bool().unwrap_or(true);
    options
}

#[test]
fn set_writes_the_headers_node_writes() {
    let vectors = vectors();
    for case in list(&vectors, "cookies_set") {
        let cookies = KoaCookies::new(grip(case), case["secure"].as_bool().unwrap());
        let headers = cookies
            .set(
                case["name"].as_str().unwrap(),
                case["value"].as_str().unwrap(),
                &koa_options(&case["opts"]),
                case["now"].as_i64().unwrap(),
            )
            .unwrap();
        assert_eq!(headers, str_list(&case["set_cookies"]), "{case}");
    }
}

fn node_max_age(value: &Value) -> Option<MaxAge> {
    match value {
        Value::Null => None,
        Value::String(s) if s == "session" => Some(MaxAge::Session),
        Value::Number(n) => Some(MaxAge::Millis(n.as_u64().unwrap())),
        other => panic!("max_age {other}"),
    }
}

#[test]
fn koa_session_encodes_exactly_as_node_and_signs_the_same_headers() {
    let vectors = vectors();
    for case in list(&vectors, "koa_session_encode") {
        let now = case["now"].as_i64().unwrap();
        let data = case["session"].as_object().unwrap();
        let configured = node_max_age(&case["max_age"]);
        let max_age = configured.unwrap_or(MaxAge::Millis(koa_session::DEFAULT_MAX_AGE_MS));
        assert_eq!(
            koa_session::to_json(data, max_age, now),
            case["json"].as_str().unwrap()
        );
        let value = koa_session::encode(data, max_age, now);
        assert_eq!(value, case["cookie_value"].as_str().unwrap(), "{case}");

        // koa-session passes its options to cookies.set: maxAge only when configured as a number
        // (the one-day default and 'session' both give a browser-session cookie on first save).
        let options = CookieOptions {
            max_age_ms: match configured {
                Some(MaxAge::Millis(ms)) => Some(ms as i64),
                _ => None,
            },
            ..CookieOptions::default()
        };
        let cookies = KoaCookies::new(Keygrip::new(str_list(&case["keys"])).unwrap(), false);
        let headers = cookies.set("koa.sess", &value, &options, now).unwrap();
        assert_eq!(headers, str_list(&case["set_cookies"]), "{case}");

        // And back: Rust reads Node's cookie to the session Node stored.
        let session = koa_session::decode(case["cookie_value"].as_str().unwrap(), now).unwrap();
        let persisted: Map<String, Value> = data
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(session.data, persisted);
        assert_eq!(session.max_age, Some(max_age));
    }
}

#[test]
fn koa_session_decodes_what_a_real_app_accepts_and_rejects() {
    let vectors = vectors();
    for case in list(&vectors, "koa_session_decode") {
        let keys = Keygrip::new(str_list(&case["keys"])).unwrap();
        let value = case["cookie_value"].as_str().unwrap();
        let now = case["now"].as_i64().unwrap();

        // The app read a cookie signed with its older key: same re-issue header from Rust.
        let cookies = KoaCookies::new(keys.clone(), false);
        let old_key = Keygrip::new([&str_list(&case["keys"])[1]]).unwrap();
        let header = format!(
            "koa.sess={value}; koa.sess.sig={}",
            old_key.sign(&format!("koa.sess={value}"))
        );
        let read = cookies.get_signed(&header, "koa.sess");
        assert_eq!(read.value.as_deref(), Some(value));
        assert_eq!(read.set_cookies, str_list(&case["set_cookies"]), "{case}");

        let decoded = koa_session::decode(value, now);
        let node_is_new = case["is_new"].as_bool().unwrap();
        assert_eq!(decoded.is_none(), node_is_new, "{case}");
        if let Some(session) = decoded {
            assert_eq!(Value::Object(session.data), case["data"], "{case}");
            assert_eq!(session.max_age, node_max_age(&case["max_age"]), "{case}");
        }
    }
}

#[test]
fn base64_decoding_matches_buffer_from() {
    let vectors = vectors();
    for case in list(&vectors, "node_base64") {
        let input = case["input"].as_str().unwrap();
        let hex: String = koa_session::node_base64_decode(input)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, case["hex"].as_str().unwrap(), "{input:?}");
    }
}

#[test]
fn cookie_signature_matches_the_package() {
    let vectors = vectors();
    for case in list(&vectors, "cookie_signature") {
        let secret = case["secret"].as_str().unwrap().as_bytes();
        let value = case["value"].as_str().unwrap();
        let signed = case["signed"].as_str().unwrap();
        assert_eq!(express_session::sign(value, secret), signed);
        assert_eq!(
            express_session::unsign(signed, secret).as_deref(),
            opt_str(&case["unsign"])
        );
        assert_eq!(
            express_session::unsign(&format!("{signed}="), secret).as_deref(),
            opt_str(&case["unsign_padded"])
        );
        let mut other = secret.to_vec();
        other.push(b'x');
        assert_eq!(
            express_session::unsign(signed, &other).as_deref(),
            opt_str(&case["unsign_other_secret"])
        );
    }
}

#[test]
fn cookie_header_parsing_matches_the_cookie_package() {
    let vectors = vectors();
    for case in list(&vectors, "cookie_parse") {
        let pairs: Vec<Value> =
            express_session::parse_cookie_header(case["header"].as_str().unwrap())
                .into_iter()
                .map(|(k, v)| Value::from(vec![k, v]))
                .collect();
        assert_eq!(Value::from(pairs), case["pairs"], "{case}");
    }
}

#[test]
fn express_cookie_is_issued_exactly_as_node_issues_it() {
    let vectors = vectors();
    for case in list(&vectors, "express_issue") {
        let secrets = Secrets::new(str_list(&case["secrets"])).unwrap();
        let cookie = &case["cookie"];
        let now = case["now"].as_i64().unwrap();
        let options = express_session::CookieOptions {
            domain: cookie["domain"].as_str().map(str::to_owned),
            path: Some(cookie["path"].as_str().unwrap_or("/").to_owned()),
            expires_ms: cookie["maxAge"].as_i64().map(|ms| now + ms),
            http_only: cookie["httpOnly"].as_bool().unwrap_or(true),
            secure: cookie["secure"].as_bool().unwrap_or(false),
            partitioned: cookie["partitioned"].as_bool().unwrap_or(false),
            priority: cookie["priority"].as_str().map(|p| match p {
                "low" => Priority::Low,
                "medium" => Priority::Medium,
                "high" => Priority::High,
                other => panic!("priority {other}"),
            }),
            same_site: cookie["sameSite"].as_str().map(|s| match s {
                "strict" => SameSite::Strict,
                "lax" => SameSite::Lax,
                "none" => SameSite::None,
                other => panic!("sameSite {other}"),
            }),
        };
        let sid = case["sid"].as_str().unwrap();
        let header = secrets
            .set_cookie_header("connect.sid", sid, &options)
            .unwrap();
        let node = str_list(&case["set_cookies"]);
        assert_eq!(vec![header.clone()], node, "{case}");

        let cookie_pair = header.split(';').next().unwrap();
        assert_eq!(
            express_session::read_session_id(cookie_pair, "connect.sid", &secrets).as_deref(),
            Some(sid)
        );
    }
}

#[test]
fn express_reads_the_session_id_node_reads() {
    let vectors = vectors();
    for case in list(&vectors, "express_read") {
        let secrets = Secrets::new(str_list(&case["secrets"])).unwrap();
        let header = case["header"].as_str().unwrap();
        // `verified_id` is the id express-session looked up in its store, i.e. the cookie verified;
        // `session_id` is null when the store did not have it either (a store matter, not a cookie one).
        let read = express_session::read_session_id(header, "connect.sid", &secrets);
        assert_eq!(read.as_deref(), opt_str(&case["verified_id"]), "{case}");
        if let Some(session_id) = case["session_id"].as_str() {
            assert_eq!(read.as_deref(), Some(session_id));
        }
        // express-session never writes a header just for reading.
        assert!(str_list(&case["set_cookies"]).is_empty());
    }
}

#[test]
fn koa_cookie_rule_agrees_with_the_raw_getter() {
    let vectors = vectors();
    for case in list(&vectors, "cookies_get") {
        let header = case["header"].as_str().unwrap();
        let name = case["name"].as_str().unwrap();
        if let Some(value) = case["value"].as_str() {
            assert_eq!(keygrip::get_cookie(header, name), Some(value));
        }
    }
}
