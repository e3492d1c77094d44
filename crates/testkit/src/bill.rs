//! What a day of pipewatch costs: the billable units a simulated day caused (counted by
//! `benches/day.rs`, or computed from what it counted where no proxy can see), a price
//! table kept in one file with its date and region (`benches/prices.json`), and the cost
//! table of `docs/costs.md`, rendered from both. A test renders the table again from the
//! committed measurements, so the docs cannot drift from them.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// One simulated day's billable units, for one stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Day {
    pub pipelines: usize,
    pub runs_per_day: usize,
    /// CodePipeline's events trigger checks (`EventTrigger=yes`); else a 1-minute schedule.
    pub events: bool,
    /// A customer managed key encrypts the topics and queues (the template's default).
    pub managed_key: bool,
    /// Scheduled ticks and event invocations: Lambda requests.
    pub ticks: u64,
    pub event_invocations: u64,
    /// Billed milliseconds across the day: each invocation's own duration, measured, plus
    /// CodePipeline's round trips, computed (⌈checked / 8⌉ × 50 ms: the fake answers at
    /// once, AWS in ~50 ms).
    pub billed_ms: u64,
    pub memory_mb: u64,
    /// DynamoDB: read units (eventually consistent, 0.5 per item up to 4 KB) and write
    /// units (one per KB of each item written), from the requests' items.
    pub read_units: f64,
    pub write_units: u64,
    pub largest_item_bytes: u64,
    /// SNS: messages published (each up to 64 KB), and of them the ones the email
    /// subscription's default filter (failures and approvals) lets through.
    pub published: u64,
    pub emailed: u64,
    /// Computed: CodePipeline events EventBridge puts on the event queue (the run's state
    /// changes, ~6 per change seen), and SQS requests: those sends, Lambda's long polling
    /// of each queue with an event source (5 pollers, a 20 s wait each), one delete per
    /// event batch.
    pub events_sent: u64,
    pub sqs_requests: u64,
    /// 5-minute periods in which the function published (counted): SNS reuses a data key
    /// for up to 5 minutes, so it asks KMS at most twice a period for each publisher.
    pub publish_periods: u64,
    /// Computed with AWS's own formulas (a data key reused for 5 minutes): for SNS, 2 a
    /// period with a publish; for the event queue, 3 (its sender's 2, its receiver's 1) a
    /// period with events; for the table, 1 a period with requests.
    pub kms_requests: u64,
    /// Bytes the functions printed (measured), plus Lambda's own START/END/REPORT lines
    /// (computed, ~300 bytes an invocation).
    pub log_bytes: u64,
    /// Distinct metrics (name and dimensions) written in each hour, summed over the day,
    /// from the EMF lines the function printed.
    pub metric_hours: u64,
    /// The template's alarms with these settings (no forwarder).
    pub alarms: u64,
}

impl Day {
    /// `n` days like this one, or a day of `n` periods like this one: every count times
    /// `n` (the largest record, the memory and the alarms stay).
    #[must_use]
    pub fn repeated(&self, n: usize) -> Self {
        let k = n as u64;
        #[allow(clippy::cast_precision_loss)]
        let read_units = self.read_units * n as f64;
        Self {
            ticks: self.ticks * k,
            event_invocations: self.event_invocations * k,
            billed_ms: self.billed_ms * k,
            read_units,
            write_units: self.write_units * k,
            published: self.published * k,
            emailed: self.emailed * k,
            events_sent: self.events_sent * k,
            sqs_requests: self.sqs_requests * k,
            publish_periods: self.publish_periods * k,
            kms_requests: self.kms_requests * k,
            log_bytes: self.log_bytes * k,
            metric_hours: self.metric_hours * k,
            ..self.clone()
        }
    }
}

/// List prices, per unit, in one region at one date.
#[derive(Debug, Clone, Deserialize)]
pub struct Prices {
    pub date: String,
    pub region: String,
    pub lambda_per_million_requests: f64,
    pub lambda_per_gb_second: f64,
    pub dynamodb_per_million_write_units: f64,
    pub dynamodb_per_million_read_units: f64,
    pub sns_per_million_publishes: f64,
    pub sns_per_100k_emails: f64,
    pub sqs_per_million_requests: f64,
    pub kms_per_key_month: f64,
    pub kms_per_10k_requests: f64,
    pub logs_per_gb_ingested: f64,
    pub metric_per_month: f64,
    pub alarm_per_month: f64,
    pub hours_per_month: f64,
    pub days_per_month: f64,
    /// S3's GET requests (a conditional one answered 304 included).
    pub s3_per_1k_get_requests: f64,
    /// SNS's deliveries to HTTPS endpoints (AWS Chatbot's).
    pub sns_per_million_https: f64,
}

