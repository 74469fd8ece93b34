//! The order of attempts of `get` as one pure function: from what is stored, the
//! clock, the policy and what has been tried already, the next step. No store, no network,
//! no process: `auth` carries the steps out and asks again until one of them answers.
//!
//! To change *when* the helper refreshes, validates, grants or signs in, change
//! [`next_step`] and its table; to change *how*, change `auth`.

use crate::settings::AuthMode;
use crate::store::SecretKind;

/// A token this close to its expiry (seconds) is treated as expired.
pub const EXPIRY_MARGIN_SECS: u64 = 60;

/// What is known about the stored access secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// What it is.
    pub kind: SecretKind,
    /// Expiry, Unix seconds; `None` for secrets without one (API tokens).
    pub expires_at: Option<u64>,
    /// A refresh token is stored beside it.
    pub refreshable: bool,
}

impl Stored {
    /// More than [`EXPIRY_MARGIN_SECS`] left, or no known expiry; a refresh token never is.
    pub fn is_fresh(&self, now: u64) -> bool {
        self.kind != SecretKind::Refresh
            && self.expires_at.is_none_or(|t| t > now.saturating_add(EXPIRY_MARGIN_SECS))
    }
}

/// A token the application gets for itself, without a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppGrant {
    /// A Connect app's JWT (library only).
    Jwt,
    /// The OAuth client credentials grant (`bitbucketAuthModes=clientcredentials`).
    ClientCredentials,
}

/// Everything the decision depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Situation {
    /// The stored access secret for the account (or host default); `None` when there is none
    /// or `force_credentials` skips it.
    pub stored: Option<Stored>,
    /// Unix seconds now.
    pub now: u64,
    /// `bitbucketAlwaysRefreshCredentials`.
    pub always_refresh: bool,
    /// A library caller's refresh policy, already asked: `Some(true)` refresh now.
    pub policy_says_refresh: Option<bool>,
    /// `bitbucketValidateStoredCredentials`.
    pub validate_stored: bool,
    /// The grant to use instead of a person, if any.
    pub app_grant: Option<AppGrant>,
    /// Prompting and browsers are allowed.
    pub may_prompt: bool,
    /// The interactive methods that can work here, in the configured order.
    pub sign_in_modes: Vec<AuthMode>,
    /// What the REST API said about the stored secret, once asked.
    pub validated: Option<bool>,
    /// A refresh was tried and gave nothing (no refresh token, or a dead one).
    pub refresh_failed: bool,
    /// A refresh was refused for a reason that says nothing certain about the refresh token
    /// (not a dead one, not the client): it was kept, and only a new sign-in can help now.
    pub refresh_refused: bool,
    /// Git passed a refresh token (from a storage helper earlier in the chain, git >= 2.41)
    /// with no usable password, and it has not been tried yet.
    pub offered_refresh: bool,
}

/// The next thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Answer the stored secret (no network).
    Answer,
    /// Ask the REST API whether the stored secret still works.
    Validate,
    /// Refresh the OAuth token under the account's lock.
    Refresh,
    /// Refresh with the refresh token git passed, under the account's lock, and keep the result.
    RefreshOffered,
    /// Get a token for the application itself.
    Grant(AppGrant),
    /// Ask the person, with these methods in this order.
    SignIn(Vec<AuthMode>),
    /// The refresh was refused and nobody can sign in here: fail, naming `login`, so the
    /// person is never left to guess.
    NeedsLogin,
    /// Answer nothing.
    Nothing,
}

