//! `GET /api/openapi.json`: the OpenAPI 3.1 description of every `/api` route, kept as a
//! JSON file beside this one (`openapi.json`) and compiled in. Served without a key.
//!
//! The tests below keep it in step with the router's table: a route under `/api` missing
//! from the document, or an operation in the document that the router does not serve,
//! fails them.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

const DOCUMENT: &str = include_str!("openapi.json");

/// The document, as stored.
pub fn document() -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(DOCUMENT.as_bytes())));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::api::router::ROUTES;

    /// Operations the document describes that are being added to the router on other
    /// branches. Whoever merges one of these routes into `ROUTES` deletes its line here:
    /// `routes_and_document_agree` fails while a routed operation is still listed.
    const DOCUMENTED_NOT_YET_ROUTED: &[(&str, &str)] = &[];

    const METHODS: &[&str] = &[
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    fn doc() -> serde_json::Value {
        serde_json::from_str(DOCUMENT).expect("openapi.json is JSON")
    }

    fn documented() -> BTreeSet<(String, String)> {
        let doc = doc();
        let paths = doc["paths"].as_object().expect("paths");
        let mut ops = BTreeSet::new();
        for (path, item) in paths {
            let item = item.as_object().expect("path item");
            for method in item.keys().filter(|k| METHODS.contains(&k.as_str())) {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
        ops
    }

    fn routed() -> BTreeSet<(String, String)> {
        ROUTES
            .iter()
            .filter(|(_, pattern, _)| pattern.starts_with("/api/"))
            .map(|(m, pattern, _)| (m.to_string(), pattern.to_string()))
            .collect()
    }

    #[test]
    fn routes_and_document_agree() {
        let documented = documented();
        let routed = routed();
        let pending: BTreeSet<(String, String)> = DOCUMENTED_NOT_YET_ROUTED
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from src/api/openapi.json: {undocumented:?}"
        );
        let unrouted: Vec<_> = documented
            .difference(&routed)
            .filter(|op| !pending.contains(*op))
            .collect();
        assert!(
            unrouted.is_empty(),
            "operations in src/api/openapi.json that the router does not serve: {unrouted:?}"
        );
        let stale: Vec<_> = pending.intersection(&routed).collect();
        assert!(
            stale.is_empty(),
            "routed now: delete from DOCUMENTED_NOT_YET_ROUTED: {stale:?}"
        );
        let undocumented_pending: Vec<_> = pending.difference(&documented).collect();
        assert!(
            undocumented_pending.is_empty(),
            "DOCUMENTED_NOT_YET_ROUTED lists operations the document lacks: {undocumented_pending:?}"
        );
    }

    #[test]
    fn document_is_openapi_3_1_of_this_version_with_bearer_auth_and_json_errors() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        let error = &doc["components"]["schemas"]["Error"]["properties"]["error"];
        for field in ["code", "message", "field"] {
            assert!(
                error["properties"][field].is_object(),
                "Error lacks {field}"
            );
        }
        // Only the document itself is public.
        let public: Vec<&str> = doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .filter(|(_, item)| {
                METHODS
                    .iter()
                    .any(|m| item[*m]["security"].as_array().is_some_and(Vec::is_empty))
            })
            .map(|(path, _)| path.as_str())
            .collect();
        assert_eq!(public, ["/api/openapi.json"]);
    }

    #[test]
    fn every_operation_has_an_id_a_success_and_documented_errors() {
        let doc = doc();
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for m in METHODS {
                let op = &item[*m];
                if op.is_null() {
                    continue;
                }
                let id = op["operationId"].as_str().expect("operationId");
                assert!(ids.insert(id.to_string()), "operationId {id} twice");
                let responses = op["responses"].as_object().expect("responses");
                assert!(
                    responses.keys().any(|code| code.starts_with('2')),
                    "{m} {path} has no 2xx response"
                );
                if path != "/api/openapi.json" {
                    assert!(responses.contains_key("401"), "{m} {path} lacks 401");
                }
            }
        }
    }
}
