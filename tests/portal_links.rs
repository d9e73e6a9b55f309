//! Portal links and the admin page's session over plain HTTP: minting
//! (`POST /api/portal-links`), one-time use, expiry, the session cookie's attributes, the
//! `X-Hookd-Session` header rule, tenant scope, sign-out and restart; and the admin page's
//! own headers (CSP, framing, caching).

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

fn daemon() -> TestDaemon {
    TestDaemon::builder().config_extra(JOB_CATALOG).start()
}

/// `POST /api/portal-links` with `api`; answers the link's path (`/settings/...?token=`).
#[track_caller]
fn mint(api: &Api, body: serde_json::Value) -> String {
    let r = api.post("/api/portal-links", body);
    r.expect_status(201);
    let url = r.str("url");
    let path = url
        .strip_prefix(&api.base)
        .unwrap_or_else(|| panic!("link {url} is not under {}", api.base));
    path.to_string()
}

/// Open a link like a browser that does not follow the redirect.
fn open(d: &TestDaemon, path: &str) -> Resp {
    Api::anonymous(d).get(path)
}

/// The session token from a `Set-Cookie: hookd_session=...` answer.
#[track_caller]
fn session_of(r: &Resp) -> String {
    let cookie = r
        .header("set-cookie")
        .unwrap_or_else(|| panic!("no Set-Cookie in {} {:?}", r.status, r.headers));
    let value = cookie
        .strip_prefix("hookd_session=")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("unexpected cookie {cookie}"));
    value.to_string()
}

/// A request carrying the session cookie, with or without `X-Hookd-Session: 1`.
fn with_session(
    d: &TestDaemon,
    method: &str,
    path: &str,
    token: &str,
    header: Option<&str>,
    body: Option<serde_json::Value>,
) -> Resp {
    let cookie = format!("theme=dark; hookd_session={token}");
    let mut headers = vec![("Cookie", cookie.as_str())];
    if let Some(h) = header {
        headers.push(("X-Hookd-Session", h));
    }
    let bytes = body.map(|b| b.to_string().into_bytes());
    if bytes.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    Api::anonymous(d).send(method, path, bytes.as_deref(), &headers)
}

#[test]
fn a_portal_link_opens_a_session_once_and_a_second_opening_gets_a_sentence() {
    let d = daemon();
    let (tenant, key) = create_tenant(&d, "Acme Motors");
    let admin = Api::with_key(&d, &key);
    let r = admin.post("/api/portal-links", json!({}));
    r.expect_status(201);
    let url = r.str("url").to_string();
    assert!(
        url.starts_with(&format!("{}/settings/webhooks/portal?token=", d.base_url())),
        "{url}"
    );
    let expires = r.str("expires_at");
    let expires_ms = expires
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .unwrap_or_else(|e| panic!("expires_at {expires}: {e}"));
    let in_ms = expires_ms - jiff::Timestamp::now().as_millisecond();
    assert!(
        (590_000..=600_000).contains(&in_ms),
        "default expiry is {in_ms} ms away"
    );

    let path = url.strip_prefix(d.base_url()).unwrap().to_string();
    let first = open(&d, &path);
    assert_eq!(first.status, 303, "{}", first.text);
    assert_eq!(first.header("location"), Some("/settings/webhooks"));
    assert_eq!(first.header("cache-control"), Some("no-store"));
    let cookie = first.header("set-cookie").unwrap().to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "Secure over plain http: {cookie}"
    );
    let token = session_of(&first);
    let me = with_session(&d, "GET", "/api/portal-session", &token, Some("1"), None);
    me.expect_status(200);
    assert_eq!(me.str("tenant_id"), tenant);
    assert_eq!(me.str("tenant_name"), "Acme Motors");

    let again = open(&d, &path);
    assert_eq!(again.status, 410);
    assert!(again
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/html"));
    assert!(
        again
            .text
            .contains("This sign-in link has already been used"),
        "{}",
        again.text
    );
    assert!(again.header("set-cookie").is_none());
    assert!(again.json.is_null(), "a JSON error instead of a page");

    let unknown = open(&d, "/settings/webhooks/portal?token=hpl_made_up");
    assert_eq!(unknown.status, 404);
    assert!(unknown.text.contains("not valid"), "{}", unknown.text);
    let missing = open(&d, "/settings/webhooks/portal");
    assert_eq!(missing.status, 400);
}

#[test]
fn an_expired_link_says_it_expired_and_signs_nobody_in() {
    let d = daemon();
    let (_, key) = create_tenant(&d, "Acme");
    let path = mint(&Api::with_key(&d, &key), json!({"expires_in_secs": 1}));
    std::thread::sleep(Duration::from_millis(1300));
    let r = open(&d, &path);
    assert_eq!(r.status, 410);
    assert!(r.text.contains("has expired"), "{}", r.text);
    assert!(r.header("set-cookie").is_none());
}

