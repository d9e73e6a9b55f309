//! `GET /api/openapi.json` from a running daemon: served without a key, and accepted by a
//! standard OpenAPI validator (Python's `openapi-spec-validator`, which `scripts/test`
//! installs when it is missing).

mod common;

use std::process::Command;

use common::*;

const VALIDATE: &str = "import json, sys\n\
from openapi_spec_validator import validate\n\
with open(sys.argv[1]) as f:\n    doc = json.load(f)\n\
validate(doc)\n\
print('valid', doc['openapi'])\n";

#[test]
fn openapi_document_is_served_without_a_key_and_passes_a_standard_validator() {
    let d = TestDaemon::start();
    let resp = Api::anonymous(&d).get("/api/openapi.json");
    resp.expect_status(200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.json["openapi"], "3.1.0");
    assert!(resp.json["paths"]["/api/webhooks/{id}/deliveries"]["get"].is_object());

    let probe = Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "the OpenAPI validator is missing: `pip install openapi-spec-validator` \
             (scripts/test installs it)\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("python3 is needed to run openapi-spec-validator: {e}"),
    }
    let file = d.dir().join("openapi.json");
    std::fs::write(&file, &resp.text).expect("write openapi.json");
    let out = Command::new("python3")
        .arg("-c")
        .arg(VALIDATE)
        .arg(&file)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid 3.1.0"));
}

#[test]
fn other_methods_on_the_document_still_need_a_key() {
    let d = TestDaemon::start();
    let anon = Api::anonymous(&d);
    assert_eq!(
        anon.post("/api/openapi.json", serde_json::json!({})).status,
        401
    );
    let op = Api::as_operator(&d);
    let r = op.post("/api/openapi.json", serde_json::json!({}));
    assert_eq!((r.status, r.header("allow")), (405, Some("GET")));
}
