#!/usr/bin/env bash
# Measures what adopting slack-morphism would add to a build, for docs/slack-app.md: two
# small programs that post one chat.postMessage, one on the hyper/rustls stack the
# forwarder uses, one with slack-morphism's hyper client, built in release mode in one
# fresh target dir, the first clean and the second on top (so only what slack-morphism
# adds is timed). Prints both build times, the stripped binaries' sizes and crate counts.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/base/src" "$work/morphism/src"
cat > "$work/base/Cargo.toml" <<'EOF'
[package]
name = "base"
version = "0.1.0"
edition = "2024"
[dependencies]
http-body-util = "0.1"
hyper = { version = "1", features = ["client", "http1"] }
hyper-rustls = { version = "0.27", default-features = false, features = ["http1", "native-tokio", "tls12", "aws-lc-rs"] }
hyper-util = { version = "0.1", features = ["client-legacy", "http1", "tokio"] }
serde_json = "1"
tokio = { version = "1", features = ["rt", "macros"] }
EOF
cat > "$work/base/src/main.rs" <<'EOF'
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let body = serde_json::json!({"channel": "C0123456789", "text": "hello"});
    let request = hyper::Request::post("https://slack.com/api/chat.postMessage")
        .header("authorization", "Bearer xoxb-x")
        .header("content-type", "application/json; charset=utf-8")
        .body(Full::new(Bytes::from(body.to_string())))?;
    let response = client.request(request).await?;
    let answer: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
    println!("{answer}");
    Ok(())
}
EOF
cat > "$work/morphism/Cargo.toml" <<'EOF'
[package]
name = "morphism"
version = "0.1.0"
edition = "2024"
[dependencies]
slack-morphism = { version = "2", features = ["hyper"] }
tokio = { version = "1", features = ["rt", "macros"] }
EOF
cat > "$work/morphism/src/main.rs" <<'EOF'
use slack_morphism::prelude::*;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let client = SlackClient::new(SlackClientHyperConnector::new()?);
    let token = SlackApiToken::new(SlackApiTokenValue::from("xoxb-x".to_owned()));
    let session = client.open_session(&token);
    let request = SlackApiChatPostMessageRequest::new(
        SlackChannelId::new("C0123456789".into()),
        SlackMessageContent::new().with_text("hello".into()),
    );
    println!("{}", session.chat_post_message(&request).await?.ts);
    Ok(())
}
EOF
export CARGO_TARGET_DIR="$work/target"
for program in base morphism; do
    (cd "$work/$program" && cargo fetch -q)
done
for program in base morphism; do
    start=$(date +%s)
    (cd "$work/$program" && cargo build -q --release)
    echo "$program: release build $(( $(date +%s) - start )) s ($( [ $program = base ] && echo clean || echo 'on top of base') )"
    strip -o "$work/$program.stripped" "$CARGO_TARGET_DIR/release/$program"
    echo "$program: $(stat -c %s "$work/$program.stripped") bytes stripped, $(cd "$work/$program" && cargo tree -q -e normal --prefix none | sort -u | wc -l) crates"
done
grep -A1 'name = "slack-morphism"' "$work/morphism/Cargo.lock" | tail -1
