//! Integration tests live in `tests/*.rs`, fixtures in folders beside them.
