// The pure parts of authorization: CIDR blocks and X-Forwarded-For, the
// Origin allowlist, facility patterns, static rules, allow maps, and the
// query parameter a token may travel in.
#include <catch2/catch.hpp>

#include <wsrelay/wire/auth_rules.hpp>
#include <wsrelay/wire/cidr.hpp>
#include <wsrelay/wire/origin.hpp>
#include <wsrelay/wire/protocol.hpp>

using namespace wsrelay;

namespace {

std::vector<CidrBlock> blocks(std::initializer_list<const char*> texts) {
  std::vector<CidrBlock> out;
  for (const char* t : texts) {
    auto b = parse_cidr(t);
    REQUIRE(b);
    out.push_back(*b);
  }
  return out;
}

StaticRule rule(const char* text) {
  std::string error;
  auto r = parse_rule(text, error);
  INFO(error);
  REQUIRE(r);
  return *r;
}

}  // namespace

TEST_CASE("parse_cidr accepts addresses and blocks, refuses the rest", "[auth][cidr]") {
  CHECK(parse_cidr("10.0.0.0/8"));
  CHECK(parse_cidr("127.0.0.1"));
  CHECK(parse_cidr(" 192.168.1.0/24 "));
  CHECK(parse_cidr("::1"));
  CHECK(parse_cidr("fd00::/8"));
  CHECK(parse_cidr("0.0.0.0/0"));
  CHECK(parse_cidr("::/0"));
  CHECK_FALSE(parse_cidr(""));
  CHECK_FALSE(parse_cidr("10.0.0.0/33"));
  CHECK_FALSE(parse_cidr("::/129"));
  CHECK_FALSE(parse_cidr("10.0.0.0/"));
  CHECK_FALSE(parse_cidr("10.0.0.0/-1"));
  CHECK_FALSE(parse_cidr("10.0.0.0/8x"));
  CHECK_FALSE(parse_cidr("10.1.2.3/8"));  // host bits set: a typo
  CHECK_FALSE(parse_cidr("localhost"));
  CHECK_FALSE(parse_cidr("10.0.0.256"));
}

TEST_CASE("address_in matches IPv4, IPv6 and IPv4-mapped addresses", "[auth][cidr]") {
  auto trusted = blocks({"10.0.0.0/8", "192.168.1.128/25", "fd00::/8", "127.0.0.1"});
  CHECK(address_in("10.255.0.1", trusted));
  CHECK_FALSE(address_in("11.0.0.1", trusted));
  CHECK(address_in("192.168.1.200", trusted));
  CHECK_FALSE(address_in("192.168.1.127", trusted));
  CHECK(address_in("fd12:3456::1", trusted));
  CHECK_FALSE(address_in("fe80::1", trusted));
  CHECK(address_in("::ffff:10.1.2.3", trusted));  // a dual-stack socket's view of IPv4
  CHECK(address_in("127.0.0.1", trusted));
  CHECK_FALSE(address_in("127.0.0.2", trusted));
  CHECK_FALSE(address_in("garbage", trusted));
  CHECK_FALSE(address_in("", trusted));
  CHECK_FALSE(address_in("10.0.0.1", {}));
  CHECK(address_in("8.8.8.8", blocks({"0.0.0.0/0"})));
  CHECK_FALSE(address_in("::1", blocks({"0.0.0.0/0"})));
}

