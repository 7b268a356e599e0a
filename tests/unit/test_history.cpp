// The pure parts of history (docs/history.md): rules, ids, keys, the marked
// live payload, the resume decision, the request's query, and the held
// messages a replay covers.
#include <catch2/catch.hpp>

#include <wsrelay/config/config.hpp>
#include <wsrelay/gateway/outbound_queue.hpp>
#include <wsrelay/wire/history.hpp>
#include <wsrelay/wire/message.hpp>
#include <wsrelay/wire/resp.hpp>

#include "resp_values.hpp"

using namespace wsrelay;

namespace {

using test::array;
using test::integer;
RespValue str(std::string s) {
  return test::bulk(std::move(s));
}
// One stream entry as XRANGE gives it: [id, ["d", message, "p", previous]].
RespValue entry(const std::string& id, const std::string& message, const std::string& previous) {
  return array({str(id), array({str("d"), str(message), str("p"), str(previous)})});
}
// The read script's reply: clock, now, then {exists, entries} per channel.
RespValue reply(const std::string& clock, long long now_ms,
                std::vector<std::pair<bool, std::vector<RespValue>>> channels) {
  std::vector<RespValue> out{str(clock), str(std::to_string(now_ms))};
  for (auto& [exists, entries] : channels)
    out.push_back(array({integer(exists ? 1 : 0), array(std::move(entries))}));
  return array(std::move(out));
}

constexpr StreamId id(std::uint64_t ms, std::uint64_t seq) {
  return StreamId{ms, seq};
}

}  // namespace

TEST_CASE("history rules: GLOB=ENTRIES[/TTL], first match wins", "[history]") {
  std::string error;
  auto rule = parse_history_rule("chat*=1000/3600", 86400, error);
  REQUIRE(rule);
  CHECK(*rule == HistoryRule{"chat*", 1000, 3600});
  rule = parse_history_rule(" feed = 10 ", 86400, error);
  REQUIRE(rule);
  CHECK(*rule == HistoryRule{"feed", 10, 86400});
  for (const char* bad : {"chat", "chat=", "chat=0", "chat=x", "chat=10/0", "chat=10/x", "ch:at=10",
                          "chat=100001", "=10", "chat=10/99999999"}) {
    INFO(bad);
    error.clear();
    CHECK_FALSE(parse_history_rule(bad, 86400, error));
    CHECK_FALSE(error.empty());
  }
  const std::vector<HistoryRule> rules{{"chat", 5, 60}, {"*", 7, 60}};
  CHECK(history_for(rules, "chat")->entries == 5);
  CHECK(history_for(rules, "other")->entries == 7);
  CHECK(history_for({}, "chat") == nullptr);
}

TEST_CASE("history channels: only ws4redis names, after the prefix", "[history]") {
  const std::vector<HistoryRule> rules{{"chat", 5, 60}};
  CHECK(history_for_channel(rules, "", "broadcast:chat"));
  CHECK(history_for_channel(rules, "", "user:john:chat"));
  CHECK(history_for_channel(rules, "", "group:staff:chat"));
  CHECK(history_for_channel(rules, "", "session:abc:chat"));
  CHECK_FALSE(history_for_channel(rules, "", "broadcast:news"));
  CHECK_FALSE(history_for_channel(rules, "", "app:chat"));  // a route's own channel
  CHECK(history_for_channel(rules, "p", "p:broadcast:chat"));
  CHECK_FALSE(history_for_channel(rules, "p", "broadcast:chat"));
  CHECK_FALSE(history_for_channel({}, "", "broadcast:chat"));
}

TEST_CASE("stream ids and keys", "[history]") {
  CHECK(parse_stream_id("1700000000000-3") == id(1700000000000, 3));
  CHECK(to_string(id(12, 0)) == "12-0");
  for (const char* bad :
       {"", "-", "1-", "-1", "1", "a-1", "1-1-1", "1 -1", "+1-1", "123456789012345678901-0"})
    CHECK_FALSE(parse_stream_id(bad));
  CHECK(id(1, 5) < id(2, 0));
  CHECK(id(2, 1) > id(2, 0));
  CHECK(history_stream_key("", "user:john:chat") == "history:user:john:chat");
  CHECK(history_stream_key("p", "p:broadcast:chat") == "p:history:broadcast:chat");
  CHECK(history_clock_key("") == "history:clock");
  CHECK(history_clock_key("p") == "p:history:clock");
}

