//! Fetching media from platform URLs without becoming a proxy into private
//! networks (SSRF). Every address a name resolves to — on the first request
//! and on every redirect, IPv4 and IPv6 — must be public: loopback, private,
//! link-local (cloud metadata at 169.254.169.254 and fd00:ec2::254),
//! shared, multicast, reserved and documentation ranges are refused, and so
//! are IPv6 forms that embed a forbidden IPv4 address. Connect and overall
//! timeouts, a size cap and a content-type allow-list apply; no credentials
//! are sent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::ports::Fetch;
use crate::{Error, Result};

/// Whether connecting to `ip` could reach something that is not the public internet.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240 // reserved
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let seg = ip.segments();
    // NAT64 (64:ff9b::/96) and IPv4-compatible (::a.b.c.d) addresses carry an IPv4 address.
    if (seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0])
        || (seg[..6] == [0; 6] && !ip.is_loopback() && !ip.is_unspecified())
    {
        let o = ip.octets();
        return forbidden_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (seg[0] & 0xfe00) == 0xfc00 // unique local (includes AWS's fd00:ec2::254)
        || (seg[0] & 0xffc0) == 0xfe80 // link-local
        || (seg[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
        || (seg[0] == 0x2001 && seg[1] < 0x0200) // IETF special purpose (Teredo, benchmarking, ...)
        || seg[0] == 0x2002 // 6to4 carries an IPv4 address
}

/// What the fetcher accepts.
#[derive(Clone, Debug)]
pub struct FetchPolicy {
    pub max_bytes: u64,
    /// MIME type prefixes (`image/`) or exact types (`application/pdf`).
    pub allowed_types: Vec<String>,
    /// Private addresses allowed anyway (the local peer sandboxes); empty in production.
    pub allowed_private: Vec<IpAddr>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub max_redirects: usize,
}

impl FetchPolicy {
    pub fn new(max_bytes: u64, allowed_private: Vec<IpAddr>) -> Self {
        FetchPolicy {
            max_bytes,
            allowed_types: [
                "image/",
                "video/",
                "audio/",
                "text/plain",
                "application/pdf",
                "application/msword",
                "application/vnd.openxmlformats-officedocument.",
                "application/vnd.ms-excel",
                "application/vnd.ms-powerpoint",
                "application/zip",
                "application/octet-stream",
            ]
            .iter()
            .map(std::string::ToString::to_string)
            .collect(),
            allowed_private,
            connect_timeout: Duration::from_secs(5),
            timeout: super::http_client::CALL_TIMEOUT,
            max_redirects: 5,
        }
    }

    fn allows(&self, ip: IpAddr) -> bool {
        !is_forbidden(ip) || self.allowed_private.contains(&ip)
    }

    fn type_allowed(&self, content_type: &str) -> bool {
        self.allowed_types.iter().any(|t| {
            if t.ends_with('/') || t.ends_with('.') {
                content_type.starts_with(t.as_str())
            } else {
                content_type == t
            }
        })
    }
}

/// Resolves names and keeps only allowed addresses, so a connection can only
/// go where the policy lets it — on every redirect too.
struct GuardedResolver(Arc<FetchPolicy>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            // Refuse the name when any address is forbidden: a mixed answer is a rebinding attempt.
            if addrs.is_empty() || addrs.iter().any(|a| !policy.allows(a.ip())) {
                return Err(format!("{host} resolves to a forbidden address").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

pub use crate::ports::Fetched;

#[derive(Clone)]
pub struct Fetcher {
    http: reqwest::Client,
    policy: Arc<FetchPolicy>,
}

fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    url.host_str()?.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

impl Fetcher {
    pub fn new(policy: FetchPolicy) -> Result<Self> {
        let policy = Arc::new(policy);
        let redirect_policy = policy.clone();
        let http = super::http_client::builder()
            .dns_resolver(Arc::new(GuardedResolver(policy.clone())))
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.timeout)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= redirect_policy.max_redirects {
                    return attempt.error("too many redirects");
                }
                let url = attempt.url().clone();
                match literal_ip(&url) {
                    Some(ip) if !redirect_policy.allows(ip) => {
                        attempt.error(format!("redirect to a forbidden address {ip}"))
                    }
                    _ if !matches!(url.scheme(), "http" | "https") => {
                        attempt.error("redirect to a scheme other than http(s)")
                    }
                    _ => attempt.follow(),
                }
            }))
            .build()
            .map_err(|e| Error::Config(format!("building the media fetcher: {e}")))?;
        Ok(Fetcher { http, policy })
    }
}

impl Fetch for Fetcher {
    /// Fetches `url` under the policy.
    async fn fetch(&self, url: &str) -> Result<Fetched> {
        let refused = |why: String| Error::permanent(format!("media not fetched: {why}"), None);
        let parsed = reqwest::Url::parse(url).map_err(|e| refused(format!("bad URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(refused("only http(s) URLs are fetched".into()));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(refused("URLs with credentials are not fetched".into()));
        }
        if let Some(ip) = literal_ip(&parsed) {
            if !self.policy.allows(ip) {
                return Err(refused(format!("{ip} is a forbidden address")));
            }
        }
        let timeout =
            crate::deadline::call_timeout(self.policy.timeout, super::http_client::CALL_MARGIN)?;
        let res = match self.http.get(parsed).timeout(timeout).send().await {
            Ok(r) => r,
            // A forbidden address or redirect is permanent; timeouts and resets may pass.
            Err(e) if e.is_redirect() || format!("{e:?}").contains("forbidden address") => {
                return Err(refused(crate::error::describe(&e.without_url())))
            }
            Err(e) => return Err(super::http_client::transport("media host", e)),
        };
        let status = res.status().as_u16();
        if !res.status().is_success() {
            let wait = super::http_client::retry_after(&res);
            return Err(super::http_client::refused("media host", status, wait, String::new()));
        }
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .unwrap_or_default();
        if !self.policy.type_allowed(&content_type) {
            return Err(refused(format!("content type {content_type:?} is not allowed")));
        }
        if res.content_length().is_some_and(|n| n > self.policy.max_bytes) {
            return Err(refused(format!("larger than {} bytes", self.policy.max_bytes)));
        }
        let mut res = res;
        let mut bytes = Vec::new();
        while let Some(chunk) =
            res.chunk().await.map_err(|e| super::http_client::transport("media host", e))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > self.policy.max_bytes {
                return Err(refused(format!("larger than {} bytes", self.policy.max_bytes)));
            }
        }
        Ok(Fetched { bytes, content_type })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_an_address_is_private_loopback_link_local_or_metadata_should_be_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::10.0.0.1",
            "2001:db8::1",
            "2002:7f00:1::1",
        ] {
            assert!(is_forbidden(ip.parse().unwrap()), "{ip} must be forbidden");
        }
        for ip in ["8.8.8.8", "151.101.1.69", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(!is_forbidden(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn when_a_content_type_is_checked_should_follow_the_allow_list() {
        let p = FetchPolicy::new(10, vec![]);
        assert!(p.type_allowed("image/jpeg"));
        assert!(p.type_allowed("application/pdf"));
        assert!(p.type_allowed(
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        ));
        assert!(!p.type_allowed("text/html"));
        assert!(!p.type_allowed("application/x-msdownload"));
    }
}
