//! What a build without AWS answers when asked for a command that needs it, and that the
//! build with AWS has them all.

use std::process::Command;

#[test]
fn every_live_command_is_listed_and_answers_in_words_without_aws() {
    let help = Command::new(env!("CARGO_BIN_EXE_pipewatch"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for command in ["replay", "check", "watch", "redrive"] {
        assert!(help.contains(&format!("  {command} ")), "{help}");
    }
    let asked = if cfg!(feature = "aws") {
        ["check", "--help"]
    } else {
        ["check", "--pipeline=web"]
    };
    let output = Command::new(env!("CARGO_BIN_EXE_pipewatch"))
        .args(asked)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    if cfg!(feature = "aws") {
        // scripts/test.sh also runs this file without the feature.
        assert!(output.status.success(), "{said}");
        assert!(said.contains("--pipeline <NAME|PATTERN|ARN>"), "{said}");
    } else {
        assert_eq!(output.status.code(), Some(2), "{said}");
        assert!(
            said.contains("`check` talks to AWS, and this pipewatch was built without it"),
            "{said}"
        );
    }
}
