//! The node's TLS: its certificate, and client certificates required and checked
//! against the configured CA.

use crate::{NodeError, TlsConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use std::sync::Arc;

fn tls_err(what: &str, path: &std::path::Path, e: impl std::fmt::Display) -> NodeError {
    NodeError::Tls(format!("{what} {}: {e}", path.display()))
}

/// Builds the rustls server config (ring provider, TLS 1.2 and 1.3, HTTP/1.1).
pub(crate) fn server_config(cfg: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, NodeError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cfg.cert)
        .map_err(|e| tls_err("reading certificate", &cfg.cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err("reading certificate", &cfg.cert, e))?;
    let key = PrivateKeyDer::from_pem_file(&cfg.key).map_err(|e| tls_err("reading key", &cfg.key, e))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(&cfg.client_ca).map_err(|e| tls_err("reading client CA", &cfg.client_ca, e))? {
        roots.add(ca.map_err(|e| tls_err("reading client CA", &cfg.client_ca, e))?).map_err(|e| tls_err("client CA", &cfg.client_ca, e))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().map_err(|e| NodeError::Tls(format!("client verifier: {e}")))?;
    let mut sc = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| NodeError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| NodeError::Tls(format!("certificate and key: {e}")))?;
    sc.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(sc))
}
