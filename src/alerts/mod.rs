//! Alert e-mails: what hookd writes to a tenant's `alert_emails` when one of its webhooks
//! turns `failing` or is disabled by hookd, and the SMTP client that sends it.
//!
//! [`compose_alert`] is pure (facts in, subject and body out); [`Mailer`] sends one message
//! over SMTP (STARTTLS, implicit TLS or, for loopback test servers, plain) and always
//! returns within its timeout, so a slow or absent mail server can hold up nothing else.
//! [`sender`] is the task that sends what the store's alert queue owes, with retries.

mod compose;
mod mailer;
pub(crate) mod sender;

pub use compose::{compose_alert, deliveries_link, AlertFacts, AlertKind, AlertMail};
pub use mailer::{MailError, Mailer};
