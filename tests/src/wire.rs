//! The wire: every AWS request a test (or bench) makes passes through an HTTP client wrapped
//! around the SDK's own, below the SDK, so retries and pagination are seen as AWS would see them.
//!
//! - It records each request as a [`Call`]: service (from SigV4's credential scope), operation
//!   (`X-Amz-Target` for JSON protocols, `Action=` for query protocols, the route for EKS's REST
//!   protocol) and, for query protocols, the percent-decoded form parameters.
//! - It answers chosen requests with a real AWS error document, without forwarding them, so an
//!   injected fault has no side effect in moto; or never answers them (an invocation killed
//!   while waiting on AWS). See [`Fault`].

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

/// `{"service:Operation": requests}`.
pub type Tally = BTreeMap<String, usize>;

/// One request seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub service: String,
    pub operation: String,
    /// Form parameters of query-protocol requests (RDS, SNS), percent-decoded.
    pub params: BTreeMap<String, String>,
    pub body: String,
}

impl Call {
    fn of(request: &HttpRequest) -> Call {
        let headers = request.headers();
        let raw = request.body().bytes().unwrap_or_default();
        let (service, operation) = operation(
            headers.get("authorization"),
            headers.get("x-amz-target"),
            request.method(),
            request.uri(),
            raw,
        );
        let body = String::from_utf8_lossy(raw).into_owned();
        let params = body
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (decode(k), decode(v)))
            .collect();
        Call {
            service,
            operation,
            params,
            body,
        }
    }

    /// `service:Operation`, the key of a [`Tally`].
    pub fn key(&self) -> String {
        format!("{}:{}", self.service, self.operation)
    }

    /// Reads change nothing: describes, gets, lists.
    pub fn mutating(&self) -> bool {
        !is_read(&self.operation)
    }

    /// Whether any parameter of the request names `id` exactly.
    pub fn names(&self, id: &str) -> bool {
        self.params.values().any(|v| v == id)
    }

    /// Whether an RDS request is about `cluster`: the cluster itself, or an instance named after
    /// it (offpeak's and the tests' instances start with their cluster's id and a dash).
    pub fn touches(&self, cluster: &str) -> bool {
        let instance_prefix = format!("{cluster}-");
        self.params.get("DBClusterIdentifier").map(String::as_str) == Some(cluster)
            || self
                .params
                .get("DBInstanceIdentifier")
                .is_some_and(|i| i.starts_with(&instance_prefix))
    }
}

/// `(service, Operation)` of a signed AWS request: the service from SigV4's credential scope
/// (`Credential=KEY/DATE/REGION/SERVICE/aws4_request`), the operation from `X-Amz-Target` (JSON
/// protocols), `Action=` (query protocols) or, for EKS's REST protocol, the method and path.
pub fn operation(
    authorization: Option<&str>,
    target: Option<&str>,
    method: &str,
    path: &str,
    body: &[u8],
) -> (String, String) {
    let service = authorization
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown");
    let action = || {
        let body = std::str::from_utf8(body).ok()?;
        body.split('&')
            .find_map(|pair| pair.strip_prefix("Action="))
            .map(str::to_owned)
    };
    let operation = target
        .and_then(|t| t.rsplit('.').next())
        .map(str::to_owned)
        .or_else(action)
        .unwrap_or_else(|| rest_operation(method, path));
    (service.to_owned(), operation)
}

/// EKS's REST routes offpeak uses; anything else is named by method and path.
fn rest_operation(method: &str, uri: &str) -> String {
    let path = uri.split('?').next().unwrap_or(uri);
    let path = path.split_once("://").map_or(path, |(_, rest)| {
        rest.find('/').map_or("/", |slash| &rest[slash..])
    });
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let name = match (method, segments.as_slice()) {
        ("GET", ["clusters"]) => "ListClusters",
        ("GET", ["clusters", _]) => "DescribeCluster",
        ("GET", ["clusters", _, "node-groups"]) => "ListNodegroups",
        ("GET", ["clusters", _, "node-groups", _]) => "DescribeNodegroup",
        ("POST", ["clusters", _, "node-groups", _, "update-config"]) => "UpdateNodegroupConfig",
        ("GET", ["tags", ..]) => "ListTagsForResource",
        ("POST", ["tags", ..]) => "TagResource",
        ("DELETE", ["tags", ..]) => "UntagResource",
        _ => return format!("{method} {path}"),
    };
    name.to_owned()
}

/// Reads change nothing: describes, gets, lists. Takes an operation or a `service:Operation`.
pub fn is_read(call: &str) -> bool {
    let operation = call.rsplit(':').next().unwrap_or(call);
    [
        "Describe", "Get", "BatchGet", "List", "Receive", "Query", "Scan",
    ]
    .iter()
    .any(|prefix| operation.starts_with(prefix))
}

/// `{"service:Operation": count}` of `calls`.
pub fn tally(calls: &[Call]) -> Tally {
    let mut out = Tally::new();
    for c in calls {
        *out.entry(c.key()).or_default() += 1;
    }
    out
}

/// Form and path encoding: `%XX` and `+`.
pub(crate) fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What an injected fault does.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Answer with this AWS error code (403 for `AccessDenied`, else 400).
    Error(&'static str),
    /// Never answer (the invocation is killed while waiting).
    Hang,
}

