//! An Elasticsearch-compatible HTTP server for k8scop's tests: a real HTTP/1.1 server on a random
//! loopback port, speaking the documented requests, responses and error bodies of the REST APIs
//! k8scop uses (`GET /`, `_bulk`, documents with `if_seq_no`/`if_primary_term`, `_index_template`,
//! `_refresh`, `_count`, `_search` with `pit`/`search_after`, `_pit`), with basic, API key and
//! bearer authentication, and with faults a test injects: whole-request errors, partial bulk
//! failures, delays, oversized bodies, dropped connections, expired point-in-time readers and
//! outages (stop, then restart on the same port).
//!
//! [`EsServer`] runs on its own Tokio runtime thread, so synchronous `#[test]`s that spawn the
//! `k8scop` binary can use it. What it does not implement answers 400 and says so
//! (`... is not supported by the k8scop test server`); docs/testing.md lists the limits.

mod date;
mod errors;
mod handlers;
mod http;
mod mapping;
mod search;
mod store;

use std::net::SocketAddr;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio::sync::watch;

use errors::exception;
use http::{ReadError, Request, Response};
use store::{OpType, Store};

/// Which Elasticsearch the server is. The wire format is 8.x's; the differences are the version
/// in `GET /`, `_type: _doc` in 7.x responses, the `X-Elastic-Product` header (7.14 and later),
/// and 7.10's lack of `_shard_doc` (added in 7.12, with the implicit PIT tiebreaker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Es7_10,
    Es7_17,
    Es8,
    Es9,
}

impl Flavor {
    /// `version.number` in `GET /`.
    pub fn version(self) -> &'static str {
        match self {
            Flavor::Es7_10 => "7.10.2",
            Flavor::Es7_17 => "7.17.24",
            Flavor::Es8 => "8.15.0",
            Flavor::Es9 => "9.1.0",
        }
    }

    fn is_7(self) -> bool {
        matches!(self, Flavor::Es7_10 | Flavor::Es7_17)
    }

    fn capabilities(self) -> search::Capabilities {
        search::Capabilities {
            shard_doc: self != Flavor::Es7_10,
            type_field: self.is_7(),
            id_sort: self.is_7(),
        }
    }
}

/// The one credential the server accepts, when authentication is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Basic base64(user:password)`.
    Basic { user: String, password: String },
    /// `Authorization: ApiKey base64(id:key)` (Elasticsearch's "encoded" API key).
    ApiKey { id: String, key: String },
    /// `Authorization: Bearer token` (a service account token or OAuth2 access token).
    Bearer(String),
}

impl Auth {
    /// The `Authorization` header value a client sends for this credential.
    pub fn header_value(&self) -> String {
        use base64::Engine;
        let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
        match self {
            Auth::Basic { user, password } => {
                format!("Basic {}", b64(format!("{user}:{password}")))
            }
            Auth::ApiKey { id, key } => format!("ApiKey {}", b64(format!("{id}:{key}"))),
            Auth::Bearer(token) => format!("Bearer {token}"),
        }
    }
}

/// How to start a server.
#[derive(Debug, Clone)]
pub struct EsOptions {
    pub flavor: Flavor,
    pub auth: Option<Auth>,
    /// A search refreshes an index whose last refresh is older than this (Elasticsearch's
    /// `index.refresh_interval`, 1s by default); `None`: only explicit refreshes.
    pub refresh_interval: Option<Duration>,
}

impl Default for EsOptions {
    fn default() -> EsOptions {
        EsOptions {
            flavor: Flavor::Es8,
            auth: None,
            refresh_interval: Some(Duration::from_secs(1)),
        }
    }
}

/// A fault to inject. `path` matches requests whose path contains it (`"/_bulk"` matches
/// `/_bulk` and `/alerts/_bulk`; `""` matches every request); `times` counts the requests it
/// affects, after which it is gone. Faults apply after authentication, in the order pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The whole request fails with `status` and Elasticsearch's body for it: 429
    /// `es_rejected_execution_exception`, 503 `cluster_block_exception`, 500 `exception`,
    /// 403 `security_exception`, 401 as for bad credentials; 502 and 504 carry the HTML page of
    /// the reverse proxy that produces them in front of a cluster. Nothing is executed.
    Status {
        path: String,
        status: u16,
        times: usize,
    },
    /// In the next `times` bulk requests, every `every_nth` item fails with `status` (429
    /// `es_rejected_execution_exception`: retry it; 400 `mapper_parsing_exception`: rejected;
    /// 409, 503 too) and is not executed; the other items are.
    BulkItems {
        status: u16,
        every_nth: usize,
        times: usize,
    },
    /// The response is sent `millis` late (the request is executed after the delay).
    Delay {
        path: String,
        millis: u64,
        times: usize,
    },
    /// Requests whose path contains `path` and whose body is over `over_bytes` get 413 with an
    /// empty body and the connection is closed, as with `http.max_content_length` (which applies
    /// to every path: `""`). Stays until [`Faults::clear`].
    PayloadTooLarge { path: String, over_bytes: usize },
    /// The connection is closed without a response (the request is not executed).
    Disconnect { path: String, times: usize },
}

