//! The client's address: the TCP peer, or — when the peer is one of
//! `server.trusted_proxies` — the right-most `X-Forwarded-For` address that is
//! not itself a trusted proxy. Rate limits, login throttling, sessions and
//! audit rows all use it, so behind nginx they are per real client, and
//! nobody else can choose their address by sending the header.

use std::net::IpAddr;

use actix_web::http::header::HeaderMap;
use actix_web::{web, HttpRequest};

use crate::config::{IpRange, Settings};

/// The header proxies append the address they received a request from to.
pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// The client address of `req` under the app's `server.trusted_proxies`.
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let proxies = req
        .app_data::<web::Data<Settings>>()
        .map(|settings| settings.server.trusted_proxies.as_slice())
        .unwrap_or_default();
    Some(resolve(peer, req.headers(), proxies))
}

/// The client behind `peer` (see the module's rule).
pub fn resolve(peer: IpAddr, headers: &HeaderMap, proxies: &[IpRange]) -> IpAddr {
    let trusted = |ip: IpAddr| proxies.iter().any(|range| range.contains(ip));
    let mut client = peer.to_canonical();
    if !trusted(client) {
        return client;
    }
    // Several headers count as one list, in order; walk it from the right
    // (the hop nearest to us), past our own proxies.
    let hops: Vec<&str> = headers
        .get_all(FORWARDED_FOR)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // Garbage from a client: the last trusted hop is all we know.
            return client;
        };
        client = ip;
        if !trusted(ip) {
            return ip;
        }
    }
    client
}

/// `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]:443` or `203.0.113.7:5555`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let ip = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(
                HeaderName::from_static(FORWARDED_FOR),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_header_counts_only_from_trusted_proxies() {
        let proxies = [
            IpRange::parse("127.0.0.1").unwrap(),
            IpRange::parse("10.0.0.0/8").unwrap(),
        ];
        let spoofed = headers(&["1.2.3.4"]);
        assert_eq!(
            resolve(ip("198.51.100.9"), &spoofed, &proxies),
            ip("198.51.100.9")
        );
        assert_eq!(resolve(ip("127.0.0.1"), &spoofed, &[]), ip("127.0.0.1"));
        // A client's own entry is left of what our proxies appended.
        let chain = headers(&["1.2.3.4, 203.0.113.7", "10.1.1.1"]);
        assert_eq!(
            resolve(ip("127.0.0.1"), &chain, &proxies),
            ip("203.0.113.7")
        );
        assert_eq!(
            resolve(
                ip("::ffff:127.0.0.1"),
                &headers(&["[2001:db8::1]:443"]),
                &proxies
            ),
            ip("2001:db8::1")
        );
        // No header: the proxy itself; garbage: the last trusted hop.
        assert_eq!(
            resolve(ip("127.0.0.1"), &headers(&[]), &proxies),
            ip("127.0.0.1")
        );
        assert_eq!(
            resolve(ip("127.0.0.1"), &headers(&["nonsense, 10.2.2.2"]), &proxies),
            ip("10.2.2.2")
        );
    }
}
