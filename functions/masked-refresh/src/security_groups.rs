//! The EC2 boundary of the masked refresh: `ec2:DescribeSecurityGroups` on the quarantine groups,
//! read by preflight before a run changes anything, and the check of what they admit.
//!
//! A clone of production sits in the quarantine groups, unmasked, until its masking is verified:
//! a group that admits more than the function itself exposes production's data. The groups a
//! schedule names are therefore checked, not trusted ([`admits_only`]): every inbound rule must
//! name only the function's own security groups (`UserIdGroupPairs`), with no `IpRanges`,
//! `Ipv6Ranges` or `PrefixListIds`. A rule naming the quarantine group itself is refused too:
//! membership of that group is not offpeak's to control (anything a person puts in it, an
//! instance or another clone, would reach the clone).
//!
//! [`SdkSecurityGroups`] is a small hand-built client (EC2 Query protocol, API version
//! 2016-11-15, signed with SigV4 from the function's `SdkConfig`, sent through the SDK's own
//! HTTP client): the workspace does not link `aws-sdk-ec2` (compile time and the Lambda zip; see
//! docs/decisions.md). Unit tests use [`fake::FakeSecurityGroups`].
//!
//! Failure behaviour: a call that fails is a [`GroupsError`] naming the groups and the EC2 error
//! code; throttling and the network are transient ([`GroupsError::is_transient`]).

use std::future::Future;
use std::time::Duration;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime::client::auth::no_auth::{NO_AUTH_SCHEME_ID, NoAuthScheme};
use aws_smithy_runtime::client::identity::IdentityCache;
use aws_smithy_runtime::client::identity::no_auth::NoAuthIdentityResolver;
use aws_smithy_runtime::client::orchestrator::endpoints::StaticUriEndpointResolver;
use aws_smithy_runtime::client::retries::strategy::NeverRetryStrategy;
use aws_smithy_runtime_api::client::auth::static_resolver::StaticAuthSchemeOptionResolver;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorSettings, SharedHttpClient,
};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use aws_smithy_xml::decode::{Document, ScopedDecoder, try_data};

use crate::secret::url_component;

/// The EC2 API version of the Query protocol requests.
pub const EC2_API_VERSION: &str = "2016-11-15";

/// The EC2 call of the masked-refresh IAM policy.
pub trait SecurityGroups: Send + Sync {
    /// `DescribeSecurityGroups` of `group_ids`: each group's inbound rules.
    fn inbound(
        &self,
        group_ids: &[String],
    ) -> impl Future<Output = Result<Vec<GroupRules>, GroupsError>> + Send;
}

/// A security group's inbound rules (`IpPermissions`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupRules {
    pub group_id: String,
    pub inbound: Vec<Inbound>,
}

/// One inbound rule and every source it admits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inbound {
    /// `tcp`, `udp`, `icmp`, `-1` (all) ...
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    /// `IpRanges`: IPv4 CIDRs.
    pub ipv4: Vec<String>,
    /// `Ipv6Ranges`: IPv6 CIDRs.
    pub ipv6: Vec<String>,
    /// `PrefixListIds`.
    pub prefix_lists: Vec<String>,
    /// `UserIdGroupPairs`: security group ids.
    pub groups: Vec<String>,
}

impl Inbound {
    /// `tcp 5432`, `tcp 1000-2000`, `all traffic`.
    fn ports(&self) -> String {
        let protocol = match self.protocol.as_str() {
            "-1" => return "all traffic".to_owned(),
            p => p,
        };
        match (self.from_port, self.to_port) {
            (Some(from), Some(to)) if from == to => format!("{protocol} {from}"),
            (Some(from), Some(to)) => format!("{protocol} {from}-{to}"),
            _ => protocol.to_owned(),
        }
    }
}

/// Why the groups could not be described.
#[derive(Debug, thiserror::Error)]
#[error("describe security groups {groups} failed: {reason}")]
pub struct GroupsError {
    /// The group ids asked for, comma-separated.
    pub groups: String,
    /// The EC2 error code (and message), or what went wrong on the way.
    pub reason: String,
    code: String,
}

impl GroupsError {
    fn new(group_ids: &[String], code: &str, reason: impl Into<String>) -> Self {
        Self {
            groups: group_ids.join(","),
            reason: reason.into(),
            code: code.to_owned(),
        }
    }

