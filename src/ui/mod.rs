//! The admin page at `/settings/webhooks`: one HTML page, plain ES modules and a stylesheet,
//! compiled into the binary so the page works on a network without internet access. The page
//! is a client of the public JSON API; nothing here reads or writes data.
//!
//! Assets live under `/settings/webhooks/assets/<version>/`, where `<version>` is a digest of
//! every asset's bytes: a new binary with changed assets has new URLs, so assets may be cached
//! for a year (`immutable`), while the HTML page itself is never cached. The modules import
//! each other by relative path, so they stay within one version.
//!
//! Every answer carries a strict Content-Security-Policy (only this origin's scripts, styles,
//! images and API; no inline script or style) and a `frame-ancestors` from
//! `server.frame_ancestors`.

use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode};
use http_body_util::Full;
use sha2::{Digest, Sha256};

use crate::config::Config;

/// Where the page is served.
pub(crate) const PAGE_PATH: &str = "/settings/webhooks";
const ASSET_PREFIX: &str = "/settings/webhooks/assets/";

const INDEX_HTML: &str = include_str!("assets/index.html");
const MESSAGE_HTML: &str = include_str!("assets/message.html");

/// `(file name, content type, bytes)` of every asset.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/api.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/dom.js"),
    ),
    (
        "webhooks.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/webhooks.js"),
    ),
    (
        "form.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/form.js"),
    ),
    (
        "deliveries.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/deliveries.js"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("assets/icon.svg"),
    ),
];

/// A year: safe because an asset's URL changes whenever its bytes do.
const ASSET_CACHE: &str = "public, max-age=31536000, immutable";

/// The first 12 hex digits of SHA-256 over every asset (name and bytes).
fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut h = Sha256::new();
        for (name, _, bytes) in ASSETS {
            h.update(name.as_bytes());
            h.update([0]);
            h.update(bytes);
        }
        hex::encode(h.finalize())[..12].to_string()
    })
}

/// `/settings/webhooks/assets/<version>`, without a trailing slash.
fn asset_base() -> String {
    format!("{ASSET_PREFIX}{}", version())
}

/// Answer a request under `/settings/`: the page, an asset, or a 404/405 page.
pub(crate) fn serve(method: &Method, path: &str, config: &Config) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        let mut resp = message_page(
            StatusCode::METHOD_NOT_ALLOWED,
            "Not allowed",
            "This address only answers GET requests.",
            config,
        );
        resp.headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let head = method == Method::HEAD;
    let resp = if path == PAGE_PATH || path == "/settings/webhooks/" {
        page(config)
    } else if let Some(rest) = path.strip_prefix(ASSET_PREFIX) {
        asset(rest, config)
    } else {
        None
    };
    let resp = resp.unwrap_or_else(|| {
        message_page(
            StatusCode::NOT_FOUND,
            "Page not found",
            "There is nothing at this address. The webhook settings are at /settings/webhooks.",
            config,
        )
    });
    if head {
        let (parts, _) = resp.into_parts();
        return Response::from_parts(parts, Full::new(Bytes::new()));
    }
    resp
}

/// The page itself, with the asset version and the one setting the browser needs.
fn page(config: &Config) -> Option<Response<Full<Bytes>>> {
    let html = INDEX_HTML.replace("{{ASSETS}}", &asset_base()).replace(
        "{{ALLOW_HTTP}}",
        if config.delivery.allow_http {
            "true"
        } else {
            "false"
        },
    );
    Some(html_response(StatusCode::OK, html, config))
}

fn asset(rest: &str, config: &Config) -> Option<Response<Full<Bytes>>> {
    let (ver, name) = rest.split_once('/')?;
    if ver != version() {
        return None;
    }
    let (_, content_type, bytes) = ASSETS.iter().find(|(n, _, _)| *n == name)?;
    let mut resp = Response::new(Full::new(Bytes::from_static(bytes)));
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static(ASSET_CACHE),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    security_headers(&mut resp, config);
    Some(resp)
}

/// A small page with one heading and one sentence (a used sign-in link, a wrong address),
/// styled like the admin page and linking back to it.
pub(crate) fn message_page(
    status: StatusCode,
    title: &str,
    sentence: &str,
    config: &Config,
) -> Response<Full<Bytes>> {
    let html = MESSAGE_HTML
        .replace("{{ASSETS}}", &asset_base())
        .replace("{{TITLE}}", &escape(title))
        .replace("{{SENTENCE}}", &escape(sentence));
    html_response(status, html, config)
}