TEST_CASE("client_address takes the rightmost untrusted hop, only behind a trusted peer",
          "[auth][xff]") {
  auto trusted = blocks({"10.0.0.0/8"});
  // Peer not trusted: the header is the client's own claim and is ignored.
  CHECK(client_address("203.0.113.9", "1.2.3.4", trusted) == "203.0.113.9");
  // One trusted proxy.
  CHECK(client_address("10.0.0.1", "203.0.113.7", trusted) == "203.0.113.7");
  // The client prepended a lie; the proxy appended the real address.
  CHECK(client_address("10.0.0.1", "6.6.6.6, 203.0.113.7", trusted) == "203.0.113.7");
  // Two trusted proxies: skip both.
  CHECK(client_address("10.0.0.1", "203.0.113.7, 10.0.0.2", trusted) == "203.0.113.7");
  // Several headers joined, spaces anywhere.
  CHECK(client_address("10.0.0.1", "6.6.6.6 ,203.0.113.7,  10.9.9.9 ", trusted) == "203.0.113.7");
  // All hops trusted: the leftmost.
  CHECK(client_address("10.0.0.1", "10.0.0.5, 10.0.0.2", trusted) == "10.0.0.5");
  // No header: the peer.
  CHECK(client_address("10.0.0.1", "", trusted) == "10.0.0.1");
  // Garbage ends the walk at the last trusted hop.
  CHECK(client_address("10.0.0.1", "203.0.113.7, nonsense", trusted) == "10.0.0.1");
  CHECK(client_address("10.0.0.1", "nonsense, 10.0.0.2", trusted) == "10.0.0.2");
  CHECK(client_address("10.0.0.1", "2001:db8::7", trusted) == "2001:db8::7");
  CHECK(client_address("10.0.0.1", ",,", trusted) == "10.0.0.1");
}

TEST_CASE("origin_allowed: no Origin, same host by default, exact, wildcard, *", "[auth][origin]") {
  // Non-browser clients send no Origin.
  CHECK(origin_allowed("", "example.com", {}));
  // Empty list: the Origin's authority must be the Host.
  CHECK(origin_allowed("https://example.com", "example.com", {}));
  CHECK(origin_allowed("http://127.0.0.1:8080", "127.0.0.1:8080", {}));
  CHECK(origin_allowed("HTTPS://Example.COM", "example.com", {}));
  CHECK_FALSE(origin_allowed("https://evil.com", "example.com", {}));
  CHECK_FALSE(origin_allowed("https://example.com.evil.com", "example.com", {}));
  CHECK_FALSE(origin_allowed("http://127.0.0.1:9999", "127.0.0.1:8080", {}));
  CHECK_FALSE(origin_allowed("null", "example.com", {}));
  CHECK_FALSE(origin_allowed("https://example.com", "", {}));

  std::vector<std::string> list{"https://app.example.com", "https://*.example.org",
                                "http://localhost:3000"};
  CHECK(origin_allowed("https://app.example.com", "gw.example.com", list));
  CHECK_FALSE(origin_allowed("http://app.example.com", "gw.example.com", list));
  CHECK_FALSE(origin_allowed("https://app.example.com:8443", "gw.example.com", list));
  CHECK(origin_allowed("https://a.example.org", "x", list));
  CHECK(origin_allowed("https://a.b.example.org", "x", list));
  CHECK_FALSE(origin_allowed("https://example.org", "x", list));
  CHECK_FALSE(origin_allowed("https://evilexample.org", "x", list));
  CHECK_FALSE(origin_allowed("https://a.example.org:444", "x", list));
  CHECK_FALSE(origin_allowed("https://a.example.org.evil.com", "x", list));
  CHECK(origin_allowed("http://localhost:3000", "x", list));
  CHECK_FALSE(origin_allowed("http://localhost:3001", "x", list));
  // With a list the Host is not consulted.
  CHECK_FALSE(origin_allowed("https://x.com", "x.com", list));
  CHECK(origin_allowed("https://anything.at.all", "x", {"*"}));
  CHECK(origin_allowed("null", "x", {"null"}));
  CHECK(origin_allowed("null", "x", {"*"}));
  CHECK(origin_allowed("http://[::1]:8080", "[::1]:8080", {}));
}

