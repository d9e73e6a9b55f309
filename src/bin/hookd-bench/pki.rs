//! The bench's own certificate authority: one CA and one leaf for `127.0.0.1`/`localhost`,
//! generated per run, so hookd delivers over real HTTPS (verified against `extra_ca_file`)
//! exactly as in production, and nothing on the machine has to be trusted.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// The receiver's TLS setup and the CA file hookd is told to trust.
pub struct Pki {
    /// PEM of the CA, written into the run's directory (`delivery.extra_ca_file`).
    pub ca_file: PathBuf,
    /// rustls server config offering `h2` and `http/1.1` by ALPN.
    pub server: Arc<rustls::ServerConfig>,
}

impl Pki {
    /// Generates the CA and leaf and writes the CA PEM into `dir`.
    pub fn generate(dir: &Path) -> anyhow::Result<Pki> {
        let ca_key = KeyPair::generate().context("generating the CA key")?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "hookd-bench CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).context("signing the CA")?;

        let leaf_key = KeyPair::generate().context("generating the leaf key")?;
        let mut leaf_params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = leaf_params
            .signed_by(&leaf_key, &ca, &ca_key)
            .context("signing the leaf")?;

        let ca_file = dir.join("bench-ca.pem");
        std::fs::write(&ca_file, ca.pem())
            .with_context(|| format!("writing {}", ca_file.display()))?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cert = rustls_pki_types::CertificateDer::from(leaf.der().to_vec());
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(
            rustls_pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der()),
        );
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .context("building the receiver's TLS config")?;
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Pki {
            ca_file,
            server: Arc::new(server),
        })
    }
}
