// The Redis command channel (docs/command-channel.md) against a real
// redis-server over real WebSockets: commands land under the identity's
// prefix, every escape attempt is refused with its error object and
// nothing reaches Redis (INFO commandstats and DBSIZE unchanged), anonymous
// clients are refused, off by default, the rate and in-flight bounds, Redis
// down, an oversized frame, and the start-up refusals.
#include <csignal>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "probe_helpers.hpp"

using namespace wsrelay::test;
using json = nlohmann::json;

namespace {

const Headers kAlice{{"X-WsRelay-User", "alice"}};
const Headers kBob{{"X-WsRelay-User", "bob"}};

// The gateway with the command channel on, identities from the proxy
// headers (this test is the trusted proxy), else anonymous.
std::vector<std::string> channel_args(const RedisServer& redis,
                                      std::vector<std::string> more = {}) {
  std::vector<std::string> args{"--set",
                                "command_channel.enabled=true",
                                "--set",
                                "auth.backends=proxy,anonymous",
                                "--set",
                                "auth.trusted_proxies=127.0.0.1",
                                "--set",
                                "command_channel.allowed=GET,SET,INCR,HSET,HGETALL,MSET,MGET,DEL,"
                                "EXISTS,RENAME,LPUSH,LRANGE"};
  args.insert(args.end(), more.begin(), more.end());
  return with_redis(redis, args);
}

// The command connection is up: before it is, commands are answered
// redis_unavailable (the gateway is not ready).
void wait_ready(const Gateway& gateway) {
  REQUIRE(wait_readyz(gateway, 200, 10s));
}

json ask(WsClient& client, const json& request) {
  REQUIRE(client.send_text(request.dump()));
  auto answer = client.read(5s);
  REQUIRE(answer);
  INFO(answer->data);
  return json::parse(answer->data);
}

json run(WsClient& client, const std::string& command) {
  return ask(client, json{{"command", command}});
}

// INFO commandstats as name -> calls, without what the test and the
// gateway's health checks send themselves.
std::map<std::string, long long> command_calls(RedisSync& sync) {
  std::map<std::string, long long> calls;
  std::istringstream lines(sync.command({"INFO", "commandstats"}).str);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.starts_with("cmdstat_")) continue;
    const auto colon = line.find(':');
    const std::string name = line.substr(8, colon - 8);
    if (name == "info" || name == "ping" || name == "dbsize") continue;
    const auto at = line.find("calls=") + 6;
    calls[name] = std::stoll(line.substr(at, line.find(',', at) - at));
  }
  return calls;
}

}  // namespace

TEST_CASE("command channel: off by default, its path is unknown", "[command]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis));
  WsClient client;
  CHECK(client.connect(gateway.port(), "/cmd", kAlice).status == 404);
}

TEST_CASE("command channel: commands land under the identity's prefix", "[command]") {
  RedisServer redis;
  RedisSync sync(redis.port());
  TestGateway gateway(channel_args(redis));
  wait_ready(gateway);
  auto alice = open_ws(gateway, "/cmd", kAlice);
  auto bob = open_ws(gateway, "/cmd", kBob);

  // The tutorial's frame, echoed date and sessionId.
  auto answer =
      ask(*alice, {{"command", "SET key1 15"}, {"sessionId", "s-1"}, {"date", 1700000000000}});
  CHECK(answer ==
        json{{"date", 1700000000000}, {"sessionId", "s-1"}, {"ok", true}, {"result", "OK"}});
  CHECK(sync.get("cmd:alice:key1") == "15");
  CHECK_FALSE(sync.get("key1"));

  CHECK(run(*alice, "INCR key1")["result"] == 16);
  CHECK(run(*alice, "get key1")["result"] == "16");
  CHECK(run(*bob, "GET key1")["result"].is_null());  // bob's key1 is another key
  CHECK(run(*alice, "HSET h f1 v1 f2 v2")["result"] == 2);
  CHECK(run(*alice, "HGETALL h")["result"] == json::array({"f1", "v1", "f2", "v2"}));
  CHECK(run(*alice, "MSET a 1 b 2")["result"] == "OK");
  CHECK(run(*alice, "MGET a b nosuch")["result"] == json::array({"1", "2", nullptr}));
  CHECK(run(*alice, "RENAME a c")["result"] == "OK");
  CHECK(sync.get("cmd:alice:c") == "1");

  // The array form: a value with spaces, quotes, CR/LF and a glob, sent as given.
  const std::string value = "a \"quoted\" value\r\n* with\tcontrol";
  answer = ask(*alice, {{"command", json::array({"SET", "k2", value})}});
  CHECK(answer["ok"] == true);
  CHECK(sync.get("cmd:alice:k2") == value);
  CHECK(run(*alice, "LPUSH list x y")["result"] == 2);
  CHECK(run(*alice, "LRANGE list 0 -1")["result"] == json::array({"y", "x"}));

  // A key named like another identity's stays under this one's prefix.
  CHECK(run(*bob, "SET cmd:alice:key1 stolen")["ok"] == true);
  CHECK(sync.get("cmd:alice:key1") == "16");
  CHECK(sync.get("cmd:bob:cmd:alice:key1") == "stolen");

  // A Redis error is an error object.
  answer = run(*alice, "INCR k2");
  CHECK(answer["ok"] == false);
  CHECK(answer["error"]["code"] == "redis_error");

  // Not UTF-8 in Redis: base64 with a marker.
  sync.set("cmd:alice:bin", std::string("\xff\x00\x01", 3));
  CHECK(run(*alice, "GET bin")["result"] == json{{"base64", "/wAB"}});

  CHECK(metric_value(gateway, "wsrelay_commands_total") >= 14);
}

