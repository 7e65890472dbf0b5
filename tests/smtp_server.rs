//! A small real SMTP server for the e-mail tests, on a random loopback port.
//!
//! It speaks what a submission client needs: the greeting, `EHLO`/`HELO`, `AUTH PLAIN` and
//! `AUTH LOGIN` (required when the server is given credentials), `MAIL`, `RCPT`, `DATA` (with
//! dot-unstuffing), `RSET`, `NOOP` and `QUIT`. Replies to the end of `DATA` can be scripted
//! (a `451` the first time, a `550` always, ...). Every message accepted or refused is recorded
//! with its envelope, its data and the user it was authenticated as.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;

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
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    /// Replies for the next ends of `DATA`, used up in order; then `always` or `250`.
    script: VecDeque<(u16, String)>,
    always: Option<(u16, String)>,
    /// Every line the clients sent (AUTH lines included), to check what was on the wire.
    transcript: Vec<String>,
}

/// The server; it runs until the test process ends.
pub struct SmtpServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl SmtpServer {
    /// Starts a server; with `credentials`, it requires `AUTH` before `MAIL`.
    pub fn start(credentials: Option<(&str, &str)>) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("a local address");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let credentials = credentials.map(|(u, p)| (u.to_owned(), p.to_owned()));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                let credentials = credentials.clone();
                thread::spawn(move || {
                    let _ = Session::new(stream, state, credentials).run();
                });
            }
        });
        SmtpServer { addr, state }
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
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    state: Arc<Mutex<State>>,
    credentials: Option<(String, String)>,
    user: Option<String>,
    from: Option<String>,
    to: Vec<String>,
}

impl Session {
    fn new(
        stream: TcpStream,
        state: Arc<Mutex<State>>,
        credentials: Option<(String, String)>,
    ) -> Session {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let writer = stream.try_clone().expect("clone the stream");
        Session {
            reader: BufReader::new(stream),
            writer,
            state,
            credentials,
            user: None,
            from: None,
            to: Vec::new(),
        }
    }

    fn reply(&mut self, text: &str) -> std::io::Result<()> {
        self.writer.write_all(text.as_bytes())?;
        self.writer.write_all(b"\r\n")
    }

    fn line(&mut self) -> std::io::Result<Option<String>> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
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
                    if self.credentials.is_some() {
                        self.reply("250-AUTH PLAIN LOGIN")?;
                    }
                    self.reply("250 8BITMIME")?;
                }
                "HELO" => self.reply("250 k8scop-test")?,
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
            if self.reader.read_line(&mut line)? == 0 {
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