/// The next step of the order of attempts for `s`.
pub fn next_step(s: &Situation) -> Step {
    if let Some(stored) = &s.stored {
        let fresh = stored.is_fresh(s.now);
        let can_refresh = stored.refreshable && !s.refresh_failed;
        let wants_refresh = match s.policy_says_refresh {
            Some(says) => says,
            None => !fresh || s.always_refresh,
        };
        if can_refresh && wants_refresh {
            return Step::Refresh;
        }
        if fresh && s.validate_stored && s.validated.is_none() {
            return Step::Validate;
        }
        match (fresh, s.validated) {
            (true, None | Some(true)) => return Step::Answer,
            (true, Some(false)) if can_refresh => return Step::Refresh,
            _ => {}
        }
    }
    if s.offered_refresh {
        return Step::RefreshOffered;
    }
    if let Some(grant) = s.app_grant {
        return Step::Grant(grant);
    }
    if s.may_prompt && !s.sign_in_modes.is_empty() {
        return Step::SignIn(s.sign_in_modes.clone());
    }
    if s.refresh_refused && !s.may_prompt {
        return Step::NeedsLogin;
    }
    Step::Nothing
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_000_000;

    fn oauth(expires_in: i64, refreshable: bool) -> Option<Stored> {
        let expires_at = Some((NOW as i64 + expires_in) as u64);
        Some(Stored { kind: SecretKind::OAuth, expires_at, refreshable })
    }

    fn api_token() -> Option<Stored> {
        Some(Stored { kind: SecretKind::Token, expires_at: None, refreshable: false })
    }

    fn situation(stored: Option<Stored>) -> Situation {
        Situation {
            stored,
            now: NOW,
            always_refresh: false,
            policy_says_refresh: None,
            validate_stored: false,
            app_grant: None,
            may_prompt: true,
            sign_in_modes: vec![AuthMode::OAuth, AuthMode::Token],
            validated: None,
            refresh_failed: false,
            refresh_refused: false,
            offered_refresh: false,
        }
    }

    fn check(rows: Vec<(&str, Situation, Step)>) {
        for (row, s, expected) in rows {
            assert_eq!(next_step(&s), expected, "{row}");
        }
    }

    /// Steps 1 and 2 (stored token, refresh), row by row: (what the row says, situation, expected step).
    #[test]
    fn stored_tokens_are_answered_or_refreshed() {
        let modes = vec![AuthMode::OAuth, AuthMode::Token];
        let rows: Vec<(&str, Situation, Step)> = vec![
            ("1. fresh OAuth token: answered, no network", situation(oauth(3600, true)), Step::Answer),
            ("1. API token without expiry is fresh", situation(api_token()), Step::Answer),
            ("1. 61 s left is fresh", situation(oauth(61, true)), Step::Answer),
            ("2. 60 s left counts as expired: refresh", situation(oauth(60, true)), Step::Refresh),
            ("2. expired with a refresh token: refresh", situation(oauth(-10, true)), Step::Refresh),
            (
                "2. always refresh: refresh a fresh token",
                Situation { always_refresh: true, ..situation(oauth(3600, true)) },
                Step::Refresh,
            ),
            (
                "2. always refresh without a refresh token: answer the fresh token",
                Situation { always_refresh: true, ..situation(oauth(3600, false)) },
                Step::Answer,
            ),
            (
                "2. the refresh gave nothing and the token is fresh: answer it",
                Situation { always_refresh: true, refresh_failed: true, ..situation(oauth(3600, true)) },
                Step::Answer,
            ),
            (
                "2. the refresh gave nothing and the token expired: sign in",
                Situation { refresh_failed: true, ..situation(oauth(-10, true)) },
                Step::SignIn(modes.clone()),
            ),
            (
                "2. a refresh policy that says now: refresh a fresh token",
                Situation { policy_says_refresh: Some(true), ..situation(oauth(3600, true)) },
                Step::Refresh,
            ),
            (
                "2. a refresh policy that says no: an expired token is not answered",
                Situation { policy_says_refresh: Some(false), ..situation(oauth(-10, true)) },
                Step::SignIn(modes.clone()),
            ),
            (
                "2. expired without a refresh token: sign in",
                situation(oauth(-10, false)),
                Step::SignIn(modes.clone()),
            ),
        ];
        check(rows);
    }

    /// The order of attempts with validation, application grants, sign-in and nothing.
    #[test]
    fn validation_grants_sign_in_and_nothing() {
        let modes = vec![AuthMode::OAuth, AuthMode::Token];
        let rows: Vec<(&str, Situation, Step)> = vec![
            (
                "validate: asked before answering",
                Situation { validate_stored: true, ..situation(api_token()) },
                Step::Validate,
            ),
            (
                "validate: accepted is answered",
                Situation { validate_stored: true, validated: Some(true), ..situation(api_token()) },
                Step::Answer,
            ),
            (
                "validate: refused and refreshable: refresh",
                Situation { validate_stored: true, validated: Some(false), ..situation(oauth(3600, true)) },
                Step::Refresh,
            ),
            (
                "validate: refused, nothing to refresh with: sign in",
                Situation { validate_stored: true, validated: Some(false), ..situation(api_token()) },
                Step::SignIn(modes.clone()),
            ),
            (
                "validate: an expired token is refreshed, not validated",
                Situation { validate_stored: true, ..situation(oauth(-10, true)) },
                Step::Refresh,
            ),
            (
                "3. client credentials mode, nothing stored: grant",
                Situation { app_grant: Some(AppGrant::ClientCredentials), ..situation(None) },
                Step::Grant(AppGrant::ClientCredentials),
            ),
            (
                "3. client credentials token cached: answered",
                Situation {
                    app_grant: Some(AppGrant::ClientCredentials),
                    ..situation(Some(Stored {
                        kind: SecretKind::ClientCredentials,
                        expires_at: Some(NOW + 3600),
                        refreshable: false,
                    }))
                },
                Step::Answer,
            ),
            (
                "3. JWT grant, even when prompts are off",
                Situation { app_grant: Some(AppGrant::Jwt), may_prompt: false, ..situation(None) },
                Step::Grant(AppGrant::Jwt),
            ),
            ("4. nothing stored, prompting allowed: sign in", situation(None), Step::SignIn(modes.clone())),
            (
                "4. only the methods that work here are offered",
                Situation { sign_in_modes: vec![AuthMode::Token], ..situation(None) },
                Step::SignIn(vec![AuthMode::Token]),
            ),
            ("5. prompts off: nothing", Situation { may_prompt: false, ..situation(None) }, Step::Nothing),
            (
                "5. no method works here: nothing",
                Situation { sign_in_modes: vec![], ..situation(None) },
                Step::Nothing,
            ),
            (
                "5. expired, prompts off, no refresh token: nothing",
                Situation { may_prompt: false, ..situation(oauth(-10, false)) },
                Step::Nothing,
            ),
        ];
        check(rows);
    }

    /// A refresh token git passed from a storage helper before this one (git >= 2.41).
    #[test]
    fn a_refresh_token_from_git_is_used_when_nothing_stored_works() {
        let offered = |stored| Situation { offered_refresh: true, ..situation(stored) };
        let rows: Vec<(&str, Situation, Step)> = vec![
            (
                "nothing stored, git offers a refresh token: refresh with it",
                offered(None),
                Step::RefreshOffered,
            ),
            ("a fresh stored token wins over the offered one", offered(oauth(3600, true)), Step::Answer),
            (
                "an expired stored token with its own refresh token: ours first",
                offered(oauth(-10, true)),
                Step::Refresh,
            ),
            (
                "our refresh gave nothing: the offered one next",
                Situation { refresh_failed: true, ..offered(oauth(-10, true)) },
                Step::RefreshOffered,
            ),
            (
                "expired, nothing of ours to refresh with: the offered one",
                offered(oauth(-10, false)),
                Step::RefreshOffered,
            ),
            (
                "offered, prompts off: still refreshed (no person needed)",
                Situation { may_prompt: false, ..offered(None) },
                Step::RefreshOffered,
            ),
            (
                "offered before a client-credentials grant",
                Situation { app_grant: Some(AppGrant::ClientCredentials), ..offered(None) },
                Step::RefreshOffered,
            ),
        ];
        check(rows);
    }

    /// A refresh Bitbucket refused for a reason that is not a dead token nor the client: the
    /// refresh token is kept, and the person is never left stuck.
    #[test]
    fn a_refused_refresh_is_never_a_dead_end() {
        let modes = vec![AuthMode::OAuth, AuthMode::Token];
        let refused = |stored| Situation { refresh_failed: true, refresh_refused: true, ..situation(stored) };
        let rows: Vec<(&str, Situation, Step)> = vec![
            (
                "refused, expired, prompts allowed: sign in",
                refused(oauth(-10, true)),
                Step::SignIn(modes.clone()),
            ),
            (
                "refused, expired, prompts off: fail naming login",
                Situation { may_prompt: false, ..refused(oauth(-10, true)) },
                Step::NeedsLogin,
            ),
            (
                "refused, still fresh (always refresh): answer the fresh token",
                Situation { always_refresh: true, ..refused(oauth(3600, true)) },
                Step::Answer,
            ),
            (
                "refused, git offers a refresh token: try it first",
                Situation { offered_refresh: true, may_prompt: false, ..refused(oauth(-10, true)) },
                Step::RefreshOffered,
            ),
            (
                "refused, client credentials: a new grant needs no person",
                Situation {
                    app_grant: Some(AppGrant::ClientCredentials),
                    may_prompt: false,
                    ..refused(oauth(-10, true))
                },
                Step::Grant(AppGrant::ClientCredentials),
            ),
            (
                "refused, prompts allowed but no method here: git asks (nothing)",
                Situation { sign_in_modes: vec![], ..refused(oauth(-10, true)) },
                Step::Nothing,
            ),
        ];
        check(rows);
    }

    #[test]
    fn a_refresh_token_record_is_never_fresh() {
        let stored = Stored { kind: SecretKind::Refresh, expires_at: None, refreshable: true };
        assert!(!stored.is_fresh(NOW));
    }
}
