//! [`Recorder`]: an HTTP client wrapped around the SDK's own that records every AWS request a
//! function sends, with what IAM would know about the resources it names *at that moment*.
//!
//! Guarantees:
//! - Every request is recorded, retries and pages included, in the order the SDK sent them; the
//!   request itself is forwarded unchanged and its answer is returned unchanged.
//! - Before a request is forwarded, the resources it names (RDS instances and clusters, Auto
//!   Scaling groups, EKS clusters and node groups, secrets) are looked up in the same moto server
//!   through clients that are *not* recorded, so a request is judged against the ARN and tags its
//!   target had when it was sent (a deleted instance is judged with the tags it had).
//!   A resource that does not exist (yet) is recorded as absent.
//!
//! Failure behaviour: a lookup that fails for any other reason than "not found" panics: a test
//! that cannot see the tags IAM would see must not pass.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_sdk_rds::error::ProvideErrorMetadata;
use aws_smithy_http_client::tls::Provider;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use serde_json::Value;

use crate::wire::decode;

/// A resource as IAM sees it: its ARN and its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub arn: String,
    pub tags: Vec<(String, String)>,
}

/// What was looked up for a request: `kind:name` (`db:x`, `cluster:x`, `asg:x`, `arn:...`,
/// `eks-cluster:x`, `nodegroup:c/n`, `secret:x`) → the resource, `None` when it did not exist.
pub type Facts = BTreeMap<String, Option<Resource>>;

/// One request seen on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The SigV4 signing name (`rds`, `eks`, `autoscaling`, `dynamodb`, ...).
    pub service: String,
    /// The SigV4 region: IAM's `aws:RequestedRegion`.
    pub region: String,
    pub operation: String,
    /// Form parameters of query-protocol requests (RDS, Auto Scaling, SNS), percent-decoded.
    pub params: BTreeMap<String, String>,
    /// The body of JSON-protocol requests (DynamoDB, Secrets Manager), `Null` otherwise.
    pub json: Value,
    /// Path segments of REST requests (EKS), percent-decoded.
    pub path: Vec<String>,
    pub facts: Facts,
}

impl Call {
    fn of(request: &HttpRequest) -> Call {
        let headers = request.headers();
        // SigV4's scope: `Credential=KEY/DATE/REGION/SERVICE/aws4_request`; IAM needs the region.
        let scope: Vec<String> = headers
            .get("authorization")
            .and_then(|a| a.split("Credential=").nth(1))
            .map(|c| c.split('/').map(str::to_owned).collect())
            .unwrap_or_default();
        let body = request
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        let params: BTreeMap<String, String> = match json {
            Value::Null => body
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (decode(k), decode(v)))
                .collect(),
            _ => BTreeMap::new(),
        };
        let uri = request.uri();
        let path_only = uri.split("://").last().unwrap_or(uri);
        let path: Vec<String> = path_only
            .split('?')
            .next()
            .unwrap_or_default()
            .split('/')
            .skip(1)
            .filter(|s| !s.is_empty())
            .map(decode)
            .collect();
        let (service, operation) = crate::wire::operation(
            headers.get("authorization"),
            headers.get("x-amz-target"),
            request.method(),
            uri,
            body.as_bytes(),
        );
        Call {
            region: scope.get(2).cloned().unwrap_or_default(),
            service,
            operation,
            params,
            json,
            path,
            facts: Facts::new(),
        }
    }

    /// The resource looked up under `key`, if it existed when the request was sent.
    pub fn fact(&self, key: &str) -> Option<&Resource> {
        self.facts.get(key).and_then(Option::as_ref)
    }
}

/// Looks resources up in moto with clients that bypass the recorder.
#[derive(Debug, Clone)]
struct Oracle {
    rds: aws_sdk_rds::Client,
    autoscaling: aws_sdk_autoscaling::Client,
    eks: aws_sdk_eks::Client,
    secrets: aws_sdk_secretsmanager::Client,
}

