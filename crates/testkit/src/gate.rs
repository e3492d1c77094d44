//! Gates the fakes hold calls at, so that a test orders concurrent calls by what happened,
//! not by sleeping and hoping: the test waits until a call has arrived at the gate (it is
//! then under way, held), does what must overlap it, and opens the gate. No test passes
//! without the overlap it claims, and none flakes on a loaded machine.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long a test waits for a call to arrive before it fails: far longer than any call.
const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Default)]
struct State {
    open: bool,
    arrived: usize,
}

/// A gate: calls [`Gate::pass`] it once opened; until then they wait there.
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<State>, Condvar)>);

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Self::default()
    }

    /// For a fake: counts the call as arrived, then waits until the gate is open.
    pub fn pass(&self) {
        let (state, changed) = &*self.0;
        let mut state = state.lock().unwrap();
        state.arrived += 1;
        changed.notify_all();
        let deadline = Instant::now() + PATIENCE;
        while !state.open && Instant::now() < deadline {
            state = changed.wait_timeout(state, PATIENCE).unwrap().0;
        }
    }

    /// How many calls have arrived so far.
    pub fn arrived(&self) -> usize {
        self.0.0.lock().unwrap().arrived
    }

    /// Waits until `count` calls have arrived (held at the gate while it is closed).
    pub async fn until_arrived(&self, count: usize) {
        until(
            || self.arrived() >= count,
            &format!("{count} calls at the gate"),
        )
        .await;
    }

    /// Lets every held call, and every later one, through.
    pub fn open(&self) {
        let (state, changed) = &*self.0;
        state.lock().unwrap().open = true;
        changed.notify_all();
    }
}

/// Waits until `condition` holds, checking often; fails the test after [`PATIENCE`],
/// naming `what` it waited for.
pub async fn until(condition: impl Fn() -> bool, what: &str) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "waited {PATIENCE:?} for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
