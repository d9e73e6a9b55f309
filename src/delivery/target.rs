//! Where an attempt is sent: a webhook's URL, checked against the config and parsed once
//! rather than per attempt (two URL parses per attempt cost 1.3 % of hookd's CPU with ten
//! webhooks).

use std::collections::HashMap;
use std::sync::Mutex;

/// At most this many URLs are kept; the whole list is dropped when it is full (webhooks
/// are few, and a URL checked again costs one parse).
const KEPT: usize = 4_096;

/// What an attempt does with a webhook URL.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    /// Send to this URI.
    Send(http::Uri),
    /// Do not send: the config refuses the URL (the text starts with `refused:`).
    Refused(String),
    /// Do not send: the URL cannot be made into a request.
    Unusable(String),
}

/// The verdicts on URLs seen so far, for one config (`allow_http` never changes while
/// the daemon runs). One per engine.
pub(crate) struct Targets {
    allow_http: bool,
    by_url: Mutex<HashMap<String, Target>>,
}

impl Targets {
    pub(crate) fn new(allow_http: bool) -> Targets {
        Targets {
            allow_http,
            by_url: Mutex::new(HashMap::new()),
        }
    }

    /// The verdict on `url`.
    pub(crate) fn of(&self, url: &str) -> Target {
        if let Some(t) = self.lock().get(url) {
            return t.clone();
        }
        let target = judge(url, self.allow_http);
        let mut by_url = self.lock();
        if by_url.len() >= KEPT {
            by_url.clear();
        }
        by_url.insert(url.to_string(), target.clone());
        target
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Target>> {
        // A map of verdicts that are recomputed when missing: nothing to repair.
        self.by_url.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn judge(url: &str, allow_http: bool) -> Target {
    if let Some(refusal) = refusal(url, allow_http) {
        return Target::Refused(refusal);
    }
    match url.parse::<http::Uri>() {
        Ok(uri) => Target::Send(uri),
        Err(e) => Target::Unusable(format!("request: cannot build the request: {e}")),
    }
}

/// Why a stored webhook URL may not be sent to under the current config, if it may not:
/// URLs are validated when a webhook is saved, but the operator may have turned
/// `delivery.allow_http` off since, and webhooks saved by older versions may carry
/// credentials. Such an attempt fails with this error (and is retried on schedule, so
/// fixing the URL or the config lets the delivery through) instead of being sent.
fn refusal(raw: &str, allow_http: bool) -> Option<String> {
    let Ok(url) = url::Url::parse(raw) else {
        return Some("refused: the webhook URL is not a valid URL".into());
    };
    if url.scheme() == "http" && !allow_http {
        return Some(
            "refused: plain http:// delivery is turned off (delivery.allow_http = false); \
             change the webhook URL to https://"
                .into(),
        );
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Some(
            "refused: the webhook URL contains credentials (user:password@); \
             send them in a custom header instead"
                .into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_judged_once_and_served_from_the_list_after() {
        let targets = Targets::new(false);
        let url = "https://hooks.example.com/in?x=1";
        let first = targets.of(url);
        assert_eq!(first, Target::Send(url.parse().unwrap()));
        assert_eq!(targets.lock().len(), 1);
        assert_eq!(targets.of(url), first);
        assert!(
            matches!(targets.of("http://hooks.example.com/"), Target::Refused(r) if r.contains("allow_http"))
        );
        assert!(matches!(
            Targets::new(true).of("http://hooks.example.com/"),
            Target::Send(_)
        ));
        for i in 0..KEPT {
            targets.of(&format!("https://h{i}.example.com/"));
        }
        assert!(targets.lock().len() <= KEPT, "the list stays bounded");
    }

    #[test]
    fn http_urls_are_refused_once_allow_http_is_off_and_credentials_always() {
        assert_eq!(refusal("https://crm.example.com/hooks", false), None);
        assert_eq!(refusal("http://127.0.0.1:9/hooks", true), None);
        let e = refusal("http://127.0.0.1:9/hooks", false).unwrap();
        assert!(e.starts_with("refused:") && e.contains("allow_http"), "{e}");
        let e = refusal("https://user:secret@crm.example.com/", false).unwrap();
        assert!(e.starts_with("refused:") && !e.contains("secret@"), "{e}");
    }
}