/// `operation`, narrowed by what the request names, gets `effect`. Every narrowing set must
/// match.
#[derive(Debug, Clone)]
pub struct Fault {
    pub operation: &'static str,
    /// A parameter names this exactly.
    pub subject: Option<String>,
    /// The request is about this RDS cluster ([`Call::touches`]).
    pub cluster: Option<String>,
    /// The body contains this text.
    pub body: Option<&'static str>,
    pub effect: Effect,
}

impl Fault {
    /// Every `operation` request gets `effect` (narrow it with the fields).
    pub fn new(operation: &'static str, effect: Effect) -> Fault {
        Fault {
            operation,
            subject: None,
            cluster: None,
            body: None,
            effect,
        }
    }

    fn matches(&self, call: &Call) -> bool {
        self.operation == call.operation
            && self.subject.as_deref().is_none_or(|s| call.names(s))
            && self.cluster.as_deref().is_none_or(|c| call.touches(c))
            && self.body.is_none_or(|b| call.body.contains(b))
    }
}

fn error_response(code: &str) -> HttpResponse {
    let status: u16 = if code == "AccessDenied" { 403 } else { 400 };
    let body = format!(
        r#"<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type><Code>{code}</Code><Message>injected {code} fault</Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"#
    );
    let status = StatusCode::try_from(status).expect("400 and 403 are valid statuses");
    let mut response = HttpResponse::new(status, SdkBody::from(body));
    response.headers_mut().insert("content-type", "text/xml");
    response
}

#[derive(Debug, Default)]
struct WireState {
    calls: Vec<Call>,
    faults: Vec<Fault>,
    /// `service:Operation` and the time each answered call took, in the order they finished.
    timings: Vec<(String, Duration)>,
}

/// Shared handle on what the wire saw and what it should break.
#[derive(Debug, Clone, Default)]
pub struct Wire(Arc<Mutex<WireState>>);

impl Wire {
    /// `operation` naming `subject` fails with AWS error `code` until healed.
    pub fn fail(&self, operation: &'static str, subject: &str, code: &'static str) {
        self.add(Fault {
            subject: Some(subject.to_owned()),
            ..Fault::new(operation, Effect::Error(code))
        });
    }

    /// `operation` about RDS cluster `cluster` or its instances fails with `code` until healed.
    pub fn fail_cluster(&self, operation: &'static str, cluster: &str, code: &'static str) {
        self.add(Fault {
            cluster: Some(cluster.to_owned()),
            ..Fault::new(operation, Effect::Error(code))
        });
    }

    pub fn add(&self, fault: Fault) {
        self.state().faults.push(fault);
    }

    pub fn heal(&self) {
        self.state().faults.clear();
    }

    /// Removes and returns the calls seen so far.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut self.state().calls)
    }

    /// Removes and returns how long each answered call took (`service:Operation`, wall time
    /// from sending to the answer), for benchmarks that split a tick's time by operation.
    pub fn take_timings(&self) -> Vec<(String, Duration)> {
        std::mem::take(&mut self.state().timings)
    }

    /// Every call seen so far (kept).
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, WireState> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records `call`; returns the fault to answer with, if one matches.
    fn record(&self, call: Call) -> Option<Fault> {
        let mut state = self.state();
        let fault = state.faults.iter().find(|f| f.matches(&call)).cloned();
        state.calls.push(call);
        fault
    }

    /// An SDK config like `sdk` whose requests all pass through this wire. Retries keep the SDK's
    /// standard policy with a short backoff, so a throttled call is retried as in production.
    pub fn wrap(&self, sdk: &SdkConfig) -> SdkConfig {
        // The SDK's own default client, built explicitly: `SdkConfig` leaves it unset and lets
        // each service client create one.
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
        let call = Call::of(&request);
        let name = format!("{}:{}", call.service, call.operation);
        match self.wire.record(call).map(|f| f.effect) {
            Some(Effect::Error(code)) => HttpConnectorFuture::ready(Ok(error_response(code))),
            Some(Effect::Hang) => HttpConnectorFuture::new(std::future::pending()),
            None => {
                let (wire, started) = (self.wire.clone(), std::time::Instant::now());
                let answer = self.inner.call(request);
                HttpConnectorFuture::new(async move {
                    let result = answer.await;
                    wire.state().timings.push((name, started.elapsed()));
                    result
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_percent_decoded_and_a_stray_percent_is_kept() {
        assert_eq!(decode("a%2Fb+c%3A"), "a/b c:");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
    }

    #[test]
    fn operations_are_named_from_each_protocol() {
        let auth = Some("AWS4-HMAC-SHA256 Credential=K/20261207/ap-northeast-1/rds/aws4_request");
        let query = operation(auth, None, "POST", "/", b"Action=CreateDBInstance&X=1");
        assert_eq!(query, ("rds".into(), "CreateDBInstance".into()));
        let json = operation(auth, Some("DynamoDB_20120810.PutItem"), "POST", "/", b"{}");
        assert_eq!(json.1, "PutItem");
        let rest = operation(
            auth,
            None,
            "POST",
            "/clusters/c/node-groups/n/update-config",
            b"",
        );
        assert_eq!(rest.1, "UpdateNodegroupConfig");
    }
}
