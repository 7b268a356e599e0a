#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <wsrelay/wire/resp.hpp>

using namespace std::string_literals;
using wsrelay::classify_push;
using wsrelay::format_command;
using wsrelay::Push;
using wsrelay::RespReader;
using wsrelay::RespValue;

namespace {

RespValue bulk(std::string s) {
  return RespValue{RespValue::Type::string, std::move(s), 0, {}};
}
RespValue status(std::string s) {
  return RespValue{RespValue::Type::status, std::move(s), 0, {}};
}
RespValue error(std::string s) {
  return RespValue{RespValue::Type::error, std::move(s), 0, {}};
}
RespValue integer(long long i) {
  return RespValue{RespValue::Type::integer, {}, i, {}};
}
RespValue nil() {
  return RespValue{};
}
RespValue array(std::vector<RespValue> e) {
  return RespValue{RespValue::Type::array, {}, 0, std::move(e)};
}

// Feeds `chunks` one after the other and collects every reply.
std::vector<RespValue> parse(const std::vector<std::string>& chunks, bool* failed = nullptr) {
  RespReader reader;
  std::vector<RespValue> out;
  for (const auto& chunk : chunks) {
    reader.feed(chunk);
    while (auto value = reader.next()) out.push_back(std::move(*value));
  }
  if (failed != nullptr) *failed = reader.failed();
  return out;
}

struct Case {
  std::string name;
  std::string bytes;
  std::vector<RespValue> expected;
};

std::vector<Case> cases() {
  return {
      {"bulk", "$5\r\nhello\r\n", {bulk("hello")}},
      {"empty bulk", "$0\r\n\r\n", {bulk("")}},
      {"binary bulk with NUL and CRLF", "$7\r\na\0b\r\nc\xff\r\n"s, {bulk("a\0b\r\nc\xff"s)}},
      {"status", "+OK\r\n", {status("OK")}},
      {"error", "-ERR unknown command 'FOO'\r\n", {error("ERR unknown command 'FOO'")}},
      {"integers", ":42\r\n:-7\r\n:0\r\n", {integer(42), integer(-7), integer(0)}},
      {"nil bulk and nil array", "$-1\r\n*-1\r\n", {nil(), nil()}},
      {"empty array", "*0\r\n", {array({})}},
      {"array of binary bulks",
       "*3\r\n$3\r\nSET\r\n$3\r\nk\0y\r\n$2\r\n\r\n\r\n"s,
       {array({bulk("SET"), bulk("k\0y"s), bulk("\r\n")})}},
      {"nested with nil and integer",
       "*3\r\n*2\r\n:1\r\n$1\r\nx\r\n$-1\r\n*1\r\n*0\r\n",
       {array({array({integer(1), bulk("x")}), nil(), array({array({})})})}},
      {"subscribed-mode message",
       "*3\r\n$7\r\nmessage\r\n$13\r\nbroadcast:foo\r\n$6\r\n\0\x01\x02\r\n!\r\n"s,
       {array({bulk("message"), bulk("broadcast:foo"), bulk("\0\x01\x02\r\n!"s)})}},
      {"subscribe ack",
       "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
       {array({bulk("subscribe"), bulk("ch"), integer(1)})}},
      {"pong forms",
       "+PONG\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n",
       {status("PONG"), array({bulk("pong"), bulk("")})}},
  };
}

}  // namespace

