//! Portal links: one-time sign-in links to the admin page for one tenant, and the browser
//! sessions they open.
//!
//! `POST /api/portal-links` mints a link; opening it (`GET /settings/webhooks/portal?token=`)
//! uses it up and sets a session cookie (HttpOnly, SameSite=Strict, Secure when hookd is
//! reached over HTTPS). An API call with that cookie acts as an admin of the link's tenant,
//! but only when it also carries `X-Hookd-Session: 1`: a cross-site form cannot set a
//! custom header, and a cross-site script cannot send one without a CORS preflight, which
//! hookd never grants. `GET /api/portal-session` describes the session;
//! `DELETE /api/portal-session` ends it.
//!
//! Links and sessions live in memory only, stored by the SHA-256 of their token: a restart
//! ends every session and every unused link. Both are bounded in number.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde::Deserialize;
use serde_json::json;

use super::auth::Principal;
use super::body::{json_response, no_content, optional_json};
use super::error::ApiError;
use super::router::admin_tenant;
use super::AppState;
use crate::config::Config;
use crate::model::{format_ms, now_ms, Role};
use crate::signing::{key_hash, new_api_key};

type Resp = Result<Response<Full<Bytes>>, ApiError>;

/// The session cookie's name.
const COOKIE: &str = "hookd_session";
/// The header every API call made with the session cookie must carry (value `1`).
pub(crate) const SESSION_HEADER: &str = "x-hookd-session";
/// How long a link stays usable unless the request says otherwise, and the longest allowed.
const DEFAULT_LINK_SECS: u64 = 600;
const MAX_LINK_SECS: u64 = 86_400;
/// How long a session lasts after its link was opened (absolute, not renewed by use).
const SESSION_SECS: u64 = 8 * 3600;
/// Per tenant: at most this many unused unexpired links, and as many sessions.
const MAX_OPEN_PER_TENANT: usize = 1_000;
/// A link is remembered this long after it expired, so that opening it then says "expired"
/// rather than "not valid".
const EXPIRED_KEPT_MS: u64 = 3_600_000;

/// A minted link, until it expires (kept after use so that a second opening can say so).
struct Link {
    tenant_id: String,
    expires_at: u64,
    used: bool,
}

struct Session {
    tenant_id: String,
    expires_at: u64,
}

#[derive(Default)]
struct Tables {
    links: HashMap<[u8; 32], Link>,
    sessions: HashMap<[u8; 32], Session>,
}

impl Tables {
    fn prune(&mut self, now: u64) {
        self.links
            .retain(|_, l| l.expires_at.saturating_add(EXPIRED_KEPT_MS) > now);
        self.sessions.retain(|_, s| s.expires_at > now);
    }
}

/// Why a link did not sign anyone in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkRefused {
    Used,
    Expired,
    Unknown,
    Full,
}

/// The portal's links and sessions, owned by the API state.
pub(crate) struct Portal {
    /// The base URL links are minted under (`server.public_url`, else what hookd listens on).
    base_url: String,
    tables: Mutex<Tables>,
}

