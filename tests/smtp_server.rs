//! A small real SMTP server for the e-mail tests, on a random loopback port.
//!
//! It speaks what a submission client needs: the greeting, `EHLO`/`HELO`, `AUTH PLAIN` and
//! `AUTH LOGIN` (required when the server is given credentials), `MAIL`, `RCPT`, `DATA` (with
//! dot-unstuffing), `RSET`, `NOOP` and `QUIT`. Replies to the end of `DATA` can be scripted
//! (a `451` the first time, a `550` always, ...). Every message accepted or refused is recorded
//! with its envelope, its data and the user it was authenticated as.
//!
//! With [`SmtpServer::start_tls`] it speaks TLS (rustls, a certificate made by the test): either
//! `STARTTLS` (offered in the `EHLO` answer; the session starts again after the handshake, as
//! RFC 3207 says) or implicit TLS from the first byte. A failed handshake is recorded.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio_rustls::rustls;

/// One message as the server received it (whether or not it accepted it).
#[derive(Debug, Clone)]
pub struct Received {
    /// The user it authenticated as, if it did.
    pub user: Option<String>,
    /// `MAIL FROM` address.
    pub from: String,
    /// `RCPT TO` addresses, in order.
    pub to: Vec<String>,
    /// The message (headers and body), dot-unstuffed, with `\r\n` line ends.
    pub data: String,
    /// The reply code the server gave to the end of `DATA`.
    pub code: u16,
    /// It came over TLS (after `STARTTLS`, or implicit TLS).
    pub tls: bool,
}

/// How a TLS server secures its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text, `STARTTLS` offered.
    StartTls,
    /// TLS from the first byte.
    Implicit,
}

/// A connection, plain or TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
    /// Between the plain connection and its upgrade.
    Closed,
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
            Conn::Closed => Ok(0),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
            Conn::Closed => Err(std::io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
            Conn::Closed => Ok(()),
        }
    }
}

/// TLS over `tcp`, the handshake done (so that a client refusing the certificate is seen here).
fn accept_tls(config: &Arc<rustls::ServerConfig>, mut tcp: TcpStream) -> std::io::Result<Conn> {
    let mut connection =
        rustls::ServerConnection::new(Arc::clone(config)).map_err(std::io::Error::other)?;
    while connection.is_handshaking() {
        connection.complete_io(&mut tcp)?;
    }
    Ok(Conn::Tls(Box::new(rustls::StreamOwned::new(
        connection, tcp,
    ))))
}

/// A rustls server configuration with the certificate (and chain) and key of these PEM files.
fn server_config(cert: &Path, key: &Path) -> Arc<rustls::ServerConfig> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("the certificate file")
        .map(|c| c.expect("a PEM certificate"))
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).expect("the key file");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("a certificate and its key");
    Arc::new(config)
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    /// Replies for the next ends of `DATA`, used up in order; then `always` or `250`.
    script: VecDeque<(u16, String)>,
    always: Option<(u16, String)>,
    /// Every line the clients sent (AUTH lines included), to check what was on the wire.
    transcript: Vec<String>,
    /// Why each failed TLS handshake failed.
    handshake_failures: Vec<String>,
}

/// The server; it runs until the test process ends.
pub struct SmtpServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl SmtpServer {
    /// Starts a plain-text server; with `credentials`, it requires `AUTH` before `MAIL`.
    pub fn start(credentials: Option<(&str, &str)>) -> SmtpServer {
        SmtpServer::serve(credentials, None)
    }

    /// Starts a server that speaks TLS as `mode` says, with the certificate `cert` (PEM, with
    /// its chain) and its key.
    pub fn start_tls(
        credentials: Option<(&str, &str)>,
        mode: TlsMode,
        cert: &Path,
        key: &Path,
    ) -> SmtpServer {
        SmtpServer::serve(credentials, Some((mode, server_config(cert, key))))
    }