TEST_CASE("marked payloads: the id is read only after the exact marker", "[history]") {
  const std::string marker(history_marker);
  const std::string published = marker + "17-2 hello world";
  auto marked = parse_marked(published);
  REQUIRE(marked);
  CHECK(marked->id == id(17, 2));
  CHECK(marked->envelope == "17-2 hello world");
  CHECK(marked->message == "hello world");
  const std::string empty_message = marker + "17-2 ";
  auto empty = parse_marked(empty_message);
  REQUIRE(empty);
  CHECK(empty->message.empty());
  for (const std::string& plain : {std::string("17-2 hello"), marker + "17-2", marker + "x-2 hi",
                                   marker.substr(1) + "17-2 hi", std::string("")})
    CHECK_FALSE(parse_marked(plain));
  CHECK(unpositioned_envelope("hi") == "- hi");

  // The message built from it: a plain frame and the envelope, one hash.
  auto message = Message::make_positioned("c", marked->message, marked->envelope, marked->id);
  REQUIRE(message->positioned());
  CHECK(message->payload() == "hello world");
  CHECK(message->positioned()->payload() == "17-2 hello world");
  CHECK(message->hash() == message->positioned()->hash());
  CHECK(message->position() == id(17, 2));
  CHECK_FALSE(Message::make("c", "x")->positioned());
}

TEST_CASE("the publish and read arguments name the stream, the clock and the channel",
          "[history]") {
  auto args = history_publish_args(true, "p", "p:broadcast:chat", "hi", {"chat", 10, 60}, 3600);
  REQUIRE(args.size() == 11);
  CHECK(args[0] == "EVALSHA");
  CHECK(args[1] == history_publish_sha());
  CHECK(args[1].size() == 40);
  CHECK(args[3] == "p:history:broadcast:chat");
  CHECK(args[4] == "p:history:clock");
  CHECK(args[5] == "p:broadcast:chat");
  CHECK(args[6] == "hi");
  CHECK(args[7] == "10");
  CHECK(args[8] == "60");
  CHECK(args[9] == "3600");
  CHECK(args[10] == std::string(history_marker));
  auto eval = history_publish_args(false, "", "broadcast:chat", "hi", {"chat", 10, 60}, 0);
  CHECK(eval[1] == history_publish_script());
  CHECK(eval[9] == "0");

  auto read = history_read_args(true, "", {"broadcast:chat", "user:u:chat"}, id(5, 1), 10);
  CHECK(read == std::vector<std::string>{"EVALSHA", history_read_sha(), "3",
                                         "history:broadcast:chat", "history:user:u:chat",
                                         "history:clock", "5-1", "10"});
  CHECK(history_read_args(false, "", {"broadcast:chat"}, std::nullopt, 10)[5].empty());
}

TEST_CASE("resume: entries after since, merged across channels in id order", "[history]") {
  const auto read = reply("30-0", 1000,
                          {{true, {entry("11-0", "a", "10-0"), entry("30-0", "c", "11-0")}},
                           {true, {entry("20-0", "b", "5-0")}}});
  const auto replay = decide_history_replay(read, id(10, 0), 10, 60);
  REQUIRE_FALSE(replay.reset);
  REQUIRE(replay.entries.size() == 3);
  CHECK(replay.entries[0].message == "a");
  CHECK(replay.entries[0].channel == 0);
  CHECK(replay.entries[1].message == "b");
  CHECK(replay.entries[1].channel == 1);
  CHECK(replay.entries[2].message == "c");
  CHECK(replay.watermark == id(30, 0));
}

TEST_CASE("resume: the gap rules", "[history]") {
  const std::uint64_t ttl_ms = 60'000;
  SECTION("nothing new, the stream there: no gap") {
    auto r = decide_history_replay(reply("10-0", 5000, {{true, {}}}), id(10, 0), 5, 60);
    CHECK_FALSE(r.reset);
    CHECK(r.entries.empty());
    CHECK(r.watermark == id(10, 0));
  }
  SECTION("the predecessor of the first entry is since: no gap") {
    auto r = decide_history_replay(reply("12-0", 5000, {{true, {entry("12-0", "x", "10-0")}}}),
                                   id(10, 0), 5, 60);
    CHECK_FALSE(r.reset);
    CHECK(r.entries.size() == 1);
  }
  SECTION("the predecessor is before since (since was on another channel): no gap") {
    auto r = decide_history_replay(reply("12-0", 5000, {{true, {entry("12-0", "x", "3-0")}}}),
                                   id(10, 0), 5, 60);
    CHECK_FALSE(r.reset);
  }
  SECTION("the predecessor is after since: it was trimmed") {
    auto r = decide_history_replay(reply("12-0", 5000, {{true, {entry("12-0", "x", "11-0")}}}),
                                   id(10, 0), 5, 60);
    CHECK(r.reset);
    CHECK(r.entries.empty());
  }
  SECTION("more than the limit behind") {
    std::vector<RespValue> entries;
    for (int i = 1; i <= 6; ++i)
      entries.push_back(entry(std::to_string(10 + i) + "-0", "x", std::to_string(9 + i) + "-0"));
    auto r = decide_history_replay(reply("16-0", 5000, {{true, entries}}), id(10, 0), 5, 60);
    CHECK(r.reset);
    entries.pop_back();
    CHECK_FALSE(
        decide_history_replay(reply("15-0", 5000, {{true, entries}}), id(10, 0), 5, 60).reset);
  }
  SECTION("no stream: a gap only once since + ttl has passed") {
    CHECK_FALSE(
        decide_history_replay(reply("10-0", 10 + ttl_ms - 1, {{false, {}}}), id(10, 0), 5, 60)
            .reset);
    CHECK(decide_history_replay(reply("10-0", 10 + ttl_ms, {{false, {}}}), id(10, 0), 5, 60).reset);
  }
  SECTION("a stream begun after since + ttl may follow an expired one") {
    auto fresh = [&](std::uint64_t ms) {
      return reply("0-0", 0, {{true, {entry(std::to_string(ms) + "-0", "x", "")}}});
    };
    CHECK_FALSE(decide_history_replay(fresh(10 + ttl_ms - 1), id(10, 0), 5, 60).reset);
    CHECK(decide_history_replay(fresh(10 + ttl_ms), id(10, 0), 5, 60).reset);
  }
  SECTION("one channel's gap resets the whole connection") {
    auto r = decide_history_replay(
        reply("12-0", 5000,
              {{true, {entry("12-0", "x", "10-0")}}, {true, {entry("11-5", "y", "10-9")}}}),
        id(10, 0), 5, 60);
    CHECK(r.reset);
  }
  SECTION("a malformed reply is a reset") {
    CHECK(decide_history_replay(str("nope"), id(1, 0), 5, 60).reset);
    CHECK(decide_history_replay(array({str("1-0"), str("x")}), id(1, 0), 5, 60).reset);
    CHECK(decide_history_replay(reply("1-0", 5, {{true, {array({str("bad-id"), array({})})}}}),
                                id(1, 0), 5, 60)
              .reset);
  }
  SECTION("without since: the last entries, no gap check") {
    auto r = decide_history_replay(
        reply("20-0", 99'999'999, {{true, {entry("20-0", "x", "19-0")}}, {false, {}}}),
        std::nullopt, 5, 60);
    CHECK_FALSE(r.reset);
    REQUIRE(r.entries.size() == 1);
    CHECK(r.watermark == id(20, 0));
  }
}

