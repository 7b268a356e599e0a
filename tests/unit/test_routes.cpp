// Channel routes, fed values: Redis's glob, the channels a connection gets
// on a routed facility, the [[routes]] tables of the file, the pattern
// replies of a subscriber connection and the tracker's PSUBSCRIBEs.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "resp_values.hpp"

#include <wsrelay/backend/subscription_tracker.hpp>
#include <wsrelay/config/config.hpp>
#include <wsrelay/wire/resp.hpp>
#include <wsrelay/wire/routes.hpp>

#include "config_error.hpp"

using namespace wsrelay;
using Catch::Matchers::StartsWith;
using wsrelay::test::error_of;
using Strings = std::vector<std::string>;

TEST_CASE("glob_match reads patterns as Redis's stringmatchlen does", "[routes]") {
  CHECK(glob_match("app:orders:*", "app:orders:42"));
  CHECK(glob_match("app:orders:*", "app:orders:"));
  CHECK_FALSE(glob_match("app:orders:*", "app:orderz:1"));
  CHECK(glob_match("h?llo", "hello"));
  CHECK_FALSE(glob_match("h?llo", "hllo"));
  CHECK(glob_match("h[ae]llo", "hallo"));
  CHECK_FALSE(glob_match("h[ae]llo", "hillo"));
  CHECK(glob_match("h[^e]llo", "hallo"));
  CHECK_FALSE(glob_match("h[^e]llo", "hello"));
  CHECK(glob_match("h[a-c]llo", "hbllo"));
  CHECK(glob_match("h[c-a]llo", "hbllo"));
  CHECK(glob_match("a\\*b", "a*b"));
  CHECK_FALSE(glob_match("a\\*b", "axb"));
  CHECK(glob_match("*a*b*c*", "xxaxxbxxcxx"));
  CHECK_FALSE(glob_match("*a*b*c*", "xxaxxcxxbxx"));
  CHECK(glob_match("*", ""));
  CHECK_FALSE(glob_match("", "a"));
  // Many stars cost no recursion: a long mismatch still answers.
  CHECK_FALSE(glob_match(std::string(200, '*') + "x", std::string(100000, 'a')));
}

TEST_CASE("pattern keys never meet a channel name", "[routes]") {
  const std::string key = pattern_key("app:*");
  CHECK(is_pattern_key(key));
  CHECK(pattern_of(key) == "app:*");
  CHECK_FALSE(is_pattern_key("app:*"));
  CHECK(pattern_of("app:x") == "app:x");
}

TEST_CASE("a routed facility's broadcast audience is its routes", "[routes]") {
  const std::vector<Route> routes{
      {"notes", "app:notifications", false, subscribe_broadcast, false},
      {"notes", "app:notes:*", true, subscribe_broadcast, false},
      {"chat", "app:chat", false, subscribe_broadcast | publish_broadcast, true},
      {"drop", "app:drop", false, publish_broadcast, false},
  };
  Identity alice{"alice", {}, "k"};
  SECTION("flags") {
    CHECK(route_allowed_flags(routes, "other") == all_flags);
    CHECK((route_allowed_flags(routes, "notes") & publish_broadcast) == 0);
    CHECK((route_allowed_flags(routes, "notes") & subscribe_broadcast) != 0);
    CHECK((route_allowed_flags(routes, "notes") & publish_user) != 0);
    CHECK((route_allowed_flags(routes, "drop") & subscribe_broadcast) == 0);
  }
  SECTION("channels") {
    auto set =
        routed_channels_for(alice, "notes", subscribe_broadcast | subscribe_user, "p", routes);
    CHECK(set.subscribe ==
          Strings{"app:notifications", pattern_key("app:notes:*"), "p:user:alice:notes"});
    CHECK(set.publish.empty());
    set = routed_channels_for(alice, "chat", subscribe_broadcast | publish_broadcast, "", routes);
    CHECK(set.subscribe == Strings{"app:chat"});
    CHECK(set.publish == Strings{"app:chat"});
    // A facility no route names keeps the ws4redis names.
    set = routed_channels_for(alice, "other", subscribe_broadcast, "", routes);
    CHECK(set.subscribe == Strings{"broadcast:other"});
  }
  SECTION("live-only keys: patterns, and routes without replay") {
    CHECK(live_only_keys(routes) ==
          Strings{"app:notifications", pattern_key("app:notes:*"), "app:drop"});
  }
}

