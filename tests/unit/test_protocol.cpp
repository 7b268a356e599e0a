#include <catch2/catch.hpp>

#include <string>
#include <variant>
#include <vector>

#include <wsrelay/wire/protocol.hpp>

using namespace std::string_literals;
using wsrelay::Audience;
using wsrelay::channel_name;
using wsrelay::channels_for;
using wsrelay::ChannelSet;
using wsrelay::cookie_value;
using wsrelay::flag_from_name;
using wsrelay::Flags;
using wsrelay::flags_to_string;
using wsrelay::Identity;
using wsrelay::parse_target;
using wsrelay::select_subprotocol;
using wsrelay::Target;
using wsrelay::TargetError;
using wsrelay::valid_facility;
using wsrelay::valid_utf8;
using Strings = std::vector<std::string>;

namespace {

constexpr std::string_view base = "/ws/";

// parse_target must accept `target`; returns the Target.
Target accepted(std::string_view target) {
  INFO("target: " << target);
  auto result = parse_target(target, base);
  REQUIRE(result.has_value());
  REQUIRE(std::holds_alternative<Target>(*result));
  return std::get<Target>(*result);
}

// parse_target must refuse `target` with a TargetError; returns it.
TargetError refused(std::string_view target) {
  INFO("target: " << target);
  auto result = parse_target(target, base);
  REQUIRE(result.has_value());
  REQUIRE(std::holds_alternative<TargetError>(*result));
  return std::get<TargetError>(*result);
}

}  // namespace

// ---------------------------------------------------------------- parse_target

TEST_CASE("parse_target accepts a facility and its flags", "[protocol]") {
  auto t = accepted("/ws/foobar?subscribe-broadcast&publish-user&echo");
  CHECK(t.facility == "foobar");
  CHECK(t.flags == (wsrelay::subscribe_broadcast | wsrelay::publish_user | wsrelay::echo));
}

TEST_CASE("parse_target with no query has no flags", "[protocol]") {
  auto t = accepted("/ws/foobar");
  CHECK(t.facility == "foobar");
  CHECK(t.flags == 0);

  auto empty_query = accepted("/ws/foobar?");
  CHECK(empty_query.facility == "foobar");
  CHECK(empty_query.flags == 0);
}

TEST_CASE("parse_target accepts every flag name", "[protocol]") {
  auto t = accepted(
      "/ws/f?subscribe-broadcast&subscribe-user&subscribe-group&subscribe-session"
      "&publish-broadcast&publish-user&publish-group&publish-session&echo");
  CHECK(t.flags == wsrelay::all_flags);
}

TEST_CASE("parse_target flags are case-insensitive", "[protocol]") {
  auto t = accepted("/ws/f?Subscribe-Broadcast&PUBLISH-SESSION&eChO");
  CHECK(t.flags == (wsrelay::subscribe_broadcast | wsrelay::publish_session | wsrelay::echo));
}

TEST_CASE("parse_target ignores flag values", "[protocol]") {
  auto t = accepted("/ws/f?echo=1&subscribe-group=false&publish-broadcast=");
  CHECK(t.flags == (wsrelay::echo | wsrelay::subscribe_group | wsrelay::publish_broadcast));
}

TEST_CASE("parse_target ignores unknown flags and empty items", "[protocol]") {
  auto t = accepted("/ws/f?bogus&&subscribe-user&subscribe&echoo=1&publish-everything");
  CHECK(t.flags == wsrelay::subscribe_user);
}

TEST_CASE("parse_target keeps the facility's case", "[protocol]") {
  CHECK(accepted("/ws/FooBar").facility == "FooBar");
}

TEST_CASE("parse_target accepts the whole facility alphabet", "[protocol]") {
  CHECK(accepted("/ws/AZaz09_.-").facility == "AZaz09_.-");
  CHECK(accepted("/ws/.hidden").facility == ".hidden");
  CHECK(accepted("/ws/a..b").facility == "a..b");
}

TEST_CASE("parse_target returns nullopt for paths not under base", "[protocol]") {
  CHECK_FALSE(parse_target("/", base).has_value());
  CHECK_FALSE(parse_target("/ws", base).has_value());
  CHECK_FALSE(parse_target("/ws?echo", base).has_value());
  CHECK_FALSE(parse_target("/wsx/foo", base).has_value());
  CHECK_FALSE(parse_target("/metrics", base).has_value());
  CHECK_FALSE(parse_target("/WS/foo", base).has_value());
  CHECK_FALSE(parse_target("/api/ws/foo", base).has_value());
  CHECK_FALSE(parse_target("", base).has_value());
  // A '?' ends the path, so a base that only appears in the query is not a match.
  CHECK_FALSE(parse_target("/x?/ws/foo", base).has_value());
}

