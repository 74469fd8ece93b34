//! The `git-credential-bitbucket` binary: parse the command line, hand the process's stdin,
//! stdout and environment to the library, and turn errors into one line and an exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use git_credential_bitbucket::cli::Cli;
use git_credential_bitbucket::prompt::SystemPrompter;
use git_credential_bitbucket::{Context, commands, trace, unix_now};

fn main() -> ExitCode {
    let cli = match Cli::from_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let env = |name: &str| std::env::var(name).ok();
    trace::init_from_env(&env);
    let prompter = SystemPrompter::from_env(&env);
    let ctx = Context {
        env: &env,
        prompter: &prompter,
        stderr_is_terminal: std::io::stderr().is_terminal(),
        now: &unix_now,
    };
    match commands::run(cli.command, &ctx) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("git-credential-bitbucket: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
