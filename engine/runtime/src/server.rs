//! The small HTTP/1.1 server behind the audit webhook source ([`crate::sources::webhook`]) and
//! the metrics endpoint ([`crate::metrics`]): hyper's server half over tokio, TLS through rustls
//! with the ring provider (the stack reqwest already brings; docs/DEPENDENCIES.md).
//!
//! [`bind`] opens the listening socket before anything runs, so that a busy port is an error
//! at start; [`tls_acceptor`] reads the certificate, key and client CA files; [`serve`] accepts
//! connections until the shutdown, then lets each finish the request it is serving (hyper's
//! graceful shutdown) for at most [`DRAIN`], and drops what is left.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::task::JoinSet;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

use crate::shutdown::Shutdown;

/// How long requests in progress at shutdown may take to finish.
pub const DRAIN: Duration = Duration::from_secs(5);
/// A client that has not sent its request headers by then is disconnected (slow clients must
/// not hold connections forever).
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// A response body: the whole text at once.
pub type Body = Full<Bytes>;

/// The certificate and key a server presents, and the CA its clients' certificates must chain
/// to, when client certificates are required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the server's certificate, then its chain.
    pub cert: PathBuf,
    /// PEM: the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM: the CA certificates a client certificate must chain to; `None` accepts any client.
    pub client_ca: Option<PathBuf>,
}

/// Why a server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address does not resolve, or the port is taken or not allowed.
    #[error("cannot listen on `{address}`: {error}")]
    Bind {
        /// The address as given.
        address: String,
        /// The operating system's error.
        #[source]
        error: io::Error,
    },
    /// A certificate, key or CA file cannot be read or holds no usable PEM item.
    #[error("TLS {what} `{}`: {message}", path.display())]
    TlsFile {
        /// `certificate`, `private key` or `client CA`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The certificate and key do not go together, or the CA is not usable.
    #[error("TLS settings: {0}")]
    Tls(String),
}

/// Binds `address` (`0.0.0.0:8443`, `127.0.0.1:0`, `[::]:9090`, `localhost:8443`).
pub fn bind(address: &str) -> Result<TcpListener, ServerError> {
    let failed = |error| ServerError::Bind {
        address: address.to_owned(),
        error,
    };
    let addrs: Vec<SocketAddr> = address.to_socket_addrs().map_err(failed)?.collect();
    let listener = TcpListener::bind(&addrs[..]).map_err(failed)?;
    listener.set_nonblocking(true).map_err(failed)?;
    Ok(listener)
}

/// The TLS acceptor of `files`: the server certificate, and client certificate verification
/// against `client_ca` when it is given (a client without a valid certificate is refused during
/// the handshake).
pub fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ServerError> {
    let certs = read_certs(&files.cert, "certificate")?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| ServerError::TlsFile {
        what: "private key",
        path: files.key.clone(),
        message: pem_message(&e),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs(path, "client CA")? {
                roots.add(cert).map_err(|e| ServerError::TlsFile {
                    what: "client CA",
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|e| ServerError::Tls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        ServerError::Tls(format!(
            "the certificate `{}` and the key `{}` cannot be used together: {e}",
            files.cert.display(),
            files.key.display()
        ))
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_certs(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, ServerError> {
    let failed = |message| ServerError::TlsFile {
        what,
        path: path.to_owned(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| failed(pem_message(&e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failed(pem_message(&e)))?;
    if certs.is_empty() {
        return Err(failed("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// The PEM reader's error in words (its `Io` variant carries the OS's message).
fn pem_message(e: &rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error;
    match e {
        Error::Io(e) => e.to_string(),
        Error::NoItemsFound => "no PEM item of that kind in it".into(),
        other => format!("not valid PEM: {other:?}"),
    }
}

/// A plain-text response.
pub fn text(status: u16, body: impl Into<String>) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.into())));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Serves `handler` on `listener` (over TLS when `tls` is given) until `shutdown`; then stops
/// accepting, lets the requests in progress finish for at most [`DRAIN`], and returns.
pub async fn serve<H, F>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    handler: H,
    mut shutdown: Shutdown,
) -> io::Result<()>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.requested() => break,
            accepted = listener.accept() => accepted,
            // Reap finished connections as they end, so the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let socket = match accepted {
            Ok((socket, _)) => socket,
            Err(_) => {
                // Out of file descriptors, a connection reset before it was accepted: wait a
                // little rather than spin, and go on.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let handler = handler.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            match tls {
                Some(acceptor) => {
                    // A client that fails the handshake (no or a wrong client certificate, an
                    // untrusted server certificate) is dropped here.
                    let handshake = tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(socket));
                    if let Ok(Ok(stream)) = handshake.await {
                        connection(TokioIo::new(stream), handler, shutdown).await;
                    }
                }
                None => connection(TokioIo::new(socket), handler, shutdown).await,
            }
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        connections.shutdown().await;
    }
    Ok(())
}

/// One HTTP/1.1 connection, closed gracefully (after the request in progress) on shutdown.
async fn connection<I, H, F>(io: I, handler: H, mut shutdown: Shutdown)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let response = handler(request);
        async move { Ok::<_, std::convert::Infallible>(response.await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        biased;
        () = shutdown.requested() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
        _ = conn.as_mut() => {}
    }
}
