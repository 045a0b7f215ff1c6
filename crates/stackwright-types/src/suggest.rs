//! "Did you mean …?" suggestions for mistyped names.

/// The closest candidate to `name`, if one is close enough to be a likely typo.
///
/// Candidates are compared with Jaro-Winkler (good at transpositions like `containred`)
/// and ties broken by name so the answer never depends on iteration order.
pub fn did_you_mean<'a, I>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut best: Option<(f64, &'a str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(name, c);
        let better = match best {
            None => true,
            Some((s, n)) => score > s || (score == s && c < n),
        };
        if better {
            best = Some((score, c));
        }
    }
    best.filter(|(s, _)| *s >= 0.85).map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_transpositions() {
        let c = ["containerd", "cri-o", "runc"];
        assert_eq!(super::did_you_mean("containred", c), Some("containerd"));
        assert_eq!(super::did_you_mean("zzz", c), None);
    }
}