TEST_CASE("command channel: every escape attempt is refused and nothing runs", "[command]") {
  RedisServer redis;
  RedisSync sync(redis.port());
  TestGateway gateway(channel_args(
      redis, {"--set", "command_channel.max_refusals=0", "--set", "command_channel.max_args=8",
              "--set", "command_channel.max_arg_bytes=64", "--set",
              "command_channel.max_command_bytes=150", "--set", "websocket.publish_rate=0"}));
  wait_ready(gateway);
  sync.set("outside", "untouched");
  sync.set("cmd:bob:secret", "bob's");
  auto alice = open_ws(gateway, "/cmd", kAlice);
  // Settle: the gateway's own commands at start are done.
  CHECK(run(*alice, "GET warmup")["ok"] == true);
  const auto before = command_calls(sync);
  const auto keys_before = sync.command({"DBSIZE"}).integer;

  const std::vector<std::pair<json, std::string>> attempts = {
      {"SET a 1\r\nFLUSHALL", "bad_command"},
      {"SET a 1\nCONFIG SET dir /tmp", "bad_command"},
      {"SET \"a b\" 1", "bad_command"},
      {"SET 'a' 1", "bad_command"},
      {"SET a\\ b 1", "bad_command"},
      {std::string("GET a\0b", 7), "bad_command"},
      {"SET a\tb 1", "bad_command"},
      {"", "bad_command"},
      {"GET *", "bad_key"},
      {"DEL a*", "bad_key"},
      {"GET [ab]", "bad_key"},
      {"MGET a b?", "bad_key"},
      {"RENAME a *", "bad_key"},
      {json::array({"GET", "a\r\nFLUSHALL"}), "bad_key"},
      {json::array({"SET", "a b", "1"}), "bad_key"},
      {json::array({"SET", "", "1"}), "bad_key"},
      {json::array({"GET\r\nFLUSHALL"}), "not_allowed"},
      {"FLUSHALL", "forbidden_command"},
      {"flushdb", "forbidden_command"},
      {"CONFIG SET dir /tmp", "forbidden_command"},
      {"KEYS *", "forbidden_command"},
      {"SCAN 0", "forbidden_command"},
      {"EVAL return 0", "forbidden_command"},
      {"SUBSCRIBE x", "forbidden_command"},
      {"MONITOR", "forbidden_command"},
      {"CLIENT LIST", "forbidden_command"},
      {"SELECT 1", "forbidden_command"},
      {"PUBLISH broadcast:chat hi", "forbidden_command"},
      {"BLPOP a 0", "forbidden_command"},
      {"MULTI", "forbidden_command"},
      {"SORT a BY nosort GET *", "forbidden_command"},
      {"SHUTDOWN", "forbidden_command"},
      {"HGET h f", "not_allowed"},
      {"NOSUCH a", "not_allowed"},
      {"GET", "wrong_arity"},
      {"GET a b", "wrong_arity"},
      {"MSET a 1 b", "wrong_arity"},
      {"DEL a b c d e f g h", "too_many_args"},
      {"SET a " + std::string(65, 'x'), "arg_too_large"},
      {"MSET a " + std::string(60, 'x') + " b " + std::string(60, 'x') + " c " +
           std::string(60, 'x'),
       "command_too_large"},
      {json::array({"DEL", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}), "too_many_args"},
  };
  for (const auto& [command, code] : attempts) {
    INFO(command.dump());
    const json answer = ask(*alice, {{"command", command}, {"date", 5}});
    CHECK(answer["ok"] == false);
    CHECK(answer["date"] == 5);
    CHECK(answer["error"]["code"] == code);
    CHECK(answer["error"]["message"].is_string());
  }
  for (const char* bad : {"not json", "[\"GET\", \"a\"]", "{\"command\": 5}", "{\"date\": 1}",
                          "{\"command\": [\"GET\", {\"a\": 1}]}"}) {
    INFO(bad);
    REQUIRE(alice->send_text(bad));
    auto answer = alice->read(5s);
    REQUIRE(answer);
    CHECK(json::parse(answer->data)["error"]["code"] == "bad_json");
  }
  // Every answer above came before this one: nothing reached Redis but it.
  CHECK(run(*alice, "GET outside")["result"].is_null());
  auto after = command_calls(sync);
  CHECK(after["get"] == before.at("get") + 1);
  after["get"] = before.at("get");
  CHECK(after == before);
  CHECK(sync.command({"DBSIZE"}).integer == keys_before);
  CHECK(sync.get("outside") == "untouched");
  CHECK(sync.get("cmd:bob:secret") == "bob's");
  CHECK(alice->is_open());
  CHECK(metric_value(gateway, "wsrelay_commands_refused_total{code=\"forbidden_command\"}") == 15);
  CHECK(metric_value(gateway, "wsrelay_commands_refused_total{code=\"bad_json\"}") == 5);
}