/// A pending partial bulk failure, for the bulk handler.
#[derive(Debug, Clone)]
struct BulkItemFault {
    status: u16,
    every_nth: usize,
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    /// Percent-encoded, as sent.
    pub path: String,
    /// The raw query string, empty when none.
    pub query: String,
    pub headers: Vec<(String, String)>,
    /// The body after chunked decoding and gzip decompression.
    pub body: Vec<u8>,
    /// The response status; 0 when the connection was dropped instead.
    pub status: u16,
}

impl LoggedRequest {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

struct State {
    store: Store,
    faults: Vec<Fault>,
    requests: Vec<LoggedRequest>,
    options: EsOptions,
    cluster_uuid: String,
}

struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not take the server down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What to do with a request before (or instead of) running it.
enum Outcome {
    Handle(Option<BulkItemFault>),
    Respond(Response),
    Disconnect,
}

struct Decision {
    log_index: usize,
    delay: Option<Duration>,
    outcome: Outcome,
}

const WWW_AUTHENTICATE: [&str; 3] = [
    "Basic realm=\"security\", charset=\"UTF-8\"",
    "Bearer realm=\"security\"",
    "ApiKey",
];

fn unauthorized(reason: &str, extra: Option<&str>) -> Response {
    let mut e = exception("security_exception", reason);
    if let Some(extra) = extra {
        e.insert("additional_unsuccessful_credentials".into(), json!(extra));
    }
    e.insert(
        "header".into(),
        json!({"WWW-Authenticate": WWW_AUTHENTICATE}),
    );
    let mut r = Response::json(401, &errors::error_body(401, e));
    for v in WWW_AUTHENTICATE {
        r = r.header("www-authenticate", v);
    }
    r
}

/// `Ok` when the request carries the configured credential.
fn authenticate(auth: &Auth, req: &Request) -> Result<(), Response> {
    use base64::Engine;
    let uri = &req.target;
    let missing = || {
        unauthorized(
            &format!("missing authentication credentials for REST request [{uri}]"),
            None,
        )
    };
    let Some(header) = req.header("authorization") else {
        return Err(missing());
    };
    let (scheme, value) = header.split_once(' ').unwrap_or((header, ""));
    let decoded = || {
        base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
    };
    let anonymous = "unable to authenticate with provided credentials and anonymous access is not allowed for this request";
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => {
            let (user, password) = decoded()
                .and_then(|s| {
                    s.split_once(':')
                        .map(|(u, p)| (u.to_string(), p.to_string()))
                })
                .ok_or_else(missing)?;
            match auth {
                Auth::Basic {
                    user: u,
                    password: p,
                } if *u == user && *p == password => Ok(()),
                _ => Err(unauthorized(
                    &format!("unable to authenticate user [{user}] for REST request [{uri}]"),
                    None,
                )),
            }
        }
        "apikey" => {
            let (id, key) = decoded()
                .and_then(|s| {
                    s.split_once(':')
                        .map(|(i, k)| (i.to_string(), k.to_string()))
                })
                .ok_or_else(|| unauthorized(anonymous, Some("API key: invalid ApiKey value")))?;
            match auth {
                Auth::ApiKey { id: i, key: k } if *i == id && *k == key => Ok(()),
                Auth::ApiKey { id: i, .. } if *i == id => Err(unauthorized(
                    anonymous,
                    Some(&format!("API key: invalid credentials for API key [{id}]")),
                )),
                _ => Err(unauthorized(
                    anonymous,
                    Some(&format!("API key: unable to find apikey with id {id}")),
                )),
            }
        }
        "bearer" => match auth {
            Auth::Bearer(t) if t == value.trim() => Ok(()),
            _ => Err(unauthorized(
                anonymous,
                Some("oauth2 token: token malformed"),
            )),
        },
        _ => Err(missing()),
    }
}

