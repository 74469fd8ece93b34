//! Git's three operations (`get`, `store`, `erase`) on one credential: read it, find who
//! serves it with which settings, carry the operation out, answer. Also the one way an
//! [`Authenticator`](crate::auth::Authenticator) is built, for the commands and
//! [`TokenRequest`](crate::access::TokenRequest) alike.

use std::io::{BufRead, Write};

use crate::auth::{self, Context};
use crate::error::{Error, Failure};
use crate::protocol::Credential;
use crate::recognized::RecognizedHosts;
use crate::{settings, store, target};

/// A helper operation from git.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Answer a credential.
    Get,
    /// Keep a credential the server accepted.
    Store,
    /// Forget a credential the server rejected.
    Erase,
}

/// What [`run_operation_with`] takes from its caller instead of the process: settings and a
/// store (tests, programs that embed the helper).
#[derive(Default)]
pub struct Overrides<'s> {
    /// Settings by their git config name without `credential.` (e.g. `("provider",
    /// "bitbucket")`); they win over git config and the environment.
    pub settings: Vec<(String, String)>,
    /// Do not read git config at all (only the environment and `settings` apply).
    pub skip_git_config: bool,
    /// Keep secrets here instead of the configured store.
    pub store: Option<&'s dyn store::SecretStore>,
}

/// Read the settings for `cred` (in the process, or one `git config` call; none when skipped),
/// decide who serves it, and build the authenticator. `None` when the host is not one this
/// helper serves.
fn authenticator_for<'a>(
    cred: &Credential,
    ctx: &'a Context<'a>,
    overrides: &'a Overrides<'a>,
) -> Result<Option<auth::Authenticator<'a>>, Failure> {
    let Some(url) = target::matching_url(cred) else { return Ok(None) };
    let raw = settings_for(&url, ctx.env, overrides)?;
    authenticator_with(cred, &raw, ctx, overrides.store)
}

/// The settings for `url`: git config (URL-matched, unless skipped) and the environment, then
/// the settings a program gave, which win.
pub(crate) fn settings_for(
    url: &str,
    env: &dyn Fn(&str) -> Option<String>,
    overrides: &Overrides,
) -> Result<settings::RawSettings, Failure> {
    let mut raw = match overrides.skip_git_config {
        true => settings::RawSettings::from_git_output(b"", env),
        false => settings::RawSettings::load(url, env)?,
    };
    for (name, value) in &overrides.settings {
        if !raw.set(name, value) {
            return Err(Failure::Usage(format!("{name} is not a setting (see docs/configuration.md)")));
        }
    }
    Ok(raw)
}

/// The one way an authenticator is built (for git's operations, the commands and the
/// library): who serves `cred` with these settings, and the store — `store` when given, else
/// the one the settings name. `None` when the host is not one this helper serves.
pub(crate) fn authenticator_with<'a>(
    cred: &Credential,
    raw: &settings::RawSettings,
    ctx: &'a Context<'a>,
    store: Option<&'a dyn store::SecretStore>,
) -> Result<Option<auth::Authenticator<'a>>, Failure> {
    let Some((target, settings)) = target::resolve(cred, raw)? else { return Ok(None) };
    // The store is chosen before anything is remembered: an unknown `credentialStore`, or a
    // store whose place is unknown, fails like any other setting, with nothing touched.
    let store: Box<dyn store::SecretStore + 'a> = match store {
        Some(store) => {
            store::check_name(&settings.store)?;
            Box::new(store)
        }
        None => store::open(&settings.store)?,
    };
    if target.realm_announced {
        RecognizedHosts::new(&settings.paths).remember(&target.origin());
    }
    Ok(Some(auth::Authenticator::new(target, settings, store, ctx)))
}

/// Run one helper operation: read the credential from `input`, answer on `output`.
///
/// Bad input is refused before any store or network is touched. A host this helper does not
/// serve gets no answer and no change.
pub fn run_operation(
    op: Operation,
    input: &mut impl BufRead,
    output: &mut impl Write,
    ctx: &Context,
) -> Result<(), Error> {
    run_operation_with(op, input, output, ctx, &Overrides::default())
}

