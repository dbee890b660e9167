//! Every vector in tests/node/store-vectors.json, produced by running the real npm packages with a
//! fixed clock against a recording store (tests/node/gen-store-vectors.js), checked both ways:
//! [`NodeJson::decode`] reads the document each package hands its store into the data, user and
//! deadline the package goes by, and [`NodeJson::encode`] of that record writes the package's
//! document back.
//!
//! Documents are compared as JSON values everywhere, and byte for byte where the package's key
//! order is sessile's too. sessile writes `cookie` first (koa-generic-session, express-session),
//! then the data in its order, then `user`, then koa-session's `_expire`/`_maxAge`. Two Node
//! orders differ from that and are compared as values only:
//! - a key a handler adds after signing in (`theme` in the "change" step) comes after `user` in
//!   Node's document, before it in sessile's;
//! - koa-generic-session puts the cookie options the app passes (`cookie: {maxAge}`) before its
//!   own defaults, so the `cookie` object's order depends on how the app spelled its options.

use std::time::Duration;

use serde_json::Value;
use sessile::{Record, Timestamp};
use sessile_node::ids::NodeCookie;
use sessile_node::record_json::{NodeJson, NodeShape};

fn vectors() -> Value {
    serde_json::from_str(include_str!("../node/store-vectors.json"))
        .expect("store-vectors.json is JSON")
}

fn list<'v>(vectors: &'v Value, name: &str) -> &'v [Value] {
    let items = vectors[name]
        .as_array()
        .unwrap_or_else(|| panic!("store-vectors.json has no array {name}"));
    assert!(!items.is_empty(), "{name} is empty");
    items
}

fn text<'v>(case: &'v Value, field: &str) -> &'v str {
    case[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string in {case}"))
}

/// The NodeJson the vector's app settings call for.
fn node_json(case: &Value) -> NodeJson {
    let sessile = &case["sessile"];
    let shape = match sessile["shape"].as_str() {
        Some("KoaSession") => NodeShape::KoaSession,
        Some("GenericSession") => NodeShape::GenericSession,
        Some("SessionMinimal") => NodeShape::SessionMinimal,
        Some("Express") => NodeShape::Express,
        other => panic!("unknown shape {other:?}"),
    };
    let max_age = Duration::from_millis(sessile["max_age_ms"].as_u64().expect("max_age_ms"));
    let cookie = NodeCookie {
        expiring: sessile["expiring"].as_bool().expect("expiring"),
        ..NodeCookie::default()
    };
    NodeJson::new(shape, max_age).with_cookie(cookie)
}

/// A deadline in the vectors: ms since the epoch, or `null` for "never" (a store key without a
/// TTL), which sessile's Node layouts read as the end of time.
fn deadline(value: &Value) -> Timestamp {
    match value {
        Value::Null => Timestamp::from_millis(i64::MAX),
        other => Timestamp::from_millis(other.as_i64().expect("a deadline in ms")),
    }
}

fn is_login_step(case: &Value) -> bool {
    text(case, "step") == "login"
}

/// Whether Node's key order is sessile's for this document (see the module documentation).
fn order_is_sessiles(case: &Value) -> bool {
    let app_cookie_options = text(case, "package") == "koa-generic-session"
        && text(case, "setting").starts_with("cookie.maxAge");
    is_login_step(case) && !app_cookie_options
}

/// koa-session with `maxAge: 'session'` stores `_session: true` instead of `_expire`/`_maxAge`;
/// NodeJson has no setting for that form (its documents always carry `_expire`), so only
/// decoding is checked for it.
fn koa_session_browser_form(case: &Value) -> bool {
    text(case, "package") == "koa-session" && text(case, "setting") == "maxAge 'session'"
}

fn decoded(case: &Value) -> Record {
    let document = text(case, "document");
    node_json(case)
        .decode(document, Some(deadline(&case["store_deadline"])))
        .unwrap_or_else(|e| panic!("decoding {document}: {e}"))
}

