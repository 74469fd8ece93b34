//! The helper's integration tests, in one test binary (`cargo test --test it`): a module per
//! area, the shared set-up once in [`common`]. One binary, not one per file, because each
//! binary links the whole crate and its dependencies again (docs/testing.md, "Build time").
//!
//! Every test runs in this one process, in parallel threads: a test changes nothing
//! process-wide (no `std::env::set_var`, no current directory, no signal disposition), gives
//! its helper processes their environment explicitly, and signals only process groups of its
//! own children. A test that must change the process itself runs in a child process of its
//! own (see `stores::keyring_store_in_process_round_trips_and_deletes_chunked_and_whole_records`).

mod common;

mod accounts;
mod api_token_scopes;
mod bad_input;
mod builtin_consumer;
mod commands;
mod configure;
mod datacenter;
mod datacenter_username;
mod faults;
mod gcm_settings;
mod git_e2e;
mod gpg_cache_stores;
mod hosts;
mod hot_path;
mod layers;
mod library;
mod local_safety;
mod oauth;
mod offered_refresh;
mod protected_settings;
mod protocol_fixtures;
mod reach;
mod refresh_refused;
mod repository_discovery;
mod sign_in_kept;
mod signals;
mod stores;
mod terminal_session;
mod wsl;