    /// A failure the next tick may not see again (throttling, EC2 unavailable, the network). A
    /// missing group, a denied call or an answer that cannot be read is not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.code.as_str(),
            "Timeout"
                | "DispatchFailure"
                | "Throttling"
                | "RequestLimitExceeded"
                | "InternalError"
                | "ServiceUnavailable"
                | "Unavailable"
        )
    }
}

/// Whether every one of `quarantine` admits only `allowed` (the function's own groups): `Err`
/// names each group and what else it admits (a CIDR, a prefix list, a security group), or a
/// group EC2 did not describe. Nothing here is secret.
pub fn admits_only(
    quarantine: &[String],
    described: &[GroupRules],
    allowed: &[String],
) -> Result<(), String> {
    let mut findings = Vec::new();
    for id in quarantine {
        let Some(group) = described.iter().find(|g| &g.group_id == id) else {
            findings.push(format!("quarantine security group {id} was not described"));
            continue;
        };
        for rule in &group.inbound {
            let ports = rule.ports();
            let mut admits = |what: String| {
                findings.push(format!(
                    "quarantine security group {id} admits {what} ({ports})"
                ))
            };
            for cidr in rule.ipv4.iter().chain(&rule.ipv6) {
                admits(cidr.clone());
            }
            for list in &rule.prefix_lists {
                admits(format!("prefix list {list}"));
            }
            for other in rule.groups.iter().filter(|g| !allowed.contains(g)) {
                match other == id {
                    true => admits(format!("its own members (security group {other})")),
                    false => admits(format!("security group {other}")),
                }
            }
        }
    }
    match findings.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "{}; a quarantine group may admit only the function's security groups ({})",
            findings.join("; "),
            allowed.join(", ")
        )),
    }
}

/// The real adapter: a signed EC2 Query request through the SDK configuration's HTTP client.
#[derive(Debug, Clone)]
pub struct SdkSecurityGroups {
    http: Option<SharedHttpClient>,
    credentials: Option<SharedCredentialsProvider>,
    region: Option<String>,
    endpoint: Option<String>,
    sleep: Option<aws_smithy_async::rt::sleep::SharedAsyncSleep>,
    time: aws_smithy_async::time::SharedTimeSource,
}

impl SdkSecurityGroups {
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            http: sdk.http_client(),
            credentials: sdk.credentials_provider(),
            region: sdk.region().map(|r| r.as_ref().to_owned()),
            endpoint: sdk.endpoint_url().map(str::to_owned),
            sleep: sdk.sleep_impl(),
            time: sdk.time_source().unwrap_or_default(),
        }
    }

    /// `https://ec2.<region>.amazonaws.com/`, or the configuration's endpoint (moto, tests).
    fn url(&self, region: &str) -> String {
        match &self.endpoint {
            Some(url) if url.ends_with('/') => url.clone(),
            Some(url) => format!("{url}/"),
            None => format!("https://ec2.{region}.amazonaws.com/"),
        }
    }

    async fn describe(&self, group_ids: &[String]) -> Result<String, GroupsError> {
        let failed = |code: &str, reason: String| GroupsError::new(group_ids, code, reason);
        let region = self
            .region
            .as_deref()
            .ok_or_else(|| failed("NoRegion", "no AWS region is configured".into()))?;
        let http = self
            .http
            .clone()
            .ok_or_else(|| failed("NoHttpClient", "no HTTP client is configured".into()))?;
        let provider = self
            .credentials
            .as_ref()
            .ok_or_else(|| failed("NoCredentials", "no credentials are configured".into()))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| failed("NoCredentials", format!("no credentials: {e}")))?;
        let url = self.url(region);
        let body = query(group_ids);

        let mut request = http::Request::builder()
            .method("POST")
            .uri(&url)
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(SdkBody::from(body.clone()))
            .map_err(|e| failed("BadRequest", e.to_string()))?;
        let identity = Identity::from(credentials);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("ec2")
            .time(self.time.now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| failed("Signing", e.to_string()))?
            .into();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| failed("Signing", e.to_string()))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| failed("Signing", e.to_string()))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut request);
        let request =
            HttpRequest::try_from(request).map_err(|e| failed("BadRequest", e.to_string()))?;

        // The SDK's HTTP client outside the SDK's orchestrator: the components it may consult
        // (time, sleep) are the configuration's; no endpoint resolution, auth or retry happens
        // here (the request is signed above; the next tick is the retry).
        let components = RuntimeComponentsBuilder::new("offpeak-ec2-describe-security-groups")
            .with_auth_scheme_option_resolver(Some(StaticAuthSchemeOptionResolver::new(vec![
                NO_AUTH_SCHEME_ID,
            ])))
            .with_auth_scheme(NoAuthScheme::new())
            .with_identity_resolver(NO_AUTH_SCHEME_ID, NoAuthIdentityResolver::new())
            .with_identity_cache(Some(IdentityCache::no_cache()))
            .with_endpoint_resolver(Some(StaticUriEndpointResolver::uri(url.clone())))
            .with_retry_strategy(Some(NeverRetryStrategy::new()))
            .with_time_source(Some(self.time.clone()))
            .with_sleep_impl(self.sleep.clone())
            .build()
            .map_err(|e| failed("DispatchFailure", e.to_string()))?;
        let settings = HttpConnectorSettings::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(20))
            .build();
        let response = http
            .http_connector(&settings, &components)
            .call(request)
            .await
            .map_err(|e| match e.is_timeout() {
                true => failed("Timeout", "the request timed out".into()),
                false => failed("DispatchFailure", format!("the request failed: {e}")),
            })?;
        let status = response.status().as_u16();
        let bytes = ByteStream::new(response.into_body())
            .collect()
            .await
            .map_err(|e| failed("DispatchFailure", format!("the answer was cut: {e}")))?
            .into_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        match status {
            200..=299 => Ok(text),
            _ => {
                let (code, message) = error_of(&text)
                    .unwrap_or_else(|| ("ResponseError".to_owned(), format!("HTTP {status}")));
                Err(failed(&code, format!("{code}: {message}")))
            }
        }
    }
}

