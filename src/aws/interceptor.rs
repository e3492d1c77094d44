//! An SDK interceptor on every AWS client: it times each attempt and counts the throttled
//! ones, by API, into a plain table ([`ApiFigures`]) that the Lambda's metrics
//! ([`crate::metrics`]) and `watch --stats` take after each tick. Retries and throttles
//! the code above the SDK never sees are counted here.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// Latency samples kept per API between flushes: one EMF value array holds at most 100.
pub const MAX_SAMPLES: usize = 100;

/// The calls made to one AWS API since the figures were last taken.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiFigures {
    pub calls: u64,
    pub throttles: u64,
    pub total_ms: f64,
    pub max_ms: f64,
    /// The first [`MAX_SAMPLES`] latencies, in milliseconds.
    pub samples: Vec<f64>,
}

static API_FIGURES: Mutex<BTreeMap<String, ApiFigures>> = Mutex::new(BTreeMap::new());

/// Counts one attempt at `api`.
pub fn record_call(api: &str, latency_ms: f64, throttled: bool) {
    let mut figures = API_FIGURES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // No allocation once an API has been seen: this runs for every call.
    if let Some(entry) = figures.get_mut(api) {
        entry.add(latency_ms, throttled);
    } else {
        let mut entry = ApiFigures::default();
        entry.add(latency_ms, throttled);
        figures.insert(api.to_owned(), entry);
    }
}

impl ApiFigures {
    fn add(&mut self, latency_ms: f64, throttled: bool) {
        self.calls += 1;
        self.throttles += u64::from(throttled);
        self.total_ms += latency_ms;
        self.max_ms = self.max_ms.max(latency_ms);
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push(latency_ms);
        }
    }
}

/// The figures since the last call, by API; the count starts again at zero.
pub fn take_api_figures() -> BTreeMap<String, ApiFigures> {
    std::mem::take(
        &mut *API_FIGURES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
}

/// An SDK interceptor that times every attempt and counts the throttled ones, by API.
/// Added to every client's configuration (see [`crate::aws`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiMetrics;

#[derive(Debug, Clone, Copy)]
struct AttemptStart(Instant);

impl Storable for AttemptStart {
    type Storer = StoreReplace<Self>;
}

impl Intercept for ApiMetrics {
    fn name(&self) -> &'static str {
        "pipewatch::ApiMetrics"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(AttemptStart(Instant::now()));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(AttemptStart(started)) = cfg.load::<AttemptStart>().copied() else {
            return Ok(());
        };
        let api = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
        let throttled = context.response().is_some_and(|response| {
            let status = response.status().as_u16();
            status == 429
                || (matches!(status, 400 | 503)
                    && response.body().bytes().is_some_and(names_throttling))
        });
        record_call(api, started.elapsed().as_secs_f64() * 1000.0, throttled);
        Ok(())
    }
}

/// Whether an error body names one of the AWS throttling codes (JSON or XML protocols).
fn names_throttling(body: &[u8]) -> bool {
    const CODES: [&[u8]; 5] = [
        b"Throttl",
        b"ProvisionedThroughputExceeded",
        b"RequestLimitExceeded",
        b"TooManyRequests",
        b"SlowDown",
    ];
    CODES
        .iter()
        .any(|code| body.windows(code.len()).any(|w| w == *code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_is_recognised_in_json_and_xml_error_bodies() {
        assert!(names_throttling(
            br#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"}"#
        ));
        assert!(names_throttling(
            b"<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>"
        ));
        assert!(names_throttling(br#"{"__type":"ThrottlingException"}"#));
        assert!(!names_throttling(
            br#"{"__type":"PipelineNotFoundException"}"#
        ));
    }
}
