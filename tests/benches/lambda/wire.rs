//! Counts every HTTP request an SDK client sends, by `service:Operation`, below the SDK (so
//! retries and pagination count). The approach of `tests/tests/aurora_replicas.rs`, without its
//! fault injection.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_smithy_http_client::tls::Provider;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// `{"service:Operation": requests}`.
pub type Tally = BTreeMap<String, usize>;

/// Shared handle on the requests seen so far.
#[derive(Debug, Clone, Default)]
pub struct Wire(Arc<Mutex<Tally>>);

impl Wire {
    /// Removes and returns the tally so far.
    pub fn take(&self) -> Tally {
        std::mem::take(&mut *self.0.lock().expect("wire poisoned"))
    }

    /// An SDK config like `sdk` whose requests all pass through this wire.
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
        sdk.to_builder().http_client(client).build()
    }

    fn record(&self, request: &HttpRequest) {
        let headers = request.headers();
        let body = request.body().bytes().unwrap_or_default();
        let name = operation(
            headers.get("authorization"),
            headers.get("x-amz-target"),
            request.method(),
            request.uri(),
            body,
        );
        *self
            .0
            .lock()
            .expect("wire poisoned")
            .entry(name)
            .or_default() += 1;
    }
}

/// `service:Operation` of a signed AWS request: the service from SigV4's credential scope, the
/// operation from `X-Amz-Target` (JSON protocols), `Action=` (query protocols) or, for EKS's
/// REST protocol, the method and path.
pub fn operation(
    authorization: Option<&str>,
    target: Option<&str>,
    method: &str,
    path: &str,
    body: &[u8],
) -> String {
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
    format!("{service}:{operation}")
}

/// EKS's REST routes the benchmarks meet; anything else is named by method and path.
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

/// Reads change nothing: describes, gets, lists.
pub fn is_read(call: &str) -> bool {
    let operation = call.rsplit(':').next().unwrap_or(call);
    ["Describe", "Get", "BatchGet", "List", "Query", "Scan"]
        .iter()
        .any(|prefix| operation.starts_with(prefix))
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
        self.wire.record(&request);
        self.inner.call(request)
    }
}
