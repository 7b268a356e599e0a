#pragma once
// Address blocks (`auth.trusted_proxies`) and the real client address behind
// trusted proxies. Pure: parses and compares text, no sockets.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wsrelay {

// An IPv4 or IPv6 address block: "10.0.0.0/8", "::1/128", or a single
// address ("127.0.0.1" = /32, "::1" = /128). IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d, what a dual-stack socket reports) match IPv4 blocks.
struct CidrBlock {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // IPv4 uses the first 4
  int prefix = 0;

  bool operator==(const CidrBlock&) const = default;
};

// nullopt when `text` is not an address or a block; the host bits below the
// prefix must be zero ("10.1.2.3/8" is a typo, not a block).
std::optional<CidrBlock> parse_cidr(std::string_view text);

// True when `address` (IPv4 or IPv6 text) is inside one of `blocks`.
bool address_in(std::string_view address, const std::vector<CidrBlock>& blocks);

// What per-address limits count `address` under: an IPv4 address as it is
// (an IPv4-mapped IPv6 one in its IPv4 form), an IPv6 address by its /64
// ("2001:db8:1:2::/64"), since one subscriber line gets a whole /64 and can
// take a new address in it for every connection. "" when it is no address.
std::string address_group(std::string_view address);

// The client a request comes from. `peer` is the TCP peer; `forwarded_for`
// the X-Forwarded-For header (several headers joined with ","). Only when the
// peer is trusted is the header read, from the right: each hop that is itself
// a trusted proxy is skipped, and the first one that is not is the client
// (entries to its left were written by the client and prove nothing). When
// every hop is trusted the leftmost one is the client; an entry that is not
// an address ends the walk at the last trusted hop.
std::string client_address(std::string_view peer, std::string_view forwarded_for,
                           const std::vector<CidrBlock>& trusted);

}  // namespace wsrelay
