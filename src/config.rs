//! Configuration: the TOML file, its defaults and its validation.
//!
//! Why one struct per section with `deny_unknown_fields`: a typo in an operator's config
//! (`retry_schedule = ...`) must fail loudly at start, not silently fall back to a default.
//! Every key has a default so `hookd serve` runs with no file at all.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub auth: AuthConfig,
    pub delivery: DeliveryConfig,
    pub smtp: SmtpConfig,
    pub event_types: Vec<EventTypeConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// `address:port`; port 0 picks a free port, printed on start.
    pub listen: String,
    /// Serve the API over HTTPS when both are set.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// Largest accepted request body (events, webhooks, ...). 413 above it.
    pub max_payload_bytes: usize,
    /// Events a tenant may publish per second (token bucket, burst = 2 s of it). 0 = unlimited.
    pub ingest_rate_limit_per_sec: u32,
    /// The public base URL printed on start and shown as inbound `ingest_url` (defaults to
    /// `http://<listen>`).
    pub public_url: Option<String>,
    /// CSP `frame-ancestors` of the admin page: who may show it in a frame. `'none'` (also
    /// `X-Frame-Options: DENY`), `'self'`, or origins such as `https://dms.example.com`.
    pub frame_ancestors: String,
    /// Connections open at once; beyond it new ones wait in the kernel's backlog. Also kept
    /// to at most half the process's file-descriptor limit (the rest is for deliveries and
    /// storage).
    pub max_connections: usize,
    /// A connection with no request in progress that sends nothing for this long is closed.
    pub idle_timeout_secs: f64,
    /// Head and body of one request (and a TLS handshake) must arrive within this.
    pub request_timeout_secs: f64,
    /// `/metrics` adds series per webhook (labelled with webhook and tenant ids). Off by
    /// default: `/metrics` needs no key, and those labels name every tenant and webhook.
    pub metrics_per_webhook: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            tls_cert_file: None,
            tls_key_file: None,
            max_payload_bytes: 256 * 1024,
            ingest_rate_limit_per_sec: 5000,
            public_url: None,
            frame_ancestors: "'none'".into(),
            max_connections: 4096,
            idle_timeout_secs: 60.0,
            request_timeout_secs: 30.0,
            metrics_per_webhook: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    /// Events, deliveries and attempts older than this are purged (fractions allowed).
    pub retention_days: f64,
    /// Storage memory in MiB (block cache and write buffers, see `store`): bounds memory
    /// whatever the backlog.
    pub cache_mb: u64,
    /// Group commit: the least time between the end of one flush and the start of the next,
    /// so that under load more writers share each fsync (PostgreSQL's `commit_delay`).
    pub commit_gap_ms: f64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./hookd-data"),
            retention_days: 30.0,
            cache_mb: 64,
            commit_gap_ms: 2.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// A literal operator key (tests). Takes precedence over `operator_key_file`.
    pub operator_key: Option<String>,
    /// Where the operator key lives; default `<data_dir>/operator.key`, generated if missing.
    pub operator_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Per attempt, connect + request + response head + captured body.
    pub timeout_secs: f64,
    /// Delays after attempt 1, 2, ...: `n` entries means `n` retries.
    pub retry_schedule_secs: Vec<f64>,
    pub max_response_capture_bytes: usize,
    pub failing_after_consecutive_failures: u32,
    pub disable_after_failing_secs: f64,
    /// Per webhook endpoint; also the platform maximum a webhook may ask for.
    pub default_rate_limit_per_sec: u32,
    /// At most this many attempts in flight for one webhook.
    pub max_in_flight_per_webhook: u32,
    /// Attempts in flight across all webhooks (the worker bound).
    pub workers: u32,
    /// `true` only for local testing; otherwise `https://` only.
    pub allow_http: bool,
    /// CIDRs that may be delivered to although private/loopback.
    pub allowed_networks: Vec<IpNet>,
    /// PEM bundle trusted in addition to the system roots.
    pub extra_ca_file: String,
    /// Upper bound on a receiver's `Retry-After` that we honour.
    pub max_retry_after_secs: f64,
    /// First cool-down of an open circuit breaker; doubles each time it reopens.
    pub breaker_cooldown_secs: f64,
    /// The longest cool-down.
    pub breaker_max_cooldown_secs: f64,
    /// Deliveries the scheduler holds in memory at most (the rest wait on disk).
    pub max_loaded_deliveries: usize,
    /// Webhooks one tenant may have; creating more is 422 `limit_exceeded`.
    pub max_webhooks_per_tenant: usize,
    /// Alias accepted for `server.max_payload_bytes` (the contract names the key without a
    /// section); when set here it wins.
    pub max_payload_bytes: Option<usize>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            timeout_secs: 30.0,
            retry_schedule_secs: vec![60.0, 300.0, 1800.0, 7200.0, 86400.0],
            max_response_capture_bytes: 10240,
            failing_after_consecutive_failures: 5,
            disable_after_failing_secs: 432000.0,
            default_rate_limit_per_sec: 100,
            max_in_flight_per_webhook: 16,
            workers: 256,
            allow_http: false,
            allowed_networks: Vec::new(),
            extra_ca_file: String::new(),
            max_retry_after_secs: 3600.0,
            breaker_cooldown_secs: 30.0,
            breaker_max_cooldown_secs: 3600.0,
            max_loaded_deliveries: 50_000,
            max_webhooks_per_tenant: 1000,
            max_payload_bytes: None,
        }
    }
}

