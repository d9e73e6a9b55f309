//! Which IP addresses deliveries may connect to.
//!
//! The rule is deliberately simple to state: an address may be contacted if it is globally
//! routable public unicast, or if the operator listed a network containing it in
//! `delivery.allowed_networks`. Everything else (loopback, private networks, link-local and
//! with it the cloud metadata service, multicast, documentation and reserved ranges, ...) is
//! refused, because reaching it from a daemon that sends requests to tenant-chosen URLs is the
//! textbook server-side request forgery.
//!
//! IPv6 addresses that merely wrap an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`,
//! IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::/48`) are
//! judged by the IPv4 address inside them: on a dual-stack socket `::ffff:127.0.0.1` *is*
//! 127.0.0.1, so judging the wrapper alone would be a bypass.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The operator's network policy for outbound deliveries.
///
/// It is cheap to check and immutable once built; the connector shares one behind an `Arc`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetPolicy {
    /// Networks the operator explicitly allows even though they are not public (for example
    /// `10.0.0.0/8` when receivers live on the internal network, or `127.0.0.0/8` in tests).
    /// An address inside any of them is always allowed.
    pub allowed: Vec<IpNet>,
}

impl NetPolicy {
    /// A policy allowing public addresses plus the given networks.
    pub fn new(allowed: Vec<IpNet>) -> NetPolicy {
        NetPolicy { allowed }
    }

    /// Decides whether `ip` may be contacted.
    ///
    /// `Ok(())` if it lies inside one of [`NetPolicy::allowed`] or is globally routable public
    /// unicast; otherwise a [`Refused`] naming the kind of address it is, so the operator knows
    /// what to add to the allow-list if the refusal was not what they wanted.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        if self.is_listed(ip) {
            return Ok(());
        }
        match ip {
            IpAddr::V4(v4) => match classify_v4(v4) {
                None => Ok(()),
                Some(reason) => Err(Refused {
                    ip,
                    reason,
                    embedded: None,
                }),
            },
            IpAddr::V6(v6) => {
                if let Some((kind, v4)) = embedded_v4(v6) {
                    // The wrapper is only as good as what it wraps: allowed if the inner IPv4
                    // address would be allowed on its own (listed or public).
                    if self.is_listed(IpAddr::V4(v4)) {
                        return Ok(());
                    }
                    return match classify_v4(v4) {
                        None => Ok(()),
                        Some(reason) => Err(Refused {
                            ip,
                            reason,
                            embedded: Some((kind, v4)),
                        }),
                    };
                }
                match classify_v6(v6) {
                    None => Ok(()),
                    Some(reason) => Err(Refused {
                        ip,
                        reason,
                        embedded: None,
                    }),
                }
            }
        }
    }

    /// Whether `ip` is globally routable public unicast (whatever the allow-list says).
    pub fn is_public(ip: IpAddr) -> bool {
        NetPolicy::default().check(ip).is_ok()
    }

    /// Whether the operator listed a network containing `ip`.
    fn is_listed(&self, ip: IpAddr) -> bool {
        self.allowed.iter().any(|net| net.contains(&ip))
    }
}

/// Why an address is not public: the kind of special-purpose range it belongs to.
///
/// Kept as an enum (rather than a string) so callers and tests can match on it; its
/// [`Reason::as_str`] is the word shown to people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// 127.0.0.0/8, ::1: this host.
    Loopback,
    /// RFC 1918: 10/8, 172.16/12, 192.168/16.
    Private,
    /// 169.254/16 (including the 169.254.169.254 cloud metadata service), fe80::/10.
    LinkLocal,
    /// 100.64/10, RFC 6598 shared address space used by carrier-grade NAT.
    CarrierGradeNat,
    /// 224/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 0.0.0.0/8 ("this network"), ::.
    Unspecified,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 198.18/15 (RFC 2544), 2001:2::/48.
    Benchmarking,
    /// 240/4 and IPv6 outside 2000::/3 not otherwise named here.
    Reserved,
    /// 192.0.0/24, 2001::/23: IETF protocol assignments (Teredo, ORCHID, ...).
    IetfProtocol,
    /// fc00::/7, IPv6 unique local addresses (the IPv6 counterpart of RFC 1918).
    UniqueLocal,
    /// fec0::/10, deprecated IPv6 site-local addresses.
    SiteLocal,
    /// 100::/64, the IPv6 discard prefix.
    Discard,
}

