//! A tiny HTTP/1.1 server for the test fakes: one request per connection (every reply
//! says `Connection: close`, so the SDK never reuses a socket we are about to drop), or,
//! for a fake that must outpace a benchmark, connections kept alive as AWS keeps them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

/// A request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The request as bytes, with `Connection: close` for a one-shot upstream exchange.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        for (name, value) in &self.headers {
            if !name.eq_ignore_ascii_case("connection") {
                head.push_str(name);
                head.push_str(": ");
                head.push_str(value);
                head.push_str("\r\n");
            }
        }
        head.push_str("Connection: close\r\n\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// What the handler wants sent back.
pub enum Reply {
    /// A response; `Content-Length` and `Connection: close` are added.
    Respond {
        status: u16,
        content_type: &'static str,
        body: Vec<u8>,
    },
    /// A complete response received from elsewhere; its `Connection` header is replaced.
    Raw(Vec<u8>),
    /// Never answer (until the server is dropped): a stuck dependency.
    Hang,
}

/// Serves until dropped.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        Self::serve_with(handler, false)
    }

    /// Like [`Server::start`], keeping each connection open for the client's next request
    /// (until it closes): no connection per request to slow a benchmark's client.
    pub fn start_keep_alive(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        Self::serve_with(handler, true)
    }

    fn serve_with(
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
        keep_alive: bool,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(handler);
        let stopping = Arc::clone(&stop);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let handler = Arc::clone(&handler);
                let stopping = Arc::clone(&stopping);
                thread::spawn(move || serve(stream, handler.as_ref(), &stopping, keep_alive));
            }
        });
        Self { addr, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(
    stream: TcpStream,
    handler: &(dyn Fn(&Request) -> Reply + Send + Sync),
    stop: &AtomicBool,
    keep_alive: bool,
) {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    while let Some(request) = read_request(&mut reader) {
        let again = keep_alive
            && !request
                .header("connection")
                .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        match handler(&request) {
            Reply::Respond {
                status,
                content_type,
                body,
            } => {
                let connection = if again { "keep-alive" } else { "close" };
                let head = format!(
                    "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-RequestId: test-request\r\nConnection: {connection}\r\n\r\n",
                    reason(status),
                    body.len()
                );
                let mut response = head.into_bytes();
                response.extend_from_slice(&body);
                let _ = stream.write_all(&response);
            }
            Reply::Raw(bytes) => {
                let _ = stream.write_all(&with_connection_close(&bytes));
                let _ = stream.flush();
                return;
            }
            Reply::Hang => {
                while !stop.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(50));
                }
                return;
            }
        }
        let _ = stream.flush();
        if !again {
            return;
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

/// Sends `request` to `upstream` (`http://host:port`) and returns the raw response.
pub fn forward(upstream: &str, request: &Request) -> std::io::Result<Vec<u8>> {
    let address = upstream.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address)?;
    stream.write_all(&request.to_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    Ok(response)
}

fn with_connection_close(response: &[u8]) -> Vec<u8> {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return response.to_vec();
    };
    let head = String::from_utf8_lossy(&response[..end]);
    let mut out = String::new();
    for line in head.split("\r\n") {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&response[end + 4..]);
    bytes
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
