//! Running the library's async functions for synchronous callers (the `*_blocking`
//! functions). No library call starts a runtime behind an async caller's back: the async
//! functions run on the caller's runtime, and a blocking function called from inside a
//! runtime is refused with [`Error::BlockingInRuntime`] instead of panicking ("Cannot start a
//! runtime from within a runtime").

use std::future::Future;

use crate::Error;

/// Runs `future` to completion on this thread. `function` is the blocking function's name,
/// `instead` the async one to call from async code.
#[cfg(feature = "oci")]
pub(crate) fn run<F: Future>(
    function: &'static str,
    instead: &'static str,
    future: F,
) -> Result<F::Output, Error> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::BlockingInRuntime { function, instead });
    }
    // One thread: the futures drive their concurrent downloads themselves, and the
    // blocking work they hand off goes to tokio's blocking pool.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            context: "starting the async runtime".into(),
            source,
        })?;
    Ok(rt.block_on(future))
}

/// Without the `oci` feature no future waits on anything (there is no network code), so a
/// thread-parking loop drives it; no runtime exists, so none can be nested.
#[cfg(not(feature = "oci"))]
pub(crate) fn run<F: Future>(
    _function: &'static str,
    _instead: &'static str,
    future: F,
) -> Result<F::Output, Error> {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return Ok(v),
            Poll::Pending => std::thread::park(),
        }
    }
}
