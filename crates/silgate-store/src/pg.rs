//! One PostgreSQL connection that comes back after the server restarts, used by the
//! audit log, the dedup index and the node's store.
//!
//! Each use checks the connection and reconnects once it has closed. The operation
//! that saw it close failed, and its caller retries it (an input stays in its inbox, a
//! delivery is settled again): reconnecting on the next use is enough.

use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::{Client, NoTls};

/// A reconnecting PostgreSQL connection (no TLS: the databases are local or reached
/// through the deployment's own network).
#[derive(Debug)]
pub struct PgConn {
    what: &'static str,
    conninfo: String,
    client: Mutex<Client>,
}

async fn open(conninfo: &str, what: &'static str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(conninfo, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::error!(error = %e, what, "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

impl PgConn {
    /// Connects; `what` names the user in logs (`audit`, `dedup`).
    pub async fn connect(conninfo: &str, what: &'static str) -> Result<Self, tokio_postgres::Error> {
        Ok(Self { what, conninfo: conninfo.to_string(), client: Mutex::new(open(conninfo, what).await?) })
    }

    /// The connection, connected again first if it has closed.
    pub async fn get(&self) -> Result<MutexGuard<'_, Client>, tokio_postgres::Error> {
        let mut c = self.client.lock().await;
        if c.is_closed() {
            tracing::warn!(what = self.what, "PostgreSQL connection closed: reconnecting");
            *c = open(&self.conninfo, self.what).await?;
        }
        Ok(c)
    }
}
