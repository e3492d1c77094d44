//! A wire-level fake of Slack's Web API for the app's methods, `chat.postMessage`,
//! `chat.update`, `views.open` and `usergroups.users.list`, which the real client ([`pipewatch::slack::SlackApi`]) calls over HTTP
//! (`SLACK_API_URL`). It answers as Slack does: HTTP 200 with `{"ok": false, "error": …}`
//! for refusals, 429 with `Retry-After` past its rate limit. It keeps the channel's
//! messages, so a test reads what a person would see, and every call, so a test counts
//! them. Errors are injectable per method; a token can be revoked; a message deleted.
//!
//! It is as strict as Slack where a lenient fake would hide a defect (Slack's method
//! reference pages): `chat.update` keeps the blocks and attachments an update leaves out
//! (an empty array removes them); a read method (`usergroups.users.list`) reads its
//! arguments from a form only; `views.open` takes a `trigger_id` this fake issued
//! ([`FakeSlack::trigger_id`]), once, within 3 seconds.
//!
//! A Rust server on keep-alive connections: faster than the client it measures.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::gate::Gate;
use crate::http::{Reply, Request, Server};

/// The token the fake accepts.
pub const TOKEN: &str = "xoxb-0000000000-0000000000000-FAKESECRETTOKEN";

/// One call as received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
    /// The `ok` the fake answered.
    pub ok: bool,
}

#[derive(Default)]
struct State {
    /// What was posted to interactions' `response_url`s (`/actions/…`), in order.
    responses: Vec<Value>,
    /// (channel, ts) → the message as last posted or updated.
    messages: BTreeMap<(String, String), Value>,
    calls: Vec<Call>,
    posted: u64,
    /// Per method: the next answers to give instead of the normal one (an `error` code,
    /// or `"429"` for a rate limit, `"429:N"` with `Retry-After: N`).
    failures: BTreeMap<String, VecDeque<String>>,
    /// The `trigger_id`s issued with clicks, and when; those a dialog was opened with.
    triggers: BTreeMap<String, (Instant, bool)>,
    revoked: bool,
    /// User groups' members, by group id.
    groups: BTreeMap<String, Vec<String>>,
    /// At most this many calls per window, then 429 until the window ends.
    limit: Option<(usize, Duration)>,
    window: Option<(Instant, usize)>,
}

/// Delays before a call is applied: the longest, and a count that varies it per call.
#[derive(Default)]
struct Jitter {
    max_ms: AtomicU64,
    calls: AtomicU64,
    /// Calls whose body holds this text wait this long before they are applied.
    hold: Mutex<Option<(String, Duration)>>,
    /// Calls of this method wait this long before they are applied.
    slow: Mutex<Option<(String, Duration)>>,
    /// Calls of the method, or whose body holds the text, wait at the gate until a test
    /// opens it.
    gates: Mutex<Vec<(String, Gate)>>,
}

/// The fake, serving until dropped.
pub struct FakeSlack {
    server: Server,
    state: Arc<Mutex<State>>,
    jitter: Arc<Jitter>,
}

