//! A throwaway PKI (rcgen) for the demo, the tests and first trials: never for
//! production, where the certificates come from the SPCoop / regional CA.

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};
use std::path::Path;

/// PEM texts of a CA, the node's certificate and a region's client certificate.
#[derive(Debug)]
pub(crate) struct DevPki {
    pub(crate) ca: String,
    pub(crate) node_cert: String,
    pub(crate) node_key: String,
    pub(crate) client_cert: String,
    pub(crate) client_key: String,
}

impl DevPki {
    pub(crate) fn generate(region: &str) -> Result<Self> {
        let ca_key = KeyPair::generate().context("CA key")?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).context("CA params")?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "silgate test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca = ca_params.self_signed(&ca_key).context("CA certificate")?;
        let issuer = Issuer::new(ca_params, ca_key);

        let node_key = KeyPair::generate()?;
        let mut np = CertificateParams::new(vec!["localhost".to_string()])?;
        np.subject_alt_names.push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
        np.distinguished_name.push(DnType::CommonName, "silgate reference node");
        np.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let node = np.signed_by(&node_key, &issuer)?;

        let client_key = KeyPair::generate()?;
        let mut cp = CertificateParams::new(Vec::<String>::new())?;
        cp.distinguished_name.push(DnType::CommonName, region);
        cp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client = cp.signed_by(&client_key, &issuer)?;
        Ok(Self { ca: ca.pem(), node_cert: node.pem(), node_key: node_key.serialize_pem(), client_cert: client.pem(), client_key: client_key.serialize_pem() })
    }

    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        silgate_core::private::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, text) in [("ca.pem", &self.ca), ("node.pem", &self.node_cert), ("node.key", &self.node_key), ("client.pem", &self.client_cert), ("client.key", &self.client_key)]
        {
            // The keys are secrets, the certificates need not be public either.
            silgate_core::private::write(&dir.join(name), text).with_context(|| format!("writing {name}"))?;
        }
        Ok(())
    }
}