const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
const NGINX_504: &str = "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// The response of a [`Fault::Status`].
fn fault_response(status: u16, req: &Request) -> Response {
    let body = |kind: &str, reason: &str| {
        Response::json(status, &errors::error_body(status, exception(kind, reason)))
    };
    match status {
        401 => unauthorized(
            &format!("unable to authenticate user [k8scop] for REST request [{}]", req.target),
            None,
        ),
        403 => body(
            "security_exception",
            "action [indices:data/write/bulk[s]] is unauthorized for user [k8scop] with effective roles [viewer], this action is granted by the index privileges [create_doc,create,index,write,all]",
        ),
        429 => body(
            "es_rejected_execution_exception",
            "rejected execution of coordinating operation [coordinating_and_primary_bytes=104857600, replica_bytes=0, all_bytes=104857600, coordinating_operation_bytes=1024, max_coordinating_and_primary_bytes=107374182]",
        ),
        502 => Response::with_body(502, "text/html", NGINX_502),
        503 => body("cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/2/no master];"),
        504 => Response::with_body(504, "text/html", NGINX_504),
        _ => body("exception", &format!("failure injected by the k8scop test server (status {status})")),
    }
}

impl Shared {
    /// Logs the request, checks credentials and consults the faults.
    fn before(&self, req: &Request) -> Decision {
        let mut state = self.lock();
        let log_index = state.requests.len();
        state.requests.push(LoggedRequest {
            method: req.method.clone(),
            path: req.raw_path.clone(),
            query: req.raw_query.clone(),
            headers: req.headers.clone(),
            body: req.body.clone(),
            status: 0,
        });
        if let Some(auth) = &state.options.auth {
            if let Err(r) = authenticate(auth, req) {
                return Decision {
                    log_index,
                    delay: None,
                    outcome: Outcome::Respond(r),
                };
            }
        }
        let mut delay = Duration::ZERO;
        let mut outcome = None;
        for fault in state.faults.iter_mut() {
            match fault {
                Fault::PayloadTooLarge { path, over_bytes }
                    if outcome.is_none()
                        && req.body.len() > *over_bytes
                        && req.raw_path.contains(path.as_str()) =>
                {
                    let mut r = Response::empty(413);
                    r.close = true;
                    outcome = Some(Outcome::Respond(r));
                }
                Fault::Delay {
                    path,
                    millis,
                    times,
                } if *times > 0 && req.raw_path.contains(path.as_str()) => {
                    delay += Duration::from_millis(*millis);
                    *times -= 1;
                }
                Fault::Status {
                    path,
                    status,
                    times,
                } if outcome.is_none() && *times > 0 && req.raw_path.contains(path.as_str()) => {
                    outcome = Some(Outcome::Respond(fault_response(*status, req)));
                    *times -= 1;
                }
                Fault::Disconnect { path, times }
                    if outcome.is_none() && *times > 0 && req.raw_path.contains(path.as_str()) =>
                {
                    outcome = Some(Outcome::Disconnect);
                    *times -= 1;
                }
                _ => {}
            }
        }
        let outcome = match outcome {
            Some(o) => o,
            None => {
                let mut bulk = None;
                if req.raw_path.ends_with("/_bulk") {
                    for fault in state.faults.iter_mut() {
                        if let Fault::BulkItems {
                            status,
                            every_nth,
                            times,
                        } = fault
                        {
                            if *times > 0 {
                                bulk = Some(BulkItemFault {
                                    status: *status,
                                    every_nth: *every_nth,
                                });
                                *times -= 1;
                                break;
                            }
                        }
                    }
                }
                Outcome::Handle(bulk)
            }
        };
        state.faults.retain(|f| match f {
            Fault::Status { times, .. }
            | Fault::BulkItems { times, .. }
            | Fault::Delay { times, .. }
            | Fault::Disconnect { times, .. } => *times > 0,
            Fault::PayloadTooLarge { .. } => true,
        });
        Decision {
            log_index,
            delay: (!delay.is_zero()).then_some(delay),
            outcome,
        }
    }

    fn handle(&self, req: &Request, bulk_fault: Option<BulkItemFault>) -> Response {
        let mut state = self.lock();
        let state = &mut *state;
        let flavor = state.options.flavor;
        let mut ctx = handlers::Context {
            store: &mut state.store,
            flavor,
            cluster_uuid: &state.cluster_uuid,
            bulk_fault,
        };
        let mut response = handlers::handle(&mut ctx, req);
        if flavor != Flavor::Es7_10 && response.status != 401 && response.status != 403 {
            response = response.header("x-elastic-product", "Elasticsearch");
        }
        response
    }

