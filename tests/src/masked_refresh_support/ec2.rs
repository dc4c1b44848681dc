//! EC2 security groups in moto, set up off the wire: the function's own group and the quarantine
//! group. The harness links no EC2 SDK (see docs/decisions.md); these few Query calls go to moto
//! over plain HTTP/1.1, with an `Authorization` header moto reads the region from (moto checks
//! no signature).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::moto::REGION;
use offpeak_masked_refresh::secret::url_component;

/// moto's EC2, at `http://127.0.0.1:PORT`.
#[derive(Debug, Clone)]
pub struct MotoEc2 {
    endpoint: String,
}

impl MotoEc2 {
    pub fn new(endpoint: &str) -> MotoEc2 {
        MotoEc2 {
            endpoint: endpoint.to_owned(),
        }
    }

    /// `CreateSecurityGroup` `name` (in moto's default VPC, no inbound rule); its id.
    pub async fn create_group(&self, name: &str) -> String {
        let text = self
            .call(&[
                ("Action", "CreateSecurityGroup"),
                ("GroupName", name),
                ("GroupDescription", name),
            ])
            .await;
        between(&text, "<groupId>", "</groupId>")
            .unwrap_or_else(|| panic!("no groupId in {text}"))
            .to_owned()
    }

    /// `AuthorizeSecurityGroupIngress` on `group`: tcp `port` from security group `source`.
    pub async fn allow_group(&self, group: &str, source: &str, port: u16) {
        self.ingress(group, port, ("Groups.1.GroupId", source))
            .await;
    }

    /// `AuthorizeSecurityGroupIngress` on `group`: tcp `port` from IPv4 range `cidr`.
    pub async fn allow_cidr(&self, group: &str, cidr: &str, port: u16) {
        self.ingress(group, port, ("IpRanges.1.CidrIp", cidr)).await;
    }

    async fn ingress(&self, group: &str, port: u16, source: (&str, &str)) {
        let port = port.to_string();
        let key = format!("IpPermissions.1.{}", source.0);
        self.call(&[
            ("Action", "AuthorizeSecurityGroupIngress"),
            ("GroupId", group),
            ("IpPermissions.1.IpProtocol", "tcp"),
            ("IpPermissions.1.FromPort", &port),
            ("IpPermissions.1.ToPort", &port),
            (&key, source.1),
        ])
        .await;
    }

    /// One Query call; panics unless moto answers 200.
    async fn call(&self, params: &[(&str, &str)]) -> String {
        let mut body = "Version=2016-11-15".to_owned();
        for (k, v) in params {
            body.push_str(&format!("&{}={}", url_component(k), url_component(v)));
        }
        let host = self
            .endpoint
            .strip_prefix("http://")
            .expect("moto listens on plain http")
            .trim_end_matches('/');
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\n\
             Content-Length: {}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20261127/{REGION}/ec2/aws4_request, \
             SignedHeaders=host, Signature=0\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut stream = TcpStream::connect(host).await.expect("moto accepts");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        assert!(
            answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
            "{params:?}: {answer}"
        );
        answer
    }
}

fn between<'t>(text: &'t str, open: &str, close: &str) -> Option<&'t str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(&text[start..end])
}
