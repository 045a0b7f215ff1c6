//! `cargo test -p stackwright-oci --test bench -- --ignored --nocapture` prints pull
//! timings against a local registry (what `cargo xtask bench` reports).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run explicitly"]
async fn pull_benchmark() {
    if stackwright_oci::testing::skip_requested() {
        return;
    }
    let images: usize = std::env::var("BENCH_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let layers: usize = std::env::var("BENCH_LAYERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let kib: usize = std::env::var("BENCH_LAYER_KIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2048);
    let result = stackwright_oci::bench::bench_local(images, layers, kib)
        .await
        .unwrap();
    println!("{result}");
    assert_eq!(result.warm_bytes_downloaded, 0);
}