impl SecurityGroups for SdkSecurityGroups {
    async fn inbound(&self, group_ids: &[String]) -> Result<Vec<GroupRules>, GroupsError> {
        if group_ids.is_empty() {
            return Ok(Vec::new());
        }
        let text = self.describe(group_ids).await?;
        parse_groups(&text).map_err(|reason| {
            GroupsError::new(
                group_ids,
                "ResponseError",
                format!("the answer could not be read: {reason}"),
            )
        })
    }
}

/// The form body of `DescribeSecurityGroups` for `group_ids` (ids are `sg-` and hex: nothing to
/// escape, but they are encoded anyway).
pub fn query(group_ids: &[String]) -> String {
    let mut body = format!("Action=DescribeSecurityGroups&Version={EC2_API_VERSION}");
    for (i, id) in group_ids.iter().enumerate() {
        body.push_str(&format!("&GroupId.{}={}", i + 1, url_component(id)));
    }
    body
}

/// The `(Code, Message)` of an EC2 error answer (`<Response><Errors><Error>...`).
fn error_of(text: &str) -> Option<(String, String)> {
    let mut doc = Document::new(text);
    let mut root = doc.root_element().ok()?;
    let mut found = None;
    while let Some(mut errors) = root.next_tag() {
        if !errors.start_el().matches("Errors") {
            continue;
        }
        while let Some(mut error) = errors.next_tag() {
            let (mut code, mut message) = (String::new(), String::new());
            while let Some(mut field) = error.next_tag() {
                let name = field.start_el().local().to_owned();
                let value = try_data(&mut field).ok()?.into_owned();
                match name.as_str() {
                    "Code" => code = value,
                    "Message" => message = value,
                    _ => {}
                }
            }
            found.get_or_insert((code, message));
        }
    }
    found.filter(|(code, _)| !code.is_empty())
}

/// The groups of a `DescribeSecurityGroupsResponse`.
pub fn parse_groups(text: &str) -> Result<Vec<GroupRules>, String> {
    let mut doc = Document::new(text);
    let mut root = doc.root_element().map_err(|e| e.to_string())?;
    if !root.start_el().matches("DescribeSecurityGroupsResponse") {
        return Err(format!(
            "expected DescribeSecurityGroupsResponse, got {}",
            root.start_el().local()
        ));
    }
    let mut groups = Vec::new();
    while let Some(mut tag) = root.next_tag() {
        if !tag.start_el().matches("securityGroupInfo") {
            continue;
        }
        while let Some(mut item) = tag.next_tag() {
            groups.push(group(&mut item)?);
        }
    }
    Ok(groups)
}

fn group(item: &mut ScopedDecoder) -> Result<GroupRules, String> {
    let mut out = GroupRules::default();
    while let Some(mut field) = item.next_tag() {
        match field.start_el().local() {
            "groupId" => out.group_id = data(&mut field)?,
            "ipPermissions" => {
                while let Some(mut rule) = field.next_tag() {
                    out.inbound.push(inbound(&mut rule)?);
                }
            }
            _ => {}
        }
    }
    match out.group_id.is_empty() {
        true => Err("a group without groupId".to_owned()),
        false => Ok(out),
    }
}