impl Portal {
    pub(crate) fn new(base_url: &str) -> Portal {
        Portal {
            base_url: base_url.trim_end_matches('/').to_string(),
            tables: Mutex::new(Tables::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        // The tables hold no invariant a panicking holder could break half-way.
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new link token for `tenant_id`, usable once until `expires_at` (ms).
    fn mint(&self, tenant_id: &str, expires_at: u64) -> Option<String> {
        let token = new_api_key("hpl_");
        let now = now_ms();
        let mut t = self.lock();
        t.prune(now);
        let open = t
            .links
            .values()
            .filter(|l| l.tenant_id == tenant_id && !l.used && l.expires_at > now)
            .count();
        if open >= MAX_OPEN_PER_TENANT {
            return None;
        }
        t.links.insert(
            key_hash(&token),
            Link {
                tenant_id: tenant_id.to_string(),
                expires_at,
                used: false,
            },
        );
        Some(token)
    }

    /// Use up a link: a new session token, its tenant and its expiry.
    fn open(&self, link_token: &str) -> Result<(String, String, u64), LinkRefused> {
        let now = now_ms();
        let mut t = self.lock();
        t.prune(now);
        let hash = key_hash(link_token);
        let tenant_id = match t.links.get(&hash) {
            None => return Err(LinkRefused::Unknown),
            Some(l) if l.expires_at <= now => return Err(LinkRefused::Expired),
            Some(l) if l.used => return Err(LinkRefused::Used),
            Some(l) => l.tenant_id.clone(),
        };
        let sessions = t
            .sessions
            .values()
            .filter(|s| s.tenant_id == tenant_id)
            .count();
        if sessions >= MAX_OPEN_PER_TENANT {
            return Err(LinkRefused::Full);
        }
        if let Some(l) = t.links.get_mut(&hash) {
            l.used = true;
        }
        let token = new_api_key("hps_");
        let expires_at = now + SESSION_SECS * 1000;
        t.sessions.insert(
            key_hash(&token),
            Session {
                tenant_id: tenant_id.clone(),
                expires_at,
            },
        );
        Ok((token, tenant_id, expires_at))
    }

    /// The tenant and expiry of a live session.
    fn session(&self, token: &str) -> Option<(String, u64)> {
        let t = self.lock();
        let s = t.sessions.get(&key_hash(token))?;
        (s.expires_at > now_ms()).then(|| (s.tenant_id.clone(), s.expires_at))
    }

    fn end(&self, token: &str) -> bool {
        self.lock().sessions.remove(&key_hash(token)).is_some()
    }
}

/// The session token from the `Cookie` header(s), if any.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

fn has_session_header(headers: &HeaderMap) -> bool {
    headers
        .get(SESSION_HEADER)
        .is_some_and(|v| v.as_bytes() == b"1")
}

fn session_ended() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "session_ended",
        "your admin page session has ended (signed out, expired or hookd restarted); open a new sign-in link or sign in with an API key",
    )
}

/// For a request without `Authorization`: the principal of its session cookie. `None` when
/// there is no session cookie at all.
pub(crate) fn session_principal(
    state: &AppState,
    headers: &HeaderMap,
) -> Option<Result<Principal, ApiError>> {
    let token = session_cookie(headers)?;
    if !has_session_header(headers) {
        return Some(Err(ApiError::forbidden(
            "requests made with the admin page's session cookie must carry the header `X-Hookd-Session: 1`",
        )));
    }
    let Some((tenant_id, _)) = state.portal.session(token) else {
        return Some(Err(session_ended()));
    };
    // A tenant deleted while the session was open leaves nothing to administer.
    match state.store.get_tenant(&tenant_id) {
        Ok(Some(_)) => Some(Ok(Principal::Tenant {
            tenant_id,
            role: Role::Admin,
        })),
        Ok(None) => {
            state.portal.end(token);
            Some(Err(session_ended()))
        }
        Err(e) => Some(Err(e.into())),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LinkInput {
    expires_in_secs: Option<u64>,
}

/// `POST /api/portal-links {expires_in_secs?}` → 201 `{url, expires_at}`.
pub(crate) async fn create_link(
    state: &AppState,
    p: &Principal,
    parts: &Parts,
    body: &Bytes,
) -> Resp {
    let tenant = admin_tenant(state, p, parts)?;
    let input: LinkInput = optional_json(&parts.headers, body)?;
    let secs = input.expires_in_secs.unwrap_or(DEFAULT_LINK_SECS);
    if secs == 0 || secs > MAX_LINK_SECS {
        return Err(ApiError::unprocessable(
            "invalid_expiry",
            "expires_in_secs",
            format!("`expires_in_secs` must be between 1 and {MAX_LINK_SECS} (one day)"),
        ));
    }
    let expires_at = now_ms() + secs * 1000;
    let Some(token) = state.portal.mint(&tenant, expires_at) else {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_links",
            format!("{MAX_OPEN_PER_TENANT} sign-in links of this tenant are open and unused; wait for some to expire"),
        ));
    };
    tracing::info!(tenant = %tenant, expires_in_secs = secs, "portal link minted");
    let url = format!(
        "{}{}/portal?token={token}",
        state.portal.base_url,
        crate::ui::PAGE_PATH
    );
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"url": url, "expires_at": format_ms(expires_at)}),
    ))
}

/// `GET /api/portal-session`: who the session cookie signs in (404 for a key).
pub(crate) fn get_session(state: &AppState, parts: &Parts) -> Resp {
    let session = session_cookie(&parts.headers)
        .filter(|_| parts.headers.get(http::header::AUTHORIZATION).is_none())
        .and_then(|token| state.portal.session(token));
    let Some((tenant_id, expires_at)) = session else {
        return Err(ApiError::not_found("admin page session"));
    };
    let name = state
        .store
        .get_tenant(&tenant_id)?
        .map(|t| t.name)
        .unwrap_or_default();
    Ok(json_response(
        StatusCode::OK,
        &json!({"tenant_id": tenant_id, "tenant_name": name, "expires_at": format_ms(expires_at)}),
    ))
}

/// `DELETE /api/portal-session`: ends the session server-side and clears the cookie.
pub(crate) fn sign_out(state: &AppState, parts: &Parts) -> Resp {
    if parts.headers.get(http::header::AUTHORIZATION).is_some() {
        return Err(ApiError::bad_request(
            "not_a_session",
            "this request was made with an API key, not the admin page's session; there is nothing to sign out",
        ));
    }
    if let Some(token) = session_cookie(&parts.headers) {
        state.portal.end(token);
    }
    tracing::info!("portal session ended by sign-out");
    let mut resp = no_content();
    set_cookie(&mut resp, "", 0, &state.config);
    Ok(resp)
}

