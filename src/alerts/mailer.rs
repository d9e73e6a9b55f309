//! The SMTP client: one message per send, over rustls, bounded by `smtp.timeout_secs`.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::AlertMail;
use crate::config::{SmtpConfig, SmtpTls};

/// Why a mailer could not be built or a mail not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("[smtp] has no host: alert e-mails are off")]
    NotConfigured,
    #[error("cannot read smtp.password_file {path}: {source}")]
    PasswordFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("smtp.from `{from}` is not a mailbox: {message}")]
    From { from: String, message: String },
    #[error("cannot use the extra CA file {path}: {message}")]
    ExtraCa { path: String, message: String },
    #[error("SMTP setup failed: {0}")]
    Setup(String),
    #[error("`{address}` is not an e-mail address")]
    Recipient { address: String },
    #[error("no recipients")]
    NoRecipients,
    #[error("cannot build the message: {0}")]
    Message(String),
    #[error("SMTP send failed: {0}")]
    Send(#[from] lettre::transport::smtp::Error),
    #[error("SMTP send did not finish within {0:?}")]
    Timeout(Duration),
}

/// Sends alert e-mails through the `[smtp]` server. Cheap to clone; no connection is
/// kept between sends.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for `[smtp]`; `extra_ca_file` (PEM, "" = none) is trusted beside the
    /// system roots, as for deliveries (an on-prem mail server's CA).
    pub fn from_config(smtp: &SmtpConfig, extra_ca_file: &str) -> Result<Mailer, MailError> {
        if !smtp.enabled() {
            return Err(MailError::NotConfigured);
        }
        let from: Mailbox = smtp.from.parse().map_err(|e| MailError::From {
            from: smtp.from.clone(),
            message: format!("{e}"),
        })?;
        let timeout = Duration::from_secs_f64(smtp.timeout_secs);
        let tls_parameters = || -> Result<TlsParameters, MailError> {
            let mut builder = TlsParameters::builder(smtp.host.clone());
            if !extra_ca_file.is_empty() {
                let pem = std::fs::read(extra_ca_file).map_err(|e| MailError::ExtraCa {
                    path: extra_ca_file.to_string(),
                    message: e.to_string(),
                })?;
                let cert = Certificate::from_pem(&pem).map_err(|e| MailError::ExtraCa {
                    path: extra_ca_file.to_string(),
                    message: e.to_string(),
                })?;
                builder = builder.add_root_certificate(cert);
            }
            builder
                .build_rustls()
                .map_err(|e| MailError::Setup(e.to_string()))
        };
        let tls = match smtp.tls {
            SmtpTls::Starttls => Tls::Required(tls_parameters()?),
            SmtpTls::Tls => Tls::Wrapper(tls_parameters()?),
            SmtpTls::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.effective_port())
            .tls(tls)
            .timeout(Some(timeout));
        if let Some(user) = &smtp.username {
            let password = match (&smtp.password, &smtp.password_file) {
                (Some(p), _) => p.clone(),
                (None, Some(path)) => std::fs::read_to_string(path)
                    .map_err(|source| MailError::PasswordFile {
                        path: path.clone(),
                        source,
                    })?
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
                (None, None) => String::new(),
            };
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
            timeout,
        })
    }

    /// Send `mail` to every address of `to` (one message). Returns within the timeout,
    /// whatever the server does.
    pub async fn send(&self, to: &[String], mail: &AlertMail) -> Result<(), MailError> {
        if to.is_empty() {
            return Err(MailError::NoRecipients);
        }
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN);
        for address in to {
            let mailbox: Mailbox = address.parse().map_err(|_| MailError::Recipient {
                address: address.clone(),
            })?;
            builder = builder.to(mailbox);
        }
        let message = builder
            .body(mail.body.clone())
            .map_err(|e| MailError::Message(e.to_string()))?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(e)) => Err(MailError::Send(e)),
            Err(_) => Err(MailError::Timeout(self.timeout)),
        }
    }
}
