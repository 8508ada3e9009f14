//! The sandbox's form decoder: it never panics, and what it decodes is what was encoded.

use bazaar::sandbox::form::{decode, encode_component, FormError, FORM_BYTES_MAX};
use proptest::prelude::*;
use serde_json::{json, Value};

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&input);
    }

    #[test]
    fn bracket_soup_never_panics(input in "[a-z0-9\\[\\]=&%+]{0,200}") {
        let _ = decode(input.as_bytes());
    }

    #[test]
    fn metadata_round_trips(entries in proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_ ]{0,20}", "\\PC{0,40}", 1..10)) {
        let body: Vec<String> = entries
            .iter()
            .map(|(k, v)| format!("metadata[{}]={}", encode_component(k), encode_component(v)))
            .collect();
        let decoded = decode(body.join("&").as_bytes()).unwrap();
        let expected: serde_json::Map<String, Value> =
            entries.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        prop_assert_eq!(&decoded["metadata"], &Value::Object(expected));
    }
}

#[test]
fn nested_keys_arrays_and_limits() {
    let v = decode(b"capabilities[transfers][requested]=true&expand[]=a&expand[]=b&items[0][q]=1&items[1][q]=2&n=a+b%21").unwrap();
    assert_eq!(
        v,
        json!({
            "capabilities": {"transfers": {"requested": "true"}},
            "expand": ["a", "b"],
            "items": [{"q": "1"}, {"q": "2"}],
            "n": "a b!",
        })
    );
    assert_eq!(
        decode(&vec![b'x'; FORM_BYTES_MAX + 1]),
        Err(FormError::TooLarge)
    );
    let many = vec!["a=1"; 3_000].join("&");
    assert_eq!(decode(many.as_bytes()), Err(FormError::TooManyPairs));
    let deep = format!("a{}=1", "[b]".repeat(20));
    assert!(matches!(
        decode(deep.as_bytes()),
        Err(FormError::KeyTooComplex(_))
    ));
    // Sparse or huge indices stay keys rather than allocating an array.
    assert_eq!(
        decode(b"a[99999999]=x").unwrap(),
        json!({"a": {"99999999": "x"}})
    );
}