fn html_response(status: StatusCode, html: String, config: &Config) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(html)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    security_headers(&mut resp, config);
    resp
}

/// The Content-Security-Policy of every admin page answer.
fn content_security_policy(config: &Config) -> String {
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors {}",
        config.server.frame_ancestors
    )
}

/// CSP, framing, sniffing and referrer headers. Add them to any admin page response.
pub(crate) fn security_headers(resp: &mut Response<Full<Bytes>>, config: &Config) {
    let h = resp.headers_mut();
    // `frame_ancestors` is validated at start (no `;`, `,`, quotes or control characters),
    // so the header value is always valid; fall back to the strictest policy all the same.
    let csp = HeaderValue::from_str(&content_security_policy(config))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"));
    h.insert(http::header::CONTENT_SECURITY_POLICY, csp);
    // X-Frame-Options cannot name origins; it is sent only when it says the same as the CSP.
    match config.server.frame_ancestors.trim() {
        "'none'" => {
            h.insert(
                http::header::X_FRAME_OPTIONS,
                HeaderValue::from_static("DENY"),
            );
        }
        "'self'" => {
            h.insert(
                http::header::X_FRAME_OPTIONS,
                HeaderValue::from_static("SAMEORIGIN"),
            );
        }
        _ => {}
    }
    h.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        http::header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// HTML-escape text for an element's content.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(resp: Response<Full<Bytes>>) -> String {
        use http_body_util::BodyExt;
        let rt = match tokio::runtime::Builder::new_current_thread().build() {
            Ok(rt) => rt,
            Err(e) => panic!("runtime: {e}"),
        };
        match rt.block_on(resp.into_body().collect()) {
            Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
            Err(never) => match never {},
        }
    }

    #[test]
    fn the_page_links_only_versioned_assets_that_exist() {
        let config = Config::default();
        let resp = serve(&Method::GET, PAGE_PATH, &config);
        assert_eq!(resp.status(), StatusCode::OK);
        let html = body(resp);
        assert!(!html.contains("{{"), "unreplaced placeholder in the page");
        let base = asset_base();
        let mut linked = 0;
        for piece in html.split(&format!("{base}/")).skip(1) {
            let name: String = piece.chars().take_while(|c| *c != '"').collect();
            let resp = serve(&Method::GET, &format!("{base}/{name}"), &config);
            assert_eq!(resp.status(), StatusCode::OK, "{name}");
            linked += 1;
        }
        assert!(linked >= 3, "the page links {linked} assets");
    }

    #[test]
    fn modules_import_only_assets_that_exist() {
        for (name, _, bytes) in ASSETS.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            let text = String::from_utf8_lossy(bytes);
            for piece in text.split("from './").skip(1) {
                let target: String = piece.chars().take_while(|c| *c != '\'').collect();
                assert!(
                    ASSETS.iter().any(|(n, _, _)| *n == target),
                    "{name} imports ./{target}, which is not an asset"
                );
            }
        }
    }

    #[test]
    fn an_old_asset_version_is_not_found_and_assets_are_cached_long() {
        let config = Config::default();
        let old = serve(
            &Method::GET,
            "/settings/webhooks/assets/000000000000/app.js",
            &config,
        );
        assert_eq!(old.status(), StatusCode::NOT_FOUND);
        let now = serve(&Method::GET, &format!("{}/app.js", asset_base()), &config);
        assert_eq!(
            now.headers()[http::header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert!(now.headers()[http::header::CONTENT_TYPE]
            .to_str()
            .unwrap_or("")
            .starts_with("text/javascript"));
    }

    #[test]
    fn frame_ancestors_follow_the_config() {
        let mut config = Config::default();
        let resp = serve(&Method::GET, PAGE_PATH, &config);
        let csp = resp.headers()[http::header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap_or("")
            .to_string();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert_eq!(resp.headers()[http::header::X_FRAME_OPTIONS], "DENY");
        config.server.frame_ancestors = "https://dms.example.com".into();
        let resp = serve(&Method::GET, PAGE_PATH, &config);
        assert!(resp.headers()[http::header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap_or("")
            .ends_with("frame-ancestors https://dms.example.com"));
        assert!(resp.headers().get(http::header::X_FRAME_OPTIONS).is_none());
    }

    #[test]
    fn message_pages_escape_their_text() {
        let resp = message_page(StatusCode::GONE, "<b>", "a & b", &Config::default());
        let html = body(resp);
        assert!(html.contains("&lt;b&gt;") && html.contains("a &amp; b"));
    }
}