    fn serve(
        credentials: Option<(&str, &str)>,
        tls: Option<(TlsMode, Arc<rustls::ServerConfig>)>,
    ) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("a local address");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let credentials = credentials.map(|(u, p)| (u.to_owned(), p.to_owned()));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                let credentials = credentials.clone();
                let tls = tls.clone();
                thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    let session = match tls {
                        None => Session::new(Conn::Plain(stream), state, credentials, None),
                        Some((TlsMode::StartTls, config)) => {
                            Session::new(Conn::Plain(stream), state, credentials, Some(config))
                        }
                        Some((TlsMode::Implicit, config)) => match accept_tls(&config, stream) {
                            Ok(conn) => Session::new(conn, state, credentials, None),
                            Err(e) => {
                                state.lock().unwrap().handshake_failures.push(e.to_string());
                                return;
                            }
                        },
                    };
                    let _ = session.run();
                });
            }
        });
        SmtpServer { addr, state }
    }

    /// Why each failed TLS handshake failed (as the server saw it), in order, waiting up to
    /// `timeout` for at least one: the server's thread records a failure after the client has
    /// already seen it and moved on.
    pub fn handshake_failures(&self, timeout: Duration) -> Vec<String> {
        let start = Instant::now();
        loop {
            let failures = self.state.lock().unwrap().handshake_failures.clone();
            if !failures.is_empty() || start.elapsed() > timeout {
                return failures;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Answers the next ends of `DATA` with these replies, in order (then `250` again).
    pub fn script(&self, replies: &[(u16, &str)]) {
        let mut state = self.state.lock().unwrap();
        state
            .script
            .extend(replies.iter().map(|(c, t)| (*c, (*t).to_owned())));
    }

    /// Answers every end of `DATA` with this reply.
    pub fn always(&self, code: u16, text: &str) {
        self.state.lock().unwrap().always = Some((code, text.to_owned()));
    }

    /// The messages received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// The accepted messages (a 2xx reply to their data).
    pub fn delivered(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.code))
            .collect()
    }

    /// Every line the clients sent.
    pub fn transcript(&self) -> Vec<String> {
        self.state.lock().unwrap().transcript.clone()
    }

    /// Waits up to `timeout` for `n` received messages.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let received = self.received();
            if received.len() >= n || start.elapsed() > timeout {
                return received;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

struct Session {
    /// Reads and, through `get_mut`, writes the connection.
    conn: BufReader<Conn>,
    /// `STARTTLS` is offered (and not yet used) with this configuration.
    starttls: Option<Arc<rustls::ServerConfig>>,
    state: Arc<Mutex<State>>,
    credentials: Option<(String, String)>,
    user: Option<String>,
    from: Option<String>,
    to: Vec<String>,
}

impl Session {
    fn new(
        conn: Conn,
        state: Arc<Mutex<State>>,
        credentials: Option<(String, String)>,
        starttls: Option<Arc<rustls::ServerConfig>>,
    ) -> Session {
        Session {
            conn: BufReader::new(conn),
            starttls,
            state,
            credentials,
            user: None,
            from: None,
            to: Vec::new(),
        }
    }

    fn reply(&mut self, text: &str) -> std::io::Result<()> {
        let conn = self.conn.get_mut();
        conn.write_all(format!("{text}\r\n").as_bytes())?;
        conn.flush()
    }

    fn is_tls(&self) -> bool {
        matches!(self.conn.get_ref(), Conn::Tls(_))
    }

    /// `STARTTLS`: `220`, the handshake, and a session started afresh (RFC 3207).
    fn start_tls(&mut self) -> std::io::Result<()> {
        let Some(config) = self.starttls.take() else {
            return self.reply("503 5.5.1 TLS already active");
        };
        self.reply("220 2.0.0 Ready to start TLS")?;
        let plain = std::mem::replace(&mut self.conn, BufReader::new(Conn::Closed));
        let Conn::Plain(tcp) = plain.into_inner() else {
            unreachable!("STARTTLS is offered on plain connections only")
        };
        match accept_tls(&config, tcp) {
            Ok(conn) => {
                self.conn = BufReader::new(conn);
                self.user = None;
                self.from = None;
                self.to.clear();
                Ok(())
            }
            Err(e) => {
                self.state
                    .lock()
                    .unwrap()
                    .handshake_failures
                    .push(e.to_string());
                Err(e)
            }
        }
    }

    fn line(&mut self) -> std::io::Result<Option<String>> {
        let mut line = String::new();
        if self.conn.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        self.state.lock().unwrap().transcript.push(line.clone());
        Ok(Some(line))
    }

    fn run(mut self) -> std::io::Result<()> {
        self.reply("220 k8scop-test ESMTP ready")?;
        while let Some(line) = self.line()? {
            let upper = line.to_ascii_uppercase();
            let verb = upper.split(' ').next().unwrap_or("").to_owned();
            match verb.as_str() {
                "EHLO" => {
                    self.reply("250-k8scop-test")?;
                    if self.starttls.is_some() {
                        self.reply("250-STARTTLS")?;
                    }
                    if self.credentials.is_some() {
                        self.reply("250-AUTH PLAIN LOGIN")?;
                    }
                    self.reply("250 8BITMIME")?;
                }
                "HELO" => self.reply("250 k8scop-test")?,
                "STARTTLS" => self.start_tls()?,
                "AUTH" => self.auth(&line)?,
                "MAIL" => {
                    if self.credentials.is_some() && self.user.is_none() {
                        self.reply("530 5.7.0 Authentication required")?;
                    } else {
                        self.from = Some(address(&line));
                        self.to.clear();
                        self.reply("250 2.1.0 OK")?;
                    }
                }
                "RCPT" => {
                    if self.from.is_none() {
                        self.reply("503 5.5.1 MAIL first")?;
                    } else {
                        self.to.push(address(&line));
                        self.reply("250 2.1.5 OK")?;
                    }
                }
                "DATA" => {
                    if self.to.is_empty() {
                        self.reply("503 5.5.1 RCPT first")?;
                        continue;
                    }
                    self.reply("354 End data with <CR><LF>.<CR><LF>")?;
                    let data = self.data()?;
                    let (code, text) = {
                        let mut state = self.state.lock().unwrap();
                        match state.script.pop_front() {
                            Some(r) => r,
                            None => state.always.clone().unwrap_or((250, "2.0.0 queued".into())),
                        }
                    };
                    let received = Received {
                        user: self.user.clone(),
                        from: self.from.take().unwrap_or_default(),
                        to: std::mem::take(&mut self.to),
                        data,
                        code,
                        tls: self.is_tls(),
                    };
                    self.state.lock().unwrap().received.push(received);
                    self.reply(&format!("{code} {text}"))?;
                }
                "RSET" => {
                    self.from = None;
                    self.to.clear();
                    self.reply("250 2.0.0 OK")?;
                }
                "NOOP" => self.reply("250 2.0.0 OK")?,
                "QUIT" => {
                    self.reply("221 2.0.0 Bye")?;
                    return Ok(());
                }
                _ => self.reply("502 5.5.2 Command not recognized")?,
            }
        }
        Ok(())
    }

    /// `AUTH PLAIN [initial]` or `AUTH LOGIN [user]`.
    fn auth(&mut self, line: &str) -> std::io::Result<()> {
        let Some((user, password)) = self.credentials.clone() else {
            return self.reply("503 5.5.1 AUTH not offered");
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let decode = |s: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        let given = match words.get(1).map(|m| m.to_ascii_uppercase()).as_deref() {
            Some("PLAIN") => {
                let initial = match words.get(2) {
                    Some(i) => i.to_string(),
                    None => {
                        self.reply("334 ")?;
                        self.line()?.unwrap_or_default()
                    }
                };
                decode(&initial).and_then(|t| {
                    let mut parts = t.split('\0');
                    let _authzid = parts.next()?;
                    Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
                })
            }
            Some("LOGIN") => {
                let name = match words.get(2) {
                    Some(n) => n.to_string(),
                    None => {
                        self.reply("334 VXNlcm5hbWU6")?;
                        self.line()?.unwrap_or_default()
                    }
                };
                self.reply("334 UGFzc3dvcmQ6")?;
                let pass = self.line()?.unwrap_or_default();
                decode(&name).zip(decode(&pass))
            }
            _ => return self.reply("504 5.5.4 Unrecognized authentication type"),
        };
        match given {
            Some((u, p)) if u == user && p == password => {
                self.user = Some(u);
                self.reply("235 2.7.0 Authentication successful")
            }
            _ => self.reply("535 5.7.8 Authentication credentials invalid"),
        }
    }

    /// The message after `DATA`, up to the line with a single `.`, dot-unstuffed.
    fn data(&mut self) -> std::io::Result<String> {
        let mut data = String::new();
        loop {
            let mut line = String::new();
            if self.conn.read_line(&mut line)? == 0 {
                return Ok(data);
            }
            let bare = line.trim_end_matches(['\r', '\n']);
            if bare == "." {
                return Ok(data);
            }
            data.push_str(bare.strip_prefix('.').unwrap_or(bare));
            data.push_str("\r\n");
        }
    }
}

/// The address of `MAIL FROM:<a@b> SIZE=1` or `RCPT TO:<a@b>`.
fn address(line: &str) -> String {
    match (line.find('<'), line.find('>')) {
        (Some(open), Some(close)) if open < close => line[open + 1..close].to_owned(),
        _ => String::new(),
    }
}

/// A message's MIME parts, decoded: `(content type, body)` for each leaf part.
pub fn parts(data: &str) -> Vec<(String, String)> {
    let (head, body) = data.split_once("\r\n\r\n").unwrap_or((data, ""));
    let headers = unfold(head);
    let content_type = header(&headers, "content-type").unwrap_or_default();
    if let Some(boundary) = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
    {
        let boundary = boundary.trim_matches('"');
        let marker = format!("--{boundary}");
        return body
            .split(marker.as_str())
            .skip(1)
            .filter(|p| !p.starts_with("--"))
            .flat_map(|p| parts(p.trim_start_matches("\r\n")))
            .collect();
    }
    let encoding = header(&headers, "content-transfer-encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let decoded = match encoding.as_str() {
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .expect("a base64 part");
            String::from_utf8(bytes).expect("UTF-8 text")
        }
        "quoted-printable" => quoted_printable(body),
        _ => body.to_owned(),
    };
    vec![(content_type, decoded.replace("\r\n", "\n"))]
}

/// The headers of a message or part, with folded lines joined.
pub fn unfold(head: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    headers
}

/// The first header named `name` (lowercase).
pub fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

fn quoted_printable(body: &str) -> String {
    let mut out = Vec::new();
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes[i + 1..].starts_with(b"\r\n") => i += 3,
            b'=' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => out.push(b),
                    Err(_) => out.extend_from_slice(&bytes[i..i + 3]),
                }
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("UTF-8 text")
}
