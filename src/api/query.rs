//! Query-string parsing for list routes.

use super::error::ApiError;

/// The `k=v` pairs of a query string, percent-decoded.
pub fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `limit`: 1..=250, default 50.
pub fn limit(pairs: &[(String, String)]) -> Result<usize, ApiError> {
    match get(pairs, "limit") {
        None => Ok(50),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=250).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(
                "invalid_query",
                format!("`limit` must be a number from 1 to 250, not `{v}`"),
            )
            .with_field("limit")),
        },
    }
}

pub fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// An RFC 3339 time parameter, as ms.
pub fn time(pairs: &[(String, String)], key: &'static str) -> Result<Option<u64>, ApiError> {
    match get(pairs, key) {
        None => Ok(None),
        Some(v) => crate::model::parse_rfc3339_ms(v).map(Some).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!("`{key}` must be an RFC 3339 time such as 2026-11-22T10:30:00Z, not `{v}`"),
            )
            .with_field(key)
        }),
    }
}
