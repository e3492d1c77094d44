//! `pipewatch config check` as a user runs it: a sound document named with what it
//! declares, every problem of every file as `FILE:LINE:COLUMN: REASON` and exit 1, a file
//! that cannot be read an error (exit 2). No AWS: the document is checked by the core.

use std::process::{Command, Output};

use pipewatch_testkit::fixtures::repository;

fn check(files: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipewatch"))
        .args(["config", "check"])
        .args(files)
        .current_dir(repository())
        .output()
        .unwrap()
}

#[test]
fn a_sound_document_passes_and_every_problem_of_a_bad_one_is_placed() {
    let sound = check(&["docs/examples/notifications.yaml"]);
    assert_eq!(sound.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(sound.stdout).unwrap(),
        "docs/examples/notifications.yaml: 4 destinations, 2 subscriptions\n"
    );

    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let bad = dir.join(format!("bad-{}.yaml", std::process::id()));
    std::fs::write(
        &bad,
        "version: 1\ndestinations:\n  ops:\n    type: slack\n    secret: xoxb-1234-SECRETTOKEN\n\
         subscriptions:\n  - pipelines: [\"*\"]\n    to: [opps]\n",
    )
    .unwrap();
    let bad = bad.display().to_string();
    let refused = check(&[&bad, "docs/examples/notifications.yaml"]);
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8(refused.stdout).unwrap();
    let lines: Vec<&str> = said.lines().collect();
    assert!(
        lines[0].starts_with(&format!(
            "{bad}:5:5: this line holds what looks like a Slack bot token under \"secret\""
        )),
        "{said}"
    );
    assert!(
        lines.contains(
            &format!("{bad}:8:10: no destination named \"opps\" (did you mean \"ops\"?)").as_str()
        ),
        "{said}"
    );
    assert_eq!(
        lines.last(),
        Some(&"docs/examples/notifications.yaml: 4 destinations, 2 subscriptions")
    );
    assert!(!said.contains("SECRETTOKEN"), "never the secret: {said}");

    let missing = check(&["no/such/file.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    let stderr = String::from_utf8(missing.stderr).unwrap();
    assert!(stderr.contains("cannot read no/such/file.yaml"), "{stderr}");
}

#[test]
fn explain_says_where_a_pipelines_notifications_go_and_why() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pipewatch"))
            .args(["config", "explain"])
            .args(args)
            .current_dir(repository())
            .output()
            .unwrap()
    };
    let said = run(&["docs/examples/notifications.yaml", "payments-api"]);
    assert_eq!(said.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(said.stdout).unwrap(),
        "payments-api's notifications go to payments-teams, payments-email, releases, on-call (by docs/examples/notifications.yaml)\n\
         \x20 subscription 1: \"payments-*\" selects it: payments-teams, payments-email\n\
         \x20 subscription 2: \"*\" selects it: releases, on-call\n"
    );
    let other = run(&[
        "docs/examples/notifications.yaml",
        "arn:aws:codepipeline:eu-west-1:111122223333:web",
    ]);
    let said = String::from_utf8(other.stdout).unwrap();
    assert!(
        said.starts_with(
            "arn:aws:codepipeline:eu-west-1:111122223333:web's notifications go nowhere"
        ),
        "{said}"
    );
    let unsound = run(&["Cargo.toml", "web"]);
    assert_eq!(unsound.status.code(), Some(2));
    assert!(
        String::from_utf8(unsound.stderr)
            .unwrap()
            .contains("is not a sound document")
    );
}

/// `pipewatch replay ARGS` in the repository; its output.
fn replay(args: &[&str]) -> Output {
    let files: Vec<String> = (1..=4)
        .map(|n| format!("events/pipeline-states/release-failure-retry/0{n}.json"))
        .collect();
    Command::new(env!("CARGO_BIN_EXE_pipewatch"))
        .arg("replay")
        .args(args)
        .args(&files)
        .current_dir(repository())
        .output()
        .unwrap()
}

#[test]
fn replay_prints_every_call_a_document_makes_naming_secrets_by_arn() {
    let said = replay(&[
        "--config",
        "docs/examples/notifications.yaml",
        "--format",
        "calls",
    ]);
    assert_eq!(said.status.code(), Some(0), "{said:?}");
    let calls: Vec<serde_json::Value> = String::from_utf8(said.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let to = |name: &str| -> Vec<&serde_json::Value> {
        calls.iter().filter(|c| c["destination"] == name).collect()
    };
    // web-app-release: the releases channel hears everything, the on-call its failures,
    // payments' Teams nothing.
    let (releases, on_call) = (to("releases"), to("on-call"));
    assert_eq!(releases.len() + on_call.len(), calls.len());
    assert!(releases.len() >= 3, "{calls:#?}");
    for call in &releases {
        let method = call["method"].as_str().unwrap();
        assert!(
            ["chat.postMessage", "chat.update"].contains(&method),
            "{call}"
        );
        assert_eq!(call["url"], format!("https://slack.com/api/{method}"));
        assert_eq!(call["body"]["channel"], "C0123456789");
    }
    assert_eq!(on_call.len(), 1, "the one failure: {on_call:#?}");
    assert_eq!(
        on_call[0]["url"],
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:pipewatch/on-call-AbCdEf"
    );
    assert_eq!(on_call[0]["method"], "POST");
    // The body is the forwarder's Slack rendering of that message.
    let slack = replay(&["--format", "slack"]);
    let failure = String::from_utf8(slack.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|body| body == &on_call[0]["body"]);
    assert!(failure.is_some(), "the on-call's body is a Slack rendering");

    // With the document, `slack` prints what its Slack webhooks get: that one failure.
    let routed = replay(&[
        "--config",
        "docs/examples/notifications.yaml",
        "--format",
        "slack",
    ]);
    let routed = String::from_utf8(routed.stdout).unwrap();
    assert_eq!(routed.lines().count(), 1, "{routed}");

    let alone = replay(&["--format", "calls"]);
    assert_eq!(alone.status.code(), Some(2));
    assert!(String::from_utf8(alone.stderr).unwrap().contains(
        "--format calls prints a notifications document's calls: give it with --config FILE"
    ));
}
