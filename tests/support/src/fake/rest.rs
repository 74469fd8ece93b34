//! The few REST endpoints a credential helper calls: Cloud `GET /2.0/user`; Data Center
//! `whoami`, `profile/recent/repos` (needs a user), `users/{slug}`, `login-options`, the OAuth
//! 2.0 provider probe `rest/oauth2/1.0/client`, and an
//! anonymous-readable `repos` listing (public access on, so "answers 200" proves nothing).

use serde_json::json;
use sha2::{Digest, Sha256};

use super::Shared;
use super::http::{Presented, Reply};
use super::state::{CloudRestVerdict, Identity, Principal};

pub(crate) fn handle(shared: &Shared, method: &str, inner: &str, presented: &Presented) -> Reply {
    if method != "GET" {
        return Reply::text(405, "Method not allowed\n");
    }
    if shared.is_datacenter() {
        datacenter(shared, inner, presented)
    } else {
        cloud(shared, inner, presented)
    }
}

fn cloud(shared: &Shared, inner: &str, presented: &Presented) -> Reply {
    if inner != "/2.0/user" {
        return Reply::json(404, &cloud_error("Resource not found"));
    }
    let verdict = shared.state().cloud_rest_verdict(presented);
    match verdict {
        CloudRestVerdict::Ok(principal) => Reply::json(200, &cloud_user(&principal)),
        CloudRestVerdict::TwoStepRequired => {
            Reply::json(403, &cloud_error("Two-step verification is enabled for this account: use OAuth"))
        }
        // Bitbucket Cloud's answer to credentials without the scope an endpoint needs (its
        // REST API documents, "Scopes for the Bitbucket Cloud REST API"): 403 naming both lists.
        CloudRestVerdict::MissingScope { granted } => Reply::json(
            403,
            &json!({
                "type": "error",
                "error": {
                    "message": "Your credentials lack one or more required privilege scopes.",
                    "detail": { "granted": granted, "required": ["read:user:bitbucket"] },
                },
            }),
        ),
        CloudRestVerdict::Unauthorized => Reply::json(401, &cloud_error("Unauthorized"))
            .with_header("WWW-Authenticate", "Basic realm=\"Bitbucket.org HTTP\""),
    }
}

fn cloud_user(principal: &Principal) -> serde_json::Value {
    let name = match principal {
        Principal::User(name) | Principal::App(name) => name,
    };
    json!({
        "type": "user",
        "username": name,
        "display_name": name,
        "account_id": format!("557058:{}", uuid_for(name)),
        "uuid": format!("{{{}}}", uuid_for(name)),
    })
}

fn cloud_error(message: &str) -> serde_json::Value {
    json!({ "type": "error", "error": { "message": message } })
}

fn datacenter(shared: &Shared, inner: &str, presented: &Presented) -> Reply {
    let identity = shared.state().datacenter_identity(presented);
    let reply = datacenter_answer(shared, inner, presented, &identity);
    with_ausername(shared, reply, &identity)
}

/// Data Center names the user a request was authenticated as in `X-AUSERNAME` (Atlassian's
/// Seraph filter, URL-encoded; `anonymous` without a user), on every answer; GCM's users and
/// other clients read it where no endpoint says who an OAuth token belongs to.
pub(crate) fn with_ausername(shared: &Shared, reply: Reply, identity: &Identity) -> Reply {
    if !shared.state().ausername_header {
        return reply;
    }
    let name = match identity {
        Identity::Rejected => return reply,
        Identity::Anonymous => "anonymous".to_owned(),
        _ => identity.remote_user().unwrap_or_default(),
    };
    let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    reply.with_header("X-AUSERNAME", &encoded)
}

fn datacenter_answer(shared: &Shared, inner: &str, presented: &Presented, identity: &Identity) -> Reply {
    let identity = identity.clone();
    if identity == Identity::Rejected {
        // Real Data Center refuses bad credentials even on endpoints open to anonymous users.
        return datacenter_unauthorized();
    }
    let api = inner.strip_prefix("/rest/api/1.0").or_else(|| inner.strip_prefix("/rest/api/latest"));
    match (inner, api) {
        ("/plugins/servlet/applinks/whoami", _) => {
            let empty = shared.state().whoami_empty_for_bearer && matches!(presented, Presented::Bearer(_));
            let name = if empty { String::new() } else { identity.remote_user().unwrap_or_default() };
            Reply::text(200, &name)
        }
        ("/rest/authconfig/1.0/login-options", _) => {
            let mut options = vec![json!({ "type": "LOGIN_FORM" })];
            if shared.state().identity_provider {
                options.push(json!({ "type": "IDP", "id": "fake-idp", "name": "Fake SSO" }));
            }
            Reply::json(200, &json!({ "results": options }))
        }
        // Bitbucket Data Center 7.20+ with its OAuth 2.0 provider: listing clients needs an
        // administrator (there are none here), so anonymous is 401 and a user 403; without
        // the provider the path does not exist (bitbucket-api.md; GCM's IsOAuthInstalledAsync).
        ("/rest/oauth2/1.0/client", _) if shared.state().oauth_provider => match identity {
            Identity::Anonymous => datacenter_unauthorized(),
            _ => Reply::json(403, &datacenter_error("You are not permitted to access this resource")),
        },
        (_, Some("/profile/recent/repos")) => match identity {
            Identity::Anonymous => datacenter_unauthorized(),
            _ => Reply::json(200, &page(Vec::new())),
        },
        (_, Some(rest)) if rest.starts_with("/users/") => {
            datacenter_user(shared, &identity, &rest["/users/".len()..])
        }
        (_, Some(rest)) if rest == "/repos" || rest.starts_with("/repos?") => {
            let repos = shared.state().repos.clone();
            Reply::json(200, &page(repos.iter().map(|r| repo_json(r)).collect()))
        }
        _ => Reply::json(404, &datacenter_error("The requested resource does not exist")),
    }
}

fn datacenter_user(shared: &Shared, identity: &Identity, slug: &str) -> Reply {
    if *identity == Identity::Anonymous {
        return datacenter_unauthorized();
    }
    let state = shared.state();
    let Some(user) = state.user(slug) else {
        return Reply::json(404, &datacenter_error(&format!("User {slug} does not exist")));
    };
    let id = u64::from_str_radix(&uuid_for(&user.username)[..8], 16).unwrap_or(1);
    Reply::json(
        200,
        &json!({
            "name": user.username,
            "emailAddress": user.email,
            "id": id,
            "displayName": user.username,
            "active": true,
            "slug": user.username,
            "type": "NORMAL",
        }),
    )
}

fn repo_json(name: &str) -> serde_json::Value {
    let (project, slug) = name.split_once('/').unwrap_or(("", name));
    json!({ "slug": slug, "name": slug, "public": true, "project": { "key": project } })
}

fn page(values: Vec<serde_json::Value>) -> serde_json::Value {
    json!({ "size": values.len(), "limit": 25, "isLastPage": true, "start": 0, "values": values })
}

fn datacenter_unauthorized() -> Reply {
    Reply::json(401, &datacenter_error("Authentication failed. Please check your credentials and try again."))
        .with_header("WWW-Authenticate", "Basic realm=\"Atlassian Bitbucket\"")
}

fn datacenter_error(message: &str) -> serde_json::Value {
    json!({ "errors": [{ "context": null, "message": message, "exceptionName": null }] })
}

/// A stable UUID-shaped id for a name, so repeated runs see the same account ids.
fn uuid_for(name: &str) -> String {
    let hex: String = Sha256::digest(name.as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}