/// `[smtp]`: where alert e-mails go out. No `host` (the default, or no section at all)
/// means no e-mail.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// The SMTP server; empty = alert e-mails off.
    pub host: String,
    /// Default by `tls`: 587 (starttls), 465 (tls), 25 (none).
    pub port: Option<u16>,
    pub tls: SmtpTls,
    /// Log in with this user (and `password` or `password_file`); none = no AUTH.
    pub username: Option<String>,
    pub password: Option<String>,
    /// A file holding the password (trailing newline ignored); exclusive with `password`.
    pub password_file: Option<PathBuf>,
    /// The sender, a mailbox such as `hookd <hookd@example.com>`.
    pub from: String,
    /// Bound on one whole send: connect, TLS, AUTH, message.
    pub timeout_secs: f64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: String::new(),
            port: None,
            tls: SmtpTls::Starttls,
            username: None,
            password: None,
            password_file: None,
            from: String::new(),
            timeout_secs: 10.0,
        }
    }
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connect, then STARTTLS (required, never skipped).
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption at all: only for test servers on loopback.
    None,
}

impl SmtpConfig {
    /// Whether alert e-mails are configured.
    pub fn enabled(&self) -> bool {
        !self.host.is_empty()
    }

    /// The port, or the usual one for `tls`.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.password.is_some() && self.password_file.is_some() {
            return Err(invalid(
                "smtp.password_file",
                "set either password or password_file, not both",
            ));
        }
        if !(self.timeout_secs.is_finite() && self.timeout_secs > 0.0 && self.timeout_secs <= 300.0)
        {
            return Err(invalid(
                "smtp.timeout_secs",
                "must be above 0 and at most 300",
            ));
        }
        if !self.enabled() {
            return Ok(());
        }
        if self.host.trim() != self.host || self.host.contains(['/', ' ', ':']) {
            return Err(invalid(
                "smtp.host",
                format!("`{}` is not a host name or address", self.host),
            ));
        }
        if self.port == Some(0) {
            return Err(invalid("smtp.port", "must be between 1 and 65535"));
        }
        if self.username.is_some() != (self.password.is_some() || self.password_file.is_some()) {
            return Err(invalid(
                "smtp.username",
                "username needs password or password_file, and they need username",
            ));
        }
        if let Err(e) = self.from.parse::<lettre::message::Mailbox>() {
            return Err(invalid(
                "smtp.from",
                format!(
                    "`{}` is not a mailbox such as `hookd <hookd@example.com>`: {e}",
                    self.from
                ),
            ));
        }
        Ok(())
    }
}

