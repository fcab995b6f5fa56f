//! Wakes long-polls when a user's log grows. Behind a trait so that a cross-process
//! implementation (Postgres LISTEN/NOTIFY, Redis) can wake polls held by other servers.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

pub trait ChangeWaker: Send + Sync + 'static {
    /// A receiver that sees `changed()` after the next `notify` for this user.
    fn subscribe(&self, user_id: &str) -> watch::Receiver<u64>;
    /// Signals that the user's change log grew.
    fn notify(&self, user_id: &str);
}

/// Wakes polls held by this process only.
#[derive(Default)]
pub struct LocalWaker {
    users: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl ChangeWaker for LocalWaker {
    fn subscribe(&self, user_id: &str) -> watch::Receiver<u64> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        users
            .entry(user_id.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    fn notify(&self, user_id: &str) {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = users.get(user_id) {
            tx.send_modify(|n| *n += 1);
            // Nobody waiting: drop the channel so idle users cost no memory.
            if tx.receiver_count() == 0 {
                users.remove(user_id);
            }
        }
    }
}
