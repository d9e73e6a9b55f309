//! `Api`: a small blocking JSON client (ureq) for hookd's HTTP API. It never panics on a 4xx/5xx
//! answer: every answer becomes a [`Resp`]. Plain `http://` only (ureq is built without TLS).

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::daemon::TestDaemon;

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body as JSON; `Null` when empty or not JSON.
    pub json: Value,
    pub text: String,
}

impl Resp {
    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Panic with the body unless the status is `status`; returns `self` for chaining.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Resp {
        assert_eq!(
            self.status, status,
            "expected HTTP {status}, got {}: {}",
            self.status, self.text
        );
        self
    }

    /// `json["error"]["code"]` when present.
    pub fn error_code(&self) -> Option<&str> {
        self.json.get("error")?.get("code")?.as_str()
    }

    /// `json[key]` as a string (e.g. `resp.str("id")`); panics with the body if absent.
    #[track_caller]
    pub fn str(&self, key: &str) -> &str {
        self.json
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no string `{key}` in {}: {}", self.status, self.text))
    }
}

/// A client for one key (and optionally one tenant, sent as `X-Tenant-Id`).
#[derive(Clone)]
pub struct Api {
    pub base: String,
    /// Sent as `Authorization: Bearer <key>`; empty = no `Authorization` header.
    pub key: String,
    pub tenant: Option<String>,
    agent: ureq::Agent,
}

impl Api {
    pub fn new(base: &str, key: &str) -> Api {
        Api {
            base: base.trim_end_matches('/').to_string(),
            key: key.to_string(),
            tenant: None,
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(10))
                .timeout(Duration::from_secs(120))
                .redirects(0)
                .build(),
        }
    }

    /// With the daemon's operator key.
    pub fn as_operator(daemon: &TestDaemon) -> Api {
        Api::new(daemon.base_url(), daemon.operator_key())
    }

    /// With some other key (a tenant's admin or publisher key, or a wrong one).
    pub fn with_key(daemon: &TestDaemon, key: &str) -> Api {
        Api::new(daemon.base_url(), key)
    }

    /// Without any `Authorization` header.
    pub fn anonymous(daemon: &TestDaemon) -> Api {
        Api::new(daemon.base_url(), "")
    }

    /// The same client sending `X-Tenant-Id: <id>`.
    pub fn tenant(mut self, id: &str) -> Api {
        self.tenant = Some(id.to_string());
        self
    }

    /// The same client against another base URL (e.g. after a restart changed the port).
    pub fn rebase(mut self, base: &str) -> Api {
        self.base = base.trim_end_matches('/').to_string();
        self
    }

    pub fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None, &[])
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, None, &[])
    }

    pub fn post(&self, path: &str, body: impl serde::Serialize) -> Resp {
        self.send_json("POST", path, body)
    }

    pub fn put(&self, path: &str, body: impl serde::Serialize) -> Resp {
        self.send_json("PUT", path, body)
    }

    pub fn patch(&self, path: &str, body: impl serde::Serialize) -> Resp {
        self.send_json("PATCH", path, body)
    }

    /// POST arbitrary bytes with a content type and extra headers (e.g. `Idempotency-Key`).
    pub fn post_raw(
        &self,
        path: &str,
        body: &[u8],
        content_type: &str,
        extra_headers: &[(&str, &str)],
    ) -> Resp {
        let mut headers = vec![("Content-Type", content_type)];
        headers.extend_from_slice(extra_headers);
        self.send("POST", path, Some(body), &headers)
    }

    /// POST JSON with extra headers.
    pub fn post_with_headers(
        &self,
        path: &str,
        body: impl serde::Serialize,
        extra_headers: &[(&str, &str)],
    ) -> Resp {
        let body = serde_json::to_vec(&body).expect("serialize JSON body");
        self.post_raw(path, &body, "application/json", extra_headers)
    }

    fn send_json(&self, method: &str, path: &str, body: impl serde::Serialize) -> Resp {
        let body = serde_json::to_vec(&body).expect("serialize JSON body");
        self.send(
            method,
            path,
            Some(&body),
            &[("Content-Type", "application/json")],
        )
    }

    /// Any request; panics only when there is no HTTP answer at all (see [`Api::try_send`]).
    #[track_caller]
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Resp {
        match self.try_send(method, path, body, headers) {
            Ok(r) => r,
            Err(e) => panic!("{method} {}{path}: no HTTP answer: {e}", self.base),
        }
    }

    /// Any request; `Err` on a transport failure (connection refused, timeout, ...).
    pub fn try_send(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Result<Resp, String> {
        let url = format!("{}{}", self.base, path);
        let mut req = self.agent.request(method, &url);
        if !self.key.is_empty() {
            req = req.set("Authorization", &format!("Bearer {}", self.key));
        }
        if let Some(t) = &self.tenant {
            req = req.set("X-Tenant-Id", t);
        }
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let result = match body {
            Some(b) => req.send_bytes(b),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(e.to_string()),
        };
        Ok(into_resp(resp))
    }
}

fn into_resp(resp: ureq::Response) -> Resp {
    let status = resp.status();
    let mut headers = Vec::new();
    for name in resp.headers_names() {
        for value in resp.all(&name) {
            headers.push((name.to_ascii_lowercase(), value.to_string()));
        }
    }
    let mut bytes = Vec::new();
    let _ = resp
        .into_reader()
        .take(64 * 1024 * 1024)
        .read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        json,
        text,
    }
}

/// `POST /api/tenants {"name"}` with the operator key; expects 201 and returns
/// `(tenant_id, admin_api_key)`.
#[track_caller]
pub fn create_tenant(daemon: &TestDaemon, name: &str) -> (String, String) {
    let r = Api::as_operator(daemon).post("/api/tenants", serde_json::json!({ "name": name }));
    r.expect_status(201);
    (r.str("id").to_string(), r.str("api_key").to_string())
}

/// Poll `f` every 25 ms until it is true or `timeout` has passed; returns the last result.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// `POST /api/webhooks` without the reachability check (`verify: false`), subscribed to
/// `events`, with the fields of `extra` added; answers `(id, secret)`.
#[track_caller]
pub fn new_webhook(api: &Api, url: &str, events: Value, extra: Value) -> (String, String) {
    let mut body = serde_json::json!({"url": url, "events": events, "verify": false});
    if let Some(fields) = extra.as_object() {
        for (k, v) in fields {
            body[k] = v.clone();
        }
    }
    let r = api.post("/api/webhooks", &body);
    r.expect_status(201);
    (r.str("id").to_string(), r.str("secret").to_string())
}