TEST_CASE("origin_allowed refuses anything but scheme://host[:port] before matching",
          "[auth][origin]") {
  const std::vector<std::string> list{"https://*.example.com", "https://app.example.org"};
  const std::vector<std::string> any{"*"};
  for (const char* origin : {
           "https://evil.com#.example.com",   // fragment
           "https://evil.com?.example.com",   // query
           "https://evil.com\\.example.com",  // backslash
           "https://user@a.example.com",      // userinfo
           "https://a.example.com@evil.com",  // userinfo the other way round
           "https://a.example.com/",          // path
           "https://a.example.com/x",         // path
           "https://a.example.com:",          // empty port
           "https://a.example.com:99999",     // port out of range
           "https://a.example.com:44x",       // port not a number
           "https://a..example.com",          // empty label
           "https://.example.com",            // empty label
           "https://a.example.com.",          // trailing dot
           "https://a example.com",           // space
           "https://a.example.com\r\nX: y",   // CR/LF
           "https://",                        // no host
           "app.example.org",                 // no scheme
           "://app.example.org",              // empty scheme
           "1https://app.example.org",        // scheme not starting with a letter
           "ht_tps://app.example.org",        // bad scheme character
       }) {
    INFO(origin);
    CHECK_FALSE(origin_allowed(origin, "a.example.com", list));
    CHECK_FALSE(origin_allowed(origin, "a.example.com", any));
    CHECK_FALSE(origin_allowed(origin, "a.example.com", {}));
  }
  // What a browser sends passes.
  CHECK(origin_allowed("https://a.example.com", "x", list));
  CHECK(origin_allowed("https://A.Example.COM", "x", list));
  CHECK(origin_allowed("https://my_host.example.com", "x", list));
  CHECK(origin_allowed("https://a.example.com", "x", any));
  CHECK(origin_allowed("chrome-extension://abcdef", "x", any));
}

TEST_CASE("check_origin_pattern names what is wrong", "[auth][origin]") {
  CHECK(check_origin_pattern("https://example.com").empty());
  CHECK(check_origin_pattern("https://*.example.com").empty());
  CHECK(check_origin_pattern("http://localhost:3000").empty());
  CHECK(check_origin_pattern("*").empty());
  CHECK_FALSE(check_origin_pattern("example.com").empty());
  CHECK_FALSE(check_origin_pattern("https://example.com/").empty());
  CHECK_FALSE(check_origin_pattern("https://").empty());
  CHECK_FALSE(check_origin_pattern("https://a.*.com").empty());
  CHECK_FALSE(check_origin_pattern("https://*example.com").empty());
  CHECK_FALSE(check_origin_pattern("https://user@example.com").empty());
  CHECK_FALSE(check_origin_pattern("https://example.com?x").empty());
  CHECK_FALSE(check_origin_pattern("https://example.com#x").empty());
  CHECK_FALSE(check_origin_pattern("https://example.com:").empty());
}

TEST_CASE("facility patterns in auth rules: the same language as slow-consumer policies",
          "[auth][rules]") {
  CHECK(facility_matches("chat", "chat"));
  CHECK_FALSE(facility_matches("chat", "chat2"));
  CHECK(facility_matches("chat*", "chat"));
  CHECK(facility_matches("chat*", "chat-room-1"));
  CHECK_FALSE(facility_matches("chat*", "xchat"));
  CHECK(facility_matches("*", "anything"));
  CHECK(facility_matches("*-admin", "site-admin"));
  CHECK_FALSE(facility_matches("*-admin", "site-admins"));
  CHECK(facility_matches("a*b*c", "aXXbYYc"));
  CHECK_FALSE(facility_matches("a*b*c", "aXXbYY"));
  CHECK(facility_matches("room-?", "room-7"));
  CHECK_FALSE(facility_matches("room-?", "room-77"));
  CHECK(check_facility_pattern("chat-*").empty());
  CHECK(check_facility_pattern("room-?").empty());
  CHECK_FALSE(check_facility_pattern("room-[12]").empty());
  CHECK_FALSE(check_facility_pattern("chat:*").empty());
  CHECK_FALSE(check_facility_pattern("").empty());
}

