//! Graceful shutdown: one trigger, any number of listeners.
//!
//! Stages select on [`Shutdown::requested`] first (`tokio::select! { biased; ... }`): sources stop
//! reading, the pipeline drains what is in flight, the engine flushes pending alert updates to
//! every sink, then the process exits.

use tokio::sync::watch;

/// Fires the shutdown.
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// Listens for the shutdown. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// A trigger and its first listener.
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    /// Requests the shutdown: every listener sees it, now and later. Firing twice is harmless.
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }

    /// Another listener, for a task started after the first.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }
}

impl Shutdown {
    /// Whether the shutdown was requested.
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves when the shutdown is requested (at once if it already was).
    pub async fn requested(&mut self) {
        // An error means the trigger is gone: nobody can request a shutdown any more, so
        // treat it as requested rather than waiting forever.
        let _ = self.0.wait_for(|requested| *requested).await;
    }
}
