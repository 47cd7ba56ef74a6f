//! Process signals: SIGINT (Ctrl-C) and SIGTERM both mean "shut down cleanly".

/// Resolves on the first SIGINT or SIGTERM. If SIGTERM cannot be hooked, Ctrl-C alone.
pub async fn shutdown() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                () = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => ctrl_c.await,
    }
}