    fn set_status(&self, log_index: usize, status: u16) {
        if let Some(r) = self.lock().requests.get_mut(log_index) {
            r.status = status;
        }
    }
}

/// The number a PIT id carries (its first eight bytes), as in `No search context found for id [N]`.
fn pit_context_number(id: &str) -> u64 {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id)
        .ok()
        .and_then(|b| {
            b.get(..8)
                .map(|b| u64::from_be_bytes(b.try_into().expect("eight bytes")))
        })
        .unwrap_or(0)
}

fn new_pit_id(store: &mut Store) -> String {
    store.new_id(64)
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the server is gone: stop as well.
    let _ = stop.wait_for(|s| *s).await;
}

async fn serve(
    stream: TcpStream,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
) {
    serve_connection(stream, shared, stop).await;
    // INVARIANT: the socket is closed before `stop()` learns that this task has ended.
    drop(alive);
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let read = tokio::select! {
            biased;
            _ = stopped(&mut stop) => return,
            r = http::read_request(&mut reader, &mut write) => r,
        };
        let req = match read {
            Ok(r) => r,
            Err(ReadError::Closed | ReadError::Io) => return,
            Err(ReadError::Bad(msg)) => {
                let mut r = Response::with_body(400, "text/plain; charset=UTF-8", &msg);
                r.close = true;
                let _ = http::write_response(&mut write, &r, false).await;
                return;
            }
            Err(ReadError::TooLarge) => {
                let mut r = Response::empty(413);
                r.close = true;
                let _ = http::write_response(&mut write, &r, false).await;
                return;
            }
        };
        let decision = shared.before(&req);
        if let Some(delay) = decision.delay {
            tokio::select! {
                biased;
                _ = stopped(&mut stop) => return,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        let response = match decision.outcome {
            Outcome::Respond(r) => r,
            Outcome::Disconnect => return,
            Outcome::Handle(bulk) => shared.handle(&req, bulk),
        };
        shared.set_status(decision.log_index, response.status);
        if http::write_response(&mut write, &response, req.method == "HEAD")
            .await
            .is_err()
        {
            return;
        }
        if response.close || req.close {
            return;
        }
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
) {
    let mut wait = stop.clone();
    loop {
        tokio::select! {
            biased;
            _ = stopped(&mut wait) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve(stream, shared.clone(), stop.clone(), alive.clone()));
                }
                // Out of file descriptors and the like: try again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
    // INVARIANT: the port is free before `stop()` returns (`restart()` binds it again).
    drop(listener);
    drop(alive);
}

/// A listening generation: stopping it closes the listener and every connection.
struct Listening {
    stop: watch::Sender<bool>,
    /// Disconnects once every task of this generation has ended.
    done: mpsc::Receiver<()>,
}

/// A running test server. Dropping it shuts it down.
pub struct EsServer {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    addr: SocketAddr,
    listening: Mutex<Option<Listening>>,
}

/// The faults of a server: push them before the requests they should hit.
pub struct Faults {
    shared: Arc<Shared>,
}

impl Faults {
    pub fn push(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    /// Removes every pending fault.
    pub fn clear(&self) {
        self.shared.lock().faults.clear();
    }

    /// The faults not yet used up.
    pub fn pending(&self) -> Vec<Fault> {
        self.shared.lock().faults.clone()
    }
}

impl EsServer {
    /// Starts a server on a free loopback port; panics (naming the cause) when it cannot.
    pub fn start(options: EsOptions) -> EsServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("k8scop-es-test-server")
            .enable_io()
            .enable_time()
            .build()
            .unwrap_or_else(|e| {
                panic!("the test Elasticsearch server cannot start a Tokio runtime: {e}")
            });
        let mut store = Store::new(options.refresh_interval);
        let cluster_uuid = store.new_id(22);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                store,
                faults: Vec::new(),
                requests: Vec::new(),
                options,
                cluster_uuid,
            }),
        });
        let mut server = EsServer {
            shared,
            runtime: Some(runtime),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            listening: Mutex::new(None),
        };
        server.addr = server.listen(0).unwrap_or_else(|e| {
            panic!("the test Elasticsearch server cannot listen on 127.0.0.1: {e}")
        });
        server
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the server")
    }

    fn listen(&self, port: u16) -> std::io::Result<SocketAddr> {
        let _guard = self.runtime().enter();
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
        let listener = socket.listen(1024)?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let (alive_tx, alive_rx) = mpsc::channel();
        self.runtime().spawn(accept_loop(
            listener,
            self.shared.clone(),
            stop_rx,
            alive_tx,
        ));
        *self.listening.lock().unwrap_or_else(|e| e.into_inner()) = Some(Listening {
            stop: stop_tx,
            done: alive_rx,
        });
        Ok(addr)
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Simulates an outage: stops listening and closes every open connection (a request in
    /// flight gets no response). The data stays; [`EsServer::restart`] listens again.
    pub fn stop(&self) {
        let listening = self
            .listening
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(l) = listening {
            let _ = l.stop.send(true);
            // Every task holds a sender: this returns when the last one has ended.
            let _ = l.done.recv();
        }
    }

    /// Listens again on the same port after [`EsServer::stop`]; panics when the port is taken.
    pub fn restart(&self) {
        self.stop();
        self.listen(self.addr.port()).unwrap_or_else(|e| {
            panic!(
                "the test Elasticsearch server cannot listen again on {}: {e}",
                self.addr
            )
        });
    }

    /// The injected faults.
    pub fn faults(&self) -> Faults {
        Faults {
            shared: self.shared.clone(),
        }
    }

    /// Indexes `docs` into `index` (created from templates when missing) with automatic ids,
    /// bypassing HTTP, faults and auth, and refreshes it. Returns the ids in order.
    pub fn index_docs(&self, index: &str, docs: &[Value]) -> Vec<String> {
        let mut state = self.shared.lock();
        let ids: Vec<String> = docs.iter().map(|_| state.store.new_id(20)).collect();
        let pairs: Vec<(&str, Value)> = ids
            .iter()
            .map(String::as_str)
            .zip(docs.iter().cloned())
            .collect();
        Self::insert(&mut state.store, index, &pairs);
        ids
    }

    /// Like [`EsServer::index_docs`], with the given ids (an existing document is replaced).
    pub fn index_docs_with_ids(&self, index: &str, docs: &[(&str, Value)]) {
        Self::insert(&mut self.shared.lock().store, index, docs);
    }

    fn insert(store: &mut Store, index: &str, docs: &[(&str, Value)]) {
        let idx = store.index_for_write(index).unwrap_or_else(|e| {
            panic!(
                "cannot create index `{index}`: {}",
                String::from_utf8_lossy(&e.0.body)
            )
        });
        for (id, doc) in docs {
            idx.write(id, doc.clone(), OpType::Index, None)
                .unwrap_or_else(|e| {
                    panic!(
                        "document `{id}` does not fit index `{index}`: {}",
                        String::from_utf8_lossy(&e.0.body)
                    )
                });
        }
        idx.refresh();
    }

    /// The documents `index` holds now (refreshed or not), as (id, source) in write order;
    /// empty when the index does not exist.
    pub fn docs(&self, index: &str) -> Vec<(String, Value)> {
        let state = self.shared.lock();
        state
            .store
            .indices
            .get(index)
            .map(|i| i.docs().map(|d| (d.id.clone(), d.source.clone())).collect())
            .unwrap_or_default()
    }

    /// The index names, sorted.
    pub fn indices(&self) -> Vec<String> {
        self.shared.lock().store.indices.keys().cloned().collect()
    }

    /// The stored index template `name`, as `GET /_index_template/{name}` shows it.
    pub fn template(&self, name: &str) -> Option<Value> {
        self.shared.lock().store.templates.get(name).cloned()
    }

    /// `index`'s mapping, as `GET /{index}/_mapping` shows it.
    pub fn mapping(&self, index: &str) -> Option<Value> {
        self.shared
            .lock()
            .store
            .indices
            .get(index)
            .map(|i| i.mapping.to_json())
    }

    /// Expires every open point in time: searches with their ids get 404
    /// `search_context_missing_exception`. Returns how many there were.
    pub fn expire_pits(&self) -> usize {
        let mut state = self.shared.lock();
        let n = state.store.pits.len();
        state.store.pits.clear();
        n
    }

    /// How many point-in-time readers are open (not closed, not expired).
    pub fn open_pits(&self) -> usize {
        let mut state = self.shared.lock();
        state.store.reap_pits();
        state.store.pits.len()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }
}

impl Drop for EsServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
