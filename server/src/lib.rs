//! dbx-server: a personal file store with share links and a change log for sync.
#![forbid(unsafe_code)]

pub mod app;
pub mod auth;
pub mod changes;
pub mod config;
pub mod dav;
pub mod error;
mod failpoints;
pub mod files;
pub mod gc;
pub mod http;
pub mod metadata;
pub mod paging;
pub mod private_fs;
pub mod properties;
pub mod sharing;
pub mod storage;
pub mod tiered_blobs;
pub mod trash;
pub mod uploads;
pub mod versions;
