//! `/api/v1/live/…`: the camera picture and the door loop's findings, for the console's Live
//! and Enrolment pages (technicians and admins; frames are never stored).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::auth::{Auth, SyncRole, TechnicianRole};
use super::views::FaceView;
use super::{admin_event, ApiError, ApiResult, AppState};
use crate::camera::Frame;
use crate::console::live::{encode_jpeg, LiveOverlay, LiveView};

const BOUNDARY: &str = "wardgate-frame";

fn live(st: &AppState) -> ApiResult<Arc<LiveView>> {
    st.console.live().ok_or_else(|| {
        ApiError::unavailable(
            "this controller runs no camera loop (pipeline.enabled, camera, models)",
        )
    })
}

/// Least frames of the acting track, passing the enrolment gate, for an enrolment at the door
/// to average them; with fewer the newest frame is enrolled as a photo.
const MIN_DOOR_FRAMES: usize = 3;

/// How recent the door loop's view of the acting track must be.
const DOOR_SAMPLES_FRESH: std::time::Duration = std::time::Duration::from_millis(1500);

fn newest(live: &LiveView) -> ApiResult<Arc<Frame>> {
    live.frames()
        .borrow()
        .clone()
        .ok_or_else(|| ApiError::unavailable("the camera has delivered no frame yet"))
}

/// `GET /api/v1/live/stream`: MJPEG (`multipart/x-mixed-replace`) at `console.live_fps`, for
/// an `<img>`. Ends when the client goes away.
pub async fn stream(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<TechnicianRole>,
) -> ApiResult<Response> {
    let live = live(&st)?;
    let period = Duration::from_millis(1000 / u64::from(st.console.cfg.live_fps.max(1)));
    let state = (live.frames(), 0u64);
    let frames = futures_util::stream::unfold(state, move |(mut rx, last_seq)| async move {
        loop {
            tokio::time::sleep(period).await;
            let frame = rx.borrow_and_update().clone();
            let Some(frame) = frame.filter(|f| f.sequence != last_seq) else {
                if rx.has_changed().is_err() {
                    return None; // the capture has stopped
                }
                continue;
            };
            let seq = frame.sequence;
            let jpeg = tokio::task::spawn_blocking(move || encode_jpeg(&frame))
                .await
                .ok()
                .flatten()?;
            let mut part = format!(
                "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nX-Frame-Sequence: {seq}\r\n\r\n",
                jpeg.len()
            )
            .into_bytes();
            part.extend_from_slice(&jpeg);
            part.extend_from_slice(b"\r\n");
            return Some((Ok::<_, std::io::Error>(Bytes::from(part)), (rx, seq)));
        }
    });
    Ok((
        [
            (
                header::CONTENT_TYPE,
                format!("multipart/x-mixed-replace; boundary={BOUNDARY}"),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(frames),
    )
        .into_response())
}

/// `GET /api/v1/live/frame.jpg`: the newest frame as one JPEG.
pub async fn frame(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<TechnicianRole>,
) -> ApiResult<Response> {
    let frame = newest(&*live(&st)?)?;
    let jpeg = tokio::task::spawn_blocking(move || encode_jpeg(&frame))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::internal(&"JPEG encoding failed"))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        jpeg,
    )
        .into_response())
}

/// `GET /api/v1/live/overlay`: face boxes, quality feedback, timings and fps of the door
/// loop's newest analysed frame.
pub async fn overlay(
    State(st): State<AppState>,
    Auth(_caller, _): Auth<TechnicianRole>,
) -> ApiResult<Json<LiveOverlay>> {
    Ok(Json(live(&st)?.overlay()))
}

/// `POST /api/v1/subjects/{id}/faces/capture`: enrols the person in front of the door camera
/// now — the newest frame goes through the same quality gate as an uploaded photo.
pub async fn capture_face(
    State(st): State<AppState>,
    Auth(caller, _): Auth<SyncRole>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<FaceView>)> {
    st.core.store.get_subject(&id).await?;
    st.core.store.check_consent(&id).await?;
    let live = live(&st)?;
    // The person in front of the door, seen over several frames: their best frames that pass
    // the enrolment gate, averaged (one frame can blink or blur; the mean of a few is closer
    // to how the door will see them). Too few yet: the newest frame, as a photo.
    if let Some(d) = live
        .door_samples(DOOR_SAMPLES_FRESH)
        .filter(|d| d.samples.len() >= MIN_DOOR_FRAMES)
    {
        let refs: Vec<(&[f32], f32)> = d.samples.iter().map(|(v, w)| (v.as_slice(), *w)).collect();
        let vector = crate::matching::aggregate(&refs)
            .ok_or_else(|| ApiError::internal(&"the track's frames do not average"))?;
        let model_id = st.core.catalog.model_id().to_owned();
        let face = st.core.store.add_face(&id, &model_id, &vector).await?;
        admin_event(
            &st,
            &caller,
            "face_added",
            serde_json::json!({
                "subject_id": id, "face_id": face.id, "source": "door_track",
                "track": d.track, "frames": d.samples.len(),
            }),
        )
        .await;
        return Ok((StatusCode::CREATED, Json(face.into())));
    }
    let frame = newest(&live)?;
    // Lossless, so the template is made from exactly what the camera saw.
    let png = tokio::task::spawn_blocking(move || {
        let img = image::RgbImage::from_raw(frame.width, frame.height, frame.data.to_vec())?;
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).ok()?;
        Some(out.into_inner())
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .ok_or_else(|| ApiError::internal(&"frame encoding failed"))?;
    let (vector, model_id) = super::subjects::encode_photo(&st, "camera", &png).await?;
    let face = st.core.store.add_face(&id, &model_id, &vector).await?;
    admin_event(
        &st,
        &caller,
        "face_added",
        serde_json::json!({"subject_id": id, "face_id": face.id, "source": "camera"}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(face.into())))
}