fn set_cookie(resp: &mut Response<Full<Bytes>>, token: &str, max_age: u64, config: &Config) {
    let secure = if served_over_https(config) {
        "; Secure"
    } else {
        ""
    };
    let cookie =
        format!("{COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(http::header::SET_COOKIE, v);
    }
}

/// Whether browsers reach hookd over HTTPS: it serves TLS itself, or its public URL is
/// `https://` (a TLS-terminating proxy in front).
fn served_over_https(config: &Config) -> bool {
    config.server.tls_cert_file.is_some()
        || config
            .server
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
}

/// `GET /settings/webhooks/portal?token=...`: use up the link, set the session cookie and
/// go to the page; or a page with a sentence saying why not.
pub(crate) fn open_link(state: &AppState, parts: &Parts) -> Response<Full<Bytes>> {
    let config = &state.config;
    let page = |status, title: &str, sentence: &str| {
        crate::ui::message_page(status, title, sentence, config)
    };
    if parts.method != http::Method::GET {
        let mut resp = page(
            StatusCode::METHOD_NOT_ALLOWED,
            "Open this link in a browser",
            "This sign-in link works when opened in a web browser.",
        );
        resp.headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static("GET"));
        return resp;
    }
    let token = super::query::pairs(parts.uri.query())
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v);
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "This sign-in link is incomplete",
            "The link is missing its code. Copy the whole link, or ask for a new one.",
        );
    };
    match state.portal.open(&token) {
        Ok((session, tenant, _)) if !matches!(state.store.get_tenant(&tenant), Ok(Some(_))) => {
            state.portal.end(&session);
            page(
                StatusCode::NOT_FOUND,
                "This sign-in link is not valid",
                "The account it was made for no longer exists.",
            )
        }
        Ok((session, tenant, _)) => {
            tracing::info!(tenant = %tenant, "portal link opened; session started");
            let mut resp = no_content();
            *resp.status_mut() = StatusCode::SEE_OTHER;
            let h = resp.headers_mut();
            h.insert(
                http::header::LOCATION,
                HeaderValue::from_static(crate::ui::PAGE_PATH),
            );
            h.insert(
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            );
            h.insert(
                http::header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            // A previous session of this browser ends with the new one.
            if let Some(old) = session_cookie(&parts.headers) {
                state.portal.end(old);
            }
            set_cookie(&mut resp, &session, SESSION_SECS, config);
            resp
        }
        Err(LinkRefused::Used) => page(
            StatusCode::GONE,
            "This sign-in link has already been used",
            "Each sign-in link works only once. Ask for a new link, for example by opening Webhooks again from your system's settings.",
        ),
        Err(LinkRefused::Expired) => page(
            StatusCode::GONE,
            "This sign-in link has expired",
            "Sign-in links work for a limited time. Ask for a new link, for example by opening Webhooks again from your system's settings.",
        ),
        Err(LinkRefused::Unknown) => page(
            StatusCode::NOT_FOUND,
            "This sign-in link is not valid",
            "The link may be incomplete, or it was made before hookd last restarted. Ask for a new link.",
        ),
        Err(LinkRefused::Full) => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many open sessions",
            "This account has as many open admin page sessions as hookd allows. Try again later, or sign in with an API key.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_opens_once_and_its_session_is_found_by_token() {
        let p = Portal::new("http://127.0.0.1:1/");
        let link = p.mint("ten_a", now_ms() + 60_000).unwrap();
        let (session, tenant, _) = p.open(&link).unwrap();
        assert_eq!(tenant, "ten_a");
        assert_eq!(p.open(&link).unwrap_err(), LinkRefused::Used);
        assert_eq!(p.open("hpl_nope").unwrap_err(), LinkRefused::Unknown);
        assert_eq!(p.session(&session).unwrap().0, "ten_a");
        assert!(p.end(&session));
        assert!(p.session(&session).is_none());
    }

    #[test]
    fn an_expired_link_says_so() {
        let p = Portal::new("http://127.0.0.1:1");
        let link = p.mint("ten_a", now_ms() - 1).unwrap();
        p.mint("ten_a", now_ms() + 60_000).unwrap();
        assert_eq!(p.open(&link).unwrap_err(), LinkRefused::Expired);
    }

    #[test]
    fn the_cookie_is_read_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            HeaderValue::from_static("a=1; hookd_session=hps_x ; b=2"),
        );
        assert_eq!(session_cookie(&h), Some("hps_x"));
        h.insert(
            http::header::COOKIE,
            HeaderValue::from_static("hookd_session="),
        );
        assert_eq!(session_cookie(&h), None);
    }
}
