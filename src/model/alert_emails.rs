//! A tenant's `alert_emails`: who is told when one of its webhooks turns failing or is
//! disabled by hookd.

/// At most this many addresses per tenant.
pub const MAX_ALERT_EMAILS: usize = 10;

/// Why a list of alert addresses is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertEmailsError {
    #[error("`alert_emails` holds at most {MAX_ALERT_EMAILS} addresses, not {0}")]
    TooMany(usize),
    #[error(
        "`{address}` (alert_emails[{index}]) is not an e-mail address such as ops@example.com"
    )]
    Invalid { index: usize, address: String },
}

/// The list as stored: each entry a bare address (`ops@example.com`, no display name),
/// trimmed, duplicates (compared case-insensitively) dropped, order kept.
pub fn validate_alert_emails(list: &[String]) -> Result<Vec<String>, AlertEmailsError> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (index, raw) in list.iter().enumerate() {
        let address = raw.trim();
        let valid = address.len() <= 254
            && !address.chars().any(|c| c.is_control() || c.is_whitespace())
            && address.parse::<lettre::Address>().is_ok();
        if !valid {
            return Err(AlertEmailsError::Invalid {
                index,
                address: raw.clone(),
            });
        }
        if !out.iter().any(|a| a.eq_ignore_ascii_case(address)) {
            out.push(address.to_string());
        }
    }
    if out.len() > MAX_ALERT_EMAILS {
        return Err(AlertEmailsError::TooMany(out.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn valid_addresses_are_trimmed_and_deduplicated() {
        let got = validate_alert_emails(&strings(&[
            " ops@example.com",
            "OPS@example.com",
            "ada.lovelace+hooks@mail.example.co.uk",
        ]));
        assert_eq!(
            got,
            Ok(strings(&[
                "ops@example.com",
                "ada.lovelace+hooks@mail.example.co.uk"
            ]))
        );
        assert_eq!(validate_alert_emails(&[]), Ok(Vec::new()));
    }

    #[test]
    fn invalid_addresses_are_named_with_their_index() {
        for bad in [
            "not an address",
            "ops@",
            "@example.com",
            "hookd <ops@example.com>",
            "ops@example.com\r\nBcc: x@example.com",
            "",
        ] {
            let err = validate_alert_emails(&strings(&["ok@example.com", bad]));
            assert_eq!(
                err,
                Err(AlertEmailsError::Invalid {
                    index: 1,
                    address: bad.to_string()
                }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn more_than_ten_addresses_are_refused() {
        let ten: Vec<String> = (0..10).map(|i| format!("ops{i}@example.com")).collect();
        assert!(validate_alert_emails(&ten).is_ok());
        let mut eleven = ten.clone();
        eleven.push("one-more@example.com".into());
        assert_eq!(
            validate_alert_emails(&eleven),
            Err(AlertEmailsError::TooMany(11))
        );
    }
}
