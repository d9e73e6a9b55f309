//! hookd: a webhook delivery daemon with its storage embedded.
//!
//! Layers, each importing only from below (see ARCHITECTURE.md):
//! `cli` → `daemon` / `devtools` → `api` / `inbound` / `ui` → `delivery` / `alerts` → `store` →
//! leaves (`model`, `config`, `signing`). `ops` (metrics, systemd) is a leaf used by every layer
//! above `store`. `ui` (the admin page's embedded assets) is served by `api` and imports only
//! `config`.

pub mod alerts;
pub mod api;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod delivery;
pub mod devtools;
pub mod inbound;
pub mod model;
pub mod ops;
pub mod signing;
pub mod store;
pub mod ui;