fn inbound(rule: &mut ScopedDecoder) -> Result<Inbound, String> {
    let mut out = Inbound::default();
    while let Some(mut field) = rule.next_tag() {
        match field.start_el().local() {
            "ipProtocol" => out.protocol = data(&mut field)?,
            "fromPort" => out.from_port = data(&mut field)?.parse().ok(),
            "toPort" => out.to_port = data(&mut field)?.parse().ok(),
            "groups" => out.groups = items(&mut field, "groupId")?,
            "ipRanges" => out.ipv4 = items(&mut field, "cidrIp")?,
            "ipv6Ranges" => out.ipv6 = items(&mut field, "cidrIpv6")?,
            "prefixListIds" => out.prefix_lists = items(&mut field, "prefixListId")?,
            _ => {}
        }
    }
    Ok(out)
}

/// The `name` field of each `<item>` in `list`. An item without it is an error: a source that
/// cannot be named must not be taken for no source.
fn items(list: &mut ScopedDecoder, name: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    while let Some(mut item) = list.next_tag() {
        let mut value = None;
        while let Some(mut field) = item.next_tag() {
            if field.start_el().local() == name {
                value = Some(data(&mut field)?);
            }
        }
        out.push(value.ok_or_else(|| format!("an item without {name}"))?);
    }
    Ok(out)
}

