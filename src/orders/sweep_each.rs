//! Going through a sweep's batch one id at a time. Kept apart from the
//! sweeper so the steps it drives (payment, refunds, settlement) can use it
//! without importing the sweeper back.

use crate::error::AppError;

/// Runs `work` on each id (the ids from `listed`, or its error), going on past
/// failures; returns how many ids there were and the first error met.
pub(crate) async fn each_id<F, Fut>(
    listed: Result<Vec<String>, AppError>,
    mut work: F,
) -> (usize, Option<AppError>)
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), AppError>>,
{
    let ids = match listed {
        Ok(ids) => ids,
        Err(error) => return (0, Some(error)),
    };
    let count = ids.len();
    let mut first_error = None;
    for id in ids {
        if let Err(error) = work(id).await {
            first_error.get_or_insert(error);
        }
    }
    (count, first_error)
}

/// [`each_id`], saying in the log which id failed and why (`left` names what
/// is left for the next sweep, e.g. "order not expired yet").
pub(crate) async fn each_id_logged<F, Fut>(
    listed: Result<Vec<String>, AppError>,
    left: &'static str,
    mut work: F,
) -> (usize, Option<AppError>)
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), AppError>>,
{
    each_id(listed, |id| {
        let done = work(id.clone());
        async move {
            let result = done.await;
            if let Err(error) = &result {
                tracing::warn!(%error, id, "{left}");
            }
            result
        }
    })
    .await
}
