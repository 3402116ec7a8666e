//! A short run of the hostile-input fuzzer (`examples/fuzz.rs`) on every test run;
//! the long runs (10M+ inputs) are `cargo run --release --example fuzz -- 10000000`.

#[path = "../examples/fuzz.rs"]
pub mod harness;

#[tokio::test]
async fn hostile_input_never_panics_and_replies_stay_clean() {
    for seed in [1, 2, 3] {
        let stats = harness::run(10_000, seed);
        assert_eq!(stats.inputs, 10_000);
        assert!(
            stats.replies > 500,
            "the inputs reach the catalogue: {stats:?}"
        );
    }
}
