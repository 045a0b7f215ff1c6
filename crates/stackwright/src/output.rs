//! Atomic output directories: [`Staging`], from `stackwright-staging` (the one mechanism
//! every output uses: written beside the target, swapped in whole).

pub use stackwright_staging::Staging;
