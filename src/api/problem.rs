//! RFC 9457 problem details for every 4xx/5xx, and extractors that turn malformed input into
//! problems naming the offending field instead of axum's plain-text rejections.

use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::gallery::VectorError;
use crate::store::StoreError;

/// An API error rendered as `application/problem+json`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    /// Short machine-readable code, also the last segment of `type`.
    pub code: &'static str,
    pub detail: String,
    /// The offending input field (JSON path like `grants[2].staff`), when there is one.
    pub field: Option<String>,
    /// Seconds for a `Retry-After` header (429 and 503 answers).
    pub retry_after_secs: Option<u64>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct ProblemBody {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            field: None,
            retry_after_secs: None,
        }
    }

    /// 429 with `Retry-After` (whole seconds, rounded up, at least 1).
    pub fn too_many_requests(detail: impl Into<String>, wait: std::time::Duration) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail);
        e.retry_after_secs = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
        e
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 422 for a field whose value is not acceptable.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let field = field.into();
        let detail = format!("`{field}`: {}", detail.into());
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", detail).with_field(field)
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    /// A 500 that says nothing about internals; the cause is logged instead.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        log::error!("internal error: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the controller's log",
        )
    }

    pub fn vector(field: &str, e: &VectorError) -> Self {
        Self::invalid(field, e.to_string())
    }

    pub fn body(&self) -> ProblemBody {
        ProblemBody {
            type_: format!("https://wardgate.invalid/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            field: self.field.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut r = (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        if let Some(secs) = self.retry_after_secs {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        r
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { entity } => ApiError::not_found(entity),
            StoreError::Conflict { field, message } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message).with_field(field)
            }
            StoreError::Invalid { field, message } => ApiError::invalid(field, message),
            e @ StoreError::ConsentRequired { .. } => {
                ApiError::new(StatusCode::CONFLICT, "consent_required", e.to_string())
                    .with_field("consent")
            }
            e if e.is_unavailable() => {
                log::warn!("database unavailable: {e}");
                ApiError::unavailable("the database is unreachable; try again shortly")
            }
            e => ApiError::internal(&e),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Parses JSON with the path of the first offending field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(format!("malformed JSON: {inner}"))
        } else {
            // Missing fields are reported by serde at the enclosing path; the message names them.
            let field = if path == "." { "body".to_owned() } else { path };
            ApiError::invalid(field, inner.to_string())
        }
    })
}

/// Deserialises an already parsed (and schema-checked) body, naming the offending field.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> ApiResult<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        ApiError::invalid(field, e.into_inner().to_string())
    })
}

/// The request's media type, lower case, without parameters (`""` when absent).
pub fn media_type(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// JSON body extractor: 415 without a JSON content type, 413 over the body limit, 400 for
/// malformed JSON, 422 naming the field for anything the body's published schema rules out
/// (wrong JSON type at any depth, `[null, null]` for an object, missing or unknown fields,
/// lengths, patterns, ranges; see [`super::contract`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + schemars::JsonSchema + 'static> FromRequest<S>
    for ApiJson<T>
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ct = media_type(req.headers());
        let is_json = ct == "application/json" || ct.ends_with("+json");
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected Content-Type: application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        let value: serde_json::Value = parse_json(&bytes)?;
        super::contract::body_schema::<T>().check(&value)?;
        from_value(value).map(ApiJson)
    }
}

pub fn body_rejection(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body exceeds api.max_body_bytes",
        )
    } else {
        ApiError::bad_request(format!("cannot read body: {e}"))
    }
}

/// Query-string extractor with problem+json rejections.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| {
                let text = e.body_text();
                let field = text
                    .split(": ")
                    .nth(1)
                    .filter(|f| !f.contains(' '))
                    .unwrap_or("query")
                    .to_owned();
                ApiError::invalid(field, text)
            })
    }
}

/// Checks an identifier-like field: 1–64 of `[A-Za-z0-9._:-]`.
pub fn check_slug(field: &str, value: &str) -> ApiResult<String> {
    super::text::Slug::parse(value)
        .map(super::text::Slug::into_string)
        .map_err(|m| ApiError::invalid(field, m))
}

/// Parses an RFC 3339 time into milliseconds.
pub fn parse_time(field: &str, value: &str) -> ApiResult<i64> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.timestamp_millis())
        .map_err(|e| ApiError::invalid(field, format!("not an RFC 3339 time: {e}")))
}

/// Formats milliseconds as RFC 3339 UTC.
pub fn fmt_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        staff: String,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Outer {
        grants: Vec<Inner>,
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = parse_json::<Outer>(br#"{"grants":[{"staff":"a"},{"staff":5}]}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.field.as_deref(), Some("grants[1].staff"));
        let e = parse_json::<Outer>(b"{\"grants\":[").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_bad_slug_names_its_field() {
        assert_eq!(check_slug("id", "ward-3.north").unwrap(), "ward-3.north");
        let e = check_slug("source", "a b").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("source"));
    }

    #[test]
    fn times_round_trip() {
        let ms = parse_time("t", "2026-01-02T03:04:05.678Z").unwrap();
        assert_eq!(fmt_time(ms), "2026-01-02T03:04:05.678Z");
        assert!(parse_time("t", "yesterday").is_err());
    }
}