/// A month's cost of a day like `day`, by line, in dollars.
pub fn month(day: &Day, prices: &Prices) -> Vec<(&'static str, f64)> {
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let per_month = |n: u64| n as f64 * prices.days_per_month;
    let invocations = per_month(day.ticks + day.event_invocations);
    #[allow(clippy::cast_precision_loss)]
    let gb_seconds = per_month(day.billed_ms) / 1000.0 * day.memory_mb as f64 / 1024.0;
    vec![
        (
            "Lambda",
            invocations / 1e6 * prices.lambda_per_million_requests
                + gb_seconds * prices.lambda_per_gb_second,
        ),
        (
            "DynamoDB",
            per_month(day.write_units) / 1e6 * prices.dynamodb_per_million_write_units
                + day.read_units * prices.days_per_month / 1e6
                    * prices.dynamodb_per_million_read_units,
        ),
        (
            "SNS",
            per_month(day.published) / 1e6 * prices.sns_per_million_publishes
                + per_month(day.emailed) / 1e5 * prices.sns_per_100k_emails,
        ),
        (
            "SQS",
            per_month(day.sqs_requests) / 1e6 * prices.sqs_per_million_requests,
        ),
        (
            "KMS",
            if day.managed_key {
                prices.kms_per_key_month
            } else {
                0.0
            } + per_month(day.kms_requests) / 1e4 * prices.kms_per_10k_requests,
        ),
        (
            "CloudWatch logs",
            per_month(day.log_bytes) / 1e9 * prices.logs_per_gb_ingested,
        ),
        (
            "CloudWatch metrics",
            per_month(day.metric_hours) / prices.hours_per_month * prices.metric_per_month,
        ),
        (
            "CloudWatch alarms",
            #[allow(clippy::cast_precision_loss)]
            {
                day.alarms as f64 * prices.alarm_per_month
            },
        ),
    ]
}

/// `day` with the lean setting (`Encryption=aws-managed`): no customer managed key; SNS
/// still asks KMS for the AWS managed key's data keys (2 a period with a publish), the
/// queues' SQS-managed encryption and the table's AWS owned key ask nothing. The work is
/// the same, so the other units are.
pub fn lean(day: &Day) -> Day {
    Day {
        managed_key: false,
        kms_requests: 2 * day.publish_periods,
        ..day.clone()
    }
}

/// A column's name: `20 pipelines, events`, `..., lean`.
fn column(day: &Day) -> String {
    format!(
        "{} pipelines, {}{}",
        day.pipelines,
        if day.events { "events" } else { "no events" },
        if day.managed_key { "" } else { ", lean" }
    )
}

/// The docs' cost table: one column per day (in the order given), one row per line, and
/// the total; dollars a month.
pub fn table(days: &[Day], prices: &Prices) -> String {
    let months: Vec<Vec<(&str, f64)>> = days.iter().map(|d| month(d, prices)).collect();
    let mut out = String::from("| a month |");
    for day in days {
        let _ = write!(out, " {} |", column(day));
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(days.len()));
    out.push('\n');
    for (row, (name, _)) in months[0].iter().enumerate() {
        let _ = write!(out, "| {name} |");
        for lines in &months {
            let _ = write!(out, " ${:.2} |", lines[row].1);
        }
        out.push('\n');
    }
    out.push_str("| **total** |");
    for lines in &months {
        let total: f64 = lines.iter().map(|(_, cost)| cost).sum();
        let _ = write!(out, " **${total:.2}** |");
    }
    out.push('\n');
    out
}