impl Reason {
    /// The word or short phrase shown in messages, e.g. `loopback`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Loopback => "loopback",
            Reason::Private => "private",
            Reason::LinkLocal => "link-local",
            Reason::CarrierGradeNat => "carrier-grade NAT",
            Reason::Multicast => "multicast",
            Reason::Broadcast => "broadcast",
            Reason::Unspecified => "unspecified",
            Reason::Documentation => "documentation",
            Reason::Benchmarking => "benchmarking",
            Reason::Reserved => "reserved",
            Reason::IetfProtocol => "IETF protocol assignment",
            Reason::UniqueLocal => "unique local",
            Reason::SiteLocal => "site-local",
            Reason::Discard => "discard-only",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an IPv6 address carries an IPv4 address, when it does.
///
/// Named in refusals so `::ffff:127.0.0.1` is explained as what it really is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedding {
    /// `::ffff:0:0/96`: the IPv4 address itself, on a dual-stack socket.
    Mapped,
    /// `::/96` (deprecated IPv4-compatible addresses).
    Compatible,
    /// `64:ff9b::/96`: NAT64 well-known prefix, translated to the IPv4 address by a gateway.
    Nat64,
    /// `2002::/16`: 6to4, tunnelled to the IPv4 address in bits 16..48.
    SixToFour,
}

impl fmt::Display for Embedding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Embedding::Mapped => "IPv4-mapped",
            Embedding::Compatible => "IPv4-compatible",
            Embedding::Nat64 => "NAT64",
            Embedding::SixToFour => "6to4",
        })
    }
}

/// An address the policy does not allow, and why.
///
/// Its `Display` is a complete sentence telling the operator how to allow the address if the
/// refusal is unwanted, e.g. `address 127.0.0.1 is not public (loopback); add it to
/// delivery.allowed_networks to allow it`. It names only the IP, never a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The address that was checked (for wrapped IPv4, the IPv6 address as resolved).
    pub ip: IpAddr,
    /// The kind of non-public range it falls in.
    pub reason: Reason,
    /// For IPv6 addresses judged by the IPv4 address they embed: how, and which one.
    pub embedded: Option<(Embedding, Ipv4Addr)>,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.embedded {
            None => write!(f, "address {} is not public ({})", self.ip, self.reason)?,
            Some((kind, v4)) => write!(
                f,
                "address {} is not public ({}: {kind} {v4})",
                self.ip, self.reason
            )?,
        }
        f.write_str("; add it to delivery.allowed_networks to allow it")
    }
}

impl std::error::Error for Refused {}

/// The special-purpose range an IPv4 address belongs to, or `None` if it is public unicast.
///
/// Order matters only where ranges nest (255.255.255.255 is inside 240/4 but is better
/// explained as broadcast).
fn classify_v4(ip: Ipv4Addr) -> Option<Reason> {
    let [a, b, c, _] = ip.octets();
    let reason = match (a, b, c) {
        (0, _, _) => Reason::Unspecified,
        (10, _, _) => Reason::Private,
        (100, 64..=127, _) => Reason::CarrierGradeNat,
        (127, _, _) => Reason::Loopback,
        (169, 254, _) => Reason::LinkLocal,
        (172, 16..=31, _) => Reason::Private,
        (192, 0, 0) => Reason::IetfProtocol,
        (192, 0, 2) => Reason::Documentation,
        (192, 168, _) => Reason::Private,
        (198, 18..=19, _) => Reason::Benchmarking,
        (198, 51, 100) => Reason::Documentation,
        (203, 0, 113) => Reason::Documentation,
        (224..=239, _, _) => Reason::Multicast,
        _ if ip == Ipv4Addr::BROADCAST => Reason::Broadcast,
        (240..=255, _, _) => Reason::Reserved,
        _ => return None,
    };
    Some(reason)
}

/// The IPv4 address an IPv6 address stands for, if it is one of the wrapping forms.
///
/// `::` and `::1` are inside `::/96` too but are IPv6's own unspecified and loopback
/// addresses, so they are left to [`classify_v6`].
fn embedded_v4(ip: Ipv6Addr) -> Option<(Embedding, Ipv4Addr)> {
    let s = ip.segments();
    let o = ip.octets();
    let low32 = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some((Embedding::Mapped, low32)),
        [0, 0, 0, 0, 0, 0, 0, 0] | [0, 0, 0, 0, 0, 0, 0, 1] => None,
        [0, 0, 0, 0, 0, 0, _, _] => Some((Embedding::Compatible, low32)),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some((Embedding::Nat64, low32)),
        [0x2002, ..] => Some((Embedding::SixToFour, Ipv4Addr::new(o[2], o[3], o[4], o[5]))),
        _ => None,
    }
}

