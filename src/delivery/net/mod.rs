//! Outbound networking for deliveries: the HTTP client and the guard in front of it.
//!
//! Webhook URLs are chosen by tenants, not by the operator, so a naive HTTP client would let
//! any tenant make the daemon talk to whatever sits next to it: the cloud metadata service at
//! 169.254.169.254, an admin port on 127.0.0.1, a database on the private network (SSRF).
//! This module closes that door in one place:
//!
//! * [`policy`] decides whether one IP address may be contacted ([`NetPolicy::check`]).
//! * [`connector`] resolves a host and connects only to addresses the policy allows. The
//!   check is made on the very address the socket connects to, after DNS, so a name that
//!   resolves to a public address at validation time and to 127.0.0.1 later (DNS rebinding)
//!   gains nothing.
//! * [`cork`] gathers what a connection writes within one turn of the runtime into one
//!   `write` (many HTTP/2 requests, one system call).
//! * [`client`] builds the pooled HTTP/1.1 + HTTP/2 client over rustls on top of that
//!   connector, and reads response bodies with a hard size cap.
//! * [`reachability`] answers "can we reach this URL at all?" when a webhook is registered,
//!   with an error sentence a person can act on.
//!
//! No error produced here contains a full webhook URL (URLs may carry secrets in their path
//! or query and end up in logs); at most the host appears.

pub mod client;
pub mod connector;
mod cork;
pub mod policy;
pub mod reachability;

pub use client::{
    build_client, build_tls_config, describe_error, read_body_capped, DeliveryClient,
    HttpClientConfig, TlsSetupError,
};
pub use connector::ConnectError;
pub use policy::NetPolicy;
pub use reachability::{check_reachable, Unreachable};
