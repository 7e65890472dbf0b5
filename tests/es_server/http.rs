//! Just enough HTTP/1.1 for Elasticsearch clients: keep-alive, `Content-Length` and chunked request
//! bodies, `Content-Encoding: gzip` request bodies, `Expect: 100-continue`.

use std::io::Read;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Elasticsearch's default `http.max_header_size` (16kb) is per header; the whole head is capped
/// here to keep a broken client from growing memory without bound.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Elasticsearch's default `http.max_content_length`.
pub const MAX_CONTENT_LENGTH: usize = 100 * 1024 * 1024;

/// One request as the handlers see it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target as sent (path and query, still percent-encoded).
    pub target: String,
    /// The raw path (before `?`), still percent-encoded.
    pub raw_path: String,
    /// The raw query string (after `?`), empty when there is none.
    pub raw_query: String,
    pub headers: Vec<(String, String)>,
    /// The body after chunked transfer decoding and gzip decompression.
    pub body: Vec<u8>,
    /// `Connection: close`, or HTTP/1.0 without `Connection: keep-alive`.
    pub close: bool,
}

impl Request {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path split at `/` into percent-decoded segments, empty segments dropped.
    pub fn segments(&self) -> Vec<String> {
        self.raw_path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode(s, false))
            .collect()
    }

    /// The query parameters, percent-decoded, in order.
    pub fn params(&self) -> Vec<(String, String)> {
        parse_query(&self.raw_query)
    }
}

/// A response to write.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Close the connection after writing this response.
    pub close: bool,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, body: &serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=UTF-8".into(),
            )],
            body: serde_json::to_vec(body).expect("a JSON value serializes"),
            close: false,
        }
    }

    /// A response with an empty body and no content type.
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            close: false,
        }
    }

    /// A response with a body of the given content type.
    pub fn with_body(status: u16, content_type: &str, body: &str) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
            close: false,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Why a request could not be read. `Closed` is the normal end of a keep-alive connection.
#[derive(Debug)]
pub enum ReadError {
    Closed,
    /// Malformed HTTP: answered with 400 and the connection closed.
    Bad(String),
    /// The body is over the limit: answered with 413 and the connection closed.
    TooLarge,
    Io,
}

/// Reads one request; `Ok(None)` never happens: a cleanly closed connection is `Err(Closed)`.
pub async fn read_request(
    reader: &mut BufReader<OwnedReadHalf>,
    writer: &mut OwnedWriteHalf,
) -> Result<Request, ReadError> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let n = reader
            .read_until(b'\n', &mut head)
            .await
            .map_err(|_| ReadError::Io)?;
        if n == 0 {
            return if head.is_empty() {
                Err(ReadError::Closed)
            } else {
                Err(ReadError::Bad(
                    "connection closed inside the request head".into(),
                ))
            };
        }
        // Blank lines before the request line are allowed (RFC 9112 2.2).
        if head[before..] == *b"\r\n" || head[before..] == *b"\n" {
            if before == 0 {
                head.clear();
                continue;
            }
            break;
        }
        if head.len() > MAX_HEAD_BYTES {
            return Err(ReadError::Bad("request head is too large".into()));
        }
    }
    let text =
        std::str::from_utf8(&head).map_err(|_| ReadError::Bad("head is not UTF-8".into()))?;
    let mut lines = text.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad(format!(
            "malformed request line `{request_line}`"
        )));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ReadError::Bad(format!(
            "unsupported HTTP version `{version}`"
        )));
    }
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Bad(format!("malformed header line `{line}`")));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _): &&(String, String)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let connection = find("connection").unwrap_or_default().to_ascii_lowercase();
    let close = connection.contains("close")
        || (version == "HTTP/1.0" && !connection.contains("keep-alive"));
    if find("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        writer
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .map_err(|_| ReadError::Io)?;
    }
    let chunked =
        find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size_line = String::new();
            reader
                .read_line(&mut size_line)
                .await
                .map_err(|_| ReadError::Io)?;
            let size_text = size_line.trim().split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| ReadError::Bad(format!("malformed chunk size `{size_text}`")))?;
            if size == 0 {
                // Trailers, then the blank line.
                loop {
                    let mut trailer = String::new();
                    let n = reader
                        .read_line(&mut trailer)
                        .await
                        .map_err(|_| ReadError::Io)?;
                    if n == 0 || trailer.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            if body.len() + size > MAX_CONTENT_LENGTH {
                return Err(ReadError::TooLarge);
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader
                .read_exact(&mut body[start..])
                .await
                .map_err(|_| ReadError::Io)?;
            let mut crlf = [0u8; 2];
            reader
                .read_exact(&mut crlf)
                .await
                .map_err(|_| ReadError::Io)?;
        }
    } else if let Some(length) = find("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| ReadError::Bad(format!("malformed content-length `{length}`")))?;
        if length > MAX_CONTENT_LENGTH {
            return Err(ReadError::TooLarge);
        }
        body.resize(length, 0);
        reader
            .read_exact(&mut body)
            .await
            .map_err(|_| ReadError::Io)?;
    }
    if find("content-encoding").is_some_and(|v| v.eq_ignore_ascii_case("gzip")) && !body.is_empty()
    {
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut decoded)
            .map_err(|e| ReadError::Bad(format!("gzip request body does not decompress: {e}")))?;
        body = decoded;
    }
    let (raw_path, raw_query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.to_string(), String::new()),
    };
    Ok(Request {
        method: method.to_string(),
        target: target.to_string(),
        raw_path,
        raw_query,
        headers,
        body,
        close,
    })
}

/// Writes `response`; a HEAD response carries the headers of the full response but no body.
pub async fn write_response(
    writer: &mut OwnedWriteHalf,
    response: &Response,
    head_only: bool,
) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    for (name, value) in &response.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n", response.body.len()));
    if response.close {
        out.push_str("connection: close\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if !head_only {
        bytes.extend_from_slice(&response.body);
    }
    writer.write_all(&bytes).await?;
    writer.flush().await
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        413 => "Request Entity Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, as in query strings).
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=1&b=x%20y&c` -> [("a","1"), ("b","x y"), ("c","")].
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (percent_decode(k, true), percent_decode(v, true)),
            None => (percent_decode(pair, true), String::new()),
        })
        .collect()
}
