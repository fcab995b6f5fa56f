//! Async front of the blocking repository: each call runs on tokio's blocking pool, and
//! is given up on (503 `unavailable`) when it takes longer than [`CALL_TIMEOUT`].

use std::sync::Arc;
use std::time::Duration;

/// The longest a request waits for one repository call: a database that does not answer
/// (a network partition, a server stuck in recovery) must not hold requests for ever.
/// The call itself cannot be cancelled on its thread; it finishes or fails on its own,
/// and its transaction commits only if it finishes.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

use super::{RepoError, RepoResult, Repository};
use crate::failpoints::fail_db;

#[derive(Clone)]
pub struct Db {
    repo: Arc<dyn Repository>,
}

impl Db {
    pub fn new(repo: Arc<dyn Repository>) -> Self {
        Db { repo }
    }

    /// Runs `f` against the repository off the async worker threads.
    pub async fn run<T, F>(&self, f: F) -> RepoResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Repository) -> RepoResult<T> + Send + 'static,
    {
        fail_db!("db.run");
        let repo = self.repo.clone();
        let call = tokio::task::spawn_blocking(move || f(repo.as_ref()));
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(done) => {
                done.map_err(|e| RepoError::Backend(format!("repository task failed: {e}")))?
            }
            Err(_) => Err(RepoError::Unavailable(format!(
                "no answer from the database within {} s",
                CALL_TIMEOUT.as_secs()
            ))),
        }
    }

    pub fn repo(&self) -> &Arc<dyn Repository> {
        &self.repo
    }
}