TEST_CASE("parse_target honours another base", "[protocol]") {
  auto result = parse_target("/realtime/chat?echo", "/realtime/");
  REQUIRE(result.has_value());
  REQUIRE(std::holds_alternative<Target>(*result));
  CHECK(std::get<Target>(*result).facility == "chat");
  CHECK(std::get<Target>(*result).flags == wsrelay::echo);
  CHECK_FALSE(parse_target("/ws/chat", "/realtime/").has_value());
}

TEST_CASE("parse_target refuses facility injection attempts with 400", "[protocol]") {
  const std::vector<std::string> bad = {
      "/ws/a:b",                   // would reach another audience's channel
      "/ws/*",                     // glob
      "/ws/a*",                    // glob
      "/ws/[",                     // glob class
      "/ws/a[bc]",                 // glob class
      "/ws/%3A",                   // ':' escaped
      "/ws/a%3ab",                 // ':' escaped, lower-case hex
      "/ws/%2A",                   // '*' escaped
      "/ws/%2F",                   // '/' escaped
      "/ws/%3F",                   // '?' escaped
      "/ws/%5B",                   // '[' escaped
      "/ws/%00",                   // NUL
      "/ws/%20",                   // space
      "/ws/a/b",                   // nested path
      "/ws/a/",                    // trailing slash
      "/ws/..",                    // dots only
      "/ws/.",                     // dots only
      "/ws/...",                   // dots only
      "/ws/%2E%2E",                // dots only, escaped
      "/ws/",                      // empty
      "/ws/?subscribe-broadcast",  // empty with flags
      "/ws/a b",
      "/ws/caf\xc3\xa9",  // non-ASCII
  };
  for (const auto& target : bad) {
    auto error = refused(target);
    INFO("target: " << target);
    CHECK(error.status == 400);
    CHECK_FALSE(error.reason.empty());
    CHECK(error.reason.find('\n') == std::string::npos);
  }
}

TEST_CASE("parse_target facility length limit is 128", "[protocol]") {
  std::string f128(128, 'a');
  CHECK(accepted("/ws/" + f128 + "?echo").facility == f128);

  auto error = refused("/ws/" + std::string(129, 'a'));
  CHECK(error.status == 400);

  // The limit applies to the decoded facility: 128 escapes decode to 128 chars.
  std::string escaped;
  for (int i = 0; i < 128; ++i) escaped += "%41";
  CHECK(accepted("/ws/" + escaped).facility == std::string(128, 'A'));
  CHECK(refused("/ws/" + escaped + "%41").status == 400);
}

TEST_CASE("parse_target refuses malformed percent-escapes", "[protocol]") {
  for (std::string target :
       {"/ws/%zz", "/ws/%", "/ws/a%", "/ws/%4", "/ws/a%4", "/ws/%g1", "/ws/%1g", "/ws/abc%?echo"}) {
    INFO("target: " << target);
    CHECK(refused(target).status == 400);
  }
}

TEST_CASE("parse_target decodes valid percent-escapes", "[protocol]") {
  CHECK(accepted("/ws/%41").facility == "A");
  CHECK(accepted("/ws/x%41y").facility == "xAy");
  CHECK(accepted("/ws/%61%62").facility == "ab");
  CHECK(accepted("/ws/%2d%5F").facility == "-_");
  CHECK(accepted("/ws/%41?echo").flags == wsrelay::echo);
}

TEST_CASE("valid_facility", "[protocol]") {
  CHECK(valid_facility("a"));
  CHECK(valid_facility(std::string(128, 'z')));
  CHECK(valid_facility("a.b-c_D9"));
  CHECK_FALSE(valid_facility(""));
  CHECK_FALSE(valid_facility(std::string(129, 'z')));
  CHECK_FALSE(valid_facility("."));
  CHECK_FALSE(valid_facility(".."));
  CHECK_FALSE(valid_facility("a:b"));
  CHECK_FALSE(valid_facility("a*"));
  CHECK_FALSE(valid_facility("a?"));
  CHECK_FALSE(valid_facility("a["));
  CHECK_FALSE(valid_facility("a/b"));
  CHECK_FALSE(valid_facility("a%41"));
  CHECK_FALSE(valid_facility("a\0b"s));
}