/// The special-purpose range a (non-wrapping) IPv6 address belongs to, or `None` if it is
/// global unicast.
///
/// Only 2000::/3 is allocated for global unicast, so anything outside it that is not named
/// more precisely is `Reserved`; inside it the documentation, benchmarking and IETF protocol
/// blocks are carved out.
fn classify_v6(ip: Ipv6Addr) -> Option<Reason> {
    let s = ip.segments();
    let reason = if ip.is_unspecified() {
        Reason::Unspecified
    } else if ip.is_loopback() {
        Reason::Loopback
    } else if s[0] & 0xff00 == 0xff00 {
        Reason::Multicast
    } else if s[0] & 0xffc0 == 0xfe80 {
        Reason::LinkLocal
    } else if s[0] & 0xffc0 == 0xfec0 {
        Reason::SiteLocal
    } else if s[0] & 0xfe00 == 0xfc00 {
        Reason::UniqueLocal
    } else if s[..4] == [0x100, 0, 0, 0] {
        Reason::Discard
    } else if s[0] & 0xe000 != 0x2000 {
        Reason::Reserved
    } else if (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] == 0x3fff && s[1] < 0x1000) {
        Reason::Documentation
    } else if s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0 {
        Reason::Benchmarking
    } else if s[0] == 0x2001 && s[1] < 0x0200 {
        Reason::IetfProtocol
    } else {
        return None;
    };
    Some(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The reason `check` gives with an empty allow-list, or `None` if allowed.
    fn reason(s: &str) -> Option<Reason> {
        NetPolicy::default().check(ip(s)).err().map(|r| r.reason)
    }

    fn assert_refused(addrs: &[&str], want: Reason) {
        for a in addrs {
            assert_eq!(reason(a), Some(want), "{a} should be refused as {want}");
        }
    }

    #[test]
    fn public_unicast_is_allowed() {
        for a in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.255",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2001:200::1",
            "2a00:1450::1",
            "3fff:1000::1",
        ] {
            assert_eq!(reason(a), None, "{a} should be allowed");
        }
    }

    #[test]
    fn loopback_is_refused_unless_allowed() {
        assert_refused(&["127.0.0.1", "127.255.255.254", "::1"], Reason::Loopback);
        let policy = NetPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert_eq!(policy.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("127.1.2.3")), Ok(()));
        // The allow-list is exact: it does not open IPv6 loopback or other ranges.
        assert!(policy.check(ip("::1")).is_err());
        assert!(policy.check(ip("10.0.0.1")).is_err());
    }

    #[test]
    fn rfc1918_private_is_refused() {
        assert_refused(
            &[
                "10.0.0.1",
                "10.255.255.255",
                "172.16.0.1",
                "172.31.255.255",
                "192.168.0.1",
                "192.168.255.255",
            ],
            Reason::Private,
        );
    }

    #[test]
    fn link_local_and_cloud_metadata_are_refused() {
        assert_refused(
            &["169.254.169.254", "169.254.0.1", "fe80::1", "febf::1"],
            Reason::LinkLocal,
        );
    }

    #[test]
    fn carrier_grade_nat_is_refused() {
        assert_refused(&["100.64.0.1", "100.127.255.255"], Reason::CarrierGradeNat);
    }

    #[test]
    fn multicast_is_refused() {
        assert_refused(
            &["224.0.0.1", "239.255.255.255", "ff02::1", "ff0e::1"],
            Reason::Multicast,
        );
    }

    #[test]
    fn broadcast_is_refused() {
        assert_refused(&["255.255.255.255"], Reason::Broadcast);
    }

    #[test]
    fn unspecified_and_this_network_are_refused() {
        assert_refused(&["0.0.0.0", "0.1.2.3", "::"], Reason::Unspecified);
    }

    #[test]
    fn documentation_ranges_are_refused() {
        assert_refused(
            &[
                "192.0.2.1",
                "198.51.100.7",
                "203.0.113.255",
                "2001:db8::1",
                "2001:db8:ffff::1",
                "3fff::1",
                "3fff:fff::1",
            ],
            Reason::Documentation,
        );
    }

    #[test]
    fn benchmarking_ranges_are_refused() {
        assert_refused(
            &["198.18.0.1", "198.19.255.255", "2001:2::1"],
            Reason::Benchmarking,
        );
    }

    #[test]
    fn reserved_ranges_are_refused() {
        assert_refused(
            &[
                "240.0.0.1",
                "255.255.255.254",
                "4000::1",
                "::ffff:0:1.2.3.4",
            ],
            Reason::Reserved,
        );
    }

    #[test]
    fn ietf_protocol_assignments_are_refused() {
        assert_refused(
            &["192.0.0.1", "192.0.0.255", "2001::1", "2001:1ff::1"],
            Reason::IetfProtocol,
        );
    }

    #[test]
    fn ipv6_unique_local_site_local_and_discard_are_refused() {
        assert_refused(&["fc00::1", "fd12:3456::1"], Reason::UniqueLocal);
        assert_refused(&["fec0::1", "feff::1"], Reason::SiteLocal);
        assert_refused(&["100::1", "100::ffff:ffff:ffff:ffff"], Reason::Discard);
        // Just past the discard /64 is still outside 2000::/3.
        assert_refused(&["100:0:0:1::1"], Reason::Reserved);
    }

    #[test]
    fn ipv4_mapped_is_judged_by_the_embedded_address() {
        let err = NetPolicy::default()
            .check(ip("::ffff:127.0.0.1"))
            .unwrap_err();
        assert_eq!(err.reason, Reason::Loopback);
        assert_eq!(
            err.embedded,
            Some((Embedding::Mapped, Ipv4Addr::new(127, 0, 0, 1)))
        );
        assert_refused(&["::ffff:169.254.169.254"], Reason::LinkLocal);
        assert_refused(&["::ffff:10.1.2.3"], Reason::Private);
        assert_eq!(reason("::ffff:8.8.8.8"), None);
    }

    #[test]
    fn ipv4_compatible_nat64_and_6to4_are_judged_by_the_embedded_address() {
        assert_refused(&["::127.0.0.1"], Reason::Loopback);
        assert_refused(&["64:ff9b::169.254.169.254"], Reason::LinkLocal);
        assert_refused(&["64:ff9b::10.0.0.1"], Reason::Private);
        // 2002:7f00:0001::/48 is 6to4 for 127.0.0.1; 2002:c0a8:0101:: for 192.168.1.1.
        assert_refused(&["2002:7f00:1::1"], Reason::Loopback);
        assert_refused(&["2002:c0a8:101::1"], Reason::Private);
        assert_eq!(reason("64:ff9b::8.8.8.8"), None);
        assert_eq!(reason("2002:808:808::1"), None);
        assert_eq!(reason("::8.8.8.8"), None);
    }

    #[test]
    fn embedded_v4_is_allowed_when_its_network_is_listed() {
        let policy = NetPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert_eq!(policy.check(ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("64:ff9b::127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("2002:7f00:1::1")), Ok(()));
        assert!(policy.check(ip("::ffff:10.0.0.1")).is_err());
    }

    #[test]
    fn allow_list_opens_exactly_the_listed_networks() {
        let policy = NetPolicy::new(vec![
            "10.1.0.0/16".parse().unwrap(),
            "fd00:1::/32".parse().unwrap(),
            "169.254.169.254/32".parse().unwrap(),
        ]);
        assert_eq!(policy.check(ip("10.1.2.3")), Ok(()));
        assert_eq!(policy.check(ip("fd00:1::5")), Ok(()));
        assert_eq!(policy.check(ip("169.254.169.254")), Ok(()));
        assert!(policy.check(ip("10.2.0.1")).is_err());
        assert!(policy.check(ip("fd00:2::5")).is_err());
        assert!(policy.check(ip("169.254.169.253")).is_err());
        // Public addresses stay allowed whatever the list says.
        assert_eq!(policy.check(ip("8.8.8.8")), Ok(()));
    }

    #[test]
    fn refusal_message_names_address_reason_and_setting() {
        let err = NetPolicy::default().check(ip("127.0.0.1")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "address 127.0.0.1 is not public (loopback); \
             add it to delivery.allowed_networks to allow it"
        );
        let err = NetPolicy::default()
            .check(ip("::ffff:169.254.169.254"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "address ::ffff:169.254.169.254 is not public \
             (link-local: IPv4-mapped 169.254.169.254); \
             add it to delivery.allowed_networks to allow it"
        );
    }
}