/// One `[[event_types]]` entry: seeds the catalog on start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventTypeConfig {
    pub name: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "empty_object")]
    pub sample: toml::Value,
}

fn empty_object() -> toml::Value {
    toml::Value::Table(Default::default())
}

/// A config problem, naming the key and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value for `{key}`: {problem}")]
    Invalid { key: &'static str, problem: String },
}

fn invalid(key: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        problem: problem.into(),
    }
}

impl Config {
    /// Read, parse and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            other => other,
        })
    }

    /// Parse and validate config text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The listen address, parsed.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.listen.parse().map_err(|_| {
            invalid(
                "server.listen",
                format!(
                    "`{}` is not an address:port such as 127.0.0.1:8080",
                    self.server.listen
                ),
            )
        })
    }

    /// Largest accepted request body, whichever section named it.
    pub fn max_payload_bytes(&self) -> usize {
        self.delivery
            .max_payload_bytes
            .unwrap_or(self.server.max_payload_bytes)
    }

    /// Retention as milliseconds.
    pub fn retention_ms(&self) -> u64 {
        (self.storage.retention_days * 86_400_000.0) as u64
    }

    /// Check every value that parsing alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if self.server.tls_cert_file.is_some() != self.server.tls_key_file.is_some() {
            return Err(invalid(
                "server.tls_cert_file",
                "tls_cert_file and tls_key_file must be set together",
            ));
        }
        if self.max_payload_bytes() < 1024 || self.max_payload_bytes() > 64 * 1024 * 1024 {
            return Err(invalid(
                "server.max_payload_bytes",
                "must be between 1024 and 67108864",
            ));
        }
        if let Some(url) = &self.server.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid(
                    "server.public_url",
                    "must start with http:// or https://",
                ));
            }
        }
        validate_frame_ancestors(&self.server.frame_ancestors)?;
        if self.server.max_connections == 0 || self.server.max_connections > 1_000_000 {
            return Err(invalid(
                "server.max_connections",
                "must be between 1 and 1000000",
            ));
        }
        check_secs(
            "server.idle_timeout_secs",
            self.server.idle_timeout_secs,
            false,
            MAX_CONN_TIMEOUT_SECS,
        )?;
        check_secs(
            "server.request_timeout_secs",
            self.server.request_timeout_secs,
            false,
            MAX_CONN_TIMEOUT_SECS,
        )?;
        let s = &self.storage;
        if s.data_dir.as_os_str().is_empty() {
            return Err(invalid("storage.data_dir", "must not be empty"));
        }
        if !(s.retention_days.is_finite()
            && s.retention_days > 0.0
            && s.retention_days <= MAX_RETENTION_DAYS)
        {
            return Err(invalid(
                "storage.retention_days",
                format!("must be above 0 and at most {MAX_RETENTION_DAYS} (days)"),
            ));
        }
        if s.cache_mb == 0 || s.cache_mb > 1024 * 1024 {
            return Err(invalid("storage.cache_mb", "must be between 1 and 1048576"));
        }
        if !(s.commit_gap_ms.is_finite() && (0.0..=100.0).contains(&s.commit_gap_ms)) {
            return Err(invalid(
                "storage.commit_gap_ms",
                "must be between 0 and 100 (milliseconds)",
            ));
        }
        if let Some(k) = &self.auth.operator_key {
            if k.len() < 16 {
                return Err(invalid(
                    "auth.operator_key",
                    "must be at least 16 characters long",
                ));
            }
        }
        let d = &self.delivery;
        check_secs("delivery.timeout_secs", d.timeout_secs, false, 300.0)?;
        validate_schedule("delivery.retry_schedule_secs", &d.retry_schedule_secs)?;
        if d.max_response_capture_bytes > 1024 * 1024 {
            return Err(invalid(
                "delivery.max_response_capture_bytes",
                "must be at most 1048576",
            ));
        }
        if d.failing_after_consecutive_failures == 0 {
            return Err(invalid(
                "delivery.failing_after_consecutive_failures",
                "must be at least 1",
            ));
        }
        check_secs(
            "delivery.disable_after_failing_secs",
            d.disable_after_failing_secs,
            true,
            MAX_FAILING_SECS,
        )?;
        if d.default_rate_limit_per_sec == 0 {
            return Err(invalid(
                "delivery.default_rate_limit_per_sec",
                "must be at least 1",
            ));
        }
        if d.max_in_flight_per_webhook == 0 {
            return Err(invalid(
                "delivery.max_in_flight_per_webhook",
                "must be at least 1",
            ));
        }
        if d.workers == 0 || d.workers > 100_000 {
            return Err(invalid("delivery.workers", "must be between 1 and 100000"));
        }
        check_secs(
            "delivery.max_retry_after_secs",
            d.max_retry_after_secs,
            true,
            MAX_DELAY_SECS,
        )?;
        check_secs(
            "delivery.breaker_cooldown_secs",
            d.breaker_cooldown_secs,
            false,
            MAX_DELAY_SECS,
        )?;
        check_secs(
            "delivery.breaker_max_cooldown_secs",
            d.breaker_max_cooldown_secs,
            false,
            MAX_DELAY_SECS,
        )?;
        if d.breaker_max_cooldown_secs < d.breaker_cooldown_secs {
            return Err(invalid(
                "delivery.breaker_max_cooldown_secs",
                "must be at least breaker_cooldown_secs",
            ));
        }
        if d.max_loaded_deliveries < 100 {
            return Err(invalid(
                "delivery.max_loaded_deliveries",
                "must be at least 100",
            ));
        }
        self.smtp.validate()?;
        if d.max_webhooks_per_tenant == 0 || d.max_webhooks_per_tenant > 1_000_000 {
            return Err(invalid(
                "delivery.max_webhooks_per_tenant",
                "must be between 1 and 1000000",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for et in &self.event_types {
            if let Err(problem) = crate::model::validate_event_type_name(&et.name) {
                return Err(invalid(
                    "event_types.name",
                    format!("`{}`: {problem}", et.name),
                ));
            }
            if !seen.insert(et.name.as_str()) {
                return Err(invalid(
                    "event_types.name",
                    format!("`{}` is listed twice", et.name),
                ));
            }
            if !et.sample.is_table() {
                return Err(invalid(
                    "event_types.sample",
                    format!("sample of `{}` must be a table", et.name),
                ));
            }
        }
        Ok(())
    }
}

/// `server.frame_ancestors`: CSP source expressions separated by spaces: `'none'` alone, or
/// `'self'`, schemes (`https:`) and origins (`https://*.example.com:8443`). Nothing that
/// could end the directive (`;`, `,`) or smuggle another header value.
fn validate_frame_ancestors(value: &str) -> Result<(), ConfigError> {
    const KEY: &str = "server.frame_ancestors";
    let sources: Vec<&str> = value.split_ascii_whitespace().collect();
    if sources.is_empty() {
        return Err(invalid(
            KEY,
            "must not be empty; use \"'none'\" to forbid framing",
        ));
    }
    if sources.contains(&"'none'") && sources.len() > 1 {
        return Err(invalid(KEY, "'none' must stand alone"));
    }
    for src in &sources {
        let ok = match *src {
            "'none'" | "'self'" => true,
            s => {
                s.len() <= 255
                    && s.chars().all(|c| {
                        c.is_ascii_alphanumeric()
                            || matches!(c, ':' | '/' | '.' | '-' | '*' | '[' | ']')
                    })
            }
        };
        if !ok {
            return Err(invalid(
                KEY,
                format!("`{src}` is not a frame-ancestors source (use 'none', 'self', https: or an origin such as https://dms.example.com)"),
            ));
        }
    }
    Ok(())
}

/// The longest idle or request timeout of an API connection: one hour.
const MAX_CONN_TIMEOUT_SECS: f64 = 3600.0;

/// The longest delay hookd waits before an attempt: a retry of the schedule, a receiver's
/// `Retry-After`, a breaker cool-down. 30 days, far below what timers can hold (tokio-util's
/// `DelayQueue` panics beyond about 795 days), so no accepted value can overflow one.
pub const MAX_DELAY_SECS: f64 = 30.0 * 86400.0;

/// How long a webhook may be failing before it is disabled, at most: one year.
const MAX_FAILING_SECS: f64 = 365.0 * 86400.0;

/// The longest retention: ten years.
const MAX_RETENTION_DAYS: f64 = 3650.0;

/// A duration key in seconds: finite, above 0 (or 0 too when `zero_ok`), at most `max`.
fn check_secs(key: &'static str, value: f64, zero_ok: bool, max: f64) -> Result<(), ConfigError> {
    let low_ok = if zero_ok { value >= 0.0 } else { value > 0.0 };
    if value.is_finite() && low_ok && value <= max {
        return Ok(());
    }
    let low = if zero_ok { "from 0" } else { "above 0" };
    Err(invalid(
        key,
        format!("{value} is out of bounds: must be {low} and at most {max} seconds"),
    ))
}

/// A retry schedule: at most 50 entries, each between 0 and 30 days.
pub fn validate_schedule(key: &'static str, schedule: &[f64]) -> Result<(), ConfigError> {
    if schedule.len() > 50 {
        return Err(invalid(key, "at most 50 retries"));
    }
    for d in schedule {
        if !(d.is_finite() && *d >= 0.0 && *d <= MAX_DELAY_SECS) {
            return Err(invalid(
                key,
                format!("{d} is not a delay between 0 and 2592000 seconds"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_contract_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:8080");
        assert_eq!(c.storage.data_dir, PathBuf::from("./hookd-data"));
        assert_eq!(c.storage.cache_mb, 64);
        assert_eq!(c.delivery.retry_schedule_secs.len(), 5);
        assert_eq!(c.max_payload_bytes(), 262144);
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let e = Config::parse("[delivery]\nretry_schedule = [1]\n").unwrap_err();
        assert!(e.to_string().contains("retry_schedule"), "{e}");
    }

    #[test]
    fn bad_value_names_the_key() {
        let e = Config::parse("[storage]\ncache_mb = 0\n").unwrap_err();
        assert!(e.to_string().contains("storage.cache_mb"), "{e}");
        let e = Config::parse("[delivery]\nallowed_networks = [\"nonsense\"]\n").unwrap_err();
        assert!(e.to_string().contains("allowed_networks"), "{e}");
        let e = Config::parse("[storage]\ncommit_gap_ms = 500\n").unwrap_err();
        assert!(e.to_string().contains("storage.commit_gap_ms"), "{e}");
    }

    #[test]
    fn every_duration_key_is_bounded_and_named() {
        for (section, key, value) in [
            ("server", "idle_timeout_secs", "1e12"),
            ("server", "request_timeout_secs", "0"),
            ("storage", "retention_days", "1e9"),
            ("delivery", "timeout_secs", "1e12"),
            ("delivery", "disable_after_failing_secs", "1e15"),
            ("delivery", "max_retry_after_secs", "1e12"),
            ("delivery", "breaker_cooldown_secs", "1e12"),
            ("delivery", "breaker_max_cooldown_secs", "1e12"),
            ("delivery", "retry_schedule_secs", "[60, 1e12]"),
            ("delivery", "max_retry_after_secs", "nan"),
            ("delivery", "breaker_cooldown_secs", "inf"),
        ] {
            let text = format!("[{section}]\n{key} = {value}\n");
            let e = match Config::parse(&text) {
                Ok(_) => panic!("{section}.{key} = {value} was accepted"),
                Err(e) => e.to_string(),
            };
            assert!(e.contains(&format!("{section}.{key}")), "{e}");
        }
        let c = Config::parse(
            "[delivery]\nmax_retry_after_secs = 2592000\nbreaker_max_cooldown_secs = 2592000\n",
        )
        .unwrap();
        assert_eq!(c.delivery.max_retry_after_secs, MAX_DELAY_SECS);
    }

    #[test]
    fn commit_gap_defaults_to_two_ms_and_may_be_zero() {
        assert_eq!(Config::parse("").unwrap().storage.commit_gap_ms, 2.0);
        let c = Config::parse("[storage]\ncommit_gap_ms = 0\n").unwrap();
        assert_eq!(c.storage.commit_gap_ms, 0.0);
    }

    #[test]
    fn frame_ancestors_defaults_to_none_and_refuses_directive_injection() {
        assert_eq!(Config::parse("").unwrap().server.frame_ancestors, "'none'");
        let ok = "[server]\nframe_ancestors = \"'self' https://dms.example.com https://*.example.org:8443\"\n";
        assert!(Config::parse(ok).is_ok());
        for bad in [
            "\"\"",
            "\"'none' 'self'\"",
            "\"https://a.example; script-src *\"",
            "\"https://a.example, https://b.example\"",
            "\"'unsafe-inline'\"",
        ] {
            let e = Config::parse(&format!("[server]\nframe_ancestors = {bad}\n")).unwrap_err();
            assert!(
                e.to_string().contains("server.frame_ancestors"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn smtp_is_off_by_default_and_validated_when_set() {
        let c = Config::parse("").unwrap();
        assert!(!c.smtp.enabled());
        let ok = "[smtp]\nhost = \"mail.example.com\"\nfrom = \"hookd <hookd@example.com>\"\n";
        let c = Config::parse(ok).unwrap();
        assert!(c.smtp.enabled());
        assert_eq!(
            (c.smtp.tls, c.smtp.effective_port()),
            (SmtpTls::Starttls, 587)
        );
        let c = Config::parse(&format!("{ok}tls = \"tls\"\n")).unwrap();
        assert_eq!(c.smtp.effective_port(), 465);
        let c = Config::parse(&format!("{ok}tls = \"none\"\nport = 2525\n")).unwrap();
        assert_eq!((c.smtp.tls, c.smtp.effective_port()), (SmtpTls::None, 2525));
        for (extra, key) in [
            ("tls = \"ssl\"\n", "tls"),
            ("username = \"u\"\n", "smtp.username"),
            ("password = \"p\"\n", "smtp.username"),
            (
                "username = \"u\"\npassword = \"p\"\npassword_file = \"/p\"\n",
                "smtp.password_file",
            ),
            ("timeout_secs = 0\n", "smtp.timeout_secs"),
            ("helo = \"x\"\n", "helo"),
        ] {
            let e = Config::parse(&format!("{ok}{extra}")).unwrap_err();
            assert!(e.to_string().contains(key), "{extra}: {e}");
        }
        let e = Config::parse("[smtp]\nhost = \"mail.example.com\"\nfrom = \"not an address\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("smtp.from"), "{e}");
        let e = Config::parse("[smtp]\nhost = \"mail.example.com\"\n").unwrap_err();
        assert!(e.to_string().contains("smtp.from"), "{e}");
    }

    #[test]
    fn fractional_retention_is_allowed() {
        let c = Config::parse("[storage]\nretention_days = 0.5\n").unwrap();
        assert_eq!(c.retention_ms(), 43_200_000);
    }
}
