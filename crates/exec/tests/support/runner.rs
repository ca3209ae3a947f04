//! A minimal runner for `harness = false` test binaries: the sandbox re-executes the test
//! binary as its init, so `main()` must call `rbuild_exec::init_hook()` before any test
//! harness starts threads. Tests return `Ok(Verdict)` or an error message; an argument on
//! the command line filters tests by substring.

use std::time::Instant;

pub enum Verdict {
    Passed,
    Skipped(String),
}

pub type TestResult = Result<Verdict, String>;

pub struct Test {
    pub name: &'static str,
    pub run: fn() -> TestResult,
}

/// `[Test { name: "f", run: f }, ...]` from a list of test functions.
macro_rules! tests {
    ($($test:ident),* $(,)?) => {
        [$($crate::support::runner::Test { name: stringify!($test), run: $test }),*]
    };
}
pub(crate) use tests;

/// Runs the tests whose names contain every non-flag argument; exits 1 when any failed.
pub fn run_tests(tests: &[Test]) {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let selected: Vec<&Test> = tests
        .iter()
        .filter(|t| filters.iter().all(|f| t.name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", selected.len());
    let (mut passed, mut failed, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    for test in selected {
        let started = Instant::now();
        let result = std::panic::catch_unwind(test.run)
            .unwrap_or_else(|panic| Err(format!("panicked: {}", panic_text(&*panic))));
        let took = started.elapsed();
        match result {
            Ok(Verdict::Passed) => {
                println!("test {} ... ok ({took:.2?})", test.name);
                passed.push(test.name);
            }
            Ok(Verdict::Skipped(reason)) => {
                println!("test {} ... skipped: {reason}", test.name);
                skipped.push(test.name);
            }
            Err(message) => {
                println!("test {} ... FAILED\n    {message}", test.name);
                failed.push(test.name);
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; {} skipped",
        if failed.is_empty() { "ok" } else { "FAILED" },
        passed.len(),
        failed.len(),
        skipped.len()
    );
    if !failed.is_empty() {
        println!("failures: {}", failed.join(", "));
        std::process::exit(1);
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "non-string panic".into())
}

/// `Err` with a message unless `condition` holds.
pub fn check(condition: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(message())
    }
}