impl Oracle {
    fn new(sdk: &SdkConfig) -> Oracle {
        Oracle {
            rds: aws_sdk_rds::Client::new(sdk),
            autoscaling: aws_sdk_autoscaling::Client::new(sdk),
            eks: aws_sdk_eks::Client::new(sdk),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }

    /// The resources `call` names, keyed as [`Facts`] says.
    async fn facts(&self, call: &Call) -> Facts {
        let mut facts = Facts::new();
        let param = |k: &str| call.params.get(k).cloned();
        match call.service.as_str() {
            "rds" => {
                if let Some(id) = param("DBInstanceIdentifier") {
                    facts.insert(format!("db:{id}"), self.rds_instance(&id).await);
                }
                for key in ["DBClusterIdentifier", "SourceDBClusterIdentifier"] {
                    if let Some(id) = param(key) {
                        facts.insert(format!("cluster:{id}"), self.rds_cluster(&id).await);
                    }
                }
                if let Some(arn) = param("ResourceName") {
                    facts.insert(format!("arn:{arn}"), self.rds_tags(&arn).await);
                }
            }
            "autoscaling" => {
                let names = call
                    .params
                    .iter()
                    .filter(|(k, _)| {
                        *k == "AutoScalingGroupName"
                            || (k.starts_with("Tags.") && k.ends_with(".ResourceId"))
                    })
                    .map(|(_, v)| v.clone());
                for name in names {
                    let group = self.auto_scaling_group(&name).await;
                    facts.insert(format!("asg:{name}"), group);
                }
            }
            "eks" => {
                if let [_, cluster, rest @ ..] = call.path.as_slice() {
                    let found = self.eks_cluster(cluster).await;
                    facts.insert(format!("eks-cluster:{cluster}"), found);
                    if let [_, nodegroup, ..] = rest {
                        let found = self.nodegroup(cluster, nodegroup).await;
                        facts.insert(format!("nodegroup:{cluster}/{nodegroup}"), found);
                    }
                }
            }
            "secretsmanager" => {
                if let Some(id) = call.json["SecretId"].as_str() {
                    facts.insert(format!("secret:{id}"), self.secret(id).await);
                }
            }
            _ => {}
        }
        facts
    }

    async fn rds_instance(&self, id: &str) -> Option<Resource> {
        let out = self
            .rds
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await;
        let out = found(out, "DBInstanceNotFound")?;
        let i = out.db_instances().first()?;
        Some(Resource {
            arn: i.db_instance_arn().unwrap_or_default().to_owned(),
            tags: rds_tags(i.tag_list()),
        })
    }

    async fn rds_cluster(&self, id: &str) -> Option<Resource> {
        let out = self
            .rds
            .describe_db_clusters()
            .db_cluster_identifier(id)
            .send()
            .await;
        let out = found(out, "DBClusterNotFound")?;
        let c = out.db_clusters().first()?;
        Some(Resource {
            arn: c.db_cluster_arn().unwrap_or_default().to_owned(),
            tags: rds_tags(c.tag_list()),
        })
    }

    async fn rds_tags(&self, arn: &str) -> Option<Resource> {
        let out = self
            .rds
            .list_tags_for_resource()
            .resource_name(arn)
            .send()
            .await;
        let out = found(out, "NotFound")?;
        Some(Resource {
            arn: arn.to_owned(),
            tags: rds_tags(out.tag_list()),
        })
    }

    async fn auto_scaling_group(&self, name: &str) -> Option<Resource> {
        let out = self
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("look up Auto Scaling group {name}: {e:?}"));
        let g = out.auto_scaling_groups().first()?;
        Some(Resource {
            arn: g.auto_scaling_group_arn().unwrap_or_default().to_owned(),
            tags: g
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                .collect(),
        })
    }

    async fn eks_cluster(&self, name: &str) -> Option<Resource> {
        let out = self.eks.describe_cluster().name(name).send().await;
        let c = found(out, "ResourceNotFound")?.cluster?;
        Some(Resource {
            arn: c.arn().unwrap_or_default().to_owned(),
            tags: sorted(c.tags.unwrap_or_default()),
        })
    }

    async fn nodegroup(&self, cluster: &str, name: &str) -> Option<Resource> {
        let out = self
            .eks
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .send()
            .await;
        let ng = found(out, "ResourceNotFound")?.nodegroup?;
        Some(Resource {
            arn: ng.nodegroup_arn().unwrap_or_default().to_owned(),
            tags: sorted(ng.tags.unwrap_or_default()),
        })
    }

    async fn secret(&self, id: &str) -> Option<Resource> {
        let out = self.secrets.describe_secret().secret_id(id).send().await;
        let s = found(out, "ResourceNotFound")?;
        Some(Resource {
            arn: s.arn().unwrap_or_default().to_owned(),
            tags: s
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                .collect(),
        })
    }
}

/// `Some(output)`, `None` when AWS answered with an error code containing `not_found`; panics on
/// anything else.
fn found<T, E, R>(
    result: Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>,
    not_found: &str,
) -> Option<T>
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match result {
        Ok(out) => Some(out),
        Err(e) if e.code().is_some_and(|c| c.contains(not_found)) => None,
        Err(e) => panic!("resource lookup failed: {e:?}"),
    }
}

fn rds_tags(list: &[aws_sdk_rds::types::Tag]) -> Vec<(String, String)> {
    list.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

fn sorted(tags: std::collections::HashMap<String, String>) -> Vec<(String, String)> {
    let mut tags: Vec<_> = tags.into_iter().collect();
    tags.sort();
    tags
}

/// Shared handle on the requests recorded so far.
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Call>>>);

impl Recorder {
    /// An SDK config like `sdk` whose requests all pass through this recorder; resources are
    /// looked up through clients built from `sdk` itself.
    pub fn wrap(&self, sdk: &SdkConfig) -> SdkConfig {
        let inner = sdk.http_client().unwrap_or_else(|| {
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                .build_https()
        });
        let client = RecordingClient {
            inner,
            oracle: Oracle::new(sdk),
            calls: self.clone(),
        };
        sdk.to_builder().http_client(client).build()
    }

    /// Removes and returns the requests recorded so far.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.0.lock().expect("recorder poisoned"))
    }

    /// The requests recorded so far (kept).
    pub fn calls(&self) -> Vec<Call> {
        self.0.lock().expect("recorder poisoned").clone()
    }
}

#[derive(Debug)]
struct RecordingClient {
    inner: SharedHttpClient,
    oracle: Oracle,
    calls: Recorder,
}

impl HttpClient for RecordingClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(RecordingConnector {
            inner: self.inner.http_connector(settings, components),
            oracle: self.oracle.clone(),
            calls: self.calls.clone(),
        })
    }
}

#[derive(Debug)]
struct RecordingConnector {
    inner: SharedHttpConnector,
    oracle: Oracle,
    calls: Recorder,
}

impl HttpConnector for RecordingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let mut call = Call::of(&request);
        let oracle = self.oracle.clone();
        let calls = self.calls.clone();
        let inner = self.inner.clone();
        HttpConnectorFuture::new(async move {
            call.facts = oracle.facts(&call).await;
            calls.0.lock().expect("recorder poisoned").push(call);
            inner.call(request).await
        })
    }
}
