//! The HTTPS accept loop. Connections are served by hyper directly (not `axum::serve`) so each
//! request can carry what the handshake established: the client address, that it came over
//! TLS (the console then sets `Secure` cookies) and a verified client certificate.

use std::net::SocketAddr;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

use super::TlsServer;

/// A client that has not finished its handshake by then is dropped (slowloris).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections may finish after shutdown begins.
const DRAIN: Duration = Duration::from_secs(3);

/// Serves `app` over TLS on `listener` until `shutdown` turns true, then lets open connections
/// finish for a moment.
pub async fn serve(
    listener: TcpListener,
    tls: TlsServer,
    app: axum::Router,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut open = tokio::task::JoinSet::new();
    loop {
        let (tcp, remote) = tokio::select! {
            // Reap finished connections so the set holds only open ones.
            Some(_) = open.join_next(), if !open.is_empty() => continue,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    log::warn!("https accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopped(&mut shutdown) => break,
        };
        let (tls, app) = (tls.clone(), app.clone());
        let mut stop = shutdown.clone();
        open.spawn(async move {
            let stream =
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        log::debug!("TLS handshake with {remote} failed: {e}");
                        return;
                    }
                    Err(_) => {
                        log::debug!("TLS handshake with {remote} timed out");
                        return;
                    }
                };
            let client = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| tls.roles.identify(c.as_ref()));
            let svc = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    let ext = req.extensions_mut();
                    ext.insert(axum::extract::ConnectInfo::<SocketAddr>(remote));
                    ext.insert(crate::console::OverTls);
                    if let Some(c) = &client {
                        ext.insert(c.clone());
                    }
                    app.clone().oneshot(req)
                },
            );
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            let r = tokio::select! {
                r = conn.as_mut() => r,
                () = stopped(&mut stop) => {
                    // Finish the request in flight, then close (an upgraded WebSocket has
                    // left hyper by then and ends with the runtime).
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = r {
                log::debug!("https connection from {remote}: {e}");
            }
        });
    }
    drop(listener);
    let drained =
        tokio::time::timeout(DRAIN, async { while open.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        log::warn!("https connections still open after {DRAIN:?}; closing them");
        open.abort_all();
    }
}

/// Resolves once the shutdown flag is set (the watch guard is not held across an await).
async fn stopped(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await.map(|_| ());
}
