//! The architecture invariants ARCHITECTURE.md states that a reading of the
//! source can check: who may spawn tasks, read the environment, place keys
//! and write to a backend. Each check names the file and line that breaks it.
//! Test modules (everything from a file's `#[cfg(test)]` on) are not checked.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, with its non-test lines (number, text).
fn sources(dir: &Path) -> Vec<(PathBuf, Vec<(usize, String)>)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = fs::read_to_string(&path).unwrap();
                let lines = text
                    .lines()
                    .enumerate()
                    .take_while(|(_, line)| line.trim() != "#[cfg(test)]")
                    .filter(|(_, line)| !line.trim_start().starts_with("//"))
                    .map(|(i, line)| (i + 1, line.to_owned()))
                    .collect();
                files.push((path, lines));
            }
        }
    }
    files.sort();
    files
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Lines matching any of `patterns` in files `allowed` does not accept.
fn offenders(patterns: &[&str], allowed: impl Fn(&str) -> bool) -> Vec<String> {
    let root = src();
    let files = sources(&root);
    assert!(
        files.len() > 50,
        "found only {} source files under {root:?}",
        files.len()
    );
    let mut found = Vec::new();
    for (path, lines) in files {
        let relative = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if allowed(&relative) {
            continue;
        }
        for (number, line) in lines {
            if patterns.iter().any(|p| line.contains(p)) {
                found.push(format!("{relative}:{number}: {}", line.trim()));
            }
        }
    }
    found
}

#[test]
fn every_background_task_is_spawned_through_the_registry() {
    let found = offenders(
        &["tokio::spawn", "task::spawn(", "spawn_blocking"],
        |file| file == "tasks.rs",
    );
    assert!(found.is_empty(), "spawned outside tasks.rs: {found:#?}");
}

#[test]
fn only_configuration_reads_the_environment() {
    let found = offenders(&["env::var", "env::vars", "dotenvy::"], |file| {
        file.starts_with("config") || file == "main.rs" || file == "cli.rs"
    });
    assert!(
        found.is_empty(),
        "environment read outside configuration: {found:#?}"
    );
}

#[test]
fn only_a_backend_places_keys_on_nodes() {
    let found = offenders(&[".locate(", "placement("], |file| {
        file.starts_with("backend")
    });
    assert!(
        found.is_empty(),
        "placement outside the backends: {found:#?}"
    );
}

#[test]
fn every_mutation_reaches_a_backend_only_through_cache_apply() {
    let writes = [
        "backend.set(",
        "backend.set_many(",
        "backend.delete(",
        "backend.delete_many(",
        "backend.set_conditional(",
        "backend.take(",
        "backend.get_and_retime(",
        "backend.retime(",
        "backend.incr_by(",
        "backend.append(",
        "backend.flush(",
        "backend.apply_versioned(",
        "backend.drop_older_than(",
        "backend().set(",
        "backend().delete(",
        "backend().flush(",
    ];
    let found = offenders(&writes, |file| {
        file == "cache/write.rs" || file.starts_with("backend")
    });
    assert!(
        found.is_empty(),
        "a write that bypasses Cache::apply: {found:#?}"
    );
}

#[test]
fn the_ring_crate_stays_pure() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../roost-ring/Cargo.toml");
    let text = fs::read_to_string(manifest).unwrap();
    let dependencies = text
        .split("[dependencies]")
        .nth(1)
        .unwrap_or_default()
        .split("\n[")
        .next()
        .unwrap_or_default();
    for forbidden in ["tokio", "serde", "redis", "hyper"] {
        assert!(
            !dependencies.contains(forbidden),
            "roost-ring depends on {forbidden}: placement must stay a pure function"
        );
    }
}