TEST_CASE("RespReader parses every reply type at once, split anywhere, byte by byte", "[resp]") {
  std::vector<Case> all = cases();
  // Everything back to back, as one stream of many replies.
  Case stream{"all cases concatenated", "", {}};
  for (const auto& c : all) {
    stream.bytes += c.bytes;
    stream.expected.insert(stream.expected.end(), c.expected.begin(), c.expected.end());
  }
  all.push_back(stream);

  for (const auto& c : all) {
    INFO(c.name);
    bool failed = true;
    CHECK(parse({c.bytes}, &failed) == c.expected);
    CHECK_FALSE(failed);

    for (std::size_t split = 0; split <= c.bytes.size(); ++split) {
      INFO("split at " << split);
      const auto got = parse({c.bytes.substr(0, split), c.bytes.substr(split)}, &failed);
      REQUIRE(got == c.expected);
      REQUIRE_FALSE(failed);
    }

    std::vector<std::string> bytes;
    for (char ch : c.bytes) bytes.emplace_back(1, ch);
    CHECK(parse(bytes, &failed) == c.expected);
    CHECK_FALSE(failed);
  }
}

TEST_CASE("RespReader returns nothing until a reply is complete", "[resp]") {
  RespReader reader;
  REQUIRE(reader.feed("*2\r\n$3\r\nfoo\r\n$3\r\nba"));
  CHECK_FALSE(reader.next().has_value());
  CHECK_FALSE(reader.failed());
  REQUIRE(reader.feed("r\r\n"));
  auto value = reader.next();
  REQUIRE(value.has_value());
  CHECK(*value == array({bulk("foo"), bulk("bar")}));
  CHECK_FALSE(reader.next().has_value());
}

TEST_CASE("RespReader reports a protocol error as a permanent error state", "[resp]") {
  SECTION("bad type byte after a good reply") {
    RespReader reader;
    reader.feed("+OK\r\n?what\r\n");
    auto first = reader.next();
    REQUIRE(first.has_value());
    CHECK(*first == status("OK"));
    CHECK_FALSE(reader.next().has_value());
    CHECK(reader.failed());
    CHECK_FALSE(reader.error().empty());
    // Stays failed: the stream can no longer be framed.
    CHECK_FALSE(reader.feed("+OK\r\n"));
    CHECK_FALSE(reader.next().has_value());
    CHECK(reader.failed());
  }
  SECTION("bad type byte inside an array") {
    bool failed = false;
    CHECK(parse({"*2\r\n:1\r\n", "%x\r\n"}, &failed).empty());
    CHECK(failed);
  }
  SECTION("nesting deeper than the parser supports") {
    std::string deep;
    for (int i = 0; i < 20; ++i) deep += "*1\r\n";
    deep += ":1\r\n";
    bool failed = false;
    CHECK(parse({deep}, &failed).empty());
    CHECK(failed);
  }
  SECTION("an array over the element limit is refused before allocating") {
    RespReader reader;
    reader.feed("*" + std::to_string(RespReader::kMaxArrayElements + 1) + "\r\n");
    CHECK_FALSE(reader.next().has_value());
    CHECK(reader.failed());
    CHECK(reader.error().find("refused") != std::string::npos);
  }
}

TEST_CASE("format_command encodes binary arguments with their lengths", "[resp]") {
  CHECK(format_command({"PING"}) == "*1\r\n$4\r\nPING\r\n");
  const std::string key = "k\0y"s;
  const std::string value = "\r\n\0\xff"s;
  CHECK(format_command({"SET", key, value, "EX", "60"}) ==
        "*5\r\n$3\r\nSET\r\n$3\r\nk\0y\r\n$4\r\n\r\n\0\xff\r\n$2\r\nEX\r\n$2\r\n60\r\n"s);
  CHECK(format_command({"PUBLISH", "c", ""}) == "*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$0\r\n\r\n");

  // What we send parses back (a command is an array of bulks) to the same arguments.
  RespReader reader;
  reader.feed(format_command({"PUBLISH", key, value}));
  auto parsed = reader.next();
  REQUIRE(parsed.has_value());
  CHECK(*parsed == array({bulk("PUBLISH"), bulk(key), bulk(value)}));
}

