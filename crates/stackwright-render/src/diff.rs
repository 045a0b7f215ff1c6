//! `stackwright diff`: the differences between two locks, as text or JSON.

use serde_json::json;
use stackwright_types::lockdiff::{Change, Entry, LockDiff};

fn side(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("(none)")
}

fn entry_line(sign: char, e: &Entry) -> String {
    let mut s = format!("{sign} {} {}", e.id, e.version);
    match (&e.image, &e.digest) {
        (Some(i), Some(d)) => s.push_str(&format!("  {i}@{d}")),
        (Some(i), None) => s.push_str(&format!("  {i}")),
        _ => {}
    }
    s.push('\n');
    s
}

fn change_line(indent: &str, c: &Change) -> String {
    format!(
        "{indent}{}: {} -> {}\n",
        c.field,
        side(&c.from),
        side(&c.to)
    )
}

/// The differences as lines for a terminal, `a` and `b` naming the two sides: lock-level
/// changes, then `+` added, `-` removed and `~` changed components (each changed field
/// indented under its component). Empty when the locks are the same.
pub fn diff_text(d: &LockDiff, a: &str, b: &str) -> String {
    if d.is_empty() {
        return String::new();
    }
    let mut s = format!("--- {a}\n+++ {b}\n");
    for c in &d.lock {
        s.push_str(&change_line("", c));
    }
    for e in &d.added {
        s.push_str(&entry_line('+', e));
    }
    for e in &d.removed {
        s.push_str(&entry_line('-', e));
    }
    for c in &d.changed {
        s.push_str(&format!("~ {}\n", c.id));
        for ch in &c.changes {
            s.push_str(&change_line("    ", ch));
        }
    }
    s.push_str(&format!(
        "{} added, {} removed, {} changed\n",
        d.added.len(),
        d.removed.len(),
        d.changed.len()
    ));
    s
}

/// The differences as one JSON document:
/// `{"a","b","same","lock":[…],"added":[…],"removed":[…],"changed":[{"id","changes":[{"field","from","to"}]}]}`.
pub fn diff_json(d: &LockDiff, a: &str, b: &str) -> String {
    let v = json!({
        "a": a,
        "b": b,
        "same": d.is_empty(),
        "lock": d.lock,
        "added": d.added,
        "removed": d.removed,
        "changed": d.changed,
    });
    let mut s = serde_json::to_string_pretty(&v).expect("diffs serialize");
    s.push('\n');
    s
}
