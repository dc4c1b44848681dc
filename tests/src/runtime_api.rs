//! The AWS Lambda Runtime API (2018-06-01), served on loopback for one function process.
//!
//! A function binary (or any runtime interface client, such as Python's `awslambdaric`) started
//! with `AWS_LAMBDA_RUNTIME_API=<`[`RuntimeApi::address`]`>` long-polls
//! `GET /2018-06-01/runtime/invocation/next`; this server hands it the queued invocations one at a
//! time, with the `Lambda-Runtime-*` headers Lambda sends, and reports what comes back on
//! `/invocation/{id}/response`, `/invocation/{id}/error` and `/init/error` as an [`Answer`]
//! stamped with the instant the server received it (cold-start measurements read that stamp).
//!
//! ```no_run
//! # async fn example() {
//! use std::time::Duration;
//! let mut api = offpeak_tests::runtime_api::RuntimeApi::start().await;
//! // ... start the function with AWS_LAMBDA_RUNTIME_API = api.address() ...
//! let answer = api.invoke(r#"{"dry_run": true}"#, Duration::from_secs(60)).await;
//! # }
//! ```
//!
//! Failure behaviour: nothing panics on the server side; a malformed request closes its
//! connection. [`RuntimeApi::next_answer`] returns `None` when no answer came in time.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc};

/// The deadline announced for each invocation (`Lambda-Runtime-Deadline-Ms`), from when it is
/// handed out.
const DEADLINE: Duration = Duration::from_secs(120);
const FUNCTION_ARN: &str = "arn:aws:lambda:ap-northeast-1:123456789012:function:offpeak-test";

/// What the function reported for one invocation (or for its cold start).
#[derive(Debug, Clone)]
pub enum Outcome {
    Response {
        request_id: String,
        body: Value,
    },
    Error {
        request_id: String,
        /// `Lambda-Runtime-Function-Error-Type`, empty when absent.
        error_type: String,
        body: Value,
    },
    InitError {
        body: Value,
    },
}

impl Outcome {
    /// The invocation this answers; `None` for an init error.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Outcome::Response { request_id, .. } | Outcome::Error { request_id, .. } => {
                Some(request_id)
            }
            Outcome::InitError { .. } => None,
        }
    }
}

/// An [`Outcome`] and the instant this server finished reading it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub outcome: Outcome,
    pub received: Instant,
}

struct Invocation {
    request_id: String,
    payload: String,
}

/// A Runtime API server on `127.0.0.1`, stopped on drop.
pub struct RuntimeApi {
    address: String,
    first_poll: Arc<OnceLock<Instant>>,
    invocations: mpsc::UnboundedSender<Invocation>,
    answers: mpsc::UnboundedReceiver<Answer>,
    server: tokio::task::JoinHandle<()>,
    sequence: u32,
}

