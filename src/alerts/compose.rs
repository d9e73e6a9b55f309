//! The alert e-mail's text, from the facts about one webhook.

use crate::model::format_ms;
pub use crate::model::AlertKind;

/// What the e-mail says about one webhook. Only the endpoint's host is shown: a URL's
/// path or query often holds a token.
#[derive(Debug, Clone)]
pub struct AlertFacts<'a> {
    pub kind: AlertKind,
    pub webhook_id: &'a str,
    /// The webhook's name; may be empty.
    pub webhook_name: &'a str,
    pub endpoint_host: &'a str,
    /// Why it turned failing or was disabled, as a sentence.
    pub reason: &'a str,
    pub last_status_code: Option<u16>,
    pub last_error: Option<&'a str>,
    pub consecutive_failures: u32,
    /// When it happened (Unix ms).
    pub at_ms: u64,
    /// hookd's public base URL (`server.public_url`), e.g. `https://hooks.example.com`.
    pub base_url: &'a str,
}

/// A composed e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertMail {
    pub subject: String,
    pub body: String,
}

/// The admin page's view of one webhook's deliveries.
pub fn deliveries_link(base_url: &str, webhook_id: &str) -> String {
    format!(
        "{}/settings/webhooks#/webhooks/{webhook_id}/deliveries",
        base_url.trim_end_matches('/')
    )
}

/// Printable, one line, at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    if clean.chars().count() <= max {
        return clean.to_string();
    }
    let mut cut: String = clean.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Subject and plain-text body of the alert.
pub fn compose_alert(f: &AlertFacts<'_>) -> AlertMail {
    let name = if f.webhook_name.trim().is_empty() {
        f.webhook_id.to_string()
    } else {
        one_line(f.webhook_name, 80)
    };
    let (state, subject_state) = match f.kind {
        AlertKind::Failing => ("is failing", "is failing"),
        AlertKind::Disabled => ("was disabled by hookd", "was disabled"),
    };
    let subject = format!("[hookd] Webhook \"{name}\" {subject_state}");
    let last_error = match (f.last_error, f.last_status_code) {
        (Some(e), _) if !e.trim().is_empty() => one_line(e, 300),
        (_, Some(code)) => format!("HTTP {code}"),
        _ => "none recorded".to_string(),
    };
    let status = f
        .last_status_code
        .map_or_else(|| "none (no HTTP answer)".to_string(), |c| c.to_string());
    let next = match f.kind {
        AlertKind::Failing => {
            "hookd holds this webhook's queue and tries one delivery at a time after a \
             cool-down; the first success makes it active again. Nothing is dropped."
        }
        AlertKind::Disabled => {
            "hookd attempts no more deliveries to this webhook. Fix the endpoint, set the \
             webhook active again, then retry what it missed from its deliveries page \
             (Retry failed in range)."
        }
    };
    let body = format!(
        "The webhook \"{name}\" ({id}) {state}.\n\
         \n\
         Reason:       {reason}\n\
         Last error:   {last_error}\n\
         Status code:  {status}\n\
         Failures:     {failures} in a row\n\
         Endpoint:     {host}\n\
         When:         {when}\n\
         \n\
         {next}\n\
         \n\
         Deliveries:   {link}\n\
         \n\
         --\n\
         You get this e-mail because your address is in this tenant's alert_emails.\n\
         hookd sends at most one alert per webhook per hour.\n",
        id = f.webhook_id,
        reason = one_line(f.reason, 300),
        failures = f.consecutive_failures,
        host = one_line(f.endpoint_host, 253),
        when = format_ms(f.at_ms),
        link = deliveries_link(f.base_url, f.webhook_id),
    );
    AlertMail { subject, body }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(kind: AlertKind) -> AlertFacts<'static> {
        AlertFacts {
            kind,
            webhook_id: "wh_01JD3QZ9X8N6R2V4T7Y5K1M0PA",
            webhook_name: "CRM sync",
            endpoint_host: "crm.example.com",
            reason: "5 failed attempts in a row",
            last_status_code: Some(503),
            last_error: None,
            consecutive_failures: 5,
            at_ms: 1_795_343_400_000,
            base_url: "https://hooks.example.com/",
        }
    }

    #[test]
    fn failing_alert_names_the_webhook_reason_error_time_and_deliveries_link() {
        let mail = compose_alert(&facts(AlertKind::Failing));
        assert_eq!(mail.subject, "[hookd] Webhook \"CRM sync\" is failing");
        for needle in [
            "\"CRM sync\" (wh_01JD3QZ9X8N6R2V4T7Y5K1M0PA) is failing",
            "Reason:       5 failed attempts in a row",
            "Last error:   HTTP 503",
            "Status code:  503",
            "Endpoint:     crm.example.com",
            "When:         2026-11-22T10:30:00.000Z",
            "https://hooks.example.com/settings/webhooks#/webhooks/wh_01JD3QZ9X8N6R2V4T7Y5K1M0PA/deliveries",
        ] {
            assert!(mail.body.contains(needle), "{needle} not in\n{}", mail.body);
        }
    }

    #[test]
    fn disabled_alert_says_what_to_do_and_tolerates_odd_names() {
        let mut f = facts(AlertKind::Disabled);
        f.webhook_name = "Evil\r\nBcc: x@example.com";
        f.reason = "endpoint answered 410 Gone";
        f.last_status_code = None;
        f.last_error = Some("connection refused");
        let mail = compose_alert(&f);
        assert!(!mail.subject.contains(['\r', '\n']), "{}", mail.subject);
        assert!(mail.subject.ends_with("was disabled"));
        assert!(mail.body.contains("Last error:   connection refused"));
        assert!(mail.body.contains("Status code:  none (no HTTP answer)"));
        assert!(mail.body.contains("set the webhook active again"));
        f.webhook_name = "";
        assert!(compose_alert(&f)
            .subject
            .contains("wh_01JD3QZ9X8N6R2V4T7Y5K1M0PA"));
    }
}
