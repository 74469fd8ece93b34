//! The `git-credential-bitbucket` binary: parse the command line, hand the process's stdin,
//! stdout and environment to the library, and turn errors into one line and an exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use git_credential_bitbucket::cli::{self, Cli, Command};
use git_credential_bitbucket::commands::{self, DEFAULT_URL};
use git_credential_bitbucket::gitconfig::{self, Scope};
use git_credential_bitbucket::prompt::SystemPrompter;
use git_credential_bitbucket::{Context, Error, Operation, run_operation, trace, unix_now};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let env = |name: &str| std::env::var(name).ok();
    trace::init(env("GIT_BITBUCKET_TRACE").as_deref());
    match run(cli.command, &env) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("git-credential-bitbucket: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn run(command: Command, env: &dyn Fn(&str) -> Option<String>) -> Result<(), Error> {
    let prompter = SystemPrompter::from_env(env, gitconfig::core_askpass);
    let ctx = Context {
        env,
        prompter: &prompter,
        stderr_is_terminal: std::io::stderr().is_terminal(),
        now: &unix_now,
    };
    let stdout = std::io::stdout();
    let operation = match command {
        Command::Get => Operation::Get,
        Command::Store => Operation::Store,
        Command::Erase => Operation::Erase,
        Command::Configure { system, urls } => {
            let helper = gitconfig::helper_value(env("PATH").as_deref());
            for line in gitconfig::configure(scope(system), &urls, &helper)? {
                eprintln!("set {line}");
            }
            return Ok(());
        }
        Command::Unconfigure { system, urls } => {
            for line in gitconfig::unconfigure(scope(system), &urls)? {
                eprintln!("removed {line}");
            }
            return Ok(());
        }
        Command::Login { url, method, user, bearer } => {
            let url = url.as_deref().unwrap_or(DEFAULT_URL);
            eprintln!("{}", commands::login(url, method, user.as_deref(), bearer, &ctx)?);
            return Ok(());
        }
        Command::Logout { url, user } => {
            eprintln!("{}", commands::logout(url.as_deref().unwrap_or(DEFAULT_URL), user.as_deref(), &ctx)?);
            return Ok(());
        }
        Command::List { json } => return commands::list(json, &ctx, &mut stdout.lock()),
        Command::Token { url, user } => {
            return commands::token(
                url.as_deref().unwrap_or(DEFAULT_URL),
                user.as_deref(),
                &ctx,
                &mut stdout.lock(),
            );
        }
        Command::Diagnose { url } => {
            let ok = commands::diagnose(url.as_deref().unwrap_or(DEFAULT_URL), &ctx, &mut stdout.lock())?;
            return if ok {
                Ok(())
            } else {
                Err(Error::SignIn("diagnose found problems (see above)".to_owned()))
            };
        }
        Command::Completions { shell } => {
            cli::completions(shell, &mut stdout.lock());
            return Ok(());
        }
        Command::GenerateMan { dir } => {
            for path in
                cli::generate_man(&dir).map_err(|e| Error::Usage(format!("{}: {e}", dir.display())))?
            {
                eprintln!("wrote {}", path.display());
            }
            return Ok(());
        }
        Command::Other(args) => {
            // Git may add operations; it always pipes stdin. A person at a terminal typed it.
            if std::io::stdin().is_terminal() {
                let name = args.first().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default();
                return Err(Error::Usage(format!(
                    "unknown command '{name}'; see git-credential-bitbucket --help"
                )));
            }
            return Ok(());
        }
    };
    let stdin = std::io::stdin();
    run_operation(operation, &mut stdin.lock(), &mut stdout.lock(), &ctx)
}

fn scope(system: bool) -> Scope {
    if system { Scope::System } else { Scope::Global }
}