#[test]
fn expiry_beyond_a_day_is_refused_and_minting_needs_an_admin_of_the_tenant() {
    let d = daemon();
    let (tenant, key) = create_tenant(&d, "Acme");
    let admin = Api::with_key(&d, &key);
    for bad in [
        json!({"expires_in_secs": 86401}),
        json!({"expires_in_secs": 0}),
    ] {
        let r = admin.post("/api/portal-links", &bad);
        assert_eq!(r.status, 422, "{bad}: {}", r.text);
        assert_eq!(r.json["error"]["field"], "expires_in_secs");
    }
    admin
        .post("/api/portal-links", json!({"expires_in_secs": 86400}))
        .expect_status(201);
    // No body at all: the default.
    admin
        .send("POST", "/api/portal-links", None, &[])
        .expect_status(201);
    let op = Api::as_operator(&d);
    assert_eq!(op.post("/api/portal-links", json!({})).status, 400);
    op.clone()
        .tenant(&tenant)
        .post("/api/portal-links", json!({}))
        .expect_status(201);
    let publisher = op.post(
        &format!("/api/tenants/{tenant}/keys"),
        json!({"role": "publisher"}),
    );
    publisher.expect_status(201);
    let r = Api::with_key(&d, publisher.str("key")).post("/api/portal-links", json!({}));
    assert_eq!(r.status, 403);
    assert_eq!(
        Api::anonymous(&d)
            .post("/api/portal-links", json!({}))
            .status,
        401
    );
}

#[test]
fn the_session_cookie_counts_only_with_the_x_hookd_session_header() {
    let d = daemon();
    let (_, key) = create_tenant(&d, "Acme");
    let path = mint(&Api::with_key(&d, &key), json!({}));
    let token = session_of(&open(&d, &path));
    let bare = with_session(&d, "GET", "/api/webhooks", &token, None, None);
    assert_eq!(bare.status, 403, "{}", bare.text);
    assert!(bare.text.contains("X-Hookd-Session"), "{}", bare.text);
    let wrong = with_session(&d, "GET", "/api/webhooks", &token, Some("yes"), None);
    assert_eq!(wrong.status, 403);
    // A form post cannot add the header either: the write is refused, nothing is created.
    let form = with_session(
        &d,
        "POST",
        "/api/webhooks",
        &token,
        None,
        Some(json!({"url": "https://evil.example/h", "events": ["job.*"], "verify": false})),
    );
    assert_eq!(form.status, 403);
    let listed = with_session(&d, "GET", "/api/webhooks", &token, Some("1"), None);
    listed.expect_status(200);
    assert_eq!(listed.json["data"].as_array().map(Vec::len), Some(0));
    let forged = with_session(&d, "GET", "/api/webhooks", "hps_forged", Some("1"), None);
    assert_eq!(forged.status, 401);
}

#[test]
fn a_session_is_an_admin_of_its_own_tenant_only() {
    let d = daemon();
    let (_, key_a) = create_tenant(&d, "A");
    let (_, key_b) = create_tenant(&d, "B");
    let (wh_b, _) = new_webhook(
        &Api::with_key(&d, &key_b),
        "https://b.example/hook",
        json!(["job.*"]),
        json!({}),
    );
    let token = session_of(&open(&d, &mint(&Api::with_key(&d, &key_a), json!({}))));
    let created = with_session(
        &d,
        "POST",
        "/api/webhooks",
        &token,
        Some("1"),
        Some(json!({"url": "https://a.example/hook", "events": ["job.*"], "verify": false})),
    );
    created.expect_status(201);
    let wh_a = created.str("id").to_string();
    assert_eq!(
        with_session(
            &d,
            "GET",
            &format!("/api/webhooks/{wh_a}"),
            &token,
            Some("1"),
            None
        )
        .status,
        200
    );
    for path in [
        format!("/api/webhooks/{wh_b}"),
        format!("/api/webhooks/{wh_b}/deliveries"),
    ] {
        let r = with_session(&d, "GET", &path, &token, Some("1"), None);
        assert_eq!(r.status, 404, "{path}: {}", r.text);
    }
    let del = with_session(
        &d,
        "DELETE",
        &format!("/api/webhooks/{wh_b}"),
        &token,
        Some("1"),
        None,
    );
    assert_eq!(del.status, 404);
    Api::with_key(&d, &key_b)
        .get(&format!("/api/webhooks/{wh_b}"))
        .expect_status(200);
    let listed = with_session(&d, "GET", "/api/webhooks", &token, Some("1"), None);
    let ids: Vec<_> = listed.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(ids, vec![wh_a]);
    // Operator routes stay the operator's.
    assert_eq!(
        with_session(&d, "GET", "/api/tenants", &token, Some("1"), None).status,
        403
    );
}

