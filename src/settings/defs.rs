//! Every setting this helper reads, defined once: its git config name, the environment
//! variables that override it, its default, and whether it holds a secret.

/// One setting: its git config name, the environment variables that override it, a default.
#[derive(Debug, Clone, Copy)]
pub struct SettingDef {
    /// Name under `credential.` in git config, in its documented letter case.
    pub git: &'static str,
    /// Environment variables, first one wins.
    pub env: &'static [&'static str],
    /// The default, as text; `None` when there is none.
    pub default: Option<&'static str>,
    /// Whether the value is a secret (redacted by `diagnose`).
    pub secret: bool,
    /// Other names under `credential.` that mean the same (Git Credential Manager's), read
    /// only when `git` is not set.
    pub git_aliases: &'static [&'static str],
}

const fn def(git: &'static str, env: &'static [&'static str], default: Option<&'static str>) -> SettingDef {
    SettingDef { git, env, default, secret: false, git_aliases: &[] }
}

/// A packager's Cloud OAuth consumer, compiled in from the build environment
/// (`BITBUCKET_BUILTIN_OAUTH_CLIENT_ID` / `_SECRET`): the lowest-precedence source of the
/// Cloud client, used only when no consumer id is set in git config or the environment.
pub const BUILTIN_CLOUD_CLIENT: Option<(&str, &str)> = match (
    option_env!("BITBUCKET_BUILTIN_OAUTH_CLIENT_ID"),
    option_env!("BITBUCKET_BUILTIN_OAUTH_CLIENT_SECRET"),
) {
    (Some(id), secret) if !id.is_empty() => Some((
        id,
        match secret {
            Some(secret) => secret,
            None => "",
        },
    )),
    _ => None,
};

/// `yes` or `no`: whether this binary carries a built-in consumer (never its secret).
pub const fn builtin_consumer_word() -> &'static str {
    if BUILTIN_CLOUD_CLIENT.is_some() { "yes" } else { "no" }
}

/// Every setting of SPEC §5.
pub const SETTINGS: &[SettingDef] = &[
    def("provider", &[], None),
    def("bitbucketDeployment", &[], Some("datacenter")),
    def("bitbucketAuthModes", &["GIT_BITBUCKET_AUTHMODES", "GCM_BITBUCKET_AUTHMODES"], Some("oauth,token")),
    SettingDef {
        git_aliases: &["cloudOAuthClientId"],
        ..def(
            "bitbucketOAuthClientId",
            &["BITBUCKET_OAUTH_CLIENT_ID", "bitbucketKey", "GCM_BITBUCKET_CLOUD_CLIENTID"],
            None,
        )
    },
    SettingDef {
        secret: true,
        git_aliases: &["cloudOAuthClientSecret"],
        ..def(
            "bitbucketOAuthClientSecret",
            &["BITBUCKET_OAUTH_CLIENT_SECRET", "bitbucketSecret", "GCM_BITBUCKET_CLOUD_CLIENTSECRET"],
            None,
        )
    },
    def(
        "bitbucketDataCenterOAuthClientId",
        &["GIT_BITBUCKET_DATACENTER_CLIENTID", "GCM_BITBUCKET_DATACENTER_CLIENTID"],
        None,
    ),
    SettingDef {
        secret: true,
        ..def(
            "bitbucketDataCenterOAuthClientSecret",
            &["GIT_BITBUCKET_DATACENTER_CLIENTSECRET", "GCM_BITBUCKET_DATACENTER_CLIENTSECRET"],
            None,
        )
    },
    def("bitbucketOAuthRedirectPort", &["GIT_BITBUCKET_OAUTH_PORT"], Some("34106")),
    // Git Credential Manager's form of the port: read only when the port is not set.
    def("cloudOAuthRedirectUri", &["GCM_BITBUCKET_CLOUD_OAUTH_REDIRECTURI"], None),
    def("bitbucketOAuthTimeout", &["GIT_BITBUCKET_OAUTH_TIMEOUT"], Some("300")),
    def("bitbucketCloudUrl", &["GIT_BITBUCKET_CLOUD_URL"], Some("https://bitbucket.org")),
    def("bitbucketCloudApiUrl", &["GIT_BITBUCKET_CLOUD_API_URL"], Some("https://api.bitbucket.org")),
    def("bitbucketDataCenterUrl", &["GIT_BITBUCKET_DATACENTER_URL"], None),
    def("bitbucketHttpTimeout", &["GIT_BITBUCKET_HTTP_TIMEOUT"], Some("30")),
    def(
        "bitbucketAlwaysRefreshCredentials",
        &["GIT_BITBUCKET_ALWAYS_REFRESH_CREDENTIALS", "GCM_BITBUCKET_ALWAYS_REFRESH_CREDENTIALS"],
        Some("false"),
    ),
    def(
        "bitbucketValidateStoredCredentials",
        &["GIT_BITBUCKET_VALIDATE_STORED_CREDENTIALS", "GCM_BITBUCKET_VALIDATE_STORED_CREDENTIALS"],
        Some("false"),
    ),
    def("credentialStore", &["GIT_BITBUCKET_CREDENTIAL_STORE"], Some("keyring")),
    def("plaintextStorePath", &["GIT_BITBUCKET_PLAINTEXT_STORE"], None),
    def("cacheOptions", &["GCM_CREDENTIAL_CACHE_OPTIONS"], None),
    def("namespace", &["GIT_BITBUCKET_NAMESPACE", "GCM_NAMESPACE"], Some("git")),
    def("interactive", &["GIT_BITBUCKET_INTERACTIVE", "GCM_INTERACTIVE"], Some("true")),
    // GCM's proxy names; `http.proxy` and the rest are read only before a request (crate::net).
    SettingDef { secret: true, ..def("httpsProxy", &[], None) },
    SettingDef { secret: true, ..def("httpProxy", &[], None) },
];