impl RuntimeApi {
    /// Binds a free loopback port and starts serving.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the Runtime API");
        let address = listener.local_addr().expect("local address").to_string();
        let (invocations, queue) = mpsc::unbounded_channel();
        let (report, answers) = mpsc::unbounded_channel();
        let queue = Arc::new(Mutex::new(queue));
        let first_poll = Arc::new(OnceLock::new());
        let polled = first_poll.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let served =
                    serve_connection(stream, queue.clone(), report.clone(), polled.clone());
                tokio::spawn(served);
            }
        });
        RuntimeApi {
            address,
            first_poll,
            invocations,
            answers,
            server,
            sequence: 0,
        }
    }

    /// `127.0.0.1:PORT`, the value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// When the function first asked for an invocation: the end of its init phase (what Lambda
    /// reports as `Init Duration`, counted from the process start).
    pub fn first_poll(&self) -> Option<Instant> {
        self.first_poll.get().copied()
    }

    /// Queues an invocation for the next `GET /invocation/next`; returns its request id.
    pub fn enqueue(&mut self, payload: &str) -> String {
        self.sequence += 1;
        let request_id = format!("00000000-0000-4000-8000-{:012}", self.sequence);
        // The receiver lives in the server task, which lives as long as `self`.
        let _ = self.invocations.send(Invocation {
            request_id: request_id.clone(),
            payload: payload.to_owned(),
        });
        request_id
    }

    /// The next answer the function posts, or `None` after `timeout`.
    pub async fn next_answer(&mut self, timeout: Duration) -> Option<Answer> {
        tokio::time::timeout(timeout, self.answers.recv())
            .await
            .ok()
            .flatten()
    }

    /// Queues `payload` and waits up to `timeout` for the answer to it (or for an init error).
    pub async fn invoke(&mut self, payload: &str, timeout: Duration) -> Option<Answer> {
        let request_id = self.enqueue(payload);
        let deadline = Instant::now() + timeout;
        loop {
            let answer = self
                .next_answer(deadline.saturating_duration_since(Instant::now()))
                .await?;
            // An answer to an earlier invocation that timed out is stale: skip it.
            match answer.outcome.request_id() {
                Some(id) if id != request_id => continue,
                _ => return Some(answer),
            }
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// One keep-alive connection from the function's runtime client.
async fn serve_connection(
    stream: TcpStream,
    queue: Arc<Mutex<mpsc::UnboundedReceiver<Invocation>>>,
    report: mpsc::UnboundedSender<Answer>,
    first_poll: Arc<OnceLock<Instant>>,
) {
    let mut stream = BufReader::new(stream);
    while let Some(request) = read_request(&mut stream).await {
        let received = Instant::now();
        let reply = match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/2018-06-01/runtime/invocation/next") => {
                first_poll.get_or_init(|| received);
                let Some(next) = queue.lock().await.recv().await else {
                    return;
                };
                next_invocation(&next)
            }
            ("POST", path) if path.starts_with("/2018-06-01/runtime/") => {
                let outcome = outcome(path, &request);
                let _ = report.send(Answer { outcome, received });
                reply(202, &[], r#"{"status":"OK"}"#)
            }
            _ => reply(404, &[], r#"{"errorMessage":"unknown path"}"#),
        };
        if stream.get_mut().write_all(&reply).await.is_err() {
            return;
        }
    }
}

fn outcome(path: &str, request: &Request) -> Outcome {
    let body: Value = serde_json::from_slice(&request.body)
        .unwrap_or_else(|_| Value::from(String::from_utf8_lossy(&request.body).into_owned()));
    let rest = path.trim_start_matches("/2018-06-01/runtime/");
    if rest == "init/error" {
        return Outcome::InitError { body };
    }
    let invocation = rest.trim_start_matches("invocation/");
    let (request_id, kind) = invocation.split_once('/').unwrap_or((invocation, ""));
    let request_id = request_id.to_owned();
    if kind == "response" {
        return Outcome::Response { request_id, body };
    }
    let error_type = request
        .headers
        .get("lambda-runtime-function-error-type")
        .cloned()
        .unwrap_or_default();
    Outcome::Error {
        request_id,
        error_type,
        body,
    }
}

fn next_invocation(next: &Invocation) -> Vec<u8> {
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        + DEADLINE;
    let headers = [
        ("Lambda-Runtime-Aws-Request-Id", next.request_id.clone()),
        (
            "Lambda-Runtime-Deadline-Ms",
            deadline.as_millis().to_string(),
        ),
        ("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN.into()),
        (
            "Lambda-Runtime-Trace-Id",
            "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
        ),
    ];
    reply(200, &headers, &next.payload)
}

fn reply(status: u16, headers: &[(&str, String)], body: &str) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    [head.as_bytes(), body.as_bytes()].concat()
}

struct Request {
    method: String,
    path: String,
    /// Lowercase names.
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request (`Content-Length` or chunked body); `None` when the peer is gone.
async fn read_request(stream: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    stream.read_line(&mut line).await.ok().filter(|n| *n > 0)?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = BTreeMap::new();
    loop {
        line.clear();
        stream.read_line(&mut line).await.ok().filter(|n| *n > 0)?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"));
    let body = if chunked {
        read_chunked(stream).await?
    } else {
        let length: usize = headers
            .get("content-length")
            .map_or(Ok(0), |v| v.parse())
            .ok()?;
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.ok()?;
        body
    };
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

async fn read_chunked(stream: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        stream.read_line(&mut line).await.ok()?;
        let size = usize::from_str_radix(line.trim().split(';').next()?, 16).ok()?;
        // The chunk, then its CRLF (after the last, empty chunk: the final CRLF).
        let mut chunk = vec![0; size + 2];
        stream.read_exact(&mut chunk).await.ok()?;
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-written runtime client: one invocation, answered, then an error.
    #[tokio::test]
    async fn hands_out_invocations_and_reports_answers() {
        let mut api = RuntimeApi::start().await;
        assert!(api.first_poll().is_none());
        let first = api.enqueue(r#"{"n":1}"#);
        let mut client = BufReader::new(TcpStream::connect(api.address()).await.unwrap());
        let next = exchange(
            &mut client,
            "GET",
            "/2018-06-01/runtime/invocation/next",
            "",
        )
        .await;
        assert!(next.contains(&format!("Lambda-Runtime-Aws-Request-Id: {first}")));
        assert!(next.contains("Lambda-Runtime-Deadline-Ms: "));
        assert!(next.ends_with(r#"{"n":1}"#), "{next}");
        assert!(api.first_poll().is_some());
        let path = format!("/2018-06-01/runtime/invocation/{first}/response");
        let posted = exchange(&mut client, "POST", &path, r#"{"ok":true}"#).await;
        assert!(posted.starts_with("HTTP/1.1 202"), "{posted}");
        let answer = api.next_answer(Duration::from_secs(5)).await.unwrap();
        let Outcome::Response { request_id, body } = answer.outcome else {
            panic!("{:?}", answer.outcome)
        };
        assert_eq!(
            (request_id.as_str(), body),
            (first.as_str(), serde_json::json!({"ok": true}))
        );

        let init = exchange(&mut client, "POST", "/2018-06-01/runtime/init/error", "{}").await;
        assert!(init.starts_with("HTTP/1.1 202"), "{init}");
        let answer = api.next_answer(Duration::from_secs(5)).await.unwrap();
        assert!(matches!(answer.outcome, Outcome::InitError { .. }));
    }

    /// Sends one request and reads the whole reply (its body is sized by Content-Length).
    async fn exchange(
        client: &mut BufReader<TcpStream>,
        method: &str,
        path: &str,
        body: &str,
    ) -> String {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        client
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .unwrap();
        let mut head = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            client.read_line(&mut line).await.unwrap();
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                length = v.trim().parse().unwrap();
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        client.read_exact(&mut body).await.unwrap();
        head + &String::from_utf8(body).unwrap()
    }
}
