//! The shape the README promises, checked on the source: no import cycle between top-level
//! modules, `worker` named only at the edges, `domain/` free of HTTP and storage, handlers
//! never reaching back into the pipeline or the route table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → (the modules its non-test code names, file by file).
fn imports() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut graph: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let test_file =
                name == "tests.rs" || name.ends_with("_tests.rs") || dir.ends_with("fuzz");
            if !name.ends_with(".rs")
                || test_file
                || ["architecture.rs", "lib.rs"].contains(&name.as_str())
            {
                continue;
            }
            let rel = path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let top = rel
                .split('/')
                .next()
                .unwrap()
                .trim_end_matches(".rs")
                .to_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            let code = code.split("#[cfg(all(test").next().unwrap();
            let code: String = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let names = graph.entry(top.clone()).or_default();
            for (i, _) in code.match_indices("crate::") {
                let rest = &code[i + "crate::".len()..];
                let mut found: Vec<String> = Vec::new();
                if let Some(group) = rest.strip_prefix('{') {
                    let group = &group[..group.find('}').unwrap_or(group.len())];
                    found.extend(group.split(',').filter_map(|part| {
                        let id: String = part
                            .trim()
                            .chars()
                            .take_while(|c| {
                                c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit()
                            })
                            .collect();
                        (!id.is_empty()).then_some(id)
                    }));
                } else {
                    let id: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                        .collect();
                    if !id.is_empty() {
                        found.push(id);
                    }
                }
                for module in found.into_iter().filter(|m| *m != top) {
                    names.entry(module).or_default().insert(rel.clone());
                }
            }
        }
    }
    graph
}

fn reaches(
    graph: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    from: &str,
    to: &str,
) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_owned()];
    while let Some(m) = stack.pop() {
        if m == to {
            return true;
        }
        if seen.insert(m.clone()) {
            stack.extend(graph.get(&m).into_iter().flat_map(|e| e.keys().cloned()));
        }
    }
    false
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let graph = imports();
    assert!(
        graph.len() > 15,
        "the walk found the modules: {:?}",
        graph.keys()
    );
    for (from, edges) in &graph {
        for (to, files) in edges {
            assert!(
                !reaches(&graph, to, from),
                "{from} → {to} ({files:?}) closes a cycle"
            );
        }
    }
}

#[test]
fn layers_name_only_what_they_may() {
    let graph = imports();
    let names = |m: &str| {
        graph
            .get(m)
            .map(|e| e.keys().cloned().collect::<BTreeSet<_>>())
            .unwrap_or_default()
    };
    for forbidden in [
        "http", "db", "pipeline", "context", "routes", "platform", "accounts", "notes", "passkeys",
        "mail",
    ] {
        assert!(
            !names("domain").contains(forbidden),
            "domain names {forbidden}"
        );
    }
    for feature in ["accounts", "notes", "health", "testing", "passkeys"] {
        for forbidden in ["pipeline", "routes"] {
            assert!(
                !names(feature).contains(forbidden),
                "{feature} names {forbidden}"
            );
        }
    }
}

#[test]
fn worker_is_named_only_at_the_edges() {
    const EDGES: &[&str] = &[
        "lib.rs",
        "platform.rs",
        "pipeline/edge.rs",
        "db/d1.rs",
        "auth/kv_store.rs",
        "ratelimit/client.rs",
        "ratelimit/object.rs",
        "outbound.rs",
    ];
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src.clone()];
    let mut checked = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel == "architecture.rs" || EDGES.contains(&rel.as_str()) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let names_worker = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .any(|l| l.contains("worker::") || l.trim_start().starts_with("use worker"));
            assert!(!names_worker, "{rel} names a worker type");
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked} files checked");
}
