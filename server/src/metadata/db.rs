//! Async front of the blocking repository: each call runs on tokio's blocking pool.

use std::sync::Arc;

use super::{RepoError, RepoResult, Repository};

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
        let repo = self.repo.clone();
        tokio::task::spawn_blocking(move || f(repo.as_ref()))
            .await
            .map_err(|e| RepoError::Backend(format!("repository task failed: {e}")))?
    }

    pub fn repo(&self) -> &Arc<dyn Repository> {
        &self.repo
    }
}