// ---------------------------------------------------------------- channel_name

TEST_CASE("channel_name uses ws4redis names without prefix", "[protocol]") {
  CHECK(channel_name("", Audience::broadcast, "", "f") == "broadcast:f");
  CHECK(channel_name("", Audience::user, "u", "f") == "user:u:f");
  CHECK(channel_name("", Audience::group, "g", "f") == "group:g:f");
  CHECK(channel_name("", Audience::session, "s", "f") == "session:s:f");
  // The key is ignored for broadcast.
  CHECK(channel_name("", Audience::broadcast, "ignored", "f") == "broadcast:f");
}

TEST_CASE("channel_name puts prefix and ':' first", "[protocol]") {
  CHECK(channel_name("p", Audience::broadcast, "", "f") == "p:broadcast:f");
  CHECK(channel_name("p", Audience::user, "u", "f") == "p:user:u:f");
  CHECK(channel_name("p", Audience::group, "g", "f") == "p:group:g:f");
  CHECK(channel_name("p", Audience::session, "s", "f") == "p:session:s:f");
  CHECK(channel_name("app1", Audience::user, "john", "chat") == "app1:user:john:chat");
}

// ---------------------------------------------------------------- channels_for

TEST_CASE("channels_for each subscribe flag alone", "[protocol]") {
  Identity id{"john"s, {"staff"}, "sk1"s};
  CHECK(channels_for(id, "f", wsrelay::subscribe_broadcast, "").subscribe ==
        Strings{"broadcast:f"});
  CHECK(channels_for(id, "f", wsrelay::subscribe_user, "").subscribe == Strings{"user:john:f"});
  CHECK(channels_for(id, "f", wsrelay::subscribe_group, "").subscribe == Strings{"group:staff:f"});
  CHECK(channels_for(id, "f", wsrelay::subscribe_session, "").subscribe ==
        Strings{"session:sk1:f"});
  for (Flags flag : {wsrelay::subscribe_broadcast, wsrelay::subscribe_user,
                     wsrelay::subscribe_group, wsrelay::subscribe_session}) {
    CHECK(channels_for(id, "f", flag, "").publish.empty());
  }
}

TEST_CASE("channels_for each publish flag alone", "[protocol]") {
  Identity id{"john"s, {"staff"}, "sk1"s};
  CHECK(channels_for(id, "f", wsrelay::publish_broadcast, "").publish == Strings{"broadcast:f"});
  CHECK(channels_for(id, "f", wsrelay::publish_user, "").publish == Strings{"user:john:f"});
  CHECK(channels_for(id, "f", wsrelay::publish_group, "").publish == Strings{"group:staff:f"});
  CHECK(channels_for(id, "f", wsrelay::publish_session, "").publish == Strings{"session:sk1:f"});
  for (Flags flag : {wsrelay::publish_broadcast, wsrelay::publish_user, wsrelay::publish_group,
                     wsrelay::publish_session}) {
    CHECK(channels_for(id, "f", flag, "").subscribe.empty());
  }
}

TEST_CASE("channels_for with all flags, in audience order, prefixed", "[protocol]") {
  Identity id{"john"s, {"g1", "g2"}, "sk"s};
  ChannelSet set = channels_for(id, "chat", wsrelay::all_flags, "app");
  Strings expected{"app:broadcast:chat", "app:user:john:chat", "app:group:g1:chat",
                   "app:group:g2:chat", "app:session:sk:chat"};
  CHECK(set.subscribe == expected);
  CHECK(set.publish == expected);
}

TEST_CASE("channels_for keeps subscribe and publish lists separate", "[protocol]") {
  Identity id{"john"s, {"g"}, "sk"s};
  ChannelSet set =
      channels_for(id, "f", wsrelay::subscribe_broadcast | wsrelay::publish_session, "");
  CHECK(set.subscribe == Strings{"broadcast:f"});
  CHECK(set.publish == Strings{"session:sk:f"});

  ChannelSet set2 = channels_for(id, "f", wsrelay::subscribe_user | wsrelay::publish_group, "");
  CHECK(set2.subscribe == Strings{"user:john:f"});
  CHECK(set2.publish == Strings{"group:g:f"});
}

