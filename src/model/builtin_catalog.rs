//! hookd's built-in event type catalog: what a config without any `[[event_types]]` (or no
//! config at all) starts with, so a new install can subscribe and publish at once.
//!
//! The entries live in `builtin_catalog.json` next to this file (names, categories,
//! descriptions and realistic samples of the product families hookd serves: customers of a
//! rental or dealer system, vehicles, deals, jobs, projects, tasks, users, billing,
//! workflows, agents, leads, e-mail). hookd's own operational event types are not in it:
//! they are always added (see `OPERATIONAL_EVENT_TYPES`).

use serde::Deserialize;

use super::EventType;

const CATALOG_JSON: &str = include_str!("builtin_catalog.json");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    category: String,
    description: String,
    sample: serde_json::Value,
}

/// The built-in catalog, in file order. The file is compiled in and checked by the tests
/// below, so it always parses; an unparsable file would yield an empty catalog.
pub fn builtin_event_types() -> Vec<EventType> {
    let entries: Vec<Entry> = match serde_json::from_str(CATALOG_JSON) {
        Ok(entries) => entries,
        Err(e) => {
            tracing::error!(error = %e, "the built-in event type catalog does not parse");
            return Vec::new();
        }
    };
    entries
        .into_iter()
        .map(|e| EventType {
            name: e.name,
            category: e.category,
            description: e.description,
            sample: e.sample.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::model::{validate_event_type_name, OPERATIONAL_EVENT_TYPES};

    fn entries() -> Vec<Entry> {
        serde_json::from_str(CATALOG_JSON).expect("builtin_catalog.json parses")
    }

    #[test]
    fn builtin_catalog_parses_with_valid_unique_names() {
        let entries = entries();
        let mut seen = HashSet::new();
        for e in &entries {
            assert!(validate_event_type_name(&e.name).is_ok(), "{}", e.name);
            assert!(seen.insert(e.name.as_str()), "{} listed twice", e.name);
            assert!(!e.category.is_empty(), "{} has no category", e.name);
            assert!(!e.description.is_empty(), "{} has no description", e.name);
            assert!(
                !OPERATIONAL_EVENT_TYPES.iter().any(|(n, _, _)| *n == e.name),
                "{} is an operational type and is added separately",
                e.name
            );
        }
        assert_eq!(builtin_event_types().len(), entries.len());
    }

    #[test]
    fn builtin_catalog_covers_the_product_families_with_realistic_samples() {
        let entries = entries();
        assert!(entries.len() >= 20, "only {} types", entries.len());
        let categories: HashSet<&str> = entries.iter().map(|e| e.category.as_str()).collect();
        assert!(categories.len() >= 5, "only {categories:?}");
        for family in [
            "customer.",
            "vehicle.",
            "deal.",
            "enquiry.",
            "job.",
            "project.",
            "task.",
            "user.",
            "subscription.",
            "payment.",
            "workflow.",
            "agent.",
            "lead.",
            "email.",
        ] {
            assert!(
                entries.iter().any(|e| e.name.starts_with(family)),
                "no {family}* type"
            );
        }
        for e in &entries {
            let fields = e.sample.as_object().map_or(0, |o| o.len());
            assert!(
                fields >= 5,
                "{} has a thin sample ({fields} fields)",
                e.name
            );
        }
    }

    #[test]
    fn customer_created_sample_holds_every_client_field() {
        let entries = entries();
        let customer = entries
            .iter()
            .find(|e| e.name == "customer.created")
            .expect("customer.created");
        for field in [
            "name",
            "email",
            "phone",
            "vip",
            "addresses",
            "documents",
            "created_by",
            "created_at",
            "updated_at",
        ] {
            assert!(
                customer.sample.get(field).is_some(),
                "customer.created sample lacks `{field}`"
            );
        }
    }
}