TEST_CASE("command channel: explicit keys must carry the prefix", "[command]") {
  RedisServer redis;
  RedisSync sync(redis.port());
  TestGateway gateway(channel_args(redis, {"--set", "command_channel.key_mode=explicit"}));
  wait_ready(gateway);
  auto alice = open_ws(gateway, "/cmd", kAlice);
  CHECK(run(*alice, "SET cmd:alice:k 1")["ok"] == true);
  CHECK(sync.get("cmd:alice:k") == "1");
  for (const char* command : {"GET k", "GET cmd:bob:k", "SET cmd:alice 1",
                              "RENAME cmd:alice:k cmd:bob:k", "MSET cmd:alice:a 1 b 2"}) {
    INFO(command);
    CHECK(run(*alice, command)["error"]["code"] == "key_outside_prefix");
  }
  CHECK(sync.get("cmd:alice:k") == "1");
  CHECK_FALSE(sync.get("cmd:bob:k"));
  CHECK_FALSE(sync.get("b"));
}

TEST_CASE("command channel: identities, anonymous clients and Origin", "[command]") {
  RedisServer redis;
  RedisSync sync(redis.port());
  SECTION("a {user} prefix refuses a client without a user") {
    TestGateway gateway(channel_args(redis));
    wait_ready(gateway);
    WsClient anonymous;
    const auto result = anonymous.connect(gateway.port(), "/cmd", {{"Cookie", "sessionid=s1"}});
    CHECK(result.status == 401);
    CHECK(result.body == "the command channel needs a user\n");
    WsClient foreign;
    CHECK(foreign
              .connect(gateway.port(), "/cmd",
                       {{"X-WsRelay-User", "alice"}, {"Origin", "https://evil.example"}})
              .status == 403);
  }
  SECTION("a {session} prefix gives an anonymous client its session's keys") {
    TestGateway gateway(channel_args(redis, {"--set", "command_channel.key_prefix=s:{session}:"}));
    wait_ready(gateway);
    auto client = open_ws(gateway, "/cmd", {{"Cookie", "sessionid=abc"}});
    CHECK(run(*client, "SET k v")["ok"] == true);
    CHECK(sync.get("s:abc:k") == "v");
    WsClient no_session;
    CHECK(no_session.connect(gateway.port(), "/cmd").status == 401);
  }
  SECTION("identity bytes cannot reach into another identity's keys") {
    TestGateway gateway(channel_args(redis));
    wait_ready(gateway);
    auto odd = open_ws(gateway, "/cmd", {{"X-WsRelay-User", "a:b*"}});
    CHECK(run(*odd, "SET k v")["ok"] == true);
    CHECK(sync.get("cmd:a%3Ab%2A:k") == "v");
  }
}

TEST_CASE("command channel: rate limit, refusals and an oversized frame", "[command]") {
  RedisServer redis;
  RedisSync sync(redis.port());
  TestGateway gateway(channel_args(
      redis, {"--set", "websocket.publish_rate=1", "--set", "websocket.publish_burst=3", "--set",
              "command_channel.max_refusals=4", "--set", "websocket.max_message_bytes=1024"}));
  wait_ready(gateway);
  auto client = open_ws(gateway, "/cmd", kAlice);
  // Three in the burst, then rate_limited, without running anything.
  for (int i = 0; i < 3; ++i) CHECK(run(*client, "INCR n")["ok"] == true);
  for (int i = 0; i < 3; ++i) CHECK(run(*client, "INCR n")["error"]["code"] == "rate_limited");
  CHECK(sync.get("cmd:alice:n") == "3");
  // The fourth refusal closes the connection with 1008.
  REQUIRE(client->send_text(json{{"command", "FLUSHALL"}}.dump()));
  auto answer = client->read(5s);
  REQUIRE(answer);
  CHECK(json::parse(answer->data)["error"]["code"] == "rate_limited");
  CHECK(client->wait_close(5s) == 1008);

  auto big = open_ws(gateway, "/cmd", kAlice);
  REQUIRE(
      big->send_text(json{{"command", json::array({"SET", "k", std::string(2000, 'x')})}}.dump()));
  CHECK(big->wait_close(5s) == 1009);
  CHECK_FALSE(sync.get("cmd:alice:k"));
}

