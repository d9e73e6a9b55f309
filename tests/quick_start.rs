//! The README's "Quick start with curl" works verbatim on a fresh daemon with no
//! `[[event_types]]` in its config (the built-in catalog).
//!
//! The test reads the first ```sh block under the README's "Quick start" heading, splits it
//! into commands the way a POSIX shell would (quotes, `\` continuations, comments, `$VAR`),
//! and replays each `curl` against the daemon. Assignments set variables; a placeholder such
//! as `KEY=hk_...   # the "api_key" of the answer` takes the field its comment names from
//! the previous answer. `API` keeps its path, with the README's `127.0.0.1:8080` replaced by
//! the test daemon's address; `$(cat hookd-data/operator.key)` is the daemon's operator key
//! (the harness sets it in the config instead of letting hookd generate the file).

mod common;

use std::collections::HashMap;

use common::*;

const README_BASE: &str = "http://127.0.0.1:8080";

#[derive(Debug, Clone)]
enum Part {
    Lit(String),
    Var(String),
    Subst(String),
}

#[derive(Debug, Default)]
struct ShellCommand {
    words: Vec<Vec<Part>>,
    comment: String,
}

fn quick_start_block() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("read README.md");
    let start = readme
        .find("## Quick start")
        .expect("README.md has a `## Quick start` section");
    let section = &readme[start..];
    let open = section
        .find("```sh\n")
        .expect("a ```sh block in Quick start")
        + 6;
    let len = section[open..].find("```").expect("the ```sh block ends");
    section[open..open + len].to_string()
}

/// Split shell text into commands (enough of POSIX sh for a README).
fn parse_shell(text: &str) -> Vec<ShellCommand> {
    let mut commands = Vec::new();
    let mut cmd = ShellCommand::default();
    let mut word: Vec<Part> = Vec::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    fn push_lit(word: &mut Vec<Part>, c: char) {
        match word.last_mut() {
            Some(Part::Lit(s)) => s.push(c),
            _ => word.push(Part::Lit(c.to_string())),
        }
    }
    fn dollar(chars: &mut std::iter::Peekable<std::str::Chars>) -> Part {
        if chars.peek() == Some(&'(') {
            chars.next();
            let inner: String = chars.by_ref().take_while(|&c| c != ')').collect();
            return Part::Subst(inner);
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
        Part::Var(name)
    }
    let end_word = |cmd: &mut ShellCommand, word: &mut Vec<Part>, in_word: &mut bool| {
        if *in_word {
            cmd.words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'\n') => {
                chars.next();
            }
            '\n' => {
                end_word(&mut cmd, &mut word, &mut in_word);
                if !cmd.words.is_empty() {
                    commands.push(std::mem::take(&mut cmd));
                }
                cmd = ShellCommand::default();
            }
            ' ' | '\t' => end_word(&mut cmd, &mut word, &mut in_word),
            '#' if !in_word => {
                while let Some(&c) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    cmd.comment.push(c);
                    chars.next();
                }
            }
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    push_lit(&mut word, c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(next) = chars.next() {
                                push_lit(&mut word, next);
                            }
                        }
                        '$' => word.push(dollar(&mut chars)),
                        c => push_lit(&mut word, c),
                    }
                }
            }
            '$' => {
                in_word = true;
                word.push(dollar(&mut chars));
            }
            c => {
                in_word = true;
                push_lit(&mut word, c);
            }
        }
    }
    end_word(&mut cmd, &mut word, &mut in_word);
    if !cmd.words.is_empty() {
        commands.push(cmd);
    }
    commands
}

struct Replay<'a> {
    daemon: &'a TestDaemon,
    vars: HashMap<String, String>,
    last: Option<Resp>,
    answers: Vec<(String, Resp)>,
}

