//! Node-format input from the network never panics the codecs, and well-formed values round-trip.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use proptest::prelude::*;
use serde_json::{Map, Value};
use sessile_node::express_session::{self, Secrets};
use sessile_node::keygrip::{get_cookie, CookieOptions, Keygrip, KoaCookies};
use sessile_node::koa_session::{self, MaxAge};

/// JSON-looking text: fragments koa-session payloads are made of, glued at random.
fn jsonish() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just(",".to_owned()),
            Just(":".to_owned()),
            Just("\"_expire\"".to_owned()),
            Just("\"_maxAge\"".to_owned()),
            Just("\"_session\"".to_owned()),
            Just("\"isNew\"".to_owned()),
            Just("\"session\"".to_owned()),
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("-1e400".to_owned()),
            Just("1.5".to_owned()),
            Just("\"\\ud800\"".to_owned()),
            any::<i64>().prop_map(|n| n.to_string()),
            "\\PC{0,8}".prop_map(|s| format!("{s:?}")),
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

fn simple_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,16}".prop_map(Value::from),
        prop::collection::vec("\\PC{0,6}".prop_map(Value::from), 0..4).prop_map(Value::from),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn koa_decode_never_panics_on_any_text(text in "\\PC{0,64}", now in any::<i64>()) {
        let _ = koa_session::decode_detailed(&text, now);
    }

    #[test]
    fn koa_decode_never_panics_on_any_base64_bytes(bytes in prop::collection::vec(any::<u8>(), 0..96), now in any::<i64>()) {
        let _ = koa_session::decode(&STANDARD.encode(&bytes), now);
    }

    #[test]
    fn koa_decode_never_panics_on_json_like_payloads(json in jsonish(), now in any::<i64>()) {
        let _ = koa_session::decode(&STANDARD.encode(json.as_bytes()), now);
    }

    #[test]
    fn koa_session_round_trips(
        data in prop::collection::btree_map("[a-zA-Z][a-zA-Z0-9_ ]{0,8}", simple_value(), 0..6),
        max_age in 1u64..10_000_000_000,
        now in 0i64..4_000_000_000_000,
    ) {
        let data: Map<String, Value> = data.into_iter().collect();
        let value = koa_session::encode(&data, MaxAge::Millis(max_age), now);
        let session = koa_session::decode(&value, now).expect("fresh session decodes");
        prop_assert_eq!(session.data, data);
        prop_assert_eq!(session.max_age, Some(MaxAge::Millis(max_age)));
        prop_assert_eq!(session.expire_ms, Some((now + max_age as i64) as f64));
        prop_assert!(koa_session::decode(&value, now + max_age as i64 + 1).is_none());
    }

    #[test]
    fn koa_signed_get_never_panics(header in "\\PC{0,80}", name in "[a-z.:]{1,10}") {
        let cookies = KoaCookies::new(Keygrip::new(["k2", "k1"]).unwrap(), false);
        let read = cookies.get_signed(&header, &name);
        prop_assert!(read.set_cookies.len() <= 1);
        let _ = get_cookie(&header, &name);
    }

    #[test]
    fn koa_signed_cookies_round_trip(value in "[!-:<-~]{1,40}") {
        let cookies = KoaCookies::new(Keygrip::new(["k2", "k1"]).unwrap(), false);
        let headers = cookies.set("koa.sess", &value, &CookieOptions::default(), 0).unwrap();
        let header = headers.iter().map(|h| h.split(';').next().unwrap()).collect::<Vec<_>>().join("; ");
        let read = cookies.get_signed(&header, "koa.sess");
        // `cookies.get` strips a leading quote and the last character with it.
        let expected = match value.strip_prefix('"') {
            Some(_) => None,
            None => Some(value.clone()),
        };
        if let Some(expected) = expected {
            prop_assert_eq!(read.value, Some(expected));
            prop_assert_eq!(read.key_index, Some(0));
        }
    }

    #[test]
    fn express_parsing_never_panics(header in "\\PC{0,80}") {
        let secrets = Secrets::new(["s1"]).unwrap();
        let _ = express_session::parse_cookie_header(&header);
        let _ = express_session::read_session_id(&header, "connect.sid", &secrets);
        let _ = secrets.unsign(&header);
    }

    #[test]
    fn express_percent_soup_never_panics(parts in prop::collection::vec(prop_oneof![
        Just("%".to_owned()), Just("%E2".to_owned()), Just("%98%83".to_owned()), Just("s%3A".to_owned()),
        Just(";".to_owned()), Just("=".to_owned()), Just("\"".to_owned()), Just(".".to_owned()),
        "[a-zA-Z0-9]{0,4}",
    ], 0..20)) {
        let header = format!("connect.sid={}", parts.concat());
        let _ = express_session::read_session_id(&header, "connect.sid", &Secrets::new(["s1"]).unwrap());
    }

    #[test]
    fn express_ids_round_trip(sid in "\\PC{1,40}") {
        let secrets = Secrets::new(["s2", "s1"]).unwrap();
        let header = secrets
            .set_cookie_header("connect.sid", &sid, &express_session::CookieOptions::default())
            .unwrap();
        let cookie = header.split(';').next().unwrap();
        let read = express_session::read_session_id(cookie, "connect.sid", &Secrets::new(["s3", "s2"]).unwrap());
        prop_assert_eq!(read, Some(sid));
    }
}
