//! Invariants of the core over generated observations:
//! an observation never differs from itself, diff never panics, and what we serialise
//! parses back to the same observation.

use std::collections::BTreeSet;

use pipewatch_core::change::Change;
use pipewatch_core::diff::{diff, essentials, essentials_since};
use pipewatch_core::render::{record::ChangeRecord, text};
use pipewatch_core::state::{
    ActionExecution, ActionState, ConditionExecution, ErrorDetails, PipelineState, Revision,
    StageConditionState, StageExecution, StageState, Status, Timestamp, TransitionState,
};
use proptest::collection::{btree_set, vec};
use proptest::option::of;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Few distinct values, so that two generated observations share names and ids often.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![Just("A"), Just("B"), Just("C"), Just("Deploy")].prop_map(String::from)
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just("InProgress"),
        Just("Succeeded"),
        Just("Failed"),
        Just("Stopped"),
        Just("SomethingNew"),
    ]
    .prop_map(Status::new)
}

fn text_value() -> impl Strategy<Value = String> {
    any::<String>()
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (-62_167_219_200_000_i64..=253_402_300_799_999)
        .prop_map(|ms| Timestamp::from_unix_millis(ms).unwrap())
}

fn stage_execution() -> impl Strategy<Value = StageExecution> {
    (name(), status(), of(Just("STANDARD".to_owned()))).prop_map(|(id, status, execution_type)| {
        StageExecution {
            pipeline_execution_id: id,
            status,
            execution_type,
        }
    })
}

fn action(name: String) -> impl Strategy<Value = ActionState> {
    let execution = (
        of(name_id()),
        of(status()),
        of(text_value()),
        of(timestamp()),
        any::<bool>(),
        of(0_i64..=100),
        of((of(text_value()), of(text_value()))),
    )
        .prop_map(
            |(id, status, summary, changed, token_present, percent, error)| ActionExecution {
                action_execution_id: id,
                status,
                summary,
                last_status_change: changed,
                token_present,
                percent_complete: percent,
                error_details: error.map(|(code, message)| ErrorDetails { code, message }),
                ..ActionExecution::default()
            },
        );
    (of(execution), of(timestamp())).prop_map(move |(latest_execution, created)| ActionState {
        action_name: name.clone(),
        current_revision: created.map(|created| Revision {
            revision_id: Some("r".into()),
            revision_change_id: None,
            created: Some(created),
        }),
        latest_execution,
        entity_url: None,
        revision_url: None,
    })
}

fn name_id() -> impl Strategy<Value = String> {
    prop_oneof![Just("x1"), Just("x2"), Just("x3")].prop_map(String::from)
}

fn condition() -> impl Strategy<Value = StageConditionState> {
    (of(status()), of(text_value())).prop_map(|(status, summary)| StageConditionState {
        latest_execution: Some(ConditionExecution {
            status,
            summary,
            last_status_change: None,
        }),
        condition_states: Vec::new(),
    })
}

fn stage(name: String) -> impl Strategy<Value = StageState> {
    (
        btree_set(self::name(), 0..4),
        of(stage_execution()),
        vec(stage_execution(), 0..3),
        of((of(any::<bool>()), of(text_value()), of(timestamp()))),
        of(stage_execution()),
        of(condition()),
        of(condition()),
    )
        .prop_flat_map(
            move |(actions, inbound, inbound_list, transition, latest, before, after)| {
                let actions: Vec<_> = actions.into_iter().map(action).collect();
                let name = name.clone();
                actions.prop_map(move |action_states| StageState {
                    stage_name: name.clone(),
                    inbound_execution: inbound.clone(),
                    inbound_executions: inbound_list.clone(),
                    inbound_transition_state: transition.clone().map(|(enabled, reason, at)| {
                        TransitionState {
                            enabled,
                            last_changed_by: None,
                            last_changed_at: at,
                            disabled_reason: reason,
                        }
                    }),
                    action_states,
                    latest_execution: latest.clone(),
                    before_entry_condition_state: before.clone(),
                    on_success_condition_state: after.clone(),
                    on_failure_condition_state: None,
                    retry_stage_metadata: None,
                })
            },
        )
}

/// A valid observation: stage names unique, action names unique per stage.
fn observation() -> impl Strategy<Value = PipelineState> {
    (btree_set(name(), 0..4), of(1_i64..5), of(timestamp())).prop_flat_map(
        |(stages, version, updated): (BTreeSet<String>, _, _)| {
            let stages: Vec<_> = stages.into_iter().map(stage).collect();
            stages.prop_map(move |stage_states| PipelineState {
                pipeline_name: "web".into(),
                pipeline_version: version,
                created: None,
                updated,
                stage_states,
            })
        },
    )
}

proptest! {
    // A failing case is saved next to this file (tests/properties.regressions), to commit
    // so that it is tried first from then on. The default looks for a lib.rs beside us.
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn an_observation_never_differs_from_itself(state in observation()) {
        prop_assert!(diff(&state, &state).is_empty());
    }

    #[test]
    fn diff_never_panics_and_every_change_renders(a in observation(), b in observation()) {
        for change in diff(&a, &b) {
            let line = text::line(&b.pipeline_name, &change);
            prop_assert!(!line.contains('\n'));
            let record = serde_json::to_value(ChangeRecord::new(&b.pipeline_name, &change)).unwrap();
            prop_assert_eq!(record["kind"].as_str(), Some(change.kind().as_str()));
        }
    }

    #[test]
    fn diff_never_panics_even_on_duplicated_names(
        a in observation(), b in observation(), duplicate in any::<bool>()
    ) {
        let mut b = b;
        if duplicate && !b.stage_states.is_empty() {
            let copy = b.stage_states[0].clone();
            b.stage_states.push(copy);
        }
        let _ = diff(&a, &b);
        let _ = diff(&b, &a);
    }

    #[test]
    fn parsing_what_we_serialise_gives_the_same_observation(state in observation()) {
        let json = serde_json::to_vec(&state).unwrap();
        prop_assert_eq!(PipelineState::from_json(&json).unwrap(), state);
    }

    #[test]
    fn a_snapshot_of_the_essentials_diffs_exactly_like_the_full_observation(
        a in observation(), b in observation()
    ) {
        prop_assert_eq!(diff(&essentials(&a), &b), diff(&a, &b));
    }

    #[test]
    fn remembered_start_times_change_what_a_change_says_never_whether_it_is_one(
        earlier in observation(), a in observation(), b in observation()
    ) {
        // The tick's snapshot after `earlier` then `a` carries start times `a` alone lacks.
        let remembered = essentials_since(&essentials(&earlier), &a);
        let without_starts = |changes: Vec<Change>| -> Vec<Change> {
            changes
                .into_iter()
                .map(|mut change| {
                    if let Change::Action { started_at, .. } = &mut change {
                        *started_at = None;
                    }
                    change
                })
                .collect()
        };
        prop_assert_eq!(without_starts(diff(&remembered, &b)), without_starts(diff(&a, &b)));
    }

    #[test]
    fn every_change_names_a_stage_of_the_current_observation(
        a in observation(), b in observation()
    ) {
        for change in diff(&a, &b) {
            if let Some(stage) = change.stage() {
                prop_assert!(b.stage(stage).is_some(), "{change:?}");
            }
        }
    }
}