fn data(tag: &mut ScopedDecoder) -> Result<String, String> {
    try_data(tag)
        .map(|d| d.trim().to_owned())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
pub mod fake {
    //! An EC2 holding security groups' inbound rules in memory.

    use std::sync::Mutex;

    use super::*;

    /// Groups by id; `error` (an EC2 error code) answers every call when set.
    #[derive(Debug, Default)]
    pub struct FakeSecurityGroups {
        pub groups: Mutex<Vec<GroupRules>>,
        pub error: Mutex<Option<String>>,
        pub calls: Mutex<Vec<Vec<String>>>,
    }

    impl FakeSecurityGroups {
        /// Group `id` admitting `sources` on tcp 5432, one rule per source.
        pub fn admitting(&self, id: &str, sources: Vec<Inbound>) {
            let mut groups = self.groups.lock().unwrap();
            groups.retain(|g| g.group_id != id);
            groups.push(GroupRules {
                group_id: id.to_owned(),
                inbound: sources,
            });
        }
    }

    /// A tcp 5432 rule from security group `id`.
    pub fn from_group(id: &str) -> Inbound {
        Inbound {
            groups: vec![id.to_owned()],
            ..tcp()
        }
    }

    pub fn tcp() -> Inbound {
        Inbound {
            protocol: "tcp".into(),
            from_port: Some(5432),
            to_port: Some(5432),
            ..Inbound::default()
        }
    }

    impl SecurityGroups for FakeSecurityGroups {
        async fn inbound(&self, group_ids: &[String]) -> Result<Vec<GroupRules>, GroupsError> {
            self.calls.lock().unwrap().push(group_ids.to_vec());
            if let Some(code) = self.error.lock().unwrap().clone() {
                return Err(GroupsError::new(group_ids, &code, code.clone()));
            }
            let groups = self.groups.lock().unwrap();
            match group_ids
                .iter()
                .find(|id| !groups.iter().any(|g| &&g.group_id == id))
            {
                Some(missing) => Err(GroupsError::new(
                    group_ids,
                    "InvalidGroup.NotFound",
                    format!("InvalidGroup.NotFound: The security group '{missing}' does not exist"),
                )),
                None => Ok(groups
                    .iter()
                    .filter(|g| group_ids.contains(&g.group_id))
                    .cloned()
                    .collect()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::{from_group, tcp};
    use super::*;

    const ANSWER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
  <securityGroupInfo>
    <item>
      <ownerId>123456789012</ownerId>
      <groupId>sg-0quarantine</groupId>
      <groupName>quarantine</groupName>
      <groupDescription>offpeak quarantine</groupDescription>
      <vpcId>vpc-1a2b3c4d</vpcId>
      <ipPermissions>
        <item>
          <ipProtocol>tcp</ipProtocol>
          <fromPort>5432</fromPort>
          <toPort>5432</toPort>
          <groups>
            <item><userId>123456789012</userId><groupId>sg-0function</groupId></item>
          </groups>
          <ipRanges/>
          <ipv6Ranges/>
          <prefixListIds/>
        </item>
        <item>
          <ipProtocol>-1</ipProtocol>
          <groups/>
          <ipRanges><item><cidrIp>0.0.0.0/0</cidrIp><description>anyone</description></item></ipRanges>
          <ipv6Ranges><item><cidrIpv6>::/0</cidrIpv6></item></ipv6Ranges>
          <prefixListIds><item><prefixListId>pl-12345</prefixListId></item></prefixListIds>
        </item>
      </ipPermissions>
      <ipPermissionsEgress>
        <item>
          <ipProtocol>-1</ipProtocol>
          <ipRanges><item><cidrIp>127.0.0.1/32</cidrIp></item></ipRanges>
        </item>
      </ipPermissionsEgress>
    </item>
  </securityGroupInfo>
</DescribeSecurityGroupsResponse>"#;

    #[test]
    fn the_answer_is_read_rule_by_rule_and_egress_is_ignored() {
        let groups = parse_groups(ANSWER).unwrap();
        assert_eq!(groups.len(), 1);
        let g = &groups[0];
        assert_eq!(g.group_id, "sg-0quarantine");
        assert_eq!(g.inbound.len(), 2);
        assert_eq!(g.inbound[0], from_group("sg-0function"));
        assert_eq!(g.inbound[1].ipv4, ["0.0.0.0/0"]);
        assert_eq!(g.inbound[1].ipv6, ["::/0"]);
        assert_eq!(g.inbound[1].prefix_lists, ["pl-12345"]);
        assert_eq!(g.inbound[1].protocol, "-1");
    }

    #[test]
    fn an_error_answer_gives_its_code() {
        let text = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InvalidGroup.NotFound</Code><Message>The security group 'sg-1' does not exist</Message></Error></Errors><RequestID>x</RequestID></Response>"#;
        let (code, message) = error_of(text).unwrap();
        assert_eq!(code, "InvalidGroup.NotFound");
        assert!(message.contains("sg-1"));
        assert!(parse_groups(text).is_err());
        assert!(error_of("not xml").is_none());
    }

    /// An HTTP client that answers every request with [`ANSWER`] and keeps what it was sent:
    /// (method, URI, headers, body).
    #[derive(Debug, Clone, Default)]
    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<Sent>>>);

    type Sent = (String, String, Vec<(String, String)>, String);

    impl HttpClient for Capture {
        fn http_connector(
            &self,
            _settings: &HttpConnectorSettings,
            _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
            aws_smithy_runtime_api::client::http::SharedHttpConnector::new(self.clone())
        }
    }

    impl HttpConnector for Capture {
        fn call(
            &self,
            request: HttpRequest,
        ) -> aws_smithy_runtime_api::client::http::HttpConnectorFuture {
            let headers = request
                .headers()
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let body = String::from_utf8(request.body().bytes().unwrap().to_vec()).unwrap();
            self.0.lock().unwrap().push((
                request.method().to_owned(),
                request.uri().to_owned(),
                headers,
                body,
            ));
            let response = aws_smithy_runtime_api::client::orchestrator::HttpResponse::new(
                200.try_into().unwrap(),
                SdkBody::from(ANSWER),
            );
            aws_smithy_runtime_api::client::http::HttpConnectorFuture::ready(Ok(response))
        }
    }

    fn hmac(key: &[u8], data: &str) -> Vec<u8> {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        mac.update(data.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn sha256_hex(data: &str) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(data.as_bytes()))
    }

    #[tokio::test]
    async fn the_request_is_a_sigv4_signed_ec2_query_that_verifies() {
        // GIVEN an SdkConfig in eu-west-1 with session credentials and a fixed clock
        let capture = Capture::default();
        let credentials = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token".into()),
            None,
            "test",
        );
        let at = std::time::UNIX_EPOCH + Duration::from_secs(1_795_748_400); // 2026-11-27T03:00:00Z
        let sdk = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .http_client(capture.clone())
            .time_source(aws_smithy_async::time::StaticTimeSource::new(at))
            .build();
        // WHEN the groups are described
        let groups = SdkSecurityGroups::from_sdk_config(&sdk)
            .inbound(&["sg-0quarantine".into()])
            .await
            .unwrap();
        assert_eq!(groups[0].group_id, "sg-0quarantine");
        // THEN one POST of the form body to the regional endpoint ...
        let sent = capture.0.lock().unwrap().clone();
        assert_eq!(sent.len(), 1);
        let (method, uri, headers, body) = &sent[0];
        assert_eq!(method, "POST");
        assert_eq!(uri, "https://ec2.eu-west-1.amazonaws.com/");
        assert_eq!(
            body,
            "Action=DescribeSecurityGroups&Version=2016-11-15&GroupId.1=sg-0quarantine"
        );
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("x-amz-date").unwrap(), "20261127T030000Z");
        assert_eq!(header("x-amz-security-token").unwrap(), "session-token");
        // ... whose signature verifies when recomputed from the SigV4 specification
        let authorization = header("authorization").unwrap();
        let rest = authorization
            .strip_prefix("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/eu-west-1/ec2/aws4_request, SignedHeaders=")
            .unwrap_or_else(|| panic!("{authorization}"));
        let (signed, signature) = rest.split_once(", Signature=").unwrap();
        let names: Vec<&str> = signed.split(';').collect();
        for required in ["content-type", "host", "x-amz-date", "x-amz-security-token"] {
            assert!(names.contains(&required), "{signed}");
        }
        let canonical_headers: String = names
            .iter()
            .map(|n| {
                let value = match *n {
                    "host" => header("host").unwrap_or("ec2.eu-west-1.amazonaws.com".into()),
                    n => header(n).unwrap(),
                };
                format!("{n}:{}\n", value.trim())
            })
            .collect();
        let canonical = format!(
            "POST\n/\n\n{canonical_headers}\n{signed}\n{}",
            sha256_hex(body)
        );
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n20261127T030000Z\n20261127/eu-west-1/ec2/aws4_request\n{}",
            sha256_hex(&canonical)
        );
        let mut key = hmac(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20261127");
        for part in ["eu-west-1", "ec2", "aws4_request"] {
            key = hmac(&key, part);
        }
        assert_eq!(signature, hex::encode(hmac(&key, &to_sign)));
    }

    #[test]
    fn the_query_names_each_group() {
        assert_eq!(
            query(&["sg-1".into(), "sg-2".into()]),
            "Action=DescribeSecurityGroups&Version=2016-11-15&GroupId.1=sg-1&GroupId.2=sg-2"
        );
    }

    fn rules(id: &str, inbound: Vec<Inbound>) -> Vec<GroupRules> {
        vec![GroupRules {
            group_id: id.into(),
            inbound,
        }]
    }

    #[test]
    fn only_the_functions_groups_pass() {
        let q = ["sg-q".to_owned()];
        let allowed = ["sg-fn".to_owned()];
        assert_eq!(
            admits_only(&q, &rules("sg-q", vec![from_group("sg-fn")]), &allowed),
            Ok(())
        );
        assert_eq!(admits_only(&q, &rules("sg-q", vec![]), &allowed), Ok(()));
        let refused = |inbound: Inbound| {
            admits_only(
                &q,
                &rules("sg-q", vec![from_group("sg-fn"), inbound]),
                &allowed,
            )
            .unwrap_err()
        };
        let why = refused(Inbound {
            ipv4: vec!["0.0.0.0/0".into()],
            ..tcp()
        });
        assert!(why.contains("sg-q admits 0.0.0.0/0 (tcp 5432)"), "{why}");
        let why = refused(from_group("sg-other"));
        assert!(why.contains("sg-q admits security group sg-other"), "{why}");
        let why = refused(Inbound {
            ipv6: vec!["::/0".into()],
            ..tcp()
        });
        assert!(why.contains("sg-q admits ::/0"), "{why}");
        let why = refused(Inbound {
            prefix_lists: vec!["pl-1".into()],
            ..tcp()
        });
        assert!(why.contains("sg-q admits prefix list pl-1"), "{why}");
        let why = refused(from_group("sg-q"));
        assert!(
            why.contains("its own members (security group sg-q)"),
            "{why}"
        );
        let why = admits_only(&q, &[], &allowed).unwrap_err();
        assert!(why.contains("sg-q was not described"), "{why}");
    }

    #[test]
    fn only_throttling_and_the_network_are_transient() {
        let e = |code: &str| GroupsError::new(&["sg-1".into()], code, code);
        assert!(e("RequestLimitExceeded").is_transient());
        assert!(e("Timeout").is_transient());
        for code in [
            "UnauthorizedOperation",
            "InvalidGroup.NotFound",
            "ResponseError",
        ] {
            assert!(!e(code).is_transient(), "{code}");
        }
    }
}