impl FakeSlack {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let jitter = Arc::new(Jitter::default());
        let (shared, delays) = (Arc::clone(&state), Arc::clone(&jitter));
        let server = Server::start_keep_alive(move |request| {
            let max = delays.max_ms.load(Ordering::SeqCst);
            if max > 0 {
                // 0, max/3, 2max/3 or max, varying call by call: calls sent in one order
                // are applied in another, as over a real network.
                let n = delays.calls.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(max * (n * 7 % 4) / 3));
            }
            let slow = delays.slow.lock().unwrap().clone();
            if let Some((method, wait)) = slow
                && request.path.ends_with(&format!("/{method}"))
            {
                std::thread::sleep(wait);
            }
            let gates: Vec<Gate> = delays
                .gates
                .lock()
                .unwrap()
                .iter()
                .filter(|(needle, _)| {
                    request.path.ends_with(&format!("/{needle}"))
                        || String::from_utf8_lossy(&request.body).contains(needle)
                })
                .map(|(_, gate)| gate.clone())
                .collect();
            for gate in gates {
                gate.pass();
            }
            let held = delays.hold.lock().unwrap().clone();
            if let Some((needle, wait)) = held
                && String::from_utf8_lossy(&request.body).contains(&needle)
            {
                std::thread::sleep(wait);
            }
            answer(&shared, request)
        });
        Self {
            server,
            state,
            jitter,
        }
    }

    /// Each call waits up to `max` before it is applied, by a different amount each time.
    pub fn jitter(&self, max: Duration) {
        self.jitter.max_ms.store(
            u64::try_from(max.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    /// The Web API's base URL, for `SLACK_API_URL`.
    pub fn url(&self) -> String {
        format!("{}/api/", self.server.url())
    }

    /// Every call whose body contains `needle` waits `wait` before it is applied: a slow
    /// call that a later one overtakes.
    pub fn hold(&self, needle: &str, wait: Duration) {
        *self.jitter.hold.lock().unwrap() = Some((needle.to_owned(), wait));
    }

    /// Every call of the method `needle`, or whose body contains `needle`, waits at the
    /// returned gate, before it is applied, until the test opens it.
    pub fn gate(&self, needle: &str) -> Gate {
        let gate = Gate::new();
        self.jitter
            .gates
            .lock()
            .unwrap()
            .push((needle.to_owned(), gate.clone()));
        gate
    }

    /// Every call of `method` waits `wait` before it is applied (`None`: none waits).
    pub fn slow(&self, slow: Option<(&str, Duration)>) {
        *self.jitter.slow.lock().unwrap() = slow.map(|(m, w)| (m.to_owned(), w));
    }

    /// A `response_url` of this fake, as Slack gives one with each click.
    pub fn response_url(&self) -> String {
        format!(
            "{}/actions/T0PIPEWATCH/1/response-secret",
            self.server.url()
        )
    }

    /// A click's `trigger_id`, as Slack sends one: it opens one dialog, within 3 seconds.
    pub fn trigger_id(&self) -> String {
        let mut state = self.state.lock().unwrap();
        let id = format!(
            "{}.{}.fake",
            1_700_000_000 + state.triggers.len(),
            state.calls.len()
        );
        state.triggers.insert(id.clone(), (Instant::now(), false));
        id
    }

    /// What was posted to the `response_url`s, in order.
    pub fn responses(&self) -> Vec<Value> {
        self.state.lock().unwrap().responses.clone()
    }

    /// The user group `group` has these members (`usergroups.users.list`).
    pub fn set_group(&self, group: &str, users: &[&str]) {
        self.state.lock().unwrap().groups.insert(
            group.to_owned(),
            users.iter().map(|u| (*u).to_owned()).collect(),
        );
    }

    /// The next `count` calls of `method` are refused with `code` (`"429"`: rate limited
    /// with `Retry-After: 1`, `"429:N"` with `Retry-After: N`).
    pub fn fail_next(&self, method: &str, code: &str, count: usize) {
        let mut state = self.state.lock().unwrap();
        let queue = state.failures.entry(method.to_owned()).or_default();
        queue.extend(std::iter::repeat_n(code.to_owned(), count));
    }

    /// Every call from now on is refused with `token_revoked`.
    pub fn revoke(&self) {
        self.state.lock().unwrap().revoked = true;
    }

    /// The token works again (a new one installed under the same secret).
    pub fn restore(&self) {
        self.state.lock().unwrap().revoked = false;
    }

    /// At most `calls` calls per `window`, as Slack's tiers allow; 429 past that.
    pub fn limit(&self, calls: usize, window: Duration) {
        self.state.lock().unwrap().limit = Some((calls, window));
    }

    /// Deletes a message, as a person in the channel can.
    pub fn delete(&self, channel: &str, ts: &str) {
        self.state
            .lock()
            .unwrap()
            .messages
            .remove(&(channel.to_owned(), ts.to_owned()));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The messages in the channel: (ts, message), oldest first; thread replies included.
    pub fn messages(&self, channel: &str) -> Vec<(String, Value)> {
        self.state
            .lock()
            .unwrap()
            .messages
            .iter()
            .filter(|((c, _), _)| c == channel)
            .map(|((_, ts), message)| (ts.clone(), message.clone()))
            .collect()
    }

    /// The top-level messages in the channel (not thread replies), oldest first.
    pub fn top_level(&self, channel: &str) -> Vec<(String, Value)> {
        self.messages(channel)
            .into_iter()
            .filter(|(_, m)| m.get("thread_ts").is_none())
            .collect()
    }

    /// Successful top-level `chat.postMessage` calls.
    pub fn top_level_posts(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.ok && c.method == "chat.postMessage" && c.body.get("thread_ts").is_none())
            .count()
    }
}

fn respond(status: u16, body: &Value) -> Reply {
    Reply::Respond {
        status,
        content_type: "application/json; charset=utf-8",
        body: body.to_string().into_bytes(),
    }
}

fn refuse(code: &str) -> Reply {
    respond(200, &json!({"ok": false, "error": code}))
}

/// 429 with `Retry-After`, as Slack answers past a method's rate limit.
fn limited(retry_after: u64) -> Reply {
    let body = r#"{"ok":false,"error":"ratelimited"}"#;
    Reply::Raw(
        format!(
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: {retry_after}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

fn answer(state: &Mutex<State>, request: &Request) -> Reply {
    if request.path.starts_with("/actions/") {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        state.lock().unwrap().responses.push(body);
        return Reply::Respond {
            status: 200,
            content_type: "text/plain",
            body: b"ok".to_vec(),
        };
    }
    let method = request.path.trim_start_matches("/api/").to_owned();
    // Read methods take their arguments from a form only (a JSON body is not read); the
    // others a form or JSON.
    let form = request.header("content-type") == Some("application/x-www-form-urlencoded");
    let body: Value = if form {
        form_urlencoded::parse(&request.body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect::<serde_json::Map<_, _>>()
            .into()
    } else if method == "usergroups.users.list" {
        Value::Null
    } else {
        serde_json::from_slice(&request.body).unwrap_or(Value::Null)
    };
    let mut state = state.lock().unwrap();
    let (reply, ok) = decide(&mut state, &method, &body, request);
    state.calls.push(Call { method, body, ok });
    reply
}

fn decide(state: &mut State, method: &str, body: &Value, request: &Request) -> (Reply, bool) {
    if let Some((calls, window)) = state.limit {
        let now = Instant::now();
        let (start, count) = state.window.get_or_insert((now, 0));
        if now.duration_since(*start) >= window {
            *start = now;
            *count = 0;
        }
        *count += 1;
        if *count > calls {
            let wait = window
                .saturating_sub(now.duration_since(*start))
                .as_secs()
                .max(1);
            return (limited(wait), false);
        }
    }
    if request.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return (refuse("invalid_auth"), false);
    }
    if state.revoked {
        return (refuse("token_revoked"), false);
    }
    if let Some(code) = state.failures.get_mut(method).and_then(VecDeque::pop_front) {
        if let Some(wait) = code.strip_prefix("429") {
            return (
                limited(wait.trim_start_matches(':').parse().unwrap_or(1)),
                false,
            );
        }
        return (refuse(&code), false);
    }
    if method == "usergroups.users.list" {
        let Some(group) = body["usergroup"].as_str() else {
            return (refuse("invalid_arguments"), false);
        };
        return match state.groups.get(group) {
            Some(users) => (respond(200, &json!({"ok": true, "users": users})), true),
            None => (refuse("no_such_subteam"), false),
        };
    }
    if method == "views.open" {
        return open_view(state, body);
    }
    let Some(channel) = body["channel"].as_str().map(str::to_owned) else {
        return (refuse("channel_not_found"), false);
    };
    if body["text"].as_str().is_none_or(str::is_empty) && body.get("blocks").is_none() {
        return (refuse("no_text"), false);
    }
    match method {
        "chat.postMessage" => {
            state.posted += 1;
            let ts = format!("1700000000.{:06}", state.posted);
            state
                .messages
                .insert((channel.clone(), ts.clone()), body.clone());
            (
                respond(
                    200,
                    &json!({"ok": true, "channel": channel, "ts": ts, "message": body}),
                ),
                true,
            )
        }
        "chat.update" => {
            let ts = body["ts"].as_str().unwrap_or_default().to_owned();
            let key = (channel.clone(), ts.clone());
            if !state.messages.contains_key(&key) {
                return (refuse("message_not_found"), false);
            }
            // What an update leaves out stays as it was, blocks and attachments included.
            let mut message = state.messages[&key].clone();
            for (field, value) in body.as_object().into_iter().flatten() {
                if field != "ts" {
                    message[field] = value.clone();
                }
            }
            state.messages.insert(key, message);
            (
                respond(
                    200,
                    &json!({"ok": true, "channel": channel, "ts": ts, "text": body["text"]}),
                ),
                true,
            )
        }
        _ => (refuse("unknown_method"), false),
    }
}

/// `views.open`: a dialog, for a `trigger_id` this fake issued, once, within 3 seconds.
fn open_view(state: &mut State, body: &Value) -> (Reply, bool) {
    if !body["view"].is_object() {
        return (refuse("invalid_arguments"), false);
    }
    let trigger = body["trigger_id"].as_str().unwrap_or_default();
    match state.triggers.get_mut(trigger) {
        None => (refuse("invalid_trigger_id"), false),
        Some((_, true)) => (refuse("exchanged_trigger_id"), false),
        Some((issued, _)) if issued.elapsed() > Duration::from_secs(3) => {
            (refuse("expired_trigger_id"), false)
        }
        Some((_, used)) => {
            *used = true;
            (
                respond(200, &json!({"ok": true, "view": body["view"]})),
                true,
            )
        }
    }
}

/// Slack's `X-Slack-Signature` for `body` sent at `timestamp`, with the app's `secret`.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// An interaction's form body as Slack posts it: one field, `payload`, the JSON.
pub fn form(payload: &Value) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}
