//! A counting HTTP proxy in front of moto, so the AWS requests of a *separate process* (a function
//! binary, the Python baseline) are counted on the wire the same way for both.
//!
//! Requests are parsed only to name them and find where they end; bytes pass through unchanged,
//! and responses are copied back without parsing (the SDKs do not pipeline, so one request is
//! answered before the next is sent).

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};

use offpeak_tests::wire::{Tally, operation};

/// The proxy, stopped on drop.
pub struct Census {
    endpoint: String,
    tally: Arc<Mutex<Tally>>,
    server: tokio::task::JoinHandle<()>,
}

impl Census {
    /// Proxies to `upstream` (`127.0.0.1:PORT`) from a fresh loopback port.
    pub async fn start(upstream: String) -> Census {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let tally = Arc::new(Mutex::new(Tally::new()));
        let counts = tally.clone();
        let server = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream.clone(), counts.clone()));
            }
        });
        Census {
            endpoint,
            tally,
            server,
        }
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Removes and returns the requests counted so far.
    pub fn take(&self) -> Tally {
        std::mem::take(&mut *self.tally.lock().expect("census poisoned"))
    }
}

impl Drop for Census {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn relay(client: TcpStream, upstream: String, tally: Arc<Mutex<Tally>>) {
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let (client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let responses = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
    });
    let mut client_read = BufReader::new(client_read);
    while let Some((name, raw)) = read_request(&mut client_read).await {
        *tally
            .lock()
            .expect("census poisoned")
            .entry(name)
            .or_default() += 1;
        if server_write.write_all(&raw).await.is_err() {
            break;
        }
    }
    let _ = server_write.shutdown().await;
    let _ = responses.await;
}

/// One request's name and its raw bytes; `None` at end of stream. Bodies are sized by
/// `Content-Length` (what the AWS SDKs send for these APIs).
async fn read_request(stream: &mut BufReader<OwnedReadHalf>) -> Option<(String, Vec<u8>)> {
    let mut raw = Vec::new();
    let mut line = String::new();
    stream.read_line(&mut line).await.ok().filter(|n| *n > 0)?;
    raw.extend_from_slice(line.as_bytes());
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let (mut authorization, mut target, mut length) = (None, None, 0);
    loop {
        line.clear();
        stream.read_line(&mut line).await.ok().filter(|n| *n > 0)?;
        raw.extend_from_slice(line.as_bytes());
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        let value = value.trim().to_owned();
        match name.trim().to_ascii_lowercase().as_str() {
            "authorization" => authorization = Some(value),
            "x-amz-target" => target = Some(value),
            "content-length" => length = value.parse().ok()?,
            _ => {}
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.ok()?;
    let (service, operation) = operation(
        authorization.as_deref(),
        target.as_deref(),
        &method,
        &path,
        &body,
    );
    let name = format!("{service}:{operation}");
    raw.extend_from_slice(&body);
    Some((name, raw))
}