/// The billable units of a month like `day`, in words: what the table multiplies.
pub fn units(days: &[Day]) -> String {
    let mut out = String::from(
        "| a day | invocations | billed s | DynamoDB write / read units | largest record | published / emailed | SQS requests | KMS requests | log MB | metric-hours | alarms |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for d in days {
        #[allow(clippy::cast_precision_loss)]
        let log_mb = d.log_bytes as f64 / 1e6;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} / {:.0} | {} B | {} / {} | {} | {} | {log_mb:.1} | {} | {} |",
            column(d),
            d.ticks + d.event_invocations,
            d.billed_ms / 1000,
            d.write_units,
            d.read_units,
            d.largest_item_bytes,
            d.published,
            d.emailed,
            d.sqs_requests,
            d.kms_requests,
            d.metric_hours,
            d.alarms,
        );
    }
    out
}

/// The notifications document's reads in a day like `day`, at most: the forwarder asks
/// S3 at most once a minute, and only in a minute it runs, which a published message
/// starts; the day's messages fall in its 5-minute periods with a publish (counted), so
/// in at most 5 minutes each.
pub fn document_reads(day: &Day) -> u64 {
    day.published.min(5 * day.publish_periods)
}

/// What the notifications document adds to each day's month: its reads, at most, and
/// what each topic destination costs: an email one of failures and approvals (the
/// messages the stack's default email filter passes: publishes and emails), a Chatbot one
/// of everything (publishes and HTTPS deliveries).
pub fn document(days: &[Day], prices: &Prices) -> String {
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let month = |n: u64| n as f64 * prices.days_per_month;
    let each = |count: &dyn Fn(&Day) -> u64, cost: &dyn Fn(u64) -> f64| -> Vec<(u64, f64)> {
        days.iter()
            .map(|day| (count(day), cost(count(day))))
            .collect()
    };
    let publish = prices.sns_per_million_publishes / 1e6;
    let rows = [
        (
            "S3 GETs a day, at most",
            each(&document_reads, &|n| {
                month(n) / 1000.0 * prices.s3_per_1k_get_requests
            }),
        ),
        (
            "an email destination (failures, approvals): messages a day",
            each(&|day| day.emailed, &|n| {
                month(n) * (publish + prices.sns_per_100k_emails / 1e5)
            }),
        ),
        (
            "a Chatbot destination (everything): messages a day",
            each(&|day| day.published, &|n| {
                month(n) * (publish + prices.sns_per_million_https / 1e6)
            }),
        ),
    ];
    let mut out = String::from("| with the document |");
    for day in days {
        let _ = write!(out, " {} |", column(day));
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(days.len()));
    for (label, columns) in rows {
        let _ = write!(out, "\n| {label} |");
        for (count, _) in &columns {
            let _ = write!(out, " {count} |");
        }
        out.push_str("\n| a month |");
        for (_, cost) in &columns {
            let _ = write!(out, " ${cost:.3} |");
        }
    }
    out.push('\n');
    out
}

/// The measured part of docs/costs.md: the units of each day, and what a month of them
/// costs at `prices`.
pub fn section(days: &[Day], prices: &Prices) -> String {
    // The lean setting beside the smallest stack with events.
    let mut columns = days.to_vec();
    if let Some(first) = days.first() {
        columns.insert(1, lean(first));
    }
    format!(
        "Measured with `./scripts/cost.sh` ({} runs a pipeline a day), priced at {} list prices of {}:\n\n{}\n{}\n{}",
        days.first().map_or(0, |d| d.runs_per_day),
        prices.region,
        prices.date,
        table(&columns, prices),
        units(days),
        document(days, prices),
    )
}

/// The markers around the measured part of docs/costs.md.
pub const BEGIN: &str = "<!-- measured by scripts/cost.sh: begin -->\n";
pub const END: &str = "<!-- measured by scripts/cost.sh: end -->\n";

/// `doc` with its measured part replaced by `section`.
pub fn with_section(doc: &str, section: &str) -> String {
    let start = doc.find(BEGIN).expect("the doc has the begin marker") + BEGIN.len();
    let end = doc.find(END).expect("the doc has the end marker");
    format!("{}{section}{}", &doc[..start], &doc[end..])
}

/// The size DynamoDB bills an item by: each attribute's name and value, in the wire
/// format's JSON (`{"S": ...}`, `{"N": ...}`, `{"B": base64}`, maps and lists).
pub fn item_size(item: &serde_json::Map<String, serde_json::Value>) -> u64 {
    item.iter()
        .map(|(name, value)| name.len() as u64 + value_size(value))
        .sum()
}

