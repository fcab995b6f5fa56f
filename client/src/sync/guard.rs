//! The mass-delete guard across passes: deletions applied in the last hour are kept in
//! the state and count together with those a pass plans, so that an `rm -rf` of a big
//! tree that several passes (or a `--watch` daemon) see a piece at a time still stops for
//! approval. An approval (`--allow-mass-delete`) restarts the window: it covers the
//! deletions pending then, not later ones.

use super::planner::{mass_delete, MassDelete, Op};
use super::state::{State, Table};

/// The window deletions are counted over, in seconds.
pub const WINDOW_S: i64 = 3600;

pub struct MassDeleteGuard<'a> {
    state: &'a State,
}

impl<'a> MassDeleteGuard<'a> {
    pub fn new(state: &'a State) -> Self {
        MassDeleteGuard { state }
    }

    /// What the pass would bring the window's deletions to, when that is too many.
    pub fn check(&self, ops: &[Op], now: i64) -> anyhow::Result<Option<MassDelete>> {
        self.state.prune_deletions(now - WINDOW_S)?;
        let earlier = self.state.deletions_since(now - WINDOW_S)?;
        let base = self.state.load(Table::Base)?;
        Ok(mass_delete(ops, &base, earlier))
    }

    /// Forgets the deletions counted so far.
    pub fn restart(&self) -> anyhow::Result<()> {
        self.state.prune_deletions(i64::MAX)
    }
}