TEST_CASE("channels_for gives no user channel without a user", "[protocol]") {
  Identity anonymous{std::nullopt, {}, "sk"s};
  ChannelSet set =
      channels_for(anonymous, "f", wsrelay::subscribe_user | wsrelay::publish_user, "");
  CHECK(set.subscribe.empty());
  CHECK(set.publish.empty());

  Identity empty_user{""s, {}, std::nullopt};
  CHECK(channels_for(empty_user, "f", wsrelay::subscribe_user, "").subscribe.empty());
}

TEST_CASE("channels_for gives no session channel without a session", "[protocol]") {
  Identity id{"john"s, {}, std::nullopt};
  ChannelSet set = channels_for(id, "f", wsrelay::subscribe_session | wsrelay::publish_session, "");
  CHECK(set.subscribe.empty());
  CHECK(set.publish.empty());

  Identity empty_session{"john"s, {}, ""s};
  CHECK(channels_for(empty_session, "f", wsrelay::subscribe_session, "").subscribe.empty());
}

TEST_CASE("channels_for gives one channel per group", "[protocol]") {
  Identity id{"john"s, {"a", "b", "c"}, std::nullopt};
  CHECK(channels_for(id, "f", wsrelay::subscribe_group, "").subscribe ==
        Strings{"group:a:f", "group:b:f", "group:c:f"});

  Identity no_groups{"john"s, {}, std::nullopt};
  CHECK(channels_for(no_groups, "f", wsrelay::subscribe_group, "").subscribe.empty());

  Identity blank_group{"john"s, {"", "x"}, std::nullopt};
  CHECK(channels_for(blank_group, "f", wsrelay::subscribe_group, "").subscribe ==
        Strings{"group:x:f"});
}

TEST_CASE("channels_for deduplicates", "[protocol]") {
  Identity id{"john"s, {"a", "b", "a", "b", "a"}, std::nullopt};
  ChannelSet set = channels_for(id, "f", wsrelay::subscribe_group | wsrelay::publish_group, "");
  CHECK(set.subscribe == Strings{"group:a:f", "group:b:f"});
  CHECK(set.publish == Strings{"group:a:f", "group:b:f"});
}

TEST_CASE("channels_for with no flags has no channels", "[protocol]") {
  Identity id{"john"s, {"g"}, "sk"s};
  ChannelSet set = channels_for(id, "f", 0, "");
  CHECK(set.subscribe.empty());
  CHECK(set.publish.empty());
  // echo alone chooses no channel.
  CHECK(channels_for(id, "f", wsrelay::echo, "").subscribe.empty());
}

// ---------------------------------------------------------------- subprotocols

TEST_CASE("select_subprotocol with no accepted list takes the first offered", "[protocol]") {
  CHECK(select_subprotocol("chat, superchat", {}) == "chat");
  CHECK(select_subprotocol("superchat", {}) == "superchat");
  CHECK(select_subprotocol("", {}) == "");
  CHECK(select_subprotocol("  ,  , v2", {}) == "v2");
}

TEST_CASE("select_subprotocol with a list takes the first offered in it", "[protocol]") {
  Strings accepted{"v2", "v1"};
  CHECK(select_subprotocol("v1, v2", accepted) == "v1");  // client's order wins
  CHECK(select_subprotocol("v3, v2", accepted) == "v2");
  CHECK(select_subprotocol("v3", accepted) == "");
  CHECK(select_subprotocol("V1", accepted) == "");  // tokens compare exactly
  CHECK(select_subprotocol("", accepted) == "");
  CHECK(select_subprotocol("v", accepted) == "");  // no prefix match
  CHECK(select_subprotocol("v1x", accepted) == "");
}

TEST_CASE("select_subprotocol selects RFC 6455 tokens only", "[protocol]") {
  // Whatever is selected is echoed in the 101: markup, quotes, spaces,
  // separators and control characters are never taken.
  CHECK(select_subprotocol("<script>", {}) == "");
  CHECK(select_subprotocol("<script>alert(1)</script>, chat", {}) == "chat");
  CHECK(select_subprotocol("a b", {}) == "");
  CHECK(select_subprotocol("\"quoted\"", {}) == "");
  CHECK(select_subprotocol("x;y, v1", {}) == "v1");
  CHECK(select_subprotocol("chat\x01", {}) == "");
  CHECK(select_subprotocol("caf\xc3\xa9", {}) == "");
  CHECK(select_subprotocol("v1.chat+json, x", {}) == "v1.chat+json");
  CHECK(select_subprotocol("!#$%&'*+-.^_`|~09azAZ", {}) == "!#$%&'*+-.^_`|~09azAZ");
  CHECK(wsrelay::is_token("chat"));
  CHECK_FALSE(wsrelay::is_token(""));
  CHECK_FALSE(wsrelay::is_token("a/b"));
}