impl Replay<'_> {
    fn expand(&self, word: &[Part]) -> String {
        word.iter()
            .map(|part| match part {
                Part::Lit(s) => s.clone(),
                Part::Var(name) => match self.vars.get(name) {
                    Some(v) => v.clone(),
                    None => panic!("the Quick start uses ${name} before setting it"),
                },
                Part::Subst(cmd) => {
                    assert_eq!(
                        cmd.trim(),
                        "cat hookd-data/operator.key",
                        "the only command substitution the Quick start may use"
                    );
                    self.daemon.operator_key().to_string()
                }
            })
            .collect()
    }

    fn run(&mut self, cmd: &ShellCommand) {
        let first = self.expand(&cmd.words[0]);
        if first == "curl" {
            self.curl(cmd);
            return;
        }
        let (name, value) = first
            .split_once('=')
            .unwrap_or_else(|| panic!("not a curl or an assignment: {first}"));
        assert_eq!(cmd.words.len(), 1, "assignment with extra words: {cmd:?}");
        let value = if let Some(prefix) = value.strip_suffix("...") {
            self.placeholder(name, prefix, &cmd.comment)
        } else if name == "API" {
            let path = value
                .strip_prefix(README_BASE)
                .unwrap_or_else(|| panic!("API is not on the default listen address: {value}"));
            self.daemon.url(path)
        } else {
            value.to_string()
        };
        self.vars.insert(name.to_string(), value);
    }

    /// `KEY=hk_...   # the "api_key" of the answer`: the quoted field of the last answer.
    fn placeholder(&self, name: &str, prefix: &str, comment: &str) -> String {
        let field = comment
            .split('"')
            .nth(1)
            .unwrap_or_else(|| panic!("placeholder {name} has no comment naming a field"));
        let last = self.last.as_ref().expect("a placeholder follows an answer");
        let value = last.json[field]
            .as_str()
            .unwrap_or_else(|| panic!("the answer before {name} has no `{field}`: {}", last.text))
            .to_string();
        assert!(
            value.starts_with(prefix),
            "{name}: `{value}` does not start with `{prefix}` as the README shows"
        );
        value
    }

    fn curl(&mut self, cmd: &ShellCommand) {
        let words: Vec<String> = cmd.words.iter().map(|w| self.expand(w)).collect();
        let mut method = None;
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut data = None;
        let mut url = None;
        let mut it = words.iter().skip(1);
        while let Some(w) = it.next() {
            match w.as_str() {
                "-s" => {}
                "-X" => method = it.next().cloned(),
                "-H" => {
                    let h = it.next().expect("-H value");
                    let (k, v) = h.split_once(':').expect("header `name: value`");
                    headers.push((k.trim().to_string(), v.trim().to_string()));
                }
                "-d" => data = it.next().cloned(),
                other if other.starts_with('-') => panic!("unexpected curl option {other}"),
                other => url = Some(other.to_string()),
            }
        }
        let url = url.expect("curl without a URL");
        let path = url
            .strip_prefix(self.daemon.base_url())
            .unwrap_or_else(|| panic!("curl to another host: {url}"))
            .to_string();
        let method = method.unwrap_or_else(|| if data.is_some() { "POST" } else { "GET" }.into());
        let header_refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let api = Api::new(self.daemon.base_url(), "");
        let resp = api.send(
            &method,
            &path,
            data.as_deref().map(str::as_bytes),
            &header_refs,
        );
        assert!(
            (200..300).contains(&resp.status),
            "Quick start `{method} {path}` answered {}: {}",
            resp.status,
            resp.text
        );
        self.answers
            .push((format!("{method} {path}"), resp.clone()));
        self.last = Some(resp);
    }
}

#[test]
fn readme_quick_start_works_verbatim_on_the_builtin_catalog() {
    let d = TestDaemon::start();
    let commands = parse_shell(&quick_start_block());
    let curls = commands
        .iter()
        .filter(|c| matches!(c.words[0].first(), Some(Part::Lit(s)) if s == "curl"))
        .count();
    assert!(
        curls >= 5,
        "only {curls} curl commands found in the Quick start"
    );
    let mut replay = Replay {
        daemon: &d,
        vars: HashMap::new(),
        last: None,
        answers: Vec::new(),
    };
    for cmd in &commands {
        replay.run(cmd);
    }

    let find = |prefix: &str| -> &Resp {
        replay
            .answers
            .iter()
            .find(|(what, _)| what.starts_with(prefix))
            .map(|(_, r)| r)
            .unwrap_or_else(|| panic!("the Quick start has no `{prefix}`"))
    };
    let catalog = find("GET /api/event-types");
    let names: Vec<&str> = catalog.json["data"]
        .as_array()
        .expect("catalog data")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(names.len() >= 23, "built-in catalog too small: {names:?}");
    for name in [
        "customer.created",
        "deal.created",
        "webhook.failing",
        "webhook.recovered",
        "webhook.disabled",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let webhook = find("POST /api/webhooks");
    assert_eq!(webhook.status, 201);
    assert!(webhook.str("secret").starts_with("whsec_"));
    let published = find("POST /api/events");
    assert_eq!(published.status, 202);
    assert_eq!(published.json["deliveries"], 1, "{}", published.text);
    let deliveries = find("GET /api/webhooks/wh_");
    let data = deliveries.json["data"].as_array().expect("deliveries data");
    assert_eq!(data.len(), 1, "{}", deliveries.text);
    assert_eq!(data[0]["event_type"], "customer.created");
    assert_eq!(data[0]["event_id"], published.json["id"]);
}

#[test]
fn builtin_catalog_is_written_once_so_api_edits_survive_a_restart() {
    let mut d = TestDaemon::start();
    let op = Api::as_operator(&d);
    op.delete("/api/event-types/lead.enriched")
        .expect_status(204);
    op.put(
        "/api/event-types/customer.created",
        serde_json::json!({"category": "Client", "description": "A client was created"}),
    )
    .expect_status(200);
    d.restart();
    let op = op.rebase(d.base_url());
    op.get("/api/event-types/lead.enriched").expect_status(404);
    let cc = op.get("/api/event-types/customer.created");
    cc.expect_status(200);
    assert_eq!(cc.json["category"], "Client");
    let list = op.get("/api/event-types");
    let names: Vec<&str> = list.json["data"]
        .as_array()
        .expect("catalog data")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(names.contains(&"deal.created") && names.contains(&"webhook.failing"));
}

#[test]
fn a_config_catalog_replaces_the_builtin_one() {
    let d = TestDaemon::builder().config_extra(JOB_CATALOG).start();
    let list = Api::as_operator(&d).get("/api/event-types");
    let names: Vec<&str> = list.json["data"]
        .as_array()
        .expect("catalog data")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    let mut sorted = names;
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "job.created",
            "webhook.disabled",
            "webhook.failing",
            "webhook.recovered"
        ],
        "{}",
        list.text
    );
}
