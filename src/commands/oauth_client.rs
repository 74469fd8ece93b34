//! The OAuth client a person brings: a Cloud consumer registered in their own workspace, or
//! a Data Center incoming application link an administrator created. The guided set-up of
//! `login --setup-oauth` (what to create and enter, the id and secret checked at the token
//! endpoint before anything is saved), `logout --forget-oauth`, and where the client in force
//! came from, for `diagnose`. It serves those commands only, so it lives beside them. Cloud and Data Center differ only in the data of
//! [`ClientSetup`](crate::bitbucket::ClientSetup) and in the guidance shown.
//!
//! The secret goes to the credential store (`{namespace}:oauth-consumer:ORIGIN/`, account =
//! the id), never to a git config file; only the id is written to git config.

use crate::auth::Authenticator;
use crate::bitbucket::ClientCheck;
use crate::error::Failure;
use crate::host::Deployment;
use crate::host::redacted;
use crate::oauth::{self, Grant, TokenError};
use crate::secret::Secret;
use crate::settings::{ClientOrigin, OAuthClient, Source};
use crate::store::{SecretKind, StoredSecret};

/// The name suggested for the consumer or application link.
const CONSUMER_NAME: &str = "git-credential-bitbucket";

/// What the token endpoint said about an id and secret.
enum ConsumerCheck {
    /// The client authenticated; only the grant was refused (a public consumer, or Data
    /// Center's refusal of a made-up code).
    Accepted,
    /// The client authenticated and got a token for itself: a private Cloud consumer.
    Private,
}

/// `login --setup-oauth`: show what to create and enter, read the client's id and secret,
/// check them, then keep the secret in the store and the id in git config. Returns the
/// git config key written.
pub(super) fn set_up(auth: &Authenticator, username: Option<&str>) -> Result<String, Failure> {
    let setup = &auth.profile().setup;
    if let Some(OAuthClient { origin: ClientOrigin::Settings(source), .. }) =
        auth.profile().client(auth.settings())
    {
        let (id, secret) = auth.profile().client_settings;
        return Err(Failure::Usage(format!(
            "an OAuth client with its secret is already configured ({}) and would win over a new one; nothing was changed: remove credential.{id} and credential.{secret} (or their environment variables) first, or keep using it",
            source.describe()
        )));
    }
    match auth.target().deployment {
        Deployment::Cloud => {
            let workspace = ask_workspace(auth, username)?;
            let page = consumer_page(auth, &workspace)?;
            show_consumer_steps(auth, &page);
        }
        Deployment::DataCenter => show_application_link_steps(auth)?,
    }
    let prompter = auth.ctx().prompter;
    let id = prompter.ask(setup.id_prompt, false)?.map(|k| k.trim().to_owned()).ok_or(Failure::NoTerminal)?;
    let secret =
        prompter.ask(setup.secret_prompt, true)?.map(|s| s.trim().to_owned()).ok_or(Failure::NoTerminal)?;
    if id.is_empty() || secret.is_empty() || id.contains(char::is_whitespace) {
        return Err(Failure::Usage(format!("the {} are both needed; nothing was saved", setup.words)));
    }
    let client =
        OAuthClient { id, secret: Secret::new(secret), origin: ClientOrigin::Settings(Source::Program) };
    match check_consumer(auth, &client)? {
            ConsumerCheck::Accepted => auth.ctx().notice(&format!("Bitbucket accepted the {}", setup.words)),
            ConsumerCheck::Private => auth.ctx().notice(
                "Bitbucket accepted the key and secret; this is a private consumer (anyone with its secret gets tokens without signing in): keep it for CI, or untick \"This is a private consumer\"",
            ),
        }
    let key = auth.client_key(&client.id);
    auth.secret_store().save(&key, &StoredSecret::new(SecretKind::Consumer, &client.id, client.secret))?;
    let setting = consumer_setting(auth);
    crate::settings::git::set_global(&setting, &client.id)?;
    Ok(setting)
}

/// `credential.ORIGIN.bitbucketOAuthClientId` (or `...DataCenterOAuthClientId`): where
/// set-up writes the id (global).
fn consumer_setting(auth: &Authenticator) -> String {
    format!("credential.{}.{}", auth.target().origin(), auth.profile().client_settings.0)
}