TEST_CASE("static rules parse and the first match wins", "[auth][rules]") {
  std::vector<StaticRule> rules{rule("chat-*: subscribe-broadcast publish-user require-user"),
                                rule("news: subscribe-*"), rule("internal-*:"),
                                rule("*: subscribe-broadcast")};
  CHECK(rules[0].allow == (subscribe_broadcast | publish_user));
  CHECK(rules[0].require_user);
  CHECK(rules[1].allow ==
        (subscribe_broadcast | subscribe_user | subscribe_group | subscribe_session));
  CHECK_FALSE(rules[1].require_user);
  CHECK(rules[2].allow == 0);
  CHECK(find_rule(rules, "chat-1") == &rules[0]);
  CHECK(find_rule(rules, "news") == &rules[1]);
  CHECK(find_rule(rules, "internal-x") == &rules[2]);
  CHECK(find_rule(rules, "other") == &rules[3]);
  CHECK(find_rule({rules[0]}, "other") == nullptr);
  CHECK(rule("x: publish-*, echo").allow == (publish_flags | echo));
  CHECK(rule("x: *").allow == all_flags);

  std::string error;
  CHECK_FALSE(parse_rule("chat subscribe-broadcast", error));
  CHECK(error.find("PATTERN:") != std::string::npos);
  error.clear();
  CHECK_FALSE(parse_rule("chat: subscribe-everything", error));
  CHECK(error.find("subscribe-everything") != std::string::npos);
  error.clear();
  CHECK_FALSE(parse_rule("ch/at: subscribe-broadcast", error));
}

TEST_CASE("allow maps: exact name, then the longest pattern, else nothing", "[auth][rules]") {
  std::vector<AllowEntry> map{{"*", subscribe_broadcast},
                              {"chat-*", subscribe_broadcast | publish_user},
                              {"chat-vip", subscribe_user},
                              {"chat-v*", subscribe_group}};
  CHECK(allowed_for(map, "chat-vip") == subscribe_user);
  CHECK(allowed_for(map, "chat-vx") == subscribe_group);
  CHECK(allowed_for(map, "chat-1") == (subscribe_broadcast | publish_user));
  CHECK(allowed_for(map, "other") == subscribe_broadcast);
  CHECK(allowed_for({{"chat", subscribe_broadcast}}, "other") == 0);
  CHECK(flags_from_list("subscribe-broadcast, publish-user") ==
        (subscribe_broadcast | publish_user));
  CHECK(flags_from_list("subscribe-* bogus") ==
        (subscribe_broadcast | subscribe_user | subscribe_group | subscribe_session));
  CHECK(flags_from_list("") == 0);
}

TEST_CASE("take_query_param removes the parameter and returns its value", "[auth][protocol]") {
  std::string target = "/ws/chat?subscribe-broadcast&token=abc.def.ghi&echo";
  CHECK(take_query_param(target, "token") == "abc.def.ghi");
  CHECK(target == "/ws/chat?subscribe-broadcast&echo");

  target = "/ws/chat?token=a&token=b";
  CHECK(take_query_param(target, "token") == "a");
  CHECK(target == "/ws/chat");

  target = "/ws/chat?token=a%2Eb";
  CHECK(take_query_param(target, "token") == "a.b");

  target = "/ws/chat?tokenx=1&xtoken=2";
  CHECK(take_query_param(target, "token").empty());
  CHECK(target == "/ws/chat?tokenx=1&xtoken=2");

  target = "/ws/chat";
  CHECK(take_query_param(target, "token").empty());
  CHECK(target == "/ws/chat");

  target = "/ws/chat?token=%zz&echo";
  CHECK(take_query_param(target, "token").empty());
  CHECK(target == "/ws/chat?echo");

  target = "/ws/chat?token=x";
  CHECK(take_query_param(target, "").empty());
  CHECK(target == "/ws/chat?token=x");
}
