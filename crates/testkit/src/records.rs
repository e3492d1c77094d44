//! Stored records as earlier versions of pipewatch wrote them (`tests/records/`), so the
//! current code is proven to read every format ever written.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

/// The DynamoDB item kept in `tests/records/{name}.json` (DynamoDB's JSON: `S`, `N`, `B`).
pub fn item(name: &str) -> HashMap<String, AttributeValue> {
    let path = crate::fixtures::repository()
        .join("tests/records")
        .join(format!("{name}.json"));
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    document["item"]
        .as_object()
        .expect("the fixture holds an item")
        .iter()
        .map(|(name, value)| {
            let attribute = if let Some(s) = value["S"].as_str() {
                AttributeValue::S(s.to_owned())
            } else if let Some(n) = value["N"].as_str() {
                AttributeValue::N(n.to_owned())
            } else if let Some(b) = value["B"].as_str() {
                AttributeValue::B(Blob::new(base64(b)))
            } else {
                panic!("{name}: only S, N and B attributes are expected")
            };
            (name.clone(), attribute)
        })
        .collect()
}

/// Standard base64 (with padding), as DynamoDB's JSON writes binary attributes.
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').collect();
    let mut bytes = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0, |n, (i, &c)| n | (value(c) << (18 - 6 * i)));
        let [_, a, b, c] = n.to_be_bytes();
        bytes.extend_from_slice(&[a, b, c][..chunk.len() - 1]);
    }
    bytes
}
