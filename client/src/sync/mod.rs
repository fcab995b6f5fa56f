//! Two-way sync of a local folder with a remote folder (`dbx sync`, `dbx status`).
//!
//! - `planner`, `snapshot`: the pure planner `(local, remote, base) -> Vec<Op>`, its
//!   rules, and the snapshots it reads.
//! - `state`: the merge base, the server mirror and the cursor, in `.dbx/state.sqlite`.
//! - `scan`: the local snapshot, with ignore patterns and files still being written.
//! - `delta`, `http`: the server side: change log into the mirror, the calls sync needs;
//!   `remote_moves`: server moves into the mirror.
//! - `moves`: moves in a plan (a server move renames here, a rename here is one server
//!   move).
//! - `apply`, `engine`: applying ops with their checks; one pass.
//! - `guard`: the mass-delete guard over a one-hour window.
//! - `trash`: the local trash deleted and replaced files go to first.
//! - `watch`: keep syncing on local events and server changes.

pub mod apply;
pub mod delta;
pub mod engine;
pub mod guard;
pub mod http;
pub mod moves;
pub mod planner;
pub mod remote_moves;
pub mod scan;
pub mod snapshot;
pub mod state;
pub mod trash;
pub mod watch;

#[cfg(test)]
#[path = "sim_real_tests.rs"]
mod sim_real;
