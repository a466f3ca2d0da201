//! The client address a request is limited by: the peer, or, behind
//! trusted proxies, the nearest address they forwarded for.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::header;
use axum::http::request::Parts;

use super::Network;

/// The client's address: the peer, unless the peer is a trusted proxy, in
/// which case the nearest untrusted address it forwarded for.
pub fn client_address(trusted: &[Network], parts: &Parts) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
    if !is_trusted(peer) {
        return peer;
    }
    // Walk the chain from the nearest hop; the first untrusted hop is the
    // client as far as anyone trustworthy can tell.
    forwarded_chain(&parts.headers)
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(*ip))
        .unwrap_or(peer)
}

/// Addresses from `Forwarded: for=` (RFC 7239) or else `X-Forwarded-For`,
/// nearest hop last.
fn forwarded_chain(headers: &axum::http::HeaderMap) -> Vec<IpAddr> {
    let forwarded: Vec<IpAddr> = headers
        .get_all(header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                if !key.eq_ignore_ascii_case("for") {
                    return None;
                }
                parse_node(value.trim().trim_matches('"'))
            })
        })
        .collect();
    if !forwarded.is_empty() {
        return forwarded;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| parse_node(item.trim()))
        .collect()
}

/// An address as forwarding headers write it: `1.2.3.4`, `1.2.3.4:80`,
/// `[::1]`, `[::1]:80`.
fn parse_node(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    text.parse::<SocketAddr>().ok().map(|s| s.ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn forwarding_headers_are_read_nearest_last() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.7, 10.0.0.2"),
        );
        assert_eq!(
            forwarded_chain(&headers),
            vec![IpAddr::from([203, 0, 113, 7]), IpAddr::from([10, 0, 0, 2])]
        );
        headers.insert(
            header::FORWARDED,
            HeaderValue::from_static("for=\"[2001:db8::1]:4711\", for=198.51.100.9;proto=https"),
        );
        assert_eq!(
            forwarded_chain(&headers),
            vec![
                "2001:db8::1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
                IpAddr::from([198, 51, 100, 9])
            ]
        );
    }
}
