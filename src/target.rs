//! What one request is about — the server, the account, the kind of Bitbucket — decided by
//! exactly one function ([`resolve`]) from git's request and the settings, and the one place
//! the helper's URLs are made (for messages, prompts, store keys shown to people, and
//! `git config`).
//!
//! It never widens which hosts are served (that rule is `host::classify`). The username is
//! part of the URL settings are matched against ([`matching_url`]), as in git, but never of
//! a URL that leaves the process: arguments of child processes are public.

use crate::bitbucket::{EndpointError, Endpoints};
use crate::error::Failure as Error;
use crate::host::{self, Asked, Deployment, Provider, canonical_host, encode_userinfo, web_url};
use crate::protocol::Credential;
use crate::recognized::RecognizedHosts;
use crate::settings::{RawSettings, Settings};
use crate::store::Account;

/// A request this helper serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `https` or `http`, lower case.
    pub scheme: String,
    /// Lower case, default port dropped.
    pub host: String,
    /// The repository path, when git sent one (`credential.useHttpPath`).
    pub path: Option<Vec<u8>>,
    /// The username git gave; `None` means "whoever the host default is".
    pub username: Option<String>,
    /// Cloud or Data Center.
    pub deployment: Deployment,
    /// Data Center recognised just now by the realm git passed (not configured, not
    /// remembered): the caller remembers its origin, so that its `store` and `erase`, which
    /// carry no realm, are served too.
    pub realm_announced: bool,
}

impl Target {
    /// `scheme://host/[path]`, without the username.
    pub fn to_url(&self) -> String {
        web_url(&self.scheme, &self.host, self.path.as_deref())
    }

    /// `scheme://host[:port]`: what identifies the server.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    /// `scheme://[user@]host[/path]`, as git shows it in its own prompts.
    pub fn to_prompt(&self, username: Option<&str>) -> String {
        let user = username.filter(|u| !u.is_empty()).map(|u| format!("{u}@")).unwrap_or_default();
        let path =
            self.path.as_deref().map(|p| format!("/{}", String::from_utf8_lossy(p))).unwrap_or_default();
        format!("{}://{user}{}{path}", self.scheme, self.host)
    }

    /// The store keys of this request's account ("Store layout" in docs/architecture.md).
    pub fn account(&self, namespace: &str) -> Account {
        Account::new(namespace, &self.scheme, &self.host, self.path.as_deref(), self.username.as_deref())
    }

    /// The deployment's endpoints: Cloud's, or Data Center's at the configured base URL or the
    /// part of the remote path before `/scm/`.
    pub fn endpoints(&self, settings: &Settings) -> Result<Endpoints, EndpointError> {
        Endpoints::for_remote(self.deployment, settings, &self.scheme, &self.host, self.path.as_deref())
    }
}

/// What host recognition reads of git's request.
fn asked(cred: &Credential) -> Asked<'_> {
    Asked { protocol: cred.protocol.as_deref(), host: cred.host.as_deref(), wwwauth: &cred.wwwauth }
}

/// The URL whose settings apply to `cred` (`git config --get-urlmatch credential URL`).
/// `None` without protocol and host.
pub fn settings_url(cred: &Credential) -> Option<String> {
    let (scheme, host) = (cred.protocol.as_deref()?, cred.host.as_deref()?);
    let scheme = scheme.to_ascii_lowercase();
    Some(web_url(&scheme, &canonical_host(&scheme, host), cred.path.as_deref()))
}

/// [`settings_url`] with git's username (percent-encoded) when it gave one: what git itself
/// matches `credential.<url>.*` and `http.<url>.*` against, so that settings for
/// `https://alice@host` apply to alice only. It is matched in the process; when git has to be
/// asked instead, `settings::git::get_urlmatch` drops the username from git's arguments.
pub fn matching_url(cred: &Credential) -> Option<String> {
    let url = settings_url(cred)?;
    let Some(user) = cred.username.as_deref() else { return Some(url) };
    let (scheme, rest) = url.split_once("://")?;
    Some(format!("{scheme}://{}@{rest}", encode_userinfo(user)))
}