fn ask_workspace(auth: &Authenticator, username: Option<&str>) -> Result<String, Failure> {
    let default = username.map(str::to_owned).or_else(|| default_username(auth));
    let prompt = match &default {
        Some(name) => format!("Your workspace (the name after bitbucket.org/ in its URLs) [{name}]: "),
        None => "Your workspace (the name after bitbucket.org/ in its URLs): ".to_owned(),
    };
    let answer = auth.ctx().prompter.ask(&prompt, false)?.ok_or(Failure::NoTerminal)?;
    let workspace = match answer.trim() {
        "" => default.unwrap_or_default(),
        typed => typed.to_owned(),
    };
    let valid =
        !workspace.is_empty() && workspace.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if valid {
        Ok(workspace)
    } else {
        Err(Failure::Usage(format!(
            "'{workspace}' is not a workspace name (letters, digits, '-', '_' or '.'); nothing was saved"
        )))
    }
}

/// The username of the host default account, when one is stored.
fn default_username(auth: &Authenticator) -> Option<String> {
    let record = auth.secret_store().load(&auth.account().host_default_key()).ok().flatten()?;
    Some(record.username).filter(|u| !u.is_empty() && !u.starts_with("x-"))
}

/// `{bitbucketCloudUrl}/WORKSPACE/workspace/settings/oauth-consumers/new`.
fn consumer_page(auth: &Authenticator, workspace: &str) -> Result<url::Url, Failure> {
    let base = auth.settings().cloud_url.as_str().trim_end_matches('/');
    url::Url::parse(&format!("{base}/{workspace}/workspace/settings/oauth-consumers/new"))
        .map_err(|e| Failure::Usage(format!("cannot make the consumer page address: {e}")))
}

fn show_consumer_steps(auth: &Authenticator, page: &url::Url) {
    let opened = match crate::oauth::browser::open(page.as_str(), &auth.settings().browser) {
        crate::oauth::browser::Opened::Started(_) => " (opened in your browser)",
        crate::oauth::browser::Opened::Nothing => "",
    };
    let port = auth.settings().redirect_port;
    let lines = [
            format!("Create an OAuth consumer in your workspace. Open this page{opened}:"),
            String::new(),
            format!("  {page}"),
            String::new(),
            "and enter:".to_owned(),
            format!("  Name:          {CONSUMER_NAME} (any name will do)"),
            format!("  Callback URL:  http://localhost:{port}/"),
            "  Permissions:   Account: Read, Repositories: Write".to_owned(),
            "  Leave \"This is a private consumer\" unticked: a private consumer's key and secret get tokens on their own, without anyone signing in; tick it only for a CI machine (bitbucketAuthModes=clientcredentials).".to_owned(),
            String::new(),
            "Save, open the new consumer, and copy its Key and Secret here.".to_owned(),
        ];
    for line in lines {
        eprintln!("{line}");
    }
}

/// Data Center: an administrator creates the client (an incoming application link); the
/// person may only receive its values. Say what to ask for; the admin page is shown, not
/// opened.
fn show_application_link_steps(auth: &Authenticator) -> Result<(), Failure> {
    let token = auth.endpoints()?.token;
    let base = token.as_str().trim_end_matches("/rest/oauth2/latest/token").to_owned();
    let port = auth.settings().redirect_port;
    let lines = [
            "An administrator of this Bitbucket Data Center creates the OAuth client: an incoming application link. If that is not you, send them this:".to_owned(),
            String::new(),
            format!("  Administration > Application links ({base}/plugins/servlet/applinks/listApplicationLinks)"),
            "  > Create link > External application, direction Incoming, with:".to_owned(),
            format!("  Name:          {CONSUMER_NAME} (any name will do)"),
            format!("  Redirect URL:  http://localhost:{port}/"),
            "  Permission:    Repositories: Write".to_owned(),
            String::new(),
            "Then enter the link's Client ID and Client secret here.".to_owned(),
        ];
    for line in lines {
        eprintln!("{line}");
    }
    Ok(())
}