/// [`run_operation`] with settings and a store given by the caller.
///
/// ```
/// use git_credential_bitbucket::{Context, Operation, Overrides, prompt::NoPrompt, store::MemoryStore};
/// let store = MemoryStore::new();
/// let overrides = Overrides { skip_git_config: true, store: Some(&store), ..Overrides::default() };
/// let ctx = Context { env: &|_| None, prompter: &NoPrompt, stderr_is_terminal: false, now: &|| 0 };
/// let run = |op, input: &[u8]| {
///     let mut answer = Vec::new();
///     git_credential_bitbucket::run_operation_with(op, &mut &input[..], &mut answer, &ctx, &overrides)?;
///     Ok::<_, git_credential_bitbucket::Error>(answer)
/// };
/// run(Operation::Store, b"protocol=https\nhost=bitbucket.org\nusername=a\npassword=t\n\n")?;
/// assert_eq!(run(Operation::Get, b"protocol=https\nhost=bitbucket.org\n\n")?, b"username=a\npassword=t\n");
/// # Ok::<(), git_credential_bitbucket::Error>(())
/// ```
pub fn run_operation_with(
    op: Operation,
    input: &mut impl BufRead,
    output: &mut impl Write,
    ctx: &Context,
    overrides: &Overrides,
) -> Result<(), Error> {
    Ok(operate(op, input, output, ctx, overrides)?)
}

/// [`run_operation_with`] with the crate's own error, for the commands (which choose the exit
/// code and the next step from it).
pub(crate) fn operate(
    op: Operation,
    input: &mut impl BufRead,
    output: &mut impl Write,
    ctx: &Context,
    overrides: &Overrides,
) -> Result<(), Failure> {
    let cred = Credential::read_from(input).map_err(Failure::Input)?;
    let Some(auth) = authenticator_for(&cred, ctx, overrides)? else { return Ok(()) };
    match op {
        Operation::Get => {
            if let Some(answer) = auth.get(&cred)? {
                answer.write_to(output).map_err(Failure::Answer)?;
            }
        }
        Operation::Store => auth.store(&cred)?,
        Operation::Erase => auth.erase(&cred)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::NoPrompt;

    /// A store the settings cannot name fails like any other bad setting, before a host its
    /// realm announced is remembered; the same request with a store that exists remembers it.
    #[test]
    fn an_unknown_store_is_refused_before_a_realm_announced_host_is_remembered() {
        let state = std::env::temp_dir().join(format!("gcb-operation-{}", std::process::id()));
        let state_dir = state.display().to_string();
        let env = move |k: &str| (k == "XDG_STATE_HOME").then(|| state_dir.clone());
        let ctx = Context { env: &env, prompter: &NoPrompt, stderr_is_terminal: false, now: &|| 0 };
        let mut cred = Credential::from_url("https://git.example.com/scm/p/r.git").unwrap();
        cred.wwwauth = vec!["Basic realm=\"Atlassian Bitbucket\"".into()];
        let remembered = |raw: &settings::RawSettings| {
            RecognizedHosts::new(raw.paths()).contains("https://git.example.com")
        };

        let raw = settings::RawSettings::from_git_output(b"credential.credentialstore\ndpapi\0", &env);
        let err = authenticator_with(&cred, &raw, &ctx, None).err().expect("refused");
        assert!(matches!(err, Failure::Config(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "invalid value for credential.credentialStore: expected keyring, gpg, cache, plaintext or memory"
        );
        let own = store::MemoryStore::new();
        let err = authenticator_with(&cred, &raw, &ctx, Some(&own)).err().expect("a typo is still refused");
        assert!(matches!(err, Failure::Config(_)), "{err:?}");
        assert!(!remembered(&raw), "nothing remembered");

        let raw = settings::RawSettings::from_git_output(b"credential.credentialstore\nmemory\0", &env);
        assert!(authenticator_with(&cred, &raw, &ctx, None).unwrap().is_some());
        assert!(remembered(&raw));
        let _ = std::fs::remove_dir_all(&state);
    }
}
