//! Address ranges in settings: `server.trusted_proxies`.

use std::net::IpAddr;

/// One IP address or CIDR block (`10.0.0.0/8`, `2001:db8::/32`, `127.0.0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// Parses an address or `address/prefix`.
    ///
    /// # Errors
    /// Not an address, a prefix beyond the family's width, or host bits set
    /// (`10.0.0.1/8` is probably a typo for `10.0.0.0/8` or `10.0.0.1`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| "is not an IP address".to_owned())?;
        let network = network.to_canonical();
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| format!("has a prefix length that is not 0 to {width}"))?,
        };
        let range = Self { network, prefix };
        if mask(network, prefix) != bits(network) {
            return Err("has bits set past its prefix length".into());
        }
        Ok(range)
    }

    /// Whether `address` is in the range (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        address.is_ipv4() == self.network.is_ipv4()
            && mask(address, self.prefix) == mask(self.network, self.prefix)
    }
}

impl std::fmt::Display for IpRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn bits(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn mask(address: IpAddr, prefix: u8) -> u128 {
    let width: u32 = if address.is_ipv4() { 32 } else { 128 };
    let host_bits = width - u32::from(prefix);
    let value = bits(address);
    if host_bits >= 128 {
        0
    } else {
        (value >> host_bits) << host_bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_contain_their_addresses_only() {
        let range = IpRange::parse("10.0.0.0/8").unwrap();
        assert!(range.contains("10.1.2.3".parse().unwrap()));
        assert!(range.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!range.contains("11.0.0.1".parse().unwrap()));
        assert!(!range.contains("::1".parse().unwrap()));
        let one = IpRange::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6 = IpRange::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8::7".parse().unwrap()));
        assert!(IpRange::parse("0.0.0.0/0")
            .unwrap()
            .contains("203.0.113.7".parse().unwrap()));
        for bad in ["10.0.0.1/8", "10.0.0.0/33", "example.com", "10.0.0.0/x", ""] {
            assert!(IpRange::parse(bad).is_err(), "{bad}");
        }
    }
}
