//! `/api/v1/events`: the audit log, newest first.

use axum::extract::{Path, State};
use axum::Json;

use super::problem::{parse_time, ApiQuery};
use super::views::{EventQuery, EventView, Page, Paging};
use super::{ApiResult, AppState, Caller};
use crate::model::TokenRole;
use crate::store::EventFilter;

const READERS: &[TokenRole] = &[TokenRole::Technician];

pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> ApiResult<Json<Page<EventView>>> {
    caller.require(READERS)?;
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
    let (items, total) = st.store.list_events(&filter).await?;
    Ok(Json(Page {
        items: items.into_iter().map(Into::into).collect(),
        total,
        limit,
        offset,
    }))
}

pub async fn get_one(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<EventView>> {
    caller.require(READERS)?;
    Ok(Json(st.store.get_event(&id).await?.into()))
}
