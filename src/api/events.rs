//! `/api/v1/events`: the audit log, newest first.

use axum::extract::{Path, State};
use axum::Json;

use super::auth::{Auth, TechnicianRole};
use super::problem::{parse_time, ApiQuery};
use super::views::{EventQuery, EventView, Page, Paging};
use super::{ApiResult, AppState};
use crate::store::EventFilter;

pub async fn list(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<TechnicianRole>,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> ApiResult<Json<Page<EventView>>> {
    let (limit, offset) = Paging {
        limit: q.limit,
        offset: q.offset,
    }
    .resolve(st.cfg.api.max_page_size)?;
    let filter = EventFilter {
        door_id: q.door_id,
        subject_id: q.subject_id,
        kind: q.kind,
        from_ms: q
            .from
            .as_deref()
            .map(|v| parse_time("from", v))
            .transpose()?,
        to_ms: q.to.as_deref().map(|v| parse_time("to", v)).transpose()?,
        limit,
        offset,
    };
    let (items, total) = st.core.store.list_events(&filter).await?;
    Ok(Json(Page {
        items: items.into_iter().map(Into::into).collect(),
        total,
        limit,
        offset,
    }))
}

pub async fn get_one(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<TechnicianRole>,
    Path(id): Path<String>,
) -> ApiResult<Json<EventView>> {
    Ok(Json(st.core.store.get_event(&id).await?.into()))
}
