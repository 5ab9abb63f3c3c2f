//! TLS to PostgreSQL, with libpq's `sslmode` meanings, on rustls.
//!
//! The URL's `sslmode` and `sslrootcert` query parameters are read here (tokio-postgres knows only
//! `disable`, `prefer` and `require`, and no root certificates):
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default) | if the server offers it | not checked (as libpq) |
//! | `require` | always | not checked (as libpq): encrypted, but a man in the middle is not detected |
//! | `verify-full` | always | signed by `sslrootcert` (a PEM file) and issued for the host |
//!
//! Only ciphertexts, token hashes and names travel to the database, never a plaintext value, but
//! the database password and the audit log do: use `verify-full` across machines.

use crate::{Result, StoreError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// A URL without tresor's TLS parameters, the mode tokio-postgres should use, and the connector.
pub(super) struct Tls {
    pub url: String,
    pub mode: SslMode,
    pub connector: MakeRustlsConnect,
}

/// Reads `sslmode` and `sslrootcert` from a `postgres://` URL's query (other forms pass through).
pub(super) fn from_url(url: &str) -> Result<Tls> {
    let invalid = |msg: String| StoreError::InvalidLocation(format!("invalid PostgreSQL URL: {msg}"));
    let (base, query) = match url.split_once('?') {
        Some((base, query)) if url.contains("://") => (base, query),
        _ => (url, ""),
    };
    let mut kept = Vec::new();
    let (mut sslmode, mut rootcert) = (None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", v)) => sslmode = Some(v.to_owned()),
            Some(("sslrootcert", v)) => rootcert = Some(percent_decode(v)),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Backend(format!("TLS set-up: {e}")))?;
    let encrypt_only =
        || builder.clone().dangerous().with_custom_certificate_verifier(Arc::new(EncryptOnly(provider.clone())));
    let (mode, config) = match sslmode.as_deref().unwrap_or("prefer") {
        "disable" => (SslMode::Disable, encrypt_only().with_no_client_auth()),
        "prefer" => (SslMode::Prefer, encrypt_only().with_no_client_auth()),
        "require" => (SslMode::Require, encrypt_only().with_no_client_auth()),
        "verify-full" => {
            let path = rootcert.ok_or_else(|| {
                invalid("sslmode=verify-full needs sslrootcert=PATH, the PEM file of the CA that signed the server's certificate".into())
            })?;
            let roots = read_roots(&path)?;
            (SslMode::Require, builder.with_root_certificates(roots).with_no_client_auth())
        }
        "verify-ca" => {
            return Err(invalid(
                "sslmode=verify-ca is not supported: use verify-full (which also checks the host name) with sslrootcert=PATH"
                    .into(),
            ))
        }
        other => {
            return Err(invalid(format!(
                "unknown sslmode {other:?}: use disable, prefer, require or verify-full (with sslrootcert=PATH)"
            )))
        }
    };
    Ok(Tls { url, mode, connector: MakeRustlsConnect::new(config) })
}

fn read_roots(path: &str) -> Result<RootCertStore> {
    let fail = |why: String| StoreError::InvalidLocation(format!("sslrootcert {path}: {why}"));
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| fail(format!("not a PEM certificate file: {e}")))?;
        roots.add(cert).map_err(|e| fail(format!("unusable certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(fail("holds no PEM certificate".into()));
    }
    Ok(roots)
}

/// Percent-decodes a query value as libpq does: `%XX` only (`+` stays a plus).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// `prefer` and `require`: the handshake is checked (the server proves it holds the key of the
/// certificate it sent), the certificate is not, as libpq does without `verify-full`.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_the_url() {
        let t = from_url("postgres://u:p@db:5432/tresor?sslmode=require&application_name=x").unwrap();
        assert_eq!(t.url, "postgres://u:p@db:5432/tresor?application_name=x");
        assert!(matches!(t.mode, SslMode::Require));
        let t = from_url("postgres://u@db/tresor").unwrap();
        assert_eq!(t.url, "postgres://u@db/tresor");
        assert!(matches!(t.mode, SslMode::Prefer), "libpq's default");
        assert!(matches!(from_url("postgres://db/t?sslmode=disable").unwrap().mode, SslMode::Disable));
        let e = from_url("postgres://db/t?sslmode=verify-full").err().unwrap().to_string();
        assert!(e.contains("needs sslrootcert"), "{e}");
        let e =
            from_url("postgres://db/t?sslmode=verify-full&sslrootcert=%2Fnowhere%2Fca.pem").err().unwrap().to_string();
        assert!(e.contains("sslrootcert /nowhere/ca.pem"), "{e}");
        let e = from_url("postgres://db/t?sslmode=verify-ca").err().unwrap().to_string();
        assert!(e.contains("use verify-full"), "{e}");
        let e = from_url("postgres://db/t?sslmode=always").err().unwrap().to_string();
        assert!(e.contains("unknown sslmode \"always\""), "{e}");
    }
}
