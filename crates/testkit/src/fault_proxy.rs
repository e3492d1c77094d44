//! An HTTP proxy in front of a real emulator that can answer with failures instead:
//! SNS throttling, DynamoDB throttling, 500s, or no answer at all; or play a lagging
//! DynamoDB replica for eventually consistent reads. The SDK client points at the proxy;
//! everything not faulted reaches DynamoDB Local or moto unchanged.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::http::{Reply, Request, Server, forward};

/// What the proxy does with a request.
#[derive(Debug, Clone)]
pub enum Fault {
    Forward,
    /// Answer with this status and body instead of forwarding.
    Respond {
        status: u16,
        content_type: &'static str,
        body: String,
    },
    /// Never answer: the caller's own timeout (or cancellation) is all that ends it.
    Hang,
}

impl Fault {
    /// SNS's awsQuery throttling error, which the SDK retries and then reports.
    pub fn sns_throttling() -> Self {
        Self::Respond {
            status: 400,
            content_type: "text/xml",
            body: "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fault</RequestId></ErrorResponse>".into(),
        }
    }

    /// DynamoDB's throttling error.
    pub fn dynamodb_throttling() -> Self {
        Self::Respond {
            status: 400,
            content_type: "application/x-amz-json-1.0",
            body: r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Throughput exceeds the current capacity for one or more global secondary indexes."}"#.into(),
        }
    }

    /// An SNS error for the whole call, as AWS words it (`KMSDisabled`,
    /// `InvalidParameter`, `AuthorizationError`, ...): sender faults, not retried.
    pub fn sns_error(code: &str) -> Self {
        Self::Respond {
            status: if code == "AuthorizationError" {
                403
            } else {
                400
            },
            content_type: "text/xml",
            body: format!(
                "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{code} (from the fault proxy)</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
            ),
        }
    }

    pub fn server_error() -> Self {
        Self::Respond {
            status: 500,
            content_type: "text/plain",
            body: "internal error".into(),
        }
    }
}

struct Plan {
    /// Requests whose body contains the text meet the fault, whatever else is planned.
    rules: Vec<(String, Fault)>,
    queue: VecDeque<Fault>,
    otherwise: Fault,
    faulted: usize,
    forwarded: usize,
    /// Requests received, by operation (the JSON protocols' `X-Amz-Target`, `Service.Op`'s
    /// `Op`; the query protocols' `Action=` parameter), faulted ones included.
    operations: HashMap<String, usize>,
    /// Lagging replica: the last answer to each eventually consistent `BatchGetItem`
    /// request body, given to the next identical request instead of the fresh one.
    stale: Option<HashMap<Vec<u8>, Vec<u8>>>,
    stale_answers: usize,
    /// Told every request's operation and body, as it arrives.
    observer: Option<Observer>,
}

type Observer = Arc<dyn Fn(&str, &[u8]) + Send + Sync>;

pub struct FaultProxy {
    plan: Arc<Mutex<Plan>>,
    server: Server,
}

