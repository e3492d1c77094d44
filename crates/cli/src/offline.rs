//! `check`, `watch` and `redrive` in a build without the `aws` feature: still listed, so
//! that asking for one says in words what this build lacks, instead of "unrecognized
//! subcommand".

use clap::Subcommand;

/// What this build would need AWS for.
#[derive(Subcommand)]
pub enum Command {
    /// Check live pipelines once (needs a build with the `aws` feature, the default).
    Check(Rest),
    /// Check live pipelines until Ctrl-C (needs a build with the `aws` feature).
    Watch(Rest),
    /// Publish dead letters to the topic again (needs a build with the `aws` feature).
    Redrive(Rest),
}

/// Whatever was given after the command: not read.
#[derive(clap::Args)]
pub struct Rest {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    args: Vec<String>,
}

// By value, as the AWS build's `run` takes it.
#[allow(clippy::needless_pass_by_value)]
pub fn run(command: Command) -> anyhow::Result<()> {
    let name = match command {
        Command::Check(_) => "check",
        Command::Watch(_) => "watch",
        Command::Redrive(_) => "redrive",
    };
    anyhow::bail!(
        "`{name}` talks to AWS, and this pipewatch was built without it (--no-default-features); \
         build it with the default features: cargo install --path crates/cli"
    )
}