fn value_size(value: &serde_json::Value) -> u64 {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    match (kind.as_str(), inner) {
        ("S", serde_json::Value::String(s)) => s.len() as u64,
        // Numbers: about one byte per two digits, plus one.
        ("N", serde_json::Value::String(n)) => (n.len() as u64).div_ceil(2) + 1,
        // Binary: its decoded length (base64 holds 3 bytes in 4 characters).
        ("B", serde_json::Value::String(b)) => (b.trim_end_matches('=').len() as u64) * 3 / 4,
        ("M", serde_json::Value::Object(map)) => 3 + item_size(map) + map.len() as u64,
        ("L", serde_json::Value::Array(list)) => {
            3 + list.iter().map(|v| value_size(v) + 1).sum::<u64>()
        }
        _ => 1, // BOOL, NULL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_period_counts_every_unit_again_but_not_the_stack() {
        let day: Day = serde_json::from_value(serde_json::json!({
            "pipelines": 20, "runs_per_day": 4, "events": true, "managed_key": true,
            "ticks": 72, "event_invocations": 100, "billed_ms": 9000, "memory_mb": 128,
            "read_units": 1.5, "write_units": 400, "largest_item_bytes": 2700,
            "published": 100, "emailed": 20, "events_sent": 600, "sqs_requests": 6000,
            "publish_periods": 30, "kms_requests": 300, "log_bytes": 100_000,
            "metric_hours": 1, "alarms": 8
        }))
        .unwrap();
        let expected: Day = serde_json::from_value(serde_json::json!({
            "pipelines": 20, "runs_per_day": 4, "events": true, "managed_key": true,
            "ticks": 288, "event_invocations": 400, "billed_ms": 36000, "memory_mb": 128,
            "read_units": 6.0, "write_units": 1600, "largest_item_bytes": 2700,
            "published": 400, "emailed": 80, "events_sent": 2400, "sqs_requests": 24000,
            "publish_periods": 120, "kms_requests": 1200, "log_bytes": 400_000,
            "metric_hours": 4, "alarms": 8
        }))
        .unwrap();
        assert_eq!(day.repeated(4), expected);
    }

    #[test]
    fn the_document_is_read_once_a_minute_the_forwarder_runs_at_most() {
        let day = |published: u64, publish_periods: u64| Day {
            published,
            publish_periods,
            ..serde_json::from_value(serde_json::json!({
                "pipelines": 20, "runs_per_day": 4, "events": true, "managed_key": true,
                "ticks": 0, "event_invocations": 0, "billed_ms": 0, "memory_mb": 128,
                "read_units": 0.0, "write_units": 0, "largest_item_bytes": 0,
                "published": 0, "emailed": 0, "events_sent": 0, "sqs_requests": 0,
                "publish_periods": 0, "kms_requests": 0, "log_bytes": 0,
                "metric_hours": 0, "alarms": 8
            }))
            .unwrap()
        };
        assert_eq!(document_reads(&day(340, 212)), 340, "a read per message");
        assert_eq!(document_reads(&day(8500, 284)), 1420, "a read per minute");
        let prices: Prices = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../benches/prices.json"
            ))
            .unwrap(),
        )
        .unwrap();
        let table = document(&[day(8500, 284)], &prices);
        assert!(
            table.contains("| 1420 |") && table.contains("| $0.017 |"),
            "{table}"
        );
        // 8,500 messages a day to Chatbot: 255,000 a month, $0.50 + $0.60 a million.
        assert!(
            table.contains("| a Chatbot destination (everything): messages a day | 8500 |\n| a month | $0.281 |"),
            "{table}"
        );
    }

    #[test]
    fn an_item_is_sized_as_dynamodb_bills_it() {
        let item = serde_json::json!({
            "pipeline": {"S": "web"},          // 8 + 3
            "version": {"N": "41"},            // 7 + 2
            "snapshot": {"B": "AAECAwQF"},     // 8 + 6
            "health": {"M": {"n": {"N": "1"}}} // 6 + 3 + (1 + 2) + 1
        });
        assert_eq!(item_size(item.as_object().unwrap()), 11 + 9 + 14 + 13);
    }
}
