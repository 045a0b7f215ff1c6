//! Shared by the round-trip tests.

/// `rendered` without the files the components generate from their config (sshd's
/// authorized_keys, dockerd's daemon.json, …): additions by design, not part of what an
/// import maps, so round trips compare without them.
pub fn without_generated_files(
    assembled: &stackwright::Assembled,
    mut rendered: stackwright_types::linuxkit::Config,
) -> stackwright_types::linuxkit::Config {
    let generated: Vec<&str> = assembled
        .validated
        .files
        .iter()
        .filter(|(_, from)| from != "assembly")
        .map(|(f, _)| f.path.as_str())
        .collect();
    rendered
        .files
        .retain(|f| !generated.contains(&f.path.trim_start_matches('/')));
    rendered
}