TEST_CASE("select_subprotocol trims whitespace", "[protocol]") {
  CHECK(select_subprotocol("   chat  ,superchat", {}) == "chat");
  CHECK(select_subprotocol("\tchat\t", {}) == "chat");
  CHECK(select_subprotocol(" x ,\t v1 \t, v2", {"v1", "v2"}) == "v1");
  CHECK(select_subprotocol("x,v2", {"v1", "v2"}) == "v2");
}

// ---------------------------------------------------------------- cookies

TEST_CASE("cookie_value finds a cookie among several", "[protocol]") {
  std::string header = "csrftoken=abc; sessionid=s3cr3t; theme=dark";
  CHECK(cookie_value(header, "sessionid") == "s3cr3t");
  CHECK(cookie_value(header, "csrftoken") == "abc");
  CHECK(cookie_value(header, "theme") == "dark");
  CHECK(cookie_value("sessionid=only", "sessionid") == "only");
  CHECK(cookie_value("a=1;sessionid=tight;b=2", "sessionid") == "tight");
}

TEST_CASE("cookie_value unquotes a quoted value", "[protocol]") {
  CHECK(cookie_value("a=1; sessionid=\"quoted value\"; b=2", "sessionid") == "quoted value");
  CHECK(cookie_value("sessionid=\"\"", "sessionid") == "");
  CHECK(cookie_value("sessionid=\"", "sessionid") == "\"");  // one quote is kept
}

TEST_CASE("cookie_value keeps '=' inside the value", "[protocol]") {
  CHECK(cookie_value("token=a=b==", "token") == "a=b==");
}

TEST_CASE("cookie_value for an absent cookie is nullopt", "[protocol]") {
  CHECK_FALSE(cookie_value("", "sessionid").has_value());
  CHECK_FALSE(cookie_value("a=1; b=2", "sessionid").has_value());
  CHECK_FALSE(cookie_value("sessionid", "sessionid").has_value());  // no '='
  CHECK_FALSE(cookie_value("x=sessionid", "sessionid").has_value());
  CHECK_FALSE(cookie_value("SESSIONID=1", "sessionid").has_value());  // names are exact
}

TEST_CASE("cookie_value doesn't match a name that only ends or starts alike", "[protocol]") {
  CHECK(cookie_value("xsessionid=1; sessionid=2", "sessionid") == "2");
  CHECK(cookie_value("sessionidx=1; sessionid=2", "sessionid") == "2");
  CHECK_FALSE(cookie_value("xsessionid=1", "sessionid").has_value());
  CHECK_FALSE(cookie_value("sessionid2=1", "sessionid").has_value());
}

TEST_CASE("cookie_value empty value is present", "[protocol]") {
  auto v = cookie_value("sessionid=; a=1", "sessionid");
  REQUIRE(v.has_value());
  CHECK(v->empty());
}

// ---------------------------------------------------------------- UTF-8

