//! hookd: a webhook delivery daemon with its storage embedded.
//!
//! Layers, each importing only from below (see ARCHITECTURE.md):
//! `cli` → `daemon` / `devtools` → `api` / `inbound` / `ui` → `delivery` / `alerts` → `store` →
//! leaves (`model`, `config`, `signing`). `ops` (metrics, systemd) is a leaf used by every layer
//! above `store`. `ui` (the admin page's embedded assets) is served by `api` and imports only
//! `config`.

pub mod alerts;
pub(crate) mod api;
pub mod cli;
pub mod config;
pub(crate) mod daemon;
pub(crate) mod delivery;
pub(crate) mod devtools;
pub(crate) mod inbound;
pub(crate) mod model;
pub(crate) mod ops;
pub(crate) mod signing;
pub(crate) mod store;
pub(crate) mod ui;
