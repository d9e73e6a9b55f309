//! Reading request bodies (size-limited, JSON only) and writing JSON responses.

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON response.
pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// 204 No Content.
pub fn no_content() -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

/// After refusing a body as too large, read on (and discard) at most this much, for at most
/// [`DRAIN_TIME`], so a client still sending sees the 413 instead of a connection reset.
const DRAIN_CAP: usize = 8 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than the limit of {limit} bytes"),
    )
}

/// Read and discard what the client is still sending, within bounds.
async fn drain(mut body: Incoming) {
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut drained = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            drained += frame.data_ref().map_or(0, |d| d.len());
            if drained > DRAIN_CAP {
                break;
            }
        }
    })
    .await;
}

/// Read the whole body, refusing more than `limit` bytes with 413.
pub async fn read_limited(mut body: Incoming, limit: usize) -> Result<Bytes, ApiError> {
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::bad_request(
                "bad_body",
                format!("the request body could not be read: {e}"),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                drain(body).await;
                return Err(too_large(limit));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// Refuse a declared `Content-Length` over the limit before parsing anything.
pub async fn check_declared_length(
    headers: &HeaderMap,
    body: Incoming,
    limit: usize,
) -> Result<Incoming, ApiError> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => {
            drain(body).await;
            Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the request body ({n} bytes) is larger than the limit of {limit} bytes"),
            ))
        }
        _ => Ok(body),
    }
}

/// The body must be declared JSON (`application/json`, any parameters).
pub fn require_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let ct = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            if ct.is_empty() {
                "send the body as JSON with `Content-Type: application/json`".to_string()
            } else {
                format!("`Content-Type: {ct}` is not accepted; send `application/json`")
            },
        ))
    }
}

/// `json` (valid JSON text) without the whitespace between its tokens; strings, keys
/// and their order, and numbers stay exactly as written.
pub fn compact_json(json: &str) -> String {
    let is_space = |c: u8| matches!(c, b' ' | b'\n' | b'\r' | b'\t');
    let bytes = json.as_bytes();
    if !bytes.iter().copied().any(is_space) {
        return json.to_string();
    }
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut kept_from = 0;
    for (i, &c) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
        } else if c == b'"' {
            in_string = true;
        } else if is_space(c) {
            // Only ASCII whitespace is dropped, so every cut is on a character boundary.
            out.push_str(&json[kept_from..i]);
            kept_from = i + 1;
        }
    }
    out.push_str(&json[kept_from..]);
    out
}

/// Parse JSON into `T`: malformed JSON → 400 `invalid_json`; a field of the wrong type or
/// an unknown field → 400 naming the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::bad_request(
            "invalid_json",
            "the request body is empty; send a JSON object",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        let text = e.to_string();
        match e.classify() {
            Category::Data => {
                let field = text
                    .split('`')
                    .nth(1)
                    .filter(|_| {
                        text.starts_with("unknown field") || text.starts_with("missing field")
                    })
                    .map(str::to_string);
                let code = if text.starts_with("unknown field") {
                    "unknown_field"
                } else if text.starts_with("missing field") {
                    "missing_field"
                } else {
                    "invalid_field"
                };
                let err = ApiError::bad_request(code, format!("invalid request body: {text}"));
                match field {
                    Some(f) => err.with_field(f),
                    None => err,
                }
            }
            _ => ApiError::bad_request("invalid_json", format!("malformed JSON: {text}")),
        }
    })
}

/// Read a request's whole body, bounded by `limit` (413 above it, after a bounded drain
/// so the connection stays usable). The router does this once for every request, before
/// anything may refuse it: a refusal never leaves unread bytes on a kept-alive connection.
pub async fn read_body(
    headers: &HeaderMap,
    body: Incoming,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let body = check_declared_length(headers, body, limit).await?;
    read_limited(body, limit).await
}

/// Content type + parse: the body of a create/replace request.
pub fn read_json<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    require_json_content_type(headers)?;
    parse_json(body)
}

/// Like [`read_json`], but an empty body means `T::default()` (actions whose parameters
/// are all optional).
pub fn optional_json<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    read_json(headers, body)
}

#[cfg(test)]
mod tests {
    use super::compact_json;

    #[test]
    fn compacting_drops_whitespace_between_tokens_and_keeps_strings_order_and_numbers() {
        let sent = "{ \"b\" : 1.50 ,\n\t\"a\": [ true, null ],\r\n \"s\": \"x y \\\" z\\\\\", \"é\": \"  \" }";
        assert_eq!(
            compact_json(sent),
            r#"{"b":1.50,"a":[true,null],"s":"x y \" z\\","é":"  "}"#
        );
        assert_eq!(compact_json(r#"{"a":1}"#), r#"{"a":1}"#);
        // The result is the same JSON value.
        let a: serde_json::Value = serde_json::from_str(sent).unwrap();
        let b: serde_json::Value = serde_json::from_str(&compact_json(sent)).unwrap();
        assert_eq!(a, b);
    }
}