/// Ask the token endpoint whether the id and secret are right, without a person: a wrong
/// pair is refused with `invalid_client`. Cloud: a client-credentials token, which a
/// right pair gets as `unauthorized_client` (public consumer) or a token (private
/// consumer). Data Center (no client credentials grant): an authorization code no server
/// issued, which a right pair gets as `invalid_grant`. Nothing is kept from the answer.
fn check_consumer(auth: &Authenticator, client: &OAuthClient) -> Result<ConsumerCheck, Failure> {
    let endpoints = auth.endpoints()?;
    let url = redacted(&endpoints.token);
    let setup = &auth.profile().setup;
    let made_up = Secret::new("git-credential-bitbucket-set-up-check");
    let redirect_uri = format!("http://localhost:{}/", auth.settings().redirect_port);
    let verifier = Secret::new("git-credential-bitbucket-set-up-check-0123456789abcdef");
    let grant = match setup.check {
        ClientCheck::ClientCredentials => Grant::ClientCredentials,
        ClientCheck::UnknownCode => {
            Grant::AuthorizationCode { code: &made_up, redirect_uri: &redirect_uri, verifier: &verifier }
        }
    };
    match oauth::request_token(auth.http()?, &endpoints, client, grant) {
        Ok(_) if setup.check == ClientCheck::ClientCredentials => Ok(ConsumerCheck::Private),
        Ok(_) => Ok(ConsumerCheck::Accepted),
        Err(TokenError::Rejected { error, .. }) if error == "invalid_client" => {
            Err(Failure::ConsumerRefused { url, what: setup.words, from: setup.copied_from })
        }
        Err(TokenError::Rejected { error, .. }) => {
            tracing::debug!("the client authenticated; the grant was refused ({error})");
            Ok(ConsumerCheck::Accepted)
        }
        Err(e) => Err(Failure::ConsumerUnchecked { url, what: setup.words, reason: e.to_string() }),
    }
}

/// `logout --forget-oauth`: delete every client secret stored for this server and the id
/// set-up wrote. Returns what was removed.
pub(super) fn forget(auth: &Authenticator) -> Result<Vec<String>, Failure> {
    let mut removed = Vec::new();
    let service = auth.client_key("").service;
    for (key, record) in auth.secret_store().list(&auth.settings().namespace)? {
        if record.kind == SecretKind::Consumer && key.service == service {
            auth.secret_store().delete(&key)?;
            removed.push(format!(
                "the secret of {} {} from the {} store",
                auth.profile().setup.name,
                key.account,
                auth.secret_store().name()
            ));
        }
    }
    let setting = consumer_setting(auth);
    if crate::settings::git::unset_global(&setting)? {
        removed.push(setting);
    }
    Ok(removed)
}

/// After set-up: why the client in force is not the stored one, when settings in git
/// config or the environment win over it.
pub(super) fn overridden(auth: &Authenticator) -> Option<String> {
    match &auth.profile().client(auth.settings())?.origin {
        ClientOrigin::Store(Source::GitConfig(_)) => None,
        ClientOrigin::Store(source) | ClientOrigin::Settings(source) => Some(format!(
            "the OAuth client set in {} wins over the one just saved; unset it to use this one",
            source.describe()
        )),
        ClientOrigin::Builtin => None,
    }
}

/// For `diagnose`: which OAuth client is in force and where its id and secret came from;
/// `false` when its secret should be in the store and is not.
pub(super) fn describe(auth: &Authenticator) -> Result<(String, bool), Failure> {
    let name = auth.profile().setup.name;
    let Some(client) = auth.profile().client(auth.settings()) else {
        let how = match auth.target().deployment {
            Deployment::Cloud => "run: git-credential-bitbucket login --setup-oauth",
            Deployment::DataCenter => {
                "an administrator creates an incoming application link; then run: git-credential-bitbucket login URL --setup-oauth"
            }
        };
        return Ok((format!("{name}: none (browser sign-in is not offered; {how})"), true));
    };
    let (from, found) = match &client.origin {
        ClientOrigin::Builtin => ("built in".to_owned(), true),
        ClientOrigin::Settings(source) => (
            format!(
                "id and secret from {} (the secret is kept there in plain text; `login URL --setup-oauth` keeps it in the credential store instead)",
                source.describe()
            ),
            true,
        ),
        ClientOrigin::Store(source) => {
            let found = auth.secret_store().load(&auth.client_key(&client.id))?.is_some();
            let secret =
                if found { "the credential store" } else { "the credential store, where it is missing" };
            (format!("id from {}; secret from {secret}", source.describe()), found)
        }
    };
    Ok((format!("{name}: {} ({from})", client.id), found))
}
