//! `/api/event-types`: the catalog. Anyone with a key reads it; only the
//! operator changes it.

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Deserialize;
use serde_json::json;

use super::auth::{require_operator, Principal};
use super::body::{json_response, no_content, read_json};
use super::error::ApiError;
use super::AppState;
use crate::model::{validate_event_type_name, EventType, OPERATIONAL_EVENT_TYPES};

type Resp = Result<Response<Full<Bytes>>, ApiError>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventTypeInput {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    sample: Option<serde_json::Value>,
}

/// The JSON form; `sample` is parsed back from its stored text.
pub fn event_type_json(et: &EventType) -> serde_json::Value {
    let sample: serde_json::Value = serde_json::from_str(&et.sample).unwrap_or(json!({}));
    json!({"name": et.name, "category": et.category, "description": et.description, "sample": sample})
}

fn build(name: String, input: EventTypeInput) -> Result<EventType, ApiError> {
    validate_event_type_name(&name).map_err(|p| {
        ApiError::unprocessable(
            "invalid_name",
            "name",
            format!("event type name `{name}` {p}"),
        )
    })?;
    let sample = input.sample.unwrap_or(json!({}));
    if !sample.is_object() {
        return Err(ApiError::unprocessable(
            "invalid_sample",
            "sample",
            "`sample` must be a JSON object (what a test delivery sends as `data`)",
        ));
    }
    let category = input.category.unwrap_or_default();
    let description = input.description.unwrap_or_default();
    if category.chars().count() > 100 || description.chars().count() > 1000 {
        return Err(ApiError::unprocessable(
            "invalid_field",
            "description",
            "`category` is at most 100 characters and `description` at most 1000",
        ));
    }
    Ok(EventType {
        name,
        category,
        description,
        sample: sample.to_string(),
    })
}

pub fn list(state: &AppState) -> Resp {
    let data: Vec<_> = state
        .store
        .list_event_types()?
        .iter()
        .map(event_type_json)
        .collect();
    Ok(json_response(StatusCode::OK, &json!({"data": data})))
}

pub fn get(state: &AppState, name: &str) -> Resp {
    match state.store.get_event_type(name)? {
        Some(et) => Ok(json_response(StatusCode::OK, &event_type_json(&et))),
        None => Err(ApiError::not_found("event type")),
    }
}

pub async fn create(state: &AppState, p: &Principal, parts: &Parts, body: &Bytes) -> Resp {
    require_operator(p)?;
    let mut input: EventTypeInput = read_json(&parts.headers, body)?;
    let name = input.name.take().ok_or_else(|| {
        ApiError::bad_request("missing_field", "`name` is required").with_field("name")
    })?;
    let et = build(name, input)?;
    if state.store.has_event_type(&et.name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "event type `{}` already exists; PUT /api/event-types/{} replaces it",
                et.name, et.name
            ),
        )
        .with_field("name"));
    }
    state.store.put_event_type(&et).await?;
    Ok(json_response(StatusCode::CREATED, &event_type_json(&et)))
}

pub async fn put(state: &AppState, p: &Principal, parts: &Parts, body: &Bytes, name: &str) -> Resp {
    require_operator(p)?;
    let input: EventTypeInput = read_json(&parts.headers, body)?;
    if let Some(n) = &input.name {
        if n != name {
            return Err(ApiError::unprocessable(
                "invalid_name",
                "name",
                "`name` in the body differs from the name in the path; a type cannot be renamed",
            ));
        }
    }
    let existed = state.store.has_event_type(name);
    let et = build(name.to_string(), input)?;
    state.store.put_event_type(&et).await?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(json_response(status, &event_type_json(&et)))
}

pub async fn delete(state: &AppState, p: &Principal, name: &str) -> Resp {
    require_operator(p)?;
    if OPERATIONAL_EVENT_TYPES.iter().any(|(n, _, _)| *n == name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "operational_event_type",
            format!("`{name}` is raised by hookd itself and is always in the catalog"),
        ));
    }
    if state.store.delete_event_type(name).await? {
        Ok(no_content())
    } else {
        Err(ApiError::not_found("event type"))
    }
}