namespace {

std::string routes_error(const std::string& text) {
  return error_of([&] { parse_config_toml(text, "wsrelay.toml"); });
}

}  // namespace

TEST_CASE("[[routes]] tables are read and checked, naming the key", "[routes][config]") {
  const Config c = parse_config_toml(R"(
[[routes]]
facility = "notes"
channel = "app:notifications"

[[routes]]
facility = "orders"
channel = "app:orders:*"
pattern = true

[[routes]]
facility = "chat"
channel = "app:chat"
flags = ["subscribe-broadcast", "publish-broadcast"]
replay = true
)",
                                     "wsrelay.toml");
  REQUIRE(c.routes.size() == 3);
  CHECK(c.routes[0] == Route{"notes", "app:notifications", false, subscribe_broadcast, false});
  CHECK(c.routes[1].pattern);
  CHECK(c.routes[2].flags == (subscribe_broadcast | publish_broadcast));
  CHECK(c.routes[2].replay);
  // --check-config prints them back, and they read the same.
  CHECK(parse_config_toml(to_toml(c), "again").routes == c.routes);

  CHECK(routes_error("routes = 1\n") == "wsrelay.toml:1: routes: expected [[routes]] tables");
  CHECK(routes_error("[routes]\nfacility = \"a\"\n") ==
        "wsrelay.toml:1: routes: expected [[routes]] tables");
  CHECK(routes_error("[[routes]]\nchannel = \"a\"\n") ==
        "wsrelay.toml:1: routes[1].facility: missing");
  CHECK(routes_error("[[routes]]\nfacility = \"a\"\n") ==
        "wsrelay.toml:1: routes[1].channel: missing");
  CHECK_THAT(routes_error("[[routes]]\nfacility = \"a:b\"\nchannel = \"x\"\n"),
             StartsWith("wsrelay.toml:2: routes[1].facility: must be 1-128 characters"));
  CHECK(routes_error("[[routes]]\nfacility = \"a\"\nchannel = \"\"\n") ==
        "wsrelay.toml:3: routes[1].channel: must not be empty");
  CHECK(routes_error("[[routes]]\nfacility = \"a\"\nchannel = \"x\\ny\"\n") ==
        "wsrelay.toml:3: routes[1].channel: must not contain control characters");
  CHECK_THAT(routes_error("[[routes]]\nfacility = \"a\"\nchannel = \"x\"\nchanel = 1\n"),
             StartsWith("wsrelay.toml:4: routes[1].chanel: unknown key"));
  CHECK_THAT(
      routes_error("[[routes]]\nfacility = \"a\"\nchannel = \"x\"\nflags = [\"subscribe-user\"]\n"),
      StartsWith("wsrelay.toml:4: routes[1].flags: a route carries only"));
  CHECK(routes_error("[[routes]]\nfacility = \"a\"\nchannel = \"x\"\nflags = []\n") ==
        "wsrelay.toml:4: routes[1].flags: must list at least one flag");
  CHECK(routes_error("[[routes]]\nfacility = \"a\"\nchannel = \"x\"\npattern = \"yes\"\n") ==
        "wsrelay.toml:4: routes[1].pattern: expected true or false");
  CHECK(routes_error("[[routes]]\nfacility = \"a\"\nchannel = \"x*\"\npattern = true\n"
                     "flags = [\"publish-broadcast\"]\n") ==
        "wsrelay.toml:1: routes[1].flags: a pattern route cannot carry \"publish-broadcast\"");
  CHECK(routes_error("[[routes]]\nfacility = \"a\"\nchannel = \"x*\"\npattern = true\n"
                     "replay = true\n") ==
        "wsrelay.toml:1: routes[1].replay: a pattern has no stored value to replay");
  CHECK(routes_error("[[routes]]\nfacility = \"a\"\nchannel = \"x\"\n"
                     "[[routes]]\nfacility = \"a\"\nchannel = \"x\"\n") ==
        "routes[2]: the same facility and channel as routes[1]");
  CHECK(routes_error("[[routes]]\nfacility = \"a\"\nchannel = \"x\"\n"
                     "[[routes]]\nfacility = \"b\"\nchannel = \"x\"\nreplay = true\n") ==
        "routes[2].replay: routes[1] names the same channel with another replay");
}

