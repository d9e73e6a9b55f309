//! hookd's `Mailer` against a real SMTP server on loopback: Python's `aiosmtpd`, started
//! by the test (`tests/smtp_sink.py` stores each message as a file). `scripts/test`
//! installs aiosmtpd when it is missing.
//!
//! Proves: the alert e-mail arrives with its subject, recipients and body; STARTTLS with a
//! login works against a server that requires both (over rustls, trusting the test CA as
//! `extra_ca_file`); an SMTP server that is down, or that accepts and never answers, makes
//! `send` fail within its timeout instead of hanging.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::smtp::{decoded, free_port, header, SmtpSink};
use common::test_pki;
use hookd::alerts::{compose_alert, AlertFacts, AlertKind, MailError, Mailer};
use hookd::config::{Config, SmtpConfig};

fn smtp_config(toml_body: &str) -> SmtpConfig {
    match Config::parse(&format!("[smtp]\n{toml_body}")) {
        Ok(c) => c.smtp,
        Err(e) => panic!("test [smtp] config refused: {e}"),
    }
}

fn plain_config(port: u16) -> SmtpConfig {
    smtp_config(&format!(
        "host = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"hookd <hookd@example.com>\"\ntimeout_secs = 5\n"
    ))
}

fn failing_alert() -> hookd::alerts::AlertMail {
    compose_alert(&AlertFacts {
        kind: AlertKind::Failing,
        webhook_id: "wh_01JD3QZ9X8N6R2V4T7Y5K1M0PA",
        webhook_name: "CRM sync",
        endpoint_host: "crm.example.com",
        reason: "5 failed attempts in a row",
        last_status_code: Some(503),
        last_error: Some("HTTP 503 Service Unavailable"),
        consecutive_failures: 5,
        at_ms: 1_795_343_400_000,
        base_url: "https://hooks.example.com",
    })
}

#[tokio::test]
async fn alert_mail_reaches_a_real_smtp_server_with_subject_recipients_and_body() {
    let sink = SmtpSink::start(&[]);
    let mailer = Mailer::from_config(&plain_config(sink.port), "").expect("mailer");
    let to = vec!["ops@example.com".to_string(), "ada@example.com".to_string()];
    mailer.send(&to, &failing_alert()).await.expect("send");

    let messages = sink.wait_for(1, Duration::from_secs(5));
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    assert_eq!(header(m, "X-Envelope-From"), Some("hookd@example.com"));
    assert_eq!(
        header(m, "X-Envelope-To"),
        Some("ops@example.com, ada@example.com")
    );
    assert_eq!(
        header(m, "Subject"),
        Some("[hookd] Webhook \"CRM sync\" is failing")
    );
    assert!(header(m, "From").is_some_and(|f| f.contains("hookd@example.com")));
    assert!(header(m, "Date").is_some(), "no Date header:\n{m}");
    let body = decoded(m);
    for needle in [
        "The webhook \"CRM sync\" (wh_01JD3QZ9X8N6R2V4T7Y5K1M0PA) is failing.",
        "Reason:       5 failed attempts in a row",
        "Last error:   HTTP 503 Service Unavailable",
        "Status code:  503",
        "When:         2026-11-22T10:30:00.000Z",
        "https://hooks.example.com/settings/webhooks#/webhooks/wh_01JD3QZ9X8N6R2V4T7Y5K1M0PA/deliveries",
    ] {
        assert!(body.contains(needle), "{needle:?} not in the body:\n{body}");
    }
}

#[tokio::test]
async fn starttls_and_login_work_against_a_server_that_requires_both() {
    let pki_dir = tempfile::tempdir().expect("temp dir");
    let (ca, cert, key) = test_pki().write_to(pki_dir.path());
    let password_file = pki_dir.path().join("smtp.password");
    std::fs::write(&password_file, "s3cret-pa55\n").expect("write password file");
    let sink = SmtpSink::start(&[
        "--starttls",
        cert.to_str().expect("utf-8 path"),
        key.to_str().expect("utf-8 path"),
        "--auth",
        "hookd:s3cret-pa55",
    ]);
    let config = smtp_config(&format!(
        "host = \"127.0.0.1\"\nport = {}\ntls = \"starttls\"\nusername = \"hookd\"\npassword_file = \"{}\"\nfrom = \"hookd@example.com\"\ntimeout_secs = 5\n",
        sink.port,
        password_file.display()
    ));
    let ca = ca.to_str().expect("utf-8 path");
    let mailer = Mailer::from_config(&config, ca).expect("mailer");
    let to = vec!["ops@example.com".to_string()];
    mailer.send(&to, &failing_alert()).await.expect("send");
    assert_eq!(sink.wait_for(1, Duration::from_secs(5)).len(), 1);

    // A wrong password is refused by the server: an error, nothing stored.
    std::fs::write(&password_file, "wrong\n").expect("write password file");
    let mailer = Mailer::from_config(&config, ca).expect("mailer");
    let err = mailer.send(&to, &failing_alert()).await.unwrap_err();
    assert!(matches!(err, MailError::Send(_)), "{err}");
    // Without the test CA the server's certificate is not trusted.
    let untrusting = Mailer::from_config(&config, "").expect("mailer");
    assert!(untrusting.send(&to, &failing_alert()).await.is_err());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn smtp_down_fails_at_once_and_a_silent_server_within_the_timeout() {
    let to = vec!["ops@example.com".to_string()];
    // Nothing listens on the port.
    let mailer = Mailer::from_config(&plain_config(free_port()), "").expect("mailer");
    let started = Instant::now();
    let err = mailer.send(&to, &failing_alert()).await.unwrap_err();
    assert!(matches!(err, MailError::Send(_)), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // A server that accepts the connection and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let mut config = plain_config(port);
    config.timeout_secs = 1.0;
    let mailer = Mailer::from_config(&config, "").expect("mailer");
    let started = Instant::now();
    let err = mailer.send(&to, &failing_alert()).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}: {err}"
    );
    drop(silent);
}

#[test]
fn mailer_refuses_bad_setups_with_a_clear_error() {
    assert!(matches!(
        Mailer::from_config(&SmtpConfig::default(), ""),
        Err(MailError::NotConfigured)
    ));
    let mut config = plain_config(2525);
    config.username = Some("hookd".into());
    config.password_file = Some(PathBuf::from("/nonexistent/smtp.password"));
    let err = Mailer::from_config(&config, "").unwrap_err();
    assert!(err.to_string().contains("smtp.password_file"), "{err}");
}