#[test]
fn the_vectors_cover_every_package_and_both_steps() {
    let vectors = vectors();
    let cases = list(&vectors, "documents");
    for package in [
        "koa-session",
        "koa-generic-session",
        "koa-session-minimal",
        "express-session",
    ] {
        for step in ["login", "change"] {
            assert!(
                cases
                    .iter()
                    .any(|c| c["package"] == package && c["step"] == step),
                "no {step} vector for {package}"
            );
        }
        assert!(
            cases
                .iter()
                .any(|c| c["package"] == package && c["sessile"]["expiring"] == false),
            "no browser-session vector for {package}"
        );
    }
}

#[test]
fn decode_reads_what_each_package_stored() {
    let vectors = vectors();
    for case in list(&vectors, "documents") {
        let record = decoded(case);
        let expected = &case["expected"];
        assert_eq!(
            Value::Object(record.data.clone()),
            expected["data"],
            "data of {case}"
        );
        assert_eq!(
            record.user.as_deref(),
            expected["user"].as_str(),
            "user of {case}"
        );
        assert_eq!(
            record.idle_deadline,
            deadline(&expected["deadline"]),
            "deadline of {case}"
        );
        assert_eq!(record.user.as_deref(), Some("alice"), "{case}");
        assert_eq!(
            record.absolute_deadline,
            Timestamp::from_millis(i64::MAX),
            "Node sessions have no absolute lifetime: {case}"
        );
    }
}

#[test]
fn decode_keeps_the_documents_data_order() {
    let vectors = vectors();
    for case in list(&vectors, "documents") {
        let record = decoded(case);
        let keys: Vec<&str> = record.data.keys().map(String::as_str).collect();
        let expected: Vec<&str> = match text(case, "step") {
            "login" => vec!["name", "n"],
            _ => vec!["name", "n", "theme"],
        };
        assert_eq!(keys, expected, "{case}");
    }
}

#[test]
fn encode_writes_the_packages_document() {
    let vectors = vectors();
    let mut byte_equal = 0;
    for case in list(&vectors, "documents") {
        if koa_session_browser_form(case) {
            continue;
        }
        let node = text(case, "document");
        let ours = node_json(case).encode(&decoded(case));
        let node_value: Value = serde_json::from_str(node).unwrap();
        let our_value: Value = serde_json::from_str(&ours).unwrap();
        assert_eq!(our_value, node_value, "\nsessile {ours}\nnode    {node}");
        if order_is_sessiles(case) {
            assert_eq!(ours, node, "byte for byte: {case}");
            byte_equal += 1;
        }
    }
    // koa-session (2 settings), koa-generic-session (defaults), koa-session-minimal (2),
    // express-session (2): the sign-in documents.
    assert_eq!(byte_equal, 7, "byte-for-byte comparisons made");
}

#[test]
fn encode_then_decode_is_the_same_record_for_the_koa_session_browser_form() {
    // The one form encode does not reproduce: what sessile writes instead must read back the same.
    let vectors = vectors();
    let cases: Vec<&Value> = list(&vectors, "documents")
        .iter()
        .filter(|c| koa_session_browser_form(c))
        .collect();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let json = node_json(case);
        let record = decoded(case);
        let again = json.decode(&json.encode(&record), None).unwrap();
        assert_eq!(again.data, record.data, "{case}");
        assert_eq!(again.user, record.user, "{case}");
        assert_eq!(again.idle_deadline, record.idle_deadline, "{case}");
    }
}

#[test]
fn sequelize_sqlite_dates_match_sequelize() {
    let vectors = vectors();
    for case in list(&vectors, "sequelize_sqlite_dates") {
        let ms = case["epoch_ms"].as_i64().unwrap();
        let node = text(case, "text");
        assert_eq!(case["read_back_ms"].as_i64(), Some(ms), "{case}");
        assert_eq!(
            sessile_node::to_sequelize_sqlite_date(ms).as_deref(),
            Some(node),
            "{case}"
        );
        assert_eq!(sessile_node::parse_date(node), Some(ms), "{case}");
    }
}