impl FaultProxy {
    pub fn start(upstream: &str) -> Self {
        let plan = Arc::new(Mutex::new(Plan {
            rules: Vec::new(),
            queue: VecDeque::new(),
            otherwise: Fault::Forward,
            faulted: 0,
            forwarded: 0,
            operations: HashMap::new(),
            stale: None,
            stale_answers: 0,
            observer: None,
        }));
        let shared = Arc::clone(&plan);
        let upstream = upstream.to_owned();
        let server = Server::start(move |request: &Request| {
            let fault = {
                let mut plan = shared.lock().unwrap();
                let body = String::from_utf8_lossy(&request.body);
                let operation = operation(request);
                if let Some(observer) = &plan.observer {
                    observer(&operation, &request.body);
                }
                *plan.operations.entry(operation).or_default() += 1;
                let ruled = plan
                    .rules
                    .iter()
                    .find(|(text, _)| body.contains(text.as_str()))
                    .map(|(_, fault)| fault.clone());
                let fault = ruled.unwrap_or_else(|| {
                    plan.queue
                        .pop_front()
                        .unwrap_or_else(|| plan.otherwise.clone())
                });
                match fault {
                    Fault::Forward => plan.forwarded += 1,
                    _ => plan.faulted += 1,
                }
                fault
            };
            match fault {
                Fault::Forward => match forward(&upstream, request) {
                    Ok(bytes) => Reply::Raw(lag(&shared, request, bytes)),
                    Err(e) => Reply::Respond {
                        status: 502,
                        content_type: "text/plain",
                        body: e.to_string().into_bytes(),
                    },
                },
                Fault::Respond {
                    status,
                    content_type,
                    body,
                } => Reply::Respond {
                    status,
                    content_type,
                    body: body.into_bytes(),
                },
                Fault::Hang => Reply::Hang,
            }
        });
        Self { plan, server }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Every request from now on meets `fault` (until [`FaultProxy::heal`]).
    pub fn always(&self, fault: Fault) {
        let mut plan = self.plan.lock().unwrap();
        plan.queue.clear();
        plan.otherwise = fault;
    }

    /// Every request whose body contains `text` meets `fault` from now on; others are
    /// handled as planned. (An SNS request names its messages' pipelines.)
    pub fn when_body_contains(&self, text: &str, fault: Fault) {
        self.plan
            .lock()
            .unwrap()
            .rules
            .push((text.to_owned(), fault));
    }

    /// Removes every rule made with [`FaultProxy::when_body_contains`].
    pub fn clear_rules(&self) {
        self.plan.lock().unwrap().rules.clear();
    }

    /// The next request meets `fault`; later ones are handled as before.
    pub fn once(&self, fault: Fault) {
        self.plan.lock().unwrap().queue.push_back(fault);
    }

    /// `observer` is told each request's operation and body from now on (to count what
    /// the calls are billed by: an item's size, a batch's entries).
    pub fn observe(&self, observer: impl Fn(&str, &[u8]) + Send + Sync + 'static) {
        self.plan.lock().unwrap().observer = Some(Arc::new(observer));
    }

    /// Requests forwarded to the emulator so far.
    pub fn forwarded(&self) -> usize {
        self.plan.lock().unwrap().forwarded
    }

    /// Forward everything again.
    pub fn heal(&self) {
        self.always(Fault::Forward);
    }

    /// From now on, an eventually consistent `BatchGetItem` is answered with what the
    /// emulator said to the previous identical request (a replica a whole request behind,
    /// far more than DynamoDB's usual lag of a second); the first one, fresh.
    pub fn lag_batch_reads(&self) {
        self.plan.lock().unwrap().stale = Some(HashMap::new());
    }

    /// `BatchGetItem` requests answered with an older answer so far.
    pub fn stale_answers(&self) -> usize {
        self.plan.lock().unwrap().stale_answers
    }

    /// Requests answered with a fault so far.
    pub fn faulted(&self) -> usize {
        self.plan.lock().unwrap().faulted
    }

    /// Requests for `operation` (`BatchGetItem`, `PublishBatch`, ...) received so far.
    pub fn operations(&self, operation: &str) -> usize {
        self.plan
            .lock()
            .unwrap()
            .operations
            .get(operation)
            .copied()
            .unwrap_or(0)
    }
}

/// The operation a request asks for: `DynamoDB_20120810.BatchGetItem` → `BatchGetItem`,
/// or a query protocol's `Action=PublishBatch`.
fn operation(request: &Request) -> String {
    if let Some(target) = request.header("x-amz-target") {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    String::from_utf8_lossy(&request.body)
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .unwrap_or("unknown")
        .to_owned()
}

/// What a lagging replica answers to `request`, given the emulator's fresh answer.
fn lag(plan: &Mutex<Plan>, request: &Request, fresh: Vec<u8>) -> Vec<u8> {
    let batch_read = request.header("x-amz-target") == Some("DynamoDB_20120810.BatchGetItem")
        && !String::from_utf8_lossy(&request.body).contains("\"ConsistentRead\":true");
    let mut plan = plan.lock().unwrap();
    let Plan {
        stale: Some(answers),
        stale_answers,
        ..
    } = &mut *plan
    else {
        return fresh;
    };
    if !batch_read {
        return fresh;
    }
    match answers.insert(request.body.clone(), fresh.clone()) {
        Some(older) => {
            *stale_answers += 1;
            older
        }
        None => fresh,
    }
}
