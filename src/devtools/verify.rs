//! `hookd verify --secret S --header 'k: v'... < body`: check one captured request.

use std::io::Read as _;
use std::process::ExitCode;

/// Exit 0 when both signatures verify, 1 when not, 2 on bad input.
pub fn run(secret: &str, header_args: &[String]) -> ExitCode {
    let mut headers = Vec::new();
    for h in header_args {
        match h.split_once(':') {
            Some((k, v)) => headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string())),
            None => {
                eprintln!("error: --header `{h}` is not of the form `name: value`");
                return ExitCode::from(2);
            }
        }
    }
    let mut body = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut body) {
        eprintln!("error: cannot read the body from stdin: {e}");
        return ExitCode::from(2);
    }
    let v = super::check(secret, &headers, &body);
    println!(
        "webhook-signature: {}",
        if v.standard { "valid" } else { "INVALID" }
    );
    println!(
        "X-Webhook-Signature: {}",
        if v.hex { "valid" } else { "INVALID" }
    );
    for p in &v.problems {
        println!("  {p}");
    }
    if v.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