TEST_CASE("command channel: Redis down answers redis_unavailable at once", "[command]") {
  RedisServer redis;
  TestGateway gateway(channel_args(redis));
  wait_ready(gateway);
  auto client = open_ws(gateway, "/cmd", kAlice);
  CHECK(run(*client, "SET k 1")["ok"] == true);
  redis.stop();
  REQUIRE(wait_readyz(gateway, 503, 10s));
  const auto started = std::chrono::steady_clock::now();
  const json answer = run(*client, "GET k");
  CHECK(std::chrono::steady_clock::now() - started < 1s);
  CHECK(answer["ok"] == false);
  CHECK(answer["error"]["code"] == "redis_unavailable");
  CHECK(client->is_open());
  redis.start();
  REQUIRE(wait_readyz(gateway, 200, 10s));
  CHECK(run(*client, "SET k 2")["ok"] == true);
}

TEST_CASE("command channel: a reply over max_reply_bytes is not delivered", "[command]") {
  RedisServer redis;
  RedisSync sync(redis.port());
  TestGateway gateway(channel_args(redis, {"--set", "command_channel.max_reply_bytes=1000"}));
  wait_ready(gateway);
  sync.set("cmd:alice:big", std::string(5000, 'x'));
  auto client = open_ws(gateway, "/cmd", kAlice);
  const json answer = run(*client, "GET big");
  CHECK(answer["error"]["code"] == "reply_too_large");
  CHECK(answer.dump().size() < 500);
  CHECK(run(*client, "SET small 1")["ok"] == true);
}

TEST_CASE("command channel: configuration refused at start with exit code 2", "[command]") {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--set", "command_channel.allowed=GET,FLUSHALL"},
       "command_channel.allowed: \"FLUSHALL\" is always refused"},
      {{"--set", "command_channel.allowed=GET,NOSUCH"},
       "command_channel.allowed: \"NOSUCH\" is not a command"},
      {{"--set", "command_channel.key_prefix={user}:"}, "command_channel.key_prefix:"},
      {{"--set", "command_channel.key_prefix=cmd:{user}"}, "command_channel.key_prefix:"},
      {{"--set", "command_channel.key_mode=open"}, "command_channel.key_mode:"},
      {{"--set", "command_channel.enabled=true"}, "command_channel.enabled: needs redis.url"},
      {{"--set", "command_channel.enabled=true", "--redis", "redis://127.0.0.1:1", "--set",
        "command_channel.path=/ws/cmd"},
       "command_channel.path: must not be under server.websocket_url"},
  };
  expect_config_refused(cases);
}

TEST_CASE("command channel: commands in flight are bounded, a flood is closed", "[command]") {
  RedisServer redis;
  RedisSync sync(redis.port());
  TestGateway gateway(
      channel_args(redis, {"--set", "command_channel.max_in_flight=2", "--set",
                           "command_channel.max_refusals=0", "--set", "websocket.publish_rate=0"}));
  wait_ready(gateway);
  auto client = open_ws(gateway, "/cmd", kAlice);
  CHECK(run(*client, "GET warmup")["ok"] == true);
  struct Thaw {
    pid_t pid;
    ~Thaw() { ::kill(pid, SIGCONT); }
  } thaw{redis.pid()};
  REQUIRE(::kill(redis.pid(), SIGSTOP) == 0);
  // Two wait for the frozen Redis, two more are refused behind them (their
  // answers wait for the first two), and the fifth closes the connection.
  for (int i = 0; i < 5; ++i) REQUIRE(client->send_text(json{{"command", "INCR n"}}.dump()));
  CHECK(client->wait_close(5s) == 1008);
  CHECK(client->pending() == 0);
  ::kill(redis.pid(), SIGCONT);
  // What was sent ran once; what was refused never did.
  CHECK(wait_until([&] { return sync.get("cmd:alice:n") == "2"; }, 5s));
  CHECK(metric_value(gateway, "wsrelay_commands_refused_total{code=\"too_many_in_flight\"}") == 3);
  auto next = open_ws(gateway, "/cmd", kAlice);
  CHECK(run(*next, "GET n")["result"] == "2");
}
