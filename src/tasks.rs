//! Owned long-lived tasks: each is spawned with a name and a stop signal, and stopped in
//! order at shutdown instead of being detached (a detached poller outlived the store it read
//! and logged "pool closed" on every stop).

use std::sync::Mutex;
use std::time::Duration;

/// Longest shutdown waits for one owned task to finish after it was told to stop.
const TASK_STOP: Duration = Duration::from_secs(2);

/// The core's long-lived tasks: each is spawned with a name and a stop signal, and
/// [`Tasks::stop`] ends them in the reverse order of their start (what started first — the
/// change feed — stops last), waiting for each.
#[derive(Debug, Default)]
pub struct Tasks {
    running: Mutex<Vec<Task>>,
}

#[derive(Debug)]
struct Task {
    name: &'static str,
    stop: tokio::sync::watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

/// What an owned task watches to know it should end.
#[derive(Debug, Clone)]
pub struct StopSignal(tokio::sync::watch::Receiver<bool>);

impl StopSignal {
    /// Resolves once the task is asked to stop.
    pub async fn stopped(&mut self) {
        let _ = self.0.wait_for(|s| *s).await;
    }
}

impl Tasks {
    /// Spawns `task(stop)` as an owned task called `name`.
    pub fn spawn<F, Fut>(&self, name: &'static str, task: F)
    where
        F: FnOnce(StopSignal) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (stop, rx) = tokio::sync::watch::channel(false);
        let handle = tokio::spawn(task(StopSignal(rx)));
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Task { name, stop, handle });
    }

    /// The names of the tasks still owned, in start order.
    pub fn names(&self) -> Vec<&'static str> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|t| !t.handle.is_finished())
            .map(|t| t.name)
            .collect()
    }

    /// Stops every task, newest first, each within [`TASK_STOP`] (then it is aborted).
    pub async fn stop(&self) {
        let tasks = std::mem::take(
            &mut *self
                .running
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for mut t in tasks.into_iter().rev() {
            let _ = t.stop.send(true);
            if tokio::time::timeout(TASK_STOP, &mut t.handle)
                .await
                .is_err()
            {
                log::warn!("task {} did not stop within {TASK_STOP:?}; aborted", t.name);
                t.handle.abort();
            }
            log::debug!("stopped {}", t.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn tasks_stop_newest_first_and_a_stuck_one_is_aborted() {
        let tasks = Tasks::default();
        let order = Arc::new(Mutex::new(Vec::new()));
        for name in ["feed", "door-events"] {
            let order = Arc::clone(&order);
            tasks.spawn(name, move |mut stop| async move {
                stop.stopped().await;
                order.lock().unwrap().push(name);
            });
        }
        tasks.spawn("stuck", |_stop| std::future::pending());
        tokio::task::yield_now().await;
        assert_eq!(tasks.names(), ["feed", "door-events", "stuck"]);
        tasks.stop().await;
        assert_eq!(*order.lock().unwrap(), ["door-events", "feed"]);
        assert!(tasks.names().is_empty());
    }
}
