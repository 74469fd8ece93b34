//! The Cloud OAuth consumer a person registers in their own workspace: the guided set-up of
//! `login --setup-oauth` (the page, the values, the key and secret checked at the token
//! endpoint before anything is saved), `logout --forget-oauth`, and where the consumer in
//! force came from, for `diagnose`.
//!
//! The consumer secret goes to the credential store (`{namespace}:oauth-consumer:SITE/`,
//! account = the key), never to a git config file; only the key is written to git config.

use super::Authenticator;
use crate::Error;
use crate::bitbucket::Endpoints;
use crate::bitbucket::api::redacted;
use crate::config::{ClientOrigin, OAuthClient, Source};
use crate::host::Deployment;
use crate::oauth::{self, Grant, TokenError};
use crate::secret::Secret;
use crate::store::{SecretKind, StoredSecret, consumer_key};

/// The name suggested for the consumer.
const CONSUMER_NAME: &str = "git-credential-bitbucket";

/// What the token endpoint said about a key and secret.
enum ConsumerCheck {
    /// The consumer authenticated; only the grant was refused (a public consumer).
    Public,
    /// The consumer authenticated and got a token for itself: a private consumer.
    Private,
}

impl Authenticator<'_> {
    /// `login --setup-oauth`: show where to create a consumer and what to enter, read its key
    /// and secret, check them, then keep the secret in the store and the key in git config.
    /// Returns the git config key written.
    pub(crate) fn set_up_consumer(&self, username: Option<&str>) -> Result<String, Error> {
        if self.target.deployment != Deployment::Cloud {
            return Err(Error::Usage(format!(
                "--setup-oauth creates a Bitbucket Cloud consumer; {} is Data Center, where an admin creates an incoming application link (then set credential.bitbucketDataCenterOAuthClientId and ...Secret)",
                self.target.origin()
            )));
        }
        if let Some(OAuthClient { origin: ClientOrigin::Settings(source), .. }) = &self.settings.cloud_client
        {
            return Err(Error::Usage(format!(
                "an OAuth consumer with its secret is already configured ({}) and would win over a new one; nothing was changed: remove credential.bitbucketOAuthClientId and ...Secret (or their environment variables) first, or keep using it",
                source.describe()
            )));
        }
        let workspace = self.ask_workspace(username)?;
        let page = self.consumer_page(&workspace)?;
        self.show_consumer_steps(&page);
        let prompter = self.ctx.prompter;
        let key = prompter.ask("Key: ", false)?.map(|k| k.trim().to_owned()).ok_or(Error::NoTerminal)?;
        let secret = prompter.ask("Secret: ", true)?.map(|s| s.trim().to_owned()).ok_or(Error::NoTerminal)?;
        if key.is_empty() || secret.is_empty() || key.contains(char::is_whitespace) {
            return Err(Error::Usage(
                "the consumer's Key and Secret are both needed; nothing was saved".into(),
            ));
        }
        let client = OAuthClient {
            id: key,
            secret: Secret::new(secret),
            origin: ClientOrigin::Settings(Source::Program),
        };
        match self.check_consumer(&client)? {
            ConsumerCheck::Public => self.ctx.notice("Bitbucket accepted the key and secret"),
            ConsumerCheck::Private => self.ctx.notice(
                "Bitbucket accepted the key and secret; this is a private consumer (anyone with its secret gets tokens without signing in): keep it for CI, or untick \"This is a private consumer\"",
            ),
        }
        let key = consumer_key(&self.settings.namespace, &self.settings.cloud_url, &client.id);
        self.store.save(&key, &StoredSecret::new(SecretKind::Consumer, &client.id, client.secret))?;
        let setting = self.consumer_setting();
        crate::gitconfig::set_global(&setting, &client.id)?;
        Ok(setting)
    }

    /// `credential.ORIGIN.bitbucketOAuthClientId`: where set-up writes the key (global).
    fn consumer_setting(&self) -> String {
        format!("credential.{}.bitbucketOAuthClientId", self.target.origin())
    }

    fn ask_workspace(&self, username: Option<&str>) -> Result<String, Error> {
        let default = username.map(str::to_owned).or_else(|| self.default_username());
        let prompt = match &default {
            Some(name) => format!("Your workspace (the name after bitbucket.org/ in its URLs) [{name}]: "),
            None => "Your workspace (the name after bitbucket.org/ in its URLs): ".to_owned(),
        };
        let answer = self.ctx.prompter.ask(&prompt, false)?.ok_or(Error::NoTerminal)?;
        let workspace = match answer.trim() {
            "" => default.unwrap_or_default(),
            typed => typed.to_owned(),
        };
        let valid = !workspace.is_empty()
            && workspace.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if valid {
            Ok(workspace)
        } else {
            Err(Error::Usage(format!(
                "'{workspace}' is not a workspace name (letters, digits, '-', '_' or '.'); nothing was saved"
            )))
        }
    }

    /// The username of the host default account, when one is stored.
    fn default_username(&self) -> Option<String> {
        let record = self.store.load(&self.account().host_default_key()).ok().flatten()?;
        Some(record.username).filter(|u| !u.is_empty() && !u.starts_with("x-"))
    }

    /// `{bitbucketCloudUrl}/WORKSPACE/workspace/settings/oauth-consumers/new`.
    fn consumer_page(&self, workspace: &str) -> Result<url::Url, Error> {
        let base = self.settings.cloud_url.as_str().trim_end_matches('/');
        url::Url::parse(&format!("{base}/{workspace}/workspace/settings/oauth-consumers/new"))
            .map_err(|e| Error::Usage(format!("cannot make the consumer page address: {e}")))
    }

    fn show_consumer_steps(&self, page: &url::Url) {
        let opened = match crate::oauth::browser::open(page.as_str(), &self.settings.browser) {
            crate::oauth::browser::Opened::Started(_) => " (opened in your browser)",
            crate::oauth::browser::Opened::Nothing => "",
        };
        let port = self.settings.redirect_port;
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

    /// Ask the token endpoint for a client-credentials token: a wrong key or secret is
    /// refused with `invalid_client`; a right one gets `unauthorized_client` (public
    /// consumer) or a token (private consumer). Nothing is kept from the answer.
    fn check_consumer(&self, client: &OAuthClient) -> Result<ConsumerCheck, Error> {
        let endpoints = Endpoints::cloud(&self.settings);
        let url = redacted(&endpoints.token);
        match oauth::request_token(self.http()?, &endpoints, client, Grant::ClientCredentials) {
            Ok(_) => Ok(ConsumerCheck::Private),
            Err(TokenError::Rejected { error, .. }) if error == "invalid_client" => {
                Err(Error::ConsumerRefused { url })
            }
            Err(TokenError::Rejected { error, .. }) => {
                tracing::debug!("the consumer authenticated; the grant was refused ({error})");
                Ok(ConsumerCheck::Public)
            }
            Err(e) => Err(Error::ConsumerUnchecked { url, reason: e.to_string() }),
        }
    }

    /// `logout --forget-oauth`: delete every consumer secret stored for this site and the
    /// key set-up wrote. Returns what was removed.
    pub(crate) fn forget_consumer(&self) -> Result<Vec<String>, Error> {
        let mut removed = Vec::new();
        let service = consumer_key(&self.settings.namespace, &self.settings.cloud_url, "").service;
        for (key, record) in self.store.list(&self.settings.namespace)? {
            if record.kind == SecretKind::Consumer && key.service == service {
                self.store.delete(&key)?;
                removed.push(format!(
                    "the secret of OAuth consumer {} from the {} store",
                    key.account,
                    self.store.name()
                ));
            }
        }
        let setting = self.consumer_setting();
        if crate::gitconfig::unset_global(&setting)? {
            removed.push(setting);
        }
        Ok(removed)
    }

    /// After set-up: why the consumer in force is not the stored one, when settings in git
    /// config or the environment win over it.
    pub(crate) fn consumer_overridden(&self) -> Option<String> {
        match &self.settings.cloud_client.as_ref()?.origin {
            ClientOrigin::Store(Source::GitConfig) => None,
            ClientOrigin::Store(source) | ClientOrigin::Settings(source) => Some(format!(
                "the OAuth consumer set in {} wins over the one just saved; unset it to use this one",
                source.describe()
            )),
            ClientOrigin::Builtin => None,
        }
    }

    /// For `diagnose`: which Cloud consumer is in force and where it came from; `false`
    /// when its secret should be in the store and is not.
    pub(crate) fn describe_consumer(&self) -> Result<(String, bool), Error> {
        let Some(client) = self.settings.cloud_client.as_ref() else {
            let none = "Cloud OAuth consumer: none (browser sign-in is not offered; run: git-credential-bitbucket login --setup-oauth)";
            return Ok((none.to_owned(), true));
        };
        let (from, found) = match &client.origin {
            ClientOrigin::Builtin => ("built in".to_owned(), true),
            ClientOrigin::Settings(source) => (source.describe(), true),
            ClientOrigin::Store(source) => {
                let key = consumer_key(&self.settings.namespace, &self.settings.cloud_url, &client.id);
                let found = self.store.load(&key)?.is_some();
                let secret =
                    if found { "the credential store" } else { "the credential store, where it is missing" };
                (format!("key from {}, secret from {secret}", source.describe()), found)
            }
        };
        Ok((format!("Cloud OAuth consumer: {} ({from})", client.id), found))
    }
}