TEST_CASE("classify_push names what arrives on a subscriber connection", "[resp]") {
  SECTION("message") {
    const RespValue v = array({bulk("message"), bulk("user:jo:chat"), bulk("a\0b"s)});
    const Push p = classify_push(v);
    CHECK(p.kind == Push::Kind::message);
    CHECK(p.channel == "user:jo:chat");
    CHECK(p.payload == "a\0b"s);
  }
  SECTION("subscribe ack") {
    const RespValue v = array({bulk("subscribe"), bulk("ch"), integer(3)});
    const Push p = classify_push(v);
    CHECK(p.kind == Push::Kind::subscribed);
    CHECK(p.channel == "ch");
    CHECK(p.count == 3);
  }
  SECTION("unsubscribe ack, with a channel or with nil") {
    const RespValue v = array({bulk("unsubscribe"), bulk("ch"), integer(0)});
    CHECK(classify_push(v).kind == Push::Kind::unsubscribed);
    CHECK(classify_push(v).channel == "ch");
    const RespValue none = array({bulk("unsubscribe"), nil(), integer(0)});
    CHECK(classify_push(none).kind == Push::Kind::unsubscribed);
    CHECK(classify_push(none).channel.empty());
  }
  SECTION("pong, unsubscribed and subscribed forms") {
    const RespValue plain = status("PONG");
    CHECK(classify_push(plain).kind == Push::Kind::pong);
    const RespValue empty = array({bulk("pong"), bulk("")});
    const Push subscribed = classify_push(empty);
    CHECK(subscribed.kind == Push::Kind::pong);
    CHECK(subscribed.payload.empty());
    const RespValue token = array({bulk("pong"), bulk("token")});
    const Push with_arg = classify_push(token);
    CHECK(with_arg.kind == Push::Kind::pong);
    CHECK(with_arg.payload == "token");
  }
  SECTION("error") {
    const RespValue v = error("NOPERM no permission");
    const Push p = classify_push(v);
    CHECK(p.kind == Push::Kind::error);
    CHECK(p.payload == "NOPERM no permission");
  }
  SECTION("sharded pub/sub: smessage, ssubscribe and sunsubscribe") {
    const Push m = classify_push(array({bulk("smessage"), bulk("ch"), bulk("hi")}));
    CHECK(m.kind == Push::Kind::message);
    CHECK(m.channel == "ch");
    CHECK(m.payload == "hi");
    const Push big = classify_push(array({bulk("smessage"), bulk("ch"), integer(2000000)}));
    CHECK(big.kind == Push::Kind::oversized);
    const Push s = classify_push(array({bulk("ssubscribe"), bulk("ch"), integer(1)}));
    CHECK(s.kind == Push::Kind::subscribed);
    CHECK(s.channel == "ch");
    const Push u = classify_push(array({bulk("sunsubscribe"), bulk("ch"), integer(0)}));
    CHECK(u.kind == Push::Kind::unsubscribed);
    CHECK(u.channel == "ch");
    CHECK(classify_push(array({bulk("spmessage"), bulk("p"), bulk("ch"), bulk("x")})).kind ==
          Push::Kind::other);
  }
  SECTION("a message whose payload the size gate skipped") {
    const Push p = classify_push(array({bulk("message"), bulk("ch"), integer(2000000)}));
    CHECK(p.kind == Push::Kind::oversized);
    CHECK(p.channel == "ch");
    CHECK(p.count == 2000000);
  }
  SECTION("anything else") {
    const std::vector<RespValue> others = {
        status("OK"),
        integer(1),
        nil(),
        array({}),
        array({bulk("message"), bulk("ch")}),
        array({bulk("message"), integer(1), integer(1)}),
        array({bulk("subscribe"), bulk("ch"), bulk("1")}),
        array({bulk("pmessage"), bulk("p*"), bulk("pa")}),  // pmessage: test_routes.cpp
        array({integer(1), bulk("ch"), bulk("x")}),
    };
    for (const auto& other : others) CHECK(classify_push(other).kind == Push::Kind::other);
  }
}
