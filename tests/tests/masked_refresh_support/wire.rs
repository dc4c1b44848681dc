//! The wire: every AWS request of a tick passes through an HTTP client wrapped around the SDK's
//! own. It records requests by service and operation (with query-protocol parameters), and
//! answers chosen requests with a real AWS error document — without forwarding them, so an
//! injected fault has no side effect in moto — or never answers them at all (an invocation
//! killed while waiting on AWS).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_smithy_http_client::tls::Provider;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// One request seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub service: String,
    pub operation: String,
    /// Form parameters of query-protocol requests (RDS, SNS), percent-decoded.
    pub params: BTreeMap<String, String>,
    pub body: String,
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
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
            b'+' => {
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

impl Call {
    fn of(request: &HttpRequest) -> Call {
        let headers = request.headers();
        let service = headers
            .get("authorization")
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split('/').nth(3))
            .unwrap_or("unknown")
            .to_owned();
        let body = request
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let params: BTreeMap<String, String> = body
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (decode(k), decode(v)))
            .collect();
        let operation = headers
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .or(params.get("Action").map(String::as_str))
            .unwrap_or("unknown")
            .to_owned();
        Call {
            service,
            operation,
            params,
            body,
        }
    }

    /// Reads change nothing: describes, gets, lists.
    pub fn mutating(&self) -> bool {
        ![
            "Describe", "Get", "BatchGet", "List", "Receive", "Query", "Scan",
        ]
        .iter()
        .any(|prefix| self.operation.starts_with(prefix))
    }

    /// Whether any parameter of the request names `id` exactly.
    pub fn names(&self, id: &str) -> bool {
        self.params.values().any(|v| v == id)
    }
}

/// What an injected fault does.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Answer with this AWS error code.
    Error(&'static str),
    /// Never answer (the invocation is killed while waiting).
    Hang,
}

/// `operation` (optionally: naming `subject`, or with `body` in its body) gets `effect`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub operation: &'static str,
    pub subject: Option<String>,
    pub body: Option<&'static str>,
    pub effect: Effect,
}

impl Fault {
    fn matches(&self, call: &Call) -> bool {
        self.operation == call.operation
            && self.subject.as_deref().is_none_or(|s| call.names(s))
            && self.body.is_none_or(|b| call.body.contains(b))
    }
}

fn error_response(code: &str) -> HttpResponse {
    let status: u16 = if code == "AccessDenied" { 403 } else { 400 };
    let body = format!(
        r#"<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type><Code>{code}</Code><Message>injected {code} fault</Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"#
    );
    let mut response =
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    response.headers_mut().insert("content-type", "text/xml");
    response
}

#[derive(Debug, Default)]
struct WireState {
    calls: Vec<Call>,
    faults: Vec<Fault>,
}

/// Shared handle on what the wire saw and what it should break.
#[derive(Debug, Clone, Default)]
pub struct Wire(Arc<Mutex<WireState>>);

impl Wire {
    /// `operation` naming `subject` fails with AWS error `code` until healed.
    pub fn fail(&self, operation: &'static str, subject: &str, code: &'static str) {
        self.add(Fault {
            operation,
            subject: Some(subject.to_owned()),
            body: None,
            effect: Effect::Error(code),
        });
    }

    pub fn add(&self, fault: Fault) {
        self.0.lock().unwrap().faults.push(fault);
    }

    pub fn heal(&self) {
        self.0.lock().unwrap().faults.clear();
    }

    /// Removes and returns the calls seen so far.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut self.0.lock().unwrap().calls)
    }

    /// Every call seen so far (kept).
    pub fn calls(&self) -> Vec<Call> {
        self.0.lock().unwrap().calls.clone()
    }

    fn record(&self, call: Call) -> Option<Fault> {
        let mut state = self.0.lock().unwrap();
        let fault = state.faults.iter().find(|f| f.matches(&call)).cloned();
        state.calls.push(call);
        fault
    }

    /// An SDK config like `sdk` whose requests all pass through this wire; retries keep the
    /// standard policy with a short backoff.
    pub fn wrap(&self, sdk: &SdkConfig) -> SdkConfig {
        let inner = sdk.http_client().unwrap_or_else(|| {
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                .build_https()
        });
        let client = WireClient {
            inner,
            wire: self.clone(),
        };
        sdk.to_builder()
            .http_client(client)
            .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(5)))
            .build()
    }
}

#[derive(Debug)]
struct WireClient {
    inner: SharedHttpClient,
    wire: Wire,
}

impl HttpClient for WireClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(WireConnector {
            inner: self.inner.http_connector(settings, components),
            wire: self.wire.clone(),
        })
    }
}

#[derive(Debug)]
struct WireConnector {
    inner: SharedHttpConnector,
    wire: Wire,
}

impl HttpConnector for WireConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        match self.wire.record(Call::of(&request)).map(|f| f.effect) {
            Some(Effect::Error(code)) => HttpConnectorFuture::ready(Ok(error_response(code))),
            Some(Effect::Hang) => HttpConnectorFuture::new(std::future::pending()),
            None => self.inner.call(request),
        }
    }
}

/// `{"service:Operation": count}` of `calls`.
pub fn tally(calls: &[Call]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for c in calls {
        *out.entry(format!("{}:{}", c.service, c.operation))
            .or_default() += 1;
    }
    out
}