#[test]
fn sign_out_ends_the_session_on_the_server_and_clears_the_cookie() {
    let d = daemon();
    let (_, key) = create_tenant(&d, "Acme");
    let token = session_of(&open(&d, &mint(&Api::with_key(&d, &key), json!({}))));
    with_session(&d, "GET", "/api/webhooks", &token, Some("1"), None).expect_status(200);
    let bare = with_session(&d, "DELETE", "/api/portal-session", &token, None, None);
    assert_eq!(bare.status, 403, "sign-out without the header");
    let out = with_session(&d, "DELETE", "/api/portal-session", &token, Some("1"), None);
    out.expect_status(204);
    let cleared = out.header("set-cookie").unwrap_or("");
    assert!(
        cleared.starts_with("hookd_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let after = with_session(&d, "GET", "/api/webhooks", &token, Some("1"), None);
    assert_eq!(after.status, 401);
    assert_eq!(after.error_code(), Some("session_ended"));
}

#[test]
fn a_restart_ends_sessions_and_unused_links() {
    let mut d = daemon();
    let (_, key) = create_tenant(&d, "Acme");
    let admin = Api::with_key(&d, &key);
    let unused = mint(&admin, json!({}));
    let token = session_of(&open(&d, &mint(&admin, json!({}))));
    d.restart();
    let r = open(&d, &unused);
    assert_eq!(r.status, 404);
    assert!(r.text.contains("not valid"), "{}", r.text);
    assert_eq!(
        with_session(&d, "GET", "/api/webhooks", &token, Some("1"), None).status,
        401
    );
}

#[test]
fn the_cookie_is_secure_when_hookd_serves_https() {
    let pki_dir = tempfile::tempdir().unwrap();
    let (ca, cert, tls_key) = test_pki().write_to(pki_dir.path());
    let d = TestDaemon::builder()
        .config_extra(&format!(
            "[server]\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"",
            cert.display(),
            tls_key.display()
        ))
        .api_ca_file(&ca)
        .start();
    let client = HttpsClient::with_ca_file(&ca, Alpn::Http1Only);
    let auth = format!("Bearer {}", d.operator_key());
    let tenant = client
        .request(
            "POST",
            &d.url("/api/tenants"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            br#"{"name": "Acme"}"#,
        )
        .unwrap();
    let tenant: serde_json::Value = serde_json::from_slice(&tenant.body).unwrap();
    let link = client
        .request(
            "POST",
            &d.url("/api/portal-links"),
            &[
                ("authorization", &auth),
                ("x-tenant-id", tenant["id"].as_str().unwrap()),
            ],
            b"",
        )
        .unwrap();
    assert_eq!(link.status, 201, "{}", link.text());
    let link: serde_json::Value = serde_json::from_slice(&link.body).unwrap();
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with("https://"), "{url}");
    let opened = client.get(url).unwrap();
    assert_eq!(opened.status, 303);
    let cookie = opened.header("set-cookie").unwrap_or("");
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[test]
fn the_admin_page_is_served_with_a_strict_policy_and_configurable_framing() {
    let d = daemon();
    let page = Api::anonymous(&d).get("/settings/webhooks");
    page.expect_status(200);
    assert!(page.text.contains("<title>Webhooks</title>"));
    let csp = page.header("content-security-policy").unwrap_or("");
    for directive in [
        "default-src 'self'",
        "script-src 'self';",
        "style-src 'self';",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing: {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert!(
        !page.text.contains("<script>") && !page.text.contains(" style="),
        "inline script or style in the page"
    );
    let css = page
        .text
        .split('"')
        .find(|s| s.starts_with("/settings/webhooks/assets/") && s.ends_with("/app.css"))
        .expect("the page links its stylesheet")
        .to_string();
    let asset = Api::anonymous(&d).get(&css);
    asset.expect_status(200);
    assert_eq!(
        asset.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(asset
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/css"));
    let missing = Api::anonymous(&d).get("/settings/nothing-here");
    assert_eq!(missing.status, 404);
    assert!(missing
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/html"));
    assert_eq!(
        Api::anonymous(&d)
            .send("POST", "/settings/webhooks", Some(b"x"), &[])
            .status,
        405
    );

    let framed = TestDaemon::builder()
        .config_extra("[server]\nframe_ancestors = \"'self' https://dms.example.com\"\n")
        .start();
    let page = Api::anonymous(&framed).get("/settings/webhooks");
    let csp = page.header("content-security-policy").unwrap_or("");
    assert!(
        csp.ends_with("frame-ancestors 'self' https://dms.example.com"),
        "{csp}"
    );
    assert!(page.header("x-frame-options").is_none());
}