TEST_CASE("routes are kept on a reload: a restart applies them", "[routes][config]") {
  Config running;
  Config loaded;
  loaded.routes.push_back({"a", "x", false, subscribe_broadcast, false});
  const auto reload = plan_reload(running, loaded);
  CHECK(reload.config.routes.empty());
  CHECK(reload.kept == Strings{"routes"});
}

using wsrelay::test::array;
using wsrelay::test::bulk;
using wsrelay::test::integer;

TEST_CASE("pattern replies are classified under the pattern's key", "[routes][resp]") {
  Push p = classify_push(array({bulk("pmessage"), bulk("app:*"), bulk("app:1"), bulk("hi")}));
  CHECK(p.kind == Push::Kind::message);
  CHECK(p.channel == pattern_key("app:*"));
  CHECK(p.payload == "hi");
  p = classify_push(array({bulk("pmessage"), bulk("app:*"), bulk("app:1"), integer(5000000)}));
  CHECK(p.kind == Push::Kind::oversized);
  CHECK(p.channel == pattern_key("app:*"));
  CHECK(p.count == 5000000);
  p = classify_push(array({bulk("psubscribe"), bulk("app:*"), integer(2)}));
  CHECK(p.kind == Push::Kind::subscribed);
  CHECK(p.channel == pattern_key("app:*"));
  CHECK(p.count == 2);
  p = classify_push(array({bulk("punsubscribe"), bulk("app:*"), integer(1)}));
  CHECK(p.kind == Push::Kind::unsubscribed);
  CHECK(p.channel == pattern_key("app:*"));
  // A malformed one is nothing.
  CHECK(classify_push(array({bulk("pmessage"), bulk("app:*"), bulk("x")})).kind ==
        Push::Kind::other);
}

TEST_CASE("tracker: patterns go out in PSUBSCRIBEs and are confirmed by their acks",
          "[routes][tracker]") {
  SubscriptionTracker t;
  const std::string pattern = pattern_key("app:*");
  t.subscribe({"a", pattern});
  auto events = t.connected();
  REQUIRE(events.send.size() == 2);
  CHECK(events.send[0] == SubscriptionTracker::Command{"SUBSCRIBE", "a"});
  CHECK(events.send[1] == SubscriptionTracker::Command{"PSUBSCRIBE", "app:*"});
  CHECK(t.on_reply(Push{Push::Kind::subscribed, "a", {}, 1}).confirmed == Strings{"a"});
  CHECK_FALSE(t.settled());
  events = t.on_reply(Push{Push::Kind::subscribed, pattern, {}, 2});
  CHECK(events.confirmed == Strings{pattern});
  CHECK(events.settled);
  CHECK(t.wants(pattern));

  // Refused on its own: reported under its key.
  const std::string denied = pattern_key("secret:*");
  events = t.subscribe({denied});
  CHECK(events.send == std::vector<SubscriptionTracker::Command>{{"PSUBSCRIBE", "secret:*"}});
  events = t.on_reply(Push{Push::Kind::error, {}, "NOPERM no", 0});
  REQUIRE(events.refused.size() == 1);
  CHECK(events.refused[0].first == denied);

  t.unsubscribe({denied});
  events = t.unsubscribe({"a", pattern});
  CHECK(events.send ==
        std::vector<SubscriptionTracker::Command>{{"UNSUBSCRIBE", "a"}, {"PUNSUBSCRIBE", "app:*"}});
  // After a reconnect only what is still wanted goes out again.
  t.disconnected();
  t.subscribe({pattern});
  events = t.connected();
  CHECK(events.send == std::vector<SubscriptionTracker::Command>{{"PSUBSCRIBE", "app:*"}});
}