TEST_CASE("valid_utf8 accepts well-formed text", "[protocol]") {
  CHECK(valid_utf8(""));
  CHECK(valid_utf8("hello, world"));
  CHECK(valid_utf8("\x7f"));
  CHECK(valid_utf8("\0"s));
  CHECK(valid_utf8("\xc2\x80"));          // U+0080, smallest 2-byte
  CHECK(valid_utf8("\xc3\xa9"));          // é
  CHECK(valid_utf8("\xdf\xbf"));          // U+07FF, largest 2-byte
  CHECK(valid_utf8("\xe0\xa0\x80"));      // U+0800, smallest 3-byte
  CHECK(valid_utf8("\xe2\x82\xac"));      // €
  CHECK(valid_utf8("\xed\x9f\xbf"));      // U+D7FF, just below surrogates
  CHECK(valid_utf8("\xee\x80\x80"));      // U+E000, just above surrogates
  CHECK(valid_utf8("\xef\xbf\xbf"));      // U+FFFF
  CHECK(valid_utf8("\xf0\x90\x80\x80"));  // U+10000, smallest 4-byte
  CHECK(valid_utf8("\xf0\x9f\x98\x80"));  // 😀
  CHECK(valid_utf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF, largest
  CHECK(valid_utf8("a\xc3\xa9z\xe2\x82\xac\xf0\x9f\x98\x80!"));
}

TEST_CASE("valid_utf8 refuses overlong forms", "[protocol]") {
  CHECK_FALSE(valid_utf8("\xc0\x80"));          // NUL, 2 bytes
  CHECK_FALSE(valid_utf8("\xc0\xaf"));          // '/', 2 bytes
  CHECK_FALSE(valid_utf8("\xc1\xbf"));          // U+007F, 2 bytes
  CHECK_FALSE(valid_utf8("\xe0\x80\x80"));      // NUL, 3 bytes
  CHECK_FALSE(valid_utf8("\xe0\x9f\xbf"));      // U+07FF, 3 bytes
  CHECK_FALSE(valid_utf8("\xf0\x80\x80\x80"));  // NUL, 4 bytes
  CHECK_FALSE(valid_utf8("\xf0\x8f\xbf\xbf"));  // U+FFFF, 4 bytes
}

TEST_CASE("valid_utf8 refuses surrogates", "[protocol]") {
  CHECK_FALSE(valid_utf8("\xed\xa0\x80"));              // U+D800
  CHECK_FALSE(valid_utf8("\xed\xad\xbf"));              // U+DB7F
  CHECK_FALSE(valid_utf8("\xed\xb0\x80"));              // U+DC00
  CHECK_FALSE(valid_utf8("\xed\xbf\xbf"));              // U+DFFF
  CHECK_FALSE(valid_utf8("\xed\xa0\xbd\xed\xb8\x80"));  // CESU-8 pair
}

TEST_CASE("valid_utf8 refuses code points past U+10FFFF", "[protocol]") {
  CHECK_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // U+110000
  CHECK_FALSE(valid_utf8("\xf5\x80\x80\x80"));
  CHECK_FALSE(valid_utf8("\xf7\xbf\xbf\xbf"));
  CHECK_FALSE(valid_utf8("\xf8\x88\x80\x80\x80"));      // 5-byte form
  CHECK_FALSE(valid_utf8("\xfc\x84\x80\x80\x80\x80"));  // 6-byte form
  CHECK_FALSE(valid_utf8("\xfe"));
  CHECK_FALSE(valid_utf8("\xff"));
}

TEST_CASE("valid_utf8 refuses stray and truncated sequences", "[protocol]") {
  CHECK_FALSE(valid_utf8("\x80"));  // lone continuation
  CHECK_FALSE(valid_utf8("\xbf"));
  CHECK_FALSE(valid_utf8("a\x80z"));
  CHECK_FALSE(valid_utf8("\xc3"));      // 2-byte, 1 present
  CHECK_FALSE(valid_utf8("\xe2\x82"));  // 3-byte, 2 present
  CHECK_FALSE(valid_utf8("\xe2"));
  CHECK_FALSE(valid_utf8("\xf0\x9f\x98"));  // 4-byte, 3 present
  CHECK_FALSE(valid_utf8("\xf0\x9f"));
  CHECK_FALSE(valid_utf8("\xf0"));
  CHECK_FALSE(valid_utf8("\xc3z"));  // continuation replaced by ASCII
  CHECK_FALSE(valid_utf8("\xe2\x82z"));
  CHECK_FALSE(valid_utf8("\xf0\x9f\x98z"));
  CHECK_FALSE(valid_utf8("\xc3\xc3\xa9"));      // start byte where a continuation belongs
  CHECK_FALSE(valid_utf8("\xe2\x82\xac\x80"));  // one continuation too many
}

TEST_CASE("valid_utf8 finds a bad byte at any position after ASCII", "[protocol]") {
  // Exercises the eight-bytes-at-a-time ASCII path and the byte-wise tail.
  for (std::size_t length = 1; length <= 40; ++length) {
    std::string ascii(length, 'a');
    for (std::size_t i = 0; i < length; ++i) ascii[i] = static_cast<char>('a' + i % 26);
    INFO("length " << length);
    CHECK(valid_utf8(ascii));
  }
  for (std::size_t pos = 0; pos <= 20; ++pos) {
    for (std::size_t tail : {0u, 1u, 7u, 8u, 9u, 16u}) {
      INFO("bad byte at " << pos << ", ascii after it " << tail);
      std::string lone = std::string(pos, 'x') + "\x80" + std::string(tail, 'y');
      CHECK_FALSE(valid_utf8(lone));
      std::string ff = std::string(pos, 'x') + "\xff" + std::string(tail, 'y');
      CHECK_FALSE(valid_utf8(ff));
      std::string truncated = std::string(pos, 'x') + "\xe2\x82" + std::string(tail, 'y');
      CHECK_FALSE(valid_utf8(truncated));
      std::string surrogate = std::string(pos, 'x') + "\xed\xa0\x80" + std::string(tail, 'y');
      CHECK_FALSE(valid_utf8(surrogate));
      // The same positions with a valid multi-byte character are fine.
      std::string good = std::string(pos, 'x') + "\xf0\x9f\x98\x80" + std::string(tail, 'y');
      CHECK(valid_utf8(good));
    }
  }
}

TEST_CASE("valid_utf8 stops at the end of the view", "[protocol]") {
  // A valid prefix of a buffer whose next byte is invalid.
  std::string buffer = "abcdefghijklmnop\xff";
  CHECK(valid_utf8(std::string_view(buffer).substr(0, 16)));
  CHECK_FALSE(valid_utf8(buffer));
  // A view that ends inside a multi-byte character.
  std::string euro = "abcdefgh\xe2\x82\xac";
  CHECK(valid_utf8(euro));
  CHECK_FALSE(valid_utf8(std::string_view(euro).substr(0, 10)));
}

// ---------------------------------------------------------------- flags

TEST_CASE("flag_from_name maps every name", "[protocol]") {
  CHECK(flag_from_name("subscribe-broadcast") == wsrelay::subscribe_broadcast);
  CHECK(flag_from_name("subscribe-user") == wsrelay::subscribe_user);
  CHECK(flag_from_name("subscribe-group") == wsrelay::subscribe_group);
  CHECK(flag_from_name("subscribe-session") == wsrelay::subscribe_session);
  CHECK(flag_from_name("publish-broadcast") == wsrelay::publish_broadcast);
  CHECK(flag_from_name("publish-user") == wsrelay::publish_user);
  CHECK(flag_from_name("publish-group") == wsrelay::publish_group);
  CHECK(flag_from_name("publish-session") == wsrelay::publish_session);
  CHECK(flag_from_name("echo") == wsrelay::echo);
}

TEST_CASE("flag_from_name is case-insensitive and exact otherwise", "[protocol]") {
  CHECK(flag_from_name("ECHO") == wsrelay::echo);
  CHECK(flag_from_name("Publish-Group") == wsrelay::publish_group);
  CHECK_FALSE(flag_from_name("").has_value());
  CHECK_FALSE(flag_from_name("echo ").has_value());
  CHECK_FALSE(flag_from_name("subscribe").has_value());
  CHECK_FALSE(flag_from_name("subscribe_broadcast").has_value());
  CHECK_FALSE(flag_from_name("subscribe-broadcasts").has_value());
  CHECK_FALSE(flag_from_name("echo=1").has_value());
}

TEST_CASE("flags_to_string lists flags in declaration order", "[protocol]") {
  CHECK(flags_to_string(0) == "");
  CHECK(flags_to_string(wsrelay::echo) == "echo");
  CHECK(flags_to_string(wsrelay::echo | wsrelay::subscribe_broadcast) ==
        "subscribe-broadcast,echo");
  CHECK(flags_to_string(wsrelay::publish_flags) ==
        "publish-broadcast,publish-user,publish-group,publish-session");
  CHECK(flags_to_string(wsrelay::all_flags) ==
        "subscribe-broadcast,subscribe-user,subscribe-group,subscribe-session,"
        "publish-broadcast,publish-user,publish-group,publish-session,echo");
  // Bits beyond the known flags are not named.
  CHECK(flags_to_string(static_cast<Flags>(0x8000 | wsrelay::subscribe_user)) == "subscribe-user");
}

TEST_CASE("flags_to_string and flag_from_name round-trip", "[protocol]") {
  for (Flags bit = 1; bit & wsrelay::all_flags; bit = static_cast<Flags>(bit << 1)) {
    std::string name = flags_to_string(bit);
    INFO("bit " << bit << " name " << name);
    REQUIRE(name.find(',') == std::string::npos);
    auto flag = flag_from_name(name);
    REQUIRE(flag.has_value());
    CHECK(static_cast<Flags>(*flag) == bit);
  }
}
