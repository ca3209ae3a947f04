//! Blob transfers a few at a time: `map_parallel` runs one fallible job per item on a small
//! pool of scoped threads and returns the results in item order, or the first error.
//!
//! It knows nothing of HTTP or the store; what a job does is the caller's.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::RegistryError;

/// How many blobs move at once, in either direction.
pub(crate) const PARALLEL_BLOBS: usize = 4;

/// Runs `job` for every item, `PARALLEL_BLOBS` at a time; results in item order. A job
/// that panics becomes `panicked()`.
pub(crate) fn map_parallel<T: Sync, R: Send>(
    items: &[T],
    job: impl Fn(&T) -> Result<R, RegistryError> + Sync,
    panicked: impl Fn() -> RegistryError,
) -> Result<Vec<R>, RegistryError> {
    let next = AtomicUsize::new(0);
    let done: Vec<Result<Vec<(usize, R)>, RegistryError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..PARALLEL_BLOBS.min(items.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut finished = Vec::new();
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(n) else {
                            return Ok(finished);
                        };
                        match job(item) {
                            Ok(result) => finished.push((n, result)),
                            Err(e) => {
                                // The others stop taking new items.
                                next.store(items.len(), Ordering::Relaxed);
                                return Err(e);
                            }
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err(panicked())))
            .collect()
    });
    let mut results = Vec::with_capacity(items.len());
    for worker in done {
        results.extend(worker?);
    }
    results.sort_by_key(|(n, _)| *n);
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(what: &str) -> RegistryError {
        RegistryError::NotFound {
            registry: "r".into(),
            reference: "x".into(),
            what: what.into(),
        }
    }

    #[test]
    fn results_keep_item_order_and_the_first_error_wins() {
        let items: Vec<u32> = (0..20).collect();
        let doubled = map_parallel(&items, |n| Ok(n * 2), || failure("panic")).unwrap();
        assert_eq!(doubled, items.iter().map(|n| n * 2).collect::<Vec<_>>());
        let failed = map_parallel(
            &items,
            |n| {
                if *n == 7 {
                    Err(failure("seven"))
                } else {
                    Ok(*n)
                }
            },
            || failure("panic"),
        );
        assert!(failed.unwrap_err().to_string().contains("seven"));
        let empty: Vec<u32> = Vec::new();
        assert!(map_parallel(&empty, |n| Ok(*n), || failure("panic"))
            .unwrap()
            .is_empty());
    }
}