TEST_CASE("the held live messages a replay covers are dropped by id", "[history]") {
  OutboundQueue queue;
  auto at = [](std::uint64_t ms, const char* text) {
    return Message::make_positioned("c", text, std::to_string(ms) + "-0 " + text, id(ms, 0))
        ->positioned();
  };
  queue.hold(at(5, "five"));
  queue.hold(at(7, "seven"));
  queue.hold(Message::make_positioned("c", "plain", "- plain", std::nullopt)->positioned());
  queue.hold(at(9, "nine"));
  const std::size_t before = queue.waiting_bytes();
  CHECK(queue.drop_held_through(id(7, 0)) == 2);
  REQUIRE(queue.held().size() == 2);
  CHECK(queue.held()[0]->payload() == "- plain");
  CHECK(queue.held()[1]->payload() == "9-0 nine");
  CHECK(queue.waiting_bytes() < before);
  CHECK(queue.drop_held_through(id(100, 0)) == 1);  // the one without a position stays
  CHECK(queue.held().size() == 1);
}

TEST_CASE("the history request: history, since, and a bad since", "[history]") {
  CHECK_FALSE(parse_history_request("/ws/chat?subscribe-broadcast").positions);
  CHECK(parse_history_request("/ws/chat?History").positions);
  auto r = parse_history_request("/ws/chat?subscribe-broadcast&since=17-3");
  CHECK(r.positions);
  CHECK(r.since == id(17, 3));
  CHECK(r.error.empty());
  CHECK_FALSE(parse_history_request("/ws/chat?since=x").error.empty());
  CHECK_FALSE(parse_history_request("/ws/chat?since").error.empty());
  CHECK(parse_history_request("/ws/chat?since=1-0&since=x").since == id(1, 0));
}

TEST_CASE("config: history.facilities checked, needs Redis, not on a routed facility",
          "[history][config]") {
  Config c;
  set_config_value(c, "history.facilities", "chat=10/60,feed*=5");
  set_config_value(c, "history.ttl_seconds", "120");
  c.redis_url = "redis://127.0.0.1:6379";
  validate(c);
  REQUIRE(c.history_rules.size() == 2);
  CHECK(c.history_rules[0] == HistoryRule{"chat", 10, 60});
  CHECK(c.history_rules[1] == HistoryRule{"feed*", 5, 120});

  Config no_redis = c;
  no_redis.redis_url.clear();
  CHECK_THROWS_WITH(validate(no_redis), Catch::Contains("needs redis.url"));

  CHECK_THROWS_WITH(set_config_value(c, "history.facilities", "chat=0"),
                    Catch::Contains("ENTRIES must be between 1"));

  Config routed = parse_config_toml(
      "[redis]\nurl = \"redis://127.0.0.1:6379\"\n"
      "[[routes]]\nfacility = \"feed1\"\nchannel = \"app:feed\"\n",
      "t.toml");
  routed.history_facilities = {"feed*=5"};
  CHECK_THROWS_WITH(validate(routed), Catch::Contains("routed facility"));
}