/// Decide whether this helper serves `cred`, as which deployment, and with which settings.
/// `None`: not a Bitbucket host this helper serves (nothing may be touched then). It writes
/// nothing: a host newly recognised by its realm is marked ([`Target::realm_announced`]) for
/// the caller to remember.
///
/// Cloud's host, or a host configured with `provider=bitbucket`, is served as configured. An
/// https host whose `WWW-Authenticate` realm says Data Center is remembered (git sends the
/// realm to `get` only), so that its `store` and `erase` are served too; its settings are
/// confined to its own origin.
pub fn resolve(cred: &Credential, raw: &RawSettings) -> Result<Option<(Target, Settings)>, Error> {
    let (Some(scheme), Some(host)) = (cred.protocol.as_deref(), cred.host.as_deref()) else {
        return Ok(None);
    };
    let provider = raw.provider()?;
    let scheme = scheme.to_ascii_lowercase();
    let host = canonical_host(&scheme, host);
    let path = cred.path.clone().filter(|p| !p.is_empty());
    let mut target = Target {
        scheme,
        host,
        path,
        username: cred.username.clone(),
        deployment: Deployment::Cloud,
        realm_announced: false,
    };
    let origin = target.origin();
    let (deployment, by_realm) = match host::classify(asked(cred), provider)? {
        Some(Deployment::DataCenter) if provider == Provider::Auto => {
            target.realm_announced = true;
            (Deployment::DataCenter, true)
        }
        Some(deployment) => (deployment, false),
        None if provider == Provider::Auto
            && target.scheme == "https"
            && RecognizedHosts::new(raw.paths()).contains(&origin) =>
        {
            (Deployment::DataCenter, true)
        }
        None => {
            tracing::debug!("{origin}: not a Bitbucket host; nothing to do");
            return Ok(None);
        }
    };
    let settings = raw.validate(by_realm.then_some(origin.as_str()))?;
    target.deployment = deployment;
    Ok(Some((target, settings)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(url: &str) -> Credential {
        Credential::from_url(url).unwrap()
    }

    fn raw(output: &[u8]) -> RawSettings {
        let dir = std::env::temp_dir().join(format!("gcb-target-{}", std::process::id()));
        let state = dir.display().to_string();
        RawSettings::from_git_output(output, &move |k: &str| (k == "XDG_STATE_HOME").then(|| state.clone()))
    }

    #[test]
    fn one_target_gives_every_url_form() {
        let mut c = cred("https://alice@Bitbucket.org:443/team/repo.git");
        c.path = Some(b"team/my repo.git".to_vec());
        let (target, _) = resolve(&c, &raw(b"")).unwrap().unwrap();
        assert_eq!(target.deployment, Deployment::Cloud);
        assert_eq!(target.to_url(), "https://bitbucket.org/team/my%20repo.git");
        assert_eq!(target.origin(), "https://bitbucket.org");
        assert_eq!(target.to_prompt(Some("alice")), "https://alice@bitbucket.org/team/my repo.git");
        assert_eq!(settings_url(&c).unwrap(), "https://bitbucket.org/team/my%20repo.git");
        assert!(!settings_url(&c).unwrap().contains("alice"), "no username in the web URL");
        assert_eq!(matching_url(&c).unwrap(), "https://alice@bitbucket.org/team/my%20repo.git");
        let mut email = cred("https://bitbucket.org/");
        email.username = Some("me@x.com".into());
        assert_eq!(matching_url(&email).unwrap(), "https://me%40x.com@bitbucket.org/");
    }

    #[test]
    fn hosts_that_are_not_ours_give_no_target() {
        for url in ["https://evilbitbucket.org/", "https://github.com/", "https://api.bitbucket.org/"] {
            assert!(resolve(&cred(url), &raw(b"")).unwrap().is_none(), "{url}");
        }
    }

    #[test]
    fn a_realm_only_host_does_not_get_another_instances_base_url_or_client() {
        let mut c = cred("https://git.example.com/scm/p/r.git");
        c.wwwauth = vec!["Basic realm=\"Atlassian Bitbucket\"".into()];
        let output = b"credential.bitbucketdatacenterurl\nhttps://other.example.com\0credential.bitbucketdatacenteroauthclientid\nid\0";
        let (target, settings) = resolve(&c, &raw(output)).unwrap().unwrap();
        assert_eq!(target.deployment, Deployment::DataCenter);
        assert!(target.realm_announced, "the caller is to remember it");
        assert_eq!(settings.datacenter_url, None);
        assert_eq!(settings.datacenter_client, None);
        let same = b"credential.bitbucketdatacenterurl\nhttps://git.example.com/ctx\0";
        let (_, settings) = resolve(&c, &raw(same)).unwrap().unwrap();
        assert_eq!(settings.datacenter_url.unwrap().as_str(), "https://git.example.com/ctx");
    }
}
