//! `config.example.toml` is documentation that must not drift from `src/config.rs`.
//!
//! Why an integration test: the example is what operators copy to /etc/hookd; if it names a
//! key config.rs does not know (config uses `deny_unknown_fields`), hookd refuses to start
//! with it, and if it states a default that is not the real default, operators are misled.
//! This test fails in both cases, and when config.rs gains a key the example does not list.

use std::path::{Path, PathBuf};

use hookd::config::{AuthConfig, Config, DeliveryConfig, ServerConfig, SmtpConfig, StorageConfig};

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml")
}

fn load_example() -> Config {
    match Config::load(&example_path()) {
        Ok(config) => config,
        Err(e) => panic!("config.example.toml does not load: {e}"),
    }
}

#[test]
fn example_loads_with_a_dms_catalog() {
    let config = load_example();
    assert!(
        config.event_types.len() >= 12,
        "only {} event types",
        config.event_types.len()
    );
    for et in &config.event_types {
        assert!(!et.category.is_empty(), "{} has no category", et.name);
        assert!(!et.description.is_empty(), "{} has no description", et.name);
        let fields = et.sample.as_table().map_or(0, |t| t.len());
        assert!(
            fields >= 5,
            "{} has a thin sample ({fields} fields)",
            et.name
        );
    }
    for name in [
        "customer.created",
        "vehicle.sold",
        "enquiry.created",
        "deal.completed",
        "job.invoiced",
    ] {
        assert!(
            config.event_types.iter().any(|et| et.name == name),
            "{name} missing from the catalog"
        );
    }
}

/// Whole sections compared through `Debug`, so a field added to config.rs later is covered
/// without touching this test (none of these structs implements `PartialEq`).
#[test]
fn stated_values_are_the_defaults() {
    let config = load_example();
    assert_eq!(
        format!("{:?}", config.server),
        format!("{:?}", ServerConfig::default())
    );
    assert_eq!(
        format!("{:?}", config.storage),
        format!("{:?}", StorageConfig::default())
    );
    assert_eq!(
        format!("{:?}", config.auth),
        format!("{:?}", AuthConfig::default())
    );
    assert_eq!(
        format!("{:?}", config.delivery),
        format!("{:?}", DeliveryConfig::default())
    );
    assert_eq!(
        format!("{:?}", config.smtp),
        format!("{:?}", SmtpConfig::default())
    );
}

/// The commented-out examples are valid values too: an operator uncommenting one must not
/// be met by a parse or validation error.
#[test]
fn commented_out_keys_are_valid_when_uncommented() {
    let text = match std::fs::read_to_string(example_path()) {
        Ok(text) => text,
        Err(e) => panic!("cannot read config.example.toml: {e}"),
    };
    let settings = text.split("\n[[event_types]]").next().unwrap_or_default();
    let mut uncommented = 0;
    let enabled: String = settings
        .lines()
        .map(|line| {
            let Some(rest) = line.strip_prefix("# ") else {
                return format!("{line}\n");
            };
            let is_key = rest.split_once(" = ").is_some_and(|(key, _)| {
                !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            });
            if is_key {
                uncommented += 1;
                format!("{rest}\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    assert!(
        uncommented >= 6,
        "only {uncommented} commented-out keys found"
    );
    if let Err(e) = Config::parse(&enabled) {
        panic!("config.example.toml with its commented-out keys enabled: {e}\n{enabled}");
    }
}

/// Every field of every section appears in the example, set or commented out, under its
/// own `[section]` header.
#[test]
fn every_key_is_documented() {
    let text = match std::fs::read_to_string(example_path()) {
        Ok(text) => text,
        Err(e) => panic!("cannot read config.example.toml: {e}"),
    };
    let sections = [
        (
            "server",
            field_names(&format!("{:?}", ServerConfig::default())),
        ),
        (
            "storage",
            field_names(&format!("{:?}", StorageConfig::default())),
        ),
        ("auth", field_names(&format!("{:?}", AuthConfig::default()))),
        (
            "delivery",
            field_names(&format!("{:?}", DeliveryConfig::default())),
        ),
        ("smtp", field_names(&format!("{:?}", SmtpConfig::default()))),
    ];
    for (section, fields) in sections {
        assert!(!fields.is_empty(), "no fields parsed for [{section}]");
        let body = section_body(&text, section);
        for field in fields {
            let documented = body.lines().any(|line| {
                let line = line.trim_start().trim_start_matches('#').trim_start();
                line.strip_prefix(field.as_str())
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            });
            assert!(
                documented,
                "`{section}.{field}` is not in config.example.toml"
            );
        }
    }
}

/// The lines between `[section]` and the next table header.
fn section_body<'a>(text: &'a str, section: &str) -> &'a str {
    let header = format!("\n[{section}]\n");
    let start = match text.find(&header) {
        Some(i) => i + header.len(),
        None => panic!("no [{section}] section"),
    };
    let rest = &text[start..];
    let end = rest.find("\n[").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

/// Field names of a derived `Debug` struct rendering: `Name { a: 1, b: "x, y: z" }` → a, b.
fn field_names(debug: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut current = String::new();
    for c in debug.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' | '(' => {
                depth += 1;
                current.clear();
            }
            '}' | ']' | ')' => depth = depth.saturating_sub(1),
            ',' => current.clear(),
            ':' if depth == 1 => {
                let name = current.trim();
                if !name.is_empty() {
                    names.push(name.to_owned());
                }
                current.clear();
            }
            _ if depth == 1 => current.push(c),
            _ => {}
        }
    }
    names
}
