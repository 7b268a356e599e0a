// The config module: defaults, the TOML file, WSRELAY_* variables, flags, and
// the messages a bad value produces (they must name the key, and the file line
// when there is one, because that is what an operator reads at 3 a.m.).
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <catch2/catch.hpp>

#include <wsrelay/config/config.hpp>

#include "config_error.hpp"

using namespace wsrelay;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using wsrelay::test::error_of;

namespace {

std::string toml_error(const std::string& text) {
  return error_of([&] { parse_config_toml(text, "wsrelay.toml"); });
}

std::string env_error(const std::map<std::string, std::string>& env) {
  return error_of([&] {
    Config c;
    apply_environment(c, env);
  });
}

std::string validate_error(Config c) {
  return error_of([&] { validate(c); });
}

Config validated(Config c) {
  validate(c);
  return c;
}

CommandLine run(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) {
  args.insert(args.begin(), "wsrelay");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  return load_config(static_cast<int>(args.size()), argv.data(), env);
}

std::string run_error(std::vector<std::string> args,
                      const std::map<std::string, std::string>& env = {}) {
  return error_of([&] { run(std::move(args), env); });
}

// A file in the temp directory, removed when the test ends.
struct TempFile {
  std::filesystem::path path;
  explicit TempFile(const std::string& text) {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() /
           ("wsrelay-test-config-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) +
            ".toml");
    std::ofstream(path) << text;
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  std::string str() const { return path.string(); }
};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("defaults are valid and derive the listen address", "[config]") {
  Config c;
  validate(c);
  CHECK(c.listen_host == "127.0.0.1");
  CHECK(c.listen_port == 8080);
  CHECK_FALSE(c.redis.has_value());
  CHECK(c.websocket_url == "/ws/");
  CHECK(c.log_level == "info");
}

TEST_CASE("parse_config_toml reads every table", "[config]") {
  const Config c = parse_config_toml(R"(
[server]
listen = "0.0.0.0:9000"
websocket_url = "/live/"
threads = 3
max_connections = 500
handshake_timeout_seconds = 5
max_header_bytes = 16384
subprotocols = ["chat", "json"]
session_cookie = "sid"
ready_file = "/tmp/ready"

[redis]
url = "redis://:pw@cache:6380/1"
prefix = "app"
expire_seconds = 0
connect_timeout_ms = 700
reconnect_min_ms = 50
reconnect_max_ms = 900
pending_max_messages = 12
pending_max_bytes = 3000

[websocket]
heartbeat = "--heartbeat--"
heartbeat_interval_seconds = 7
ping_interval_seconds = 8
idle_timeout_seconds = 9
close_timeout_seconds = 3
max_message_bytes = 1000
max_queue_bytes = 2000
soft_queue_bytes = 1500
soft_queue_seconds = 5
slow_consumer_policies = ["prices*=keep-latest"]
send_buffer_bytes = 8192
publish_rate = 50
publish_burst = 60

[log]
level = "debug"

[shutdown]
timeout_seconds = 30
)",
                                     "wsrelay.toml");
  CHECK(c.listen == "0.0.0.0:9000");
  CHECK(c.websocket_url == "/live/");
  CHECK(c.threads == 3);
  CHECK(c.max_connections == 500);
  CHECK(c.handshake_timeout_seconds == 5);
  CHECK(c.max_header_bytes == 16384);
  CHECK(c.subprotocols == std::vector<std::string>{"chat", "json"});
  CHECK(c.session_cookie == "sid");
  CHECK(c.ready_file == "/tmp/ready");
  CHECK(c.redis_url == "redis://:pw@cache:6380/1");
  CHECK(c.prefix == "app");
  CHECK(c.expire_seconds == 0);
  CHECK(c.redis_connect_timeout_ms == 700);
  CHECK(c.redis_reconnect_min_ms == 50);
  CHECK(c.redis_reconnect_max_ms == 900);
  CHECK(c.redis_pending_max_messages == 12);
  CHECK(c.redis_pending_max_bytes == 3000);
  CHECK(c.heartbeat == "--heartbeat--");
  CHECK(c.heartbeat_interval_seconds == 7);
  CHECK(c.ping_interval_seconds == 8);
  CHECK(c.idle_timeout_seconds == 9);
  CHECK(c.close_timeout_seconds == 3);
  CHECK(c.max_message_bytes == 1000);
  CHECK(c.max_queue_bytes == 2000);
  CHECK(c.soft_queue_bytes == 1500);
  CHECK(c.soft_queue_seconds == 5);
  CHECK(c.slow_consumer_policies == std::vector<std::string>{"prices*=keep-latest"});
  CHECK(c.send_buffer_bytes == 8192);
  CHECK(c.publish_rate == 50);
  CHECK(c.publish_burst == 60);
  CHECK(c.log_level == "debug");
  CHECK(c.shutdown_timeout_seconds == 30);

  const Config v = validated(c);
  CHECK(v.listen_host == "0.0.0.0");
  CHECK(v.listen_port == 9000);
  REQUIRE(v.redis.has_value());
  CHECK(v.redis->host == "cache");
  CHECK(v.redis->password == "pw");
}

TEST_CASE("parse_config_toml keeps the base for keys the file does not set", "[config]") {
  Config base;
  base.threads = 7;
  base.prefix = "kept";
  const Config c = parse_config_toml("[server]\nthreads = 2\n", "f.toml", base);
  CHECK(c.threads == 2);
  CHECK(c.prefix == "kept");
  CHECK(parse_config_toml("", "empty.toml") == Config{});
  // Dotted keys and inline tables are the same TOML.
  CHECK(parse_config_toml("log.level = \"warn\"\n", "f").log_level == "warn");
  CHECK(parse_config_toml("shutdown = { timeout_seconds = 4 }\n", "f").shutdown_timeout_seconds ==
        4);
}

TEST_CASE("file errors name the source, the line and the key", "[config]") {
  SECTION("syntax error") {
    CHECK_THAT(toml_error("[server]\nlisten = \n"),
               StartsWith("wsrelay.toml:2: TOML syntax error"));
    CHECK_THAT(toml_error("[server]\nthreads = 1\nthreads = 2\n"),
               StartsWith("wsrelay.toml:3: TOML syntax error"));
  }
  SECTION("unknown table") {
    CHECK_THAT(toml_error("\n[nope]\nx = 1\n"), StartsWith("wsrelay.toml:2: nope: unknown table"));
  }
  SECTION("a table that is not a table") {
    CHECK(toml_error("server = 1\n") == "wsrelay.toml:1: server: expected a table, got an integer");
  }
  SECTION("unknown key") {
    CHECK(toml_error("[server]\n\nlistn = \"x\"\n") == "wsrelay.toml:3: server.listn: unknown key");
    CHECK_THAT(toml_error("[server.extra]\na = 1\n"),
               StartsWith("wsrelay.toml:1: server.extra: unknown key"));
  }
  SECTION("a misplaced or field-named key points to its real name") {
    CHECK(toml_error("[server]\nprefix = \"x\"\n") ==
          "wsrelay.toml:2: server.prefix: unknown key (did you mean redis.prefix?)");
    CHECK_THAT(toml_error("[redis]\nredis_url = \"redis://h\"\n"),
               Contains("redis.redis_url: unknown key (did you mean redis.url?)"));
  }
  SECTION("wrong type") {
    const std::string text = std::string(10, '\n') + "[websocket]\nmax_message_bytes = \"64k\"\n";
    CHECK(toml_error(text) ==
          "wsrelay.toml:12: websocket.max_message_bytes: expected an integer, got a string");
    CHECK(toml_error("[websocket]\nmax_message_bytes = 1.5\n") ==
          "wsrelay.toml:2: websocket.max_message_bytes: expected an integer, got a float");
    CHECK(toml_error("[server]\nlisten = 8080\n") ==
          "wsrelay.toml:2: server.listen: expected a string, got an integer");
    CHECK(toml_error("[server]\nsubprotocols = \"chat\"\n") ==
          "wsrelay.toml:2: server.subprotocols: expected an array of strings, got a string");
    CHECK_THAT(toml_error("[server]\nsubprotocols = [\"chat\", 1]\n"),
               StartsWith("wsrelay.toml:2: server.subprotocols: expected an array of strings"));
  }
  SECTION("negative sizes") {
    CHECK(toml_error("[websocket]\nmax_queue_bytes = -1\n") ==
          "wsrelay.toml:2: websocket.max_queue_bytes: must not be negative, got -1");
    CHECK(toml_error("[redis]\npending_max_bytes = -5\n") ==
          "wsrelay.toml:2: redis.pending_max_bytes: must not be negative, got -5");
  }
  SECTION("values out of range") {
    CHECK(toml_error("[server]\nthreads = 300\n") ==
          "wsrelay.toml:2: server.threads: must be between 0 and 256, got 300");
    CHECK(toml_error("[redis]\nexpire_seconds = -1\n") ==
          "wsrelay.toml:2: redis.expire_seconds: must be at least 0, got -1");
    CHECK_THAT(toml_error("[server]\nhandshake_timeout_seconds = 99999999999\n"),
               StartsWith("wsrelay.toml:2: server.handshake_timeout_seconds: must be between"));
    CHECK_THAT(toml_error("[websocket]\nmax_message_bytes = 67108865\n"),
               StartsWith("wsrelay.toml:2: websocket.max_message_bytes: must be between 1 and"));
  }
  SECTION("bad string values") {
    CHECK_THAT(toml_error("[server]\n\nlisten = \"8080\"\n"),
               StartsWith("wsrelay.toml:3: server.listen: expected HOST:PORT"));
    CHECK(toml_error("[redis]\nurl = \"rediss://cache:0\"\n") ==
          "wsrelay.toml:2: redis.url: port must be a number from 1 to 65535, got \"0\"");
    CHECK_THAT(toml_error("[log]\nlevel = \"loud\"\n"),
               StartsWith("wsrelay.toml:2: log.level: must be one of trace, debug, info"));
  }
}

TEST_CASE("redis URLs", "[config]") {
  SECTION("host only: default port and db") {
    const RedisEndpoint e = parse_redis_url("redis://localhost");
    CHECK_FALSE(e.is_unix);
    CHECK(e.host == "localhost");
    CHECK(e.port == 6379);
    CHECK(e.db == 0);
    CHECK(e.user.empty());
    CHECK(e.password.empty());
  }
  SECTION("user, password, port and db, percent-decoded") {
    const RedisEndpoint e =
        parse_redis_url("redis://app%2Duser:p%40ss%3Aw%2Fd@cache.example:6380/3");
    CHECK(e.user == "app-user");
    CHECK(e.password == "p@ss:w/d");
    CHECK(e.host == "cache.example");
    CHECK(e.port == 6380);
    CHECK(e.db == 3);
  }
  SECTION("password alone") {
    const RedisEndpoint e = parse_redis_url("redis://:secret@10.0.0.5:6379/2");
    CHECK(e.user.empty());
    CHECK(e.password == "secret");
    CHECK(e.host == "10.0.0.5");
    CHECK(e.db == 2);
  }
  SECTION("IPv6, scheme case, trailing slash") {
    CHECK(parse_redis_url("redis://[::1]:7000").host == "::1");
    CHECK(parse_redis_url("redis://[::1]:7000").port == 7000);
    CHECK(parse_redis_url("REDIS://h/").db == 0);
    CHECK(parse_redis_url("redis://:@h").password.empty());
  }
  SECTION("rediss:// is redis:// over TLS") {
    const RedisEndpoint e = parse_redis_url("rediss://:secret@cache.example.com:6380/3");
    CHECK(e.tls);
    CHECK(e.host == "cache.example.com");
    CHECK(e.port == 6380);
    CHECK(e.password == "secret");
    CHECK(e.db == 3);
    CHECK_FALSE(parse_redis_url("redis://cache").tls);
    CHECK(parse_redis_url("REDISS://cache").tls);
    CHECK(describe_redis_endpoint(e) == "cache.example.com:6380 (TLS)");
    CHECK(redact_redis_url("rediss://u:secret@cache:6380") == "rediss://u:REDACTED@cache:6380");
  }
  SECTION("unix sockets") {
    const RedisEndpoint e = parse_redis_url("unix:///var/run/redis/redis.sock");
    CHECK(e.is_unix);
    CHECK(e.path == "/var/run/redis/redis.sock");
    CHECK(e.db == 0);
    const RedisEndpoint q = parse_redis_url("unix:///tmp/r.sock?db=4&password=s%20x");
    CHECK(q.path == "/tmp/r.sock");
    CHECK(q.db == 4);
    CHECK(q.password == "s x");
    CHECK(parse_redis_url("unix:///tmp/r.sock?password=p").password == "p");
    CHECK(parse_redis_url("unix:///tmp/r.sock?user=u&password=p").user == "u");
  }
  SECTION("bad URLs say why, and start with redis_url:") {
    auto error = [](const std::string& url) { return error_of([&] { parse_redis_url(url); }); };
    CHECK_THAT(error("rediss://"), StartsWith("redis_url: missing host"));
    CHECK_THAT(error("rediss://h?db=1"), StartsWith("redis_url: query parameters"));
    CHECK_THAT(error("http://cache"), StartsWith("redis_url: unsupported scheme \"http\""));
    CHECK_THAT(error("localhost:6379"), StartsWith("redis_url: expected redis://"));
    CHECK_THAT(error("redis://"), StartsWith("redis_url: missing host"));
    CHECK_THAT(error("redis://:6379"), StartsWith("redis_url: missing host"));
    CHECK_THAT(error("redis://host:0"), StartsWith("redis_url: port must be"));
    CHECK_THAT(error("redis://host:65536"), StartsWith("redis_url: port must be"));
    CHECK_THAT(error("redis://host:port"), StartsWith("redis_url: port must be"));
    CHECK_THAT(error("redis://host:"), StartsWith("redis_url: port must be"));
    CHECK_THAT(error("redis://host/abc"), StartsWith("redis_url: db must be"));
    CHECK_THAT(error("redis://host/-1"), StartsWith("redis_url: db must be"));
    CHECK_THAT(error("redis://host?db=1"), StartsWith("redis_url: query parameters"));
    CHECK_THAT(error("redis://user@host"), StartsWith("redis_url: a user needs a password"));
    CHECK_THAT(error("redis://:p%zz@host"), StartsWith("redis_url: bad percent-encoding"));
    CHECK_THAT(error("redis://:p%4@host"), StartsWith("redis_url: bad percent-encoding"));
    CHECK_THAT(error("redis://ho st"), StartsWith("redis_url: bad host"));
    CHECK_THAT(error("redis://::1:6379"), StartsWith("redis_url: IPv6 hosts need brackets"));
    CHECK_THAT(error("redis://[::1"), StartsWith("redis_url: missing ']'"));
    CHECK_THAT(error("unix://tmp/r.sock"), StartsWith("redis_url: expected unix:///"));
    CHECK_THAT(error("unix:///"), StartsWith("redis_url: missing the socket path"));
    CHECK_THAT(error("unix:///r.sock?dbx=1"), StartsWith("redis_url: unknown parameter \"dbx\""));
    CHECK_THAT(error("unix:///r.sock?db=x"), StartsWith("redis_url: db must be"));
  }
  SECTION("a password never appears in a message") {
    const std::string message = error_of([] { parse_redis_url("redis://:hunter2@host:bad"); });
    CHECK_THAT(message, StartsWith("redis_url: "));
    CHECK_THAT(message, !Contains("hunter2"));
  }
}

TEST_CASE("environment variables", "[config]") {
  SECTION("every kind of value") {
    Config c;
    apply_environment(c, {{"WSRELAY_REDIS_URL", "redis://cache:6379/1"},
                          {"WSRELAY_THREADS", "4"},
                          {"WSRELAY_LOG_LEVEL", "warn"},
                          {"WSRELAY_MAX_MESSAGE_BYTES", " 1024 "},
                          {"WSRELAY_SUBPROTOCOLS", "chat, json,,"},
                          {"WSRELAY_HEARTBEAT", "--heartbeat--"},
                          {"WSRELAY_REDIS_CONNECT_TIMEOUT_MS", "300"},
                          {"WSRELAY_SHUTDOWN_TIMEOUT_SECONDS", "20"},
                          {"WSRELAY_READY_FILE", "/tmp/ready"},
                          {"WSRELAY_CONFIG", "/not/read/here.toml"},
                          {"PATH", "/usr/bin"}});
    CHECK(c.redis_url == "redis://cache:6379/1");
    CHECK(c.threads == 4);
    CHECK(c.log_level == "warn");
    CHECK(c.max_message_bytes == 1024);
    CHECK(c.subprotocols == std::vector<std::string>{"chat", "json"});
    CHECK(c.heartbeat == "--heartbeat--");
    CHECK(c.redis_connect_timeout_ms == 300);
    CHECK(c.shutdown_timeout_seconds == 20);
    CHECK(c.ready_file == "/tmp/ready");
  }
  SECTION("an empty list variable clears the list") {
    Config c;
    c.subprotocols = {"x"};
    apply_environment(c, {{"WSRELAY_SUBPROTOCOLS", ""}});
    CHECK(c.subprotocols.empty());
  }
  SECTION("unknown variables are ignored and returned, sorted") {
    Config c;
    const auto unknown = apply_environment(
        c, {{"WSRELAY_NOPE", "1"}, {"WSRELAY_LISTEN_HOST", "x"}, {"WSRELAY_THREADS", "3"}});
    CHECK(unknown == std::vector<std::string>{"WSRELAY_LISTEN_HOST", "WSRELAY_NOPE"});
    Config expected;
    expected.threads = 3;
    CHECK(c == expected);
  }
  SECTION("errors name the variable") {
    CHECK(env_error({{"WSRELAY_THREADS", "abc"}}) ==
          "WSRELAY_THREADS: expected an integer, got \"abc\"");
    CHECK(env_error({{"WSRELAY_THREADS", ""}}) == "WSRELAY_THREADS: expected an integer, got \"\"");
    CHECK(env_error({{"WSRELAY_MAX_MESSAGE_BYTES", "-1"}}) ==
          "WSRELAY_MAX_MESSAGE_BYTES: must not be negative, got -1");
    CHECK(env_error({{"WSRELAY_MAX_QUEUE_BYTES", "99999999999999999999"}}) ==
          "WSRELAY_MAX_QUEUE_BYTES: integer out of range, got \"99999999999999999999\"");
    CHECK_THAT(env_error({{"WSRELAY_LOG_LEVEL", "loud"}}),
               StartsWith("WSRELAY_LOG_LEVEL: must be one of"));
    CHECK(env_error({{"WSRELAY_REDIS_URL", "rediss://"}}) ==
          "WSRELAY_REDIS_URL: missing host (e.g. redis://127.0.0.1:6379)");
  }
  SECTION("a failed apply leaves the config as it was") {
    Config c;
    CHECK_THROWS_AS(apply_environment(c, {{"WSRELAY_PREFIX", "changed"}, {"WSRELAY_THREADS", "x"}}),
                    ConfigError);
    CHECK(c == Config{});
  }
}

TEST_CASE("set_config_value parses the key's type", "[config]") {
  Config c;
  set_config_value(c, "websocket.heartbeat", "--heartbeat--");
  set_config_value(c, "server.threads", "2");
  set_config_value(c, "server.subprotocols", "a,b");
  set_config_value(c, "redis.url", "unix:///tmp/r.sock");
  CHECK(c.heartbeat == "--heartbeat--");
  CHECK(c.threads == 2);
  CHECK(c.subprotocols == std::vector<std::string>{"a", "b"});
  CHECK(c.redis_url == "unix:///tmp/r.sock");
  CHECK_THAT(error_of([&] { set_config_value(c, "server.threads", "x"); }),
             StartsWith("server.threads: expected an integer"));
  CHECK_THAT(error_of([&] { set_config_value(c, "threads", "1"); }),
             StartsWith("threads: unknown key \"threads\" (did you mean server.threads?)"));
  CHECK_THAT(error_of([&] { set_config_value(c, "server.threads", "x", "--threads"); }),
             StartsWith("--threads: expected an integer"));
  CHECK(c.threads == 2);
}

TEST_CASE("validate checks every value and names the key", "[config]") {
  SECTION("listen forms") {
    Config c;
    c.listen = "0.0.0.0:0";
    validate(c);
    CHECK(c.listen_host == "0.0.0.0");
    CHECK(c.listen_port == 0);
    c.listen = "localhost:9000";
    validate(c);
    CHECK(c.listen_host == "127.0.0.1");
    CHECK(c.listen_port == 9000);
    c.listen = "[::1]:8081";
    validate(c);
    CHECK(c.listen_host == "::1");
    CHECK(c.listen_port == 8081);
    for (const char* bad : {"8080", "example.com:80", "::1:80", "127.0.0.1:65536", "127.0.0.1:",
                            "[::1]8080", "[zz]:80", ":8080", "256.0.0.1:80", "*:80"}) {
      c.listen = bad;
      INFO(bad);
      CHECK_THAT(validate_error(c), StartsWith("server.listen: "));
    }
  }
  auto error_with = [](auto&& change) {
    Config c;
    change(c);
    return validate_error(c);
  };
  CHECK_THAT(error_with([](Config& c) { c.websocket_url = "ws/"; }),
             StartsWith("server.websocket_url: must start and end with '/'"));
  CHECK_THAT(error_with([](Config& c) { c.websocket_url = "/ws"; }),
             StartsWith("server.websocket_url: "));
  CHECK_THAT(error_with([](Config& c) { c.websocket_url = "/w s/"; }),
             StartsWith("server.websocket_url: "));
  CHECK(error_with([](Config& c) { c.threads = 257; }) ==
        "server.threads: must be between 0 and 256, got 257");
  CHECK(error_with([](Config& c) { c.threads = -1; }) ==
        "server.threads: must be between 0 and 256, got -1");
  CHECK_THAT(error_with([](Config& c) { c.max_connections = 0; }),
             StartsWith("server.max_connections: "));
  CHECK_THAT(error_with([](Config& c) { c.handshake_timeout_seconds = 0; }),
             StartsWith("server.handshake_timeout_seconds: "));
  CHECK_THAT(error_with([](Config& c) { c.max_header_bytes = 10; }),
             StartsWith("server.max_header_bytes: "));
  CHECK_THAT(error_with([](Config& c) {
               c.subprotocols = {"ok", "not ok"};
             }),
             StartsWith("server.subprotocols: \"not ok\""));
  CHECK_THAT(error_with([](Config& c) { c.session_cookie = ""; }),
             StartsWith("server.session_cookie: "));
  CHECK_THAT(error_with([](Config& c) { c.session_cookie = "a;b"; }),
             StartsWith("server.session_cookie: "));
  CHECK_THAT(error_with([](Config& c) { c.redis_url = "http://x"; }),
             StartsWith("redis.url: unsupported scheme"));
  for (const char* bad : {"a*", "a?", "a[1]", "a b", "a\tb"}) {
    INFO(bad);
    CHECK_THAT(error_with([&](Config& c) { c.prefix = bad; }),
               StartsWith("redis.prefix: must not contain"));
  }
  CHECK_THAT(error_with([](Config& c) { c.expire_seconds = -1; }),
             StartsWith("redis.expire_seconds: "));
  CHECK_THAT(error_with([](Config& c) { c.redis_connect_timeout_ms = 0; }),
             StartsWith("redis.connect_timeout_ms: "));
  CHECK(error_with([](Config& c) { c.redis_reconnect_min_ms = 6000; }) ==
        "redis.reconnect_min_ms: must not exceed redis.reconnect_max_ms (500), got 6000");
  CHECK_THAT(error_with([](Config& c) { c.heartbeat_interval_seconds = 0; }),
             StartsWith("websocket.heartbeat_interval_seconds: "));
  CHECK_THAT(error_with([](Config& c) { c.ping_interval_seconds = 0; }),
             StartsWith("websocket.ping_interval_seconds: "));
  CHECK_THAT(error_with([](Config& c) { c.idle_timeout_seconds = 0; }),
             StartsWith("websocket.idle_timeout_seconds: "));
  CHECK_THAT(error_with([](Config& c) { c.close_timeout_seconds = 0; }),
             StartsWith("websocket.close_timeout_seconds: "));
  CHECK(error_with([](Config& c) { c.max_message_bytes = 0; }) ==
        "websocket.max_message_bytes: must be between 1 and 67108864, got 0");
  CHECK(error_with([](Config& c) {
          c.max_message_bytes = 64 * 1024 * 1024 + 1;
          c.max_queue_bytes = 128 * 1024 * 1024;
        }) == "websocket.max_message_bytes: must be between 1 and 67108864, got 67108865");
  CHECK(error_with([](Config& c) { c.max_queue_bytes = 1000; }) ==
        "websocket.max_queue_bytes: must be at least websocket.max_message_bytes (65536), got "
        "1000");
  CHECK_THAT(error_with([](Config& c) { c.log_level = "INFO"; }), StartsWith("log.level: "));
  CHECK_THAT(error_with([](Config& c) { c.heartbeat = "\xff\xfe"; }),
             StartsWith("websocket.heartbeat: must be valid UTF-8"));
  CHECK_THAT(error_with([](Config& c) { c.shutdown_timeout_seconds = 0; }),
             StartsWith("shutdown.timeout_seconds: "));
  CHECK(error_with([](Config& c) { c.shutdown_drain_seconds = 10; }) ==
        "shutdown.drain_seconds: must be less than shutdown.timeout_seconds (10), got 10");
  CHECK_THAT(error_with([](Config& c) { c.shutdown_drain_seconds = -1; }),
             StartsWith("shutdown.drain_seconds: "));

  SECTION("limits at their edges are accepted") {
    Config c;
    c.threads = 256;
    c.expire_seconds = 0;
    c.max_message_bytes = 64 * 1024 * 1024;
    c.max_queue_bytes = 64 * 1024 * 1024;
    c.redis_pending_max_messages = 0;
    c.redis_reconnect_min_ms = c.redis_reconnect_max_ms;
    c.shutdown_drain_seconds = 0;
    c.shutdown_timeout_seconds = 1;
    CHECK_NOTHROW(validate(c));
  }
  SECTION("the redis endpoint follows redis_url") {
    Config c;
    c.redis_url = "redis://cache:6380/2";
    validate(c);
    REQUIRE(c.redis.has_value());
    CHECK(c.redis->port == 6380);
    CHECK(c.redis->db == 2);
    c.redis_url.clear();
    validate(c);
    CHECK_FALSE(c.redis.has_value());
  }
}

TEST_CASE("load_config with no arguments gives the defaults", "[config]") {
  const CommandLine cl = run({});
  CHECK_FALSE(cl.exit_code.has_value());
  CHECK_FALSE(cl.loaded.check_only);
  CHECK(cl.loaded.config_file.empty());
  CHECK(cl.loaded.config == validated(Config{}));
}

TEST_CASE("load_config: defaults < file < environment < flags", "[config]") {
  TempFile file(
      "[server]\nthreads = 2\nlisten = \"127.0.0.1:9001\"\n"
      "[redis]\nprefix = \"file\"\nexpire_seconds = 10\n");
  SECTION("the file over the defaults") {
    const CommandLine cl = run({"--config", file.str()});
    CHECK(cl.loaded.config_file == file.str());
    CHECK(cl.loaded.config.threads == 2);
    CHECK(cl.loaded.config.listen_port == 9001);
    CHECK(cl.loaded.config.prefix == "file");
  }
  SECTION("the environment over the file, flags over the environment") {
    const CommandLine cl = run(
        {"--config", file.str(), "--threads", "4"},
        {{"WSRELAY_THREADS", "3"}, {"WSRELAY_PREFIX", "env"}, {"WSRELAY_EXPIRE_SECONDS", "20"}});
    CHECK(cl.loaded.config.threads == 4);
    CHECK(cl.loaded.config.prefix == "env");
    CHECK(cl.loaded.config.expire_seconds == 20);
    CHECK(cl.loaded.config.listen == "127.0.0.1:9001");
  }
  SECTION("every named flag") {
    const CommandLine cl = run({"--listen", "0.0.0.0:0", "--redis", "redis://cache", "--prefix",
                                "p", "--threads", "1", "--log-level", "error"},
                               {{"WSRELAY_LOG_LEVEL", "debug"}, {"WSRELAY_PREFIX", "env"}});
    const Config& c = cl.loaded.config;
    CHECK(c.listen_port == 0);
    REQUIRE(c.redis.has_value());
    CHECK(c.redis->host == "cache");
    CHECK(c.prefix == "p");
    CHECK(c.threads == 1);
    CHECK(c.log_level == "error");
  }
  SECTION("WSRELAY_CONFIG names the file when --config does not") {
    CHECK(run({}, {{"WSRELAY_CONFIG", file.str()}}).loaded.config.threads == 2);
    TempFile other("[server]\nthreads = 5\n");
    CHECK(run({"--config", other.str()}, {{"WSRELAY_CONFIG", file.str()}}).loaded.config.threads ==
          5);
    CHECK(run({"--config", ""}, {{"WSRELAY_CONFIG", file.str()}}).loaded.config.threads == 0);
  }
  SECTION("rules between keys apply to the merged result") {
    TempFile big("[websocket]\nmax_message_bytes = 2097152\n");
    CHECK_THAT(run_error({"--config", big.str()}),
               StartsWith("websocket.max_queue_bytes: must be at least"));
    CHECK(run({"--config", big.str()}, {{"WSRELAY_MAX_QUEUE_BYTES", "4194304"}})
              .loaded.config.max_message_bytes == 2097152);
  }
}

TEST_CASE("load_config errors name where the value came from", "[config]") {
  CHECK_THAT(run_error({"--config", "/nonexistent/wsrelay.toml"}),
             StartsWith("--config: cannot read \"/nonexistent/wsrelay.toml\""));
  CHECK_THAT(run_error({}, {{"WSRELAY_CONFIG", "/nonexistent/x.toml"}}),
             StartsWith("WSRELAY_CONFIG: cannot read \"/nonexistent/x.toml\""));
  CHECK_THAT(run_error({"--config", std::filesystem::temp_directory_path().string()}),
             StartsWith("--config: cannot read"));
  TempFile bad("[server]\nthreads = \"many\"\n");
  CHECK(run_error({"--config", bad.str()}) ==
        bad.str() + ":2: server.threads: expected an integer, got a string");
  CHECK(run_error({"--threads", "many"}) == "--threads: expected an integer, got \"many\"");
  CHECK(run_error({"--threads", "-1"}) == "--threads: must be between 0 and 256, got -1");
  CHECK(run({"--prefix", ""}, {{"WSRELAY_PREFIX", "env"}}).loaded.config.prefix.empty());
  CHECK_THAT(run_error({"--log-level", "loud"}), StartsWith("--log-level: must be one of"));
  CHECK_THAT(run_error({"--listen", "8080"}), StartsWith("--listen: expected HOST:PORT"));
  CHECK_THAT(run_error({"--redis", "rediss://"}), StartsWith("--redis: missing host"));
  CHECK_THAT(run_error({}, {{"WSRELAY_THREADS", "999"}}), StartsWith("WSRELAY_THREADS: must be"));
}

TEST_CASE("redis.tls_* settings need a rediss:// URL and files that can be read", "[config]") {
  TempFile ca("not checked here: loaded when the engine is built");
  const std::string missing = "/nonexistent/wsrelay-ca.pem";
  CHECK(run_error({"--set", "redis.tls_ca_file=" + ca.str()}) ==
        "redis.tls_ca_file: only with a TLS redis.url (rediss://, rediss+sentinel://, "
        "rediss+cluster://)");
  CHECK(run_error({"--redis", "redis://h", "--set", "redis.tls_verify=false"}) ==
        "redis.tls_verify: only with a TLS redis.url (rediss://, rediss+sentinel://, "
        "rediss+cluster://)");
  CHECK(run_error({"--redis", "redis://h", "--set", "redis.tls_server_name=h"}) ==
        "redis.tls_server_name: only with a TLS redis.url (rediss://, rediss+sentinel://, "
        "rediss+cluster://)");
  CHECK(run_error({"--redis", "rediss://h", "--set", "redis.tls_ca_file=" + missing}) ==
        "redis.tls_ca_file: cannot read " + missing);
  CHECK(run_error({"--redis", "rediss://h", "--set", "redis.tls_cert_file=" + ca.str()}) ==
        "redis.tls_cert_file: a client certificate needs both tls_cert_file and tls_key_file");
  CHECK(run_error({"--redis", "rediss://h", "--set", "redis.tls_key_file=" + ca.str()}) ==
        "redis.tls_key_file: a client certificate needs both tls_cert_file and tls_key_file");
  CHECK_THAT(run_error({"--redis", "rediss://h", "--set", "redis.tls_server_name=a b"}),
             StartsWith("redis.tls_server_name: a host name"));
  const Config c =
      run({"--redis", "rediss://h:6380", "--set", "redis.tls_ca_file=" + ca.str(), "--set",
           "redis.tls_cert_file=" + ca.str(), "--set", "redis.tls_key_file=" + ca.str(), "--set",
           "redis.tls_server_name=cache.internal"})
          .loaded.config;
  REQUIRE(c.redis);
  CHECK(c.redis->tls);
  CHECK(c.redis_tls_server_name == "cache.internal");
  CHECK(c.redis_tls_verify);
}

TEST_CASE("load_config --set", "[config]") {
  SECTION("any key, parsed per its type") {
    const CommandLine cl = run({"--set", "websocket.heartbeat=--heartbeat--", "--set",
                                "server.ready_file=/tmp/x", "--set=server.subprotocols=chat,json",
                                "--set", "redis.expire_seconds=0", "--set", "redis.prefix="});
    const Config& c = cl.loaded.config;
    CHECK(c.heartbeat == "--heartbeat--");
    CHECK(c.ready_file == "/tmp/x");
    CHECK(c.subprotocols == std::vector<std::string>{"chat", "json"});
    CHECK(c.expire_seconds == 0);
    CHECK(c.prefix.empty());
  }
  SECTION("a value may hold '='") {
    CHECK(run({"--set", "redis.url=unix:///tmp/r.sock?db=3"}).loaded.config.redis->db == 3);
  }
  SECTION("--set beats the environment; a named flag beats --set; the last --set wins") {
    CHECK(run({"--set", "server.threads=8"}, {{"WSRELAY_THREADS", "3"}}).loaded.config.threads ==
          8);
    CHECK(run({"--threads", "4", "--set", "server.threads=8"}).loaded.config.threads == 4);
    CHECK(run({"--set", "server.threads=8", "--set", "server.threads=9"}).loaded.config.threads ==
          9);
  }
  SECTION("errors") {
    CHECK_THAT(run_error({"--set", "server.threads"}),
               StartsWith("--set server.threads: expected KEY=VALUE"));
    CHECK_THAT(run_error({"--set", "server.nope=1"}),
               StartsWith("--set server.nope: unknown key \"server.nope\""));
    CHECK(run_error({"--set", "server.threads=x"}) ==
          "--set server.threads: expected an integer, got \"x\"");
    CHECK(run_error({"--set", "websocket.max_message_bytes=-3"}) ==
          "--set websocket.max_message_bytes: must not be negative, got -3");
  }
}

TEST_CASE("load_config --help, --version and command-line errors", "[config]") {
  const CommandLine help = run({"--help"});
  REQUIRE(help.exit_code == 0);
  CHECK_THAT(help.output, Contains("--config"));
  CHECK_THAT(help.output, Contains("--set"));
  CHECK_THAT(help.output, Contains("--check-config"));
  CHECK_THAT(help.output, Contains("WSRELAY_"));
  const CommandLine version = run({"--version"});
  REQUIRE(version.exit_code == 0);
  CHECK_THAT(version.output, StartsWith("wsrelay "));
  // --help wins even when the rest would not load.
  CHECK(run({"--help"}, {{"WSRELAY_NOPE", "1"}}).exit_code == 0);

  CHECK_THAT(run_error({"--bogus"}), Contains("--bogus"));
  CHECK_THAT(run_error({"stray"}), Contains("stray"));
  CHECK_THAT(run_error({"--threads"}), Contains("--threads"));
}

TEST_CASE("load_config --check-config validates and asks for the effective config", "[config]") {
  const CommandLine cl = run({"--check-config", "--set", "websocket.heartbeat=--hb--"},
                             {{"WSRELAY_REDIS_URL", "redis://:pw@cache:6380/4"}});
  // Not an early exit: the caller prints to_toml(config) and exits 0.
  CHECK_FALSE(cl.exit_code.has_value());
  CHECK(cl.loaded.check_only);
  const std::string text = to_toml(cl.loaded.config, Secrets::shown);
  CHECK_THAT(text, Contains("heartbeat = \"--hb--\""));
  CHECK_THAT(text, Contains("url = \"redis://:pw@cache:6380/4\""));
  CHECK(validated(parse_config_toml(text, "check-config")) == cl.loaded.config);
  // A bad config is an error, not output.
  CHECK_THAT(run_error({"--check-config", "--threads", "999"}), StartsWith("--threads: "));
}

TEST_CASE("to_toml redacts secrets unless asked to show them", "[config]") {
  struct Case {
    const char* redis_url;
    const char* printed;
    const char* secret;
  };
  for (const Case& c : {
           Case{"redis://:hunter2@cache:6380/4", "redis://:REDACTED@cache:6380/4", "hunter2"},
           Case{"redis://app:p%40ss:w@cache", "redis://app:REDACTED@cache", "p%40ss"},
           Case{"redis://app:s3cret@[::1]:6379/1", "redis://app:REDACTED@[::1]:6379/1", "s3cret"},
           Case{"unix:///run/redis.sock?db=2&password=s3cret&user=app",
                "unix:///run/redis.sock?db=2&password=REDACTED&user=app", "s3cret"},
           Case{"unix:///run/redis.sock?password=s3cret",
                "unix:///run/redis.sock?password=REDACTED", "s3cret"},
           Case{"redis://cache:6379/0", "redis://cache:6379/0", nullptr},
       }) {
    INFO(c.redis_url);
    Config config;
    config.redis_url = c.redis_url;
    config.auth_backends = {"callback"};
    config.auth_callback_url = "http://site:8000/auth/?site=main&key=k3y-s3cret";
    validate(config);
    const std::string text = to_toml(config);
    CHECK_THAT(text, Contains(std::string("url = \"") + c.printed + "\""));
    CHECK_THAT(text,
               Contains("callback_url = \"http://site:8000/auth/?site=REDACTED&key=REDACTED\""));
    CHECK_THAT(text, !Contains("k3y-s3cret"));
    if (c.secret) CHECK_THAT(text, !Contains(c.secret));
    // Still a configuration that loads (with a password that is not the secret).
    CHECK_NOTHROW(validated(parse_config_toml(text, "check-config")));
    CHECK_THAT(to_toml(config, Secrets::shown), Contains(std::string("url = \"") + c.redis_url));
  }
}

TEST_CASE("Kubernetes service variables do not stop the start", "[config]") {
  // Exactly what Kubernetes puts in every pod of the namespace for a Service
  // named wsrelay with a port 8080 named http (service links are on by default).
  const std::map<std::string, std::string> env{
      {"WSRELAY_SERVICE_HOST", "10.96.12.34"},
      {"WSRELAY_SERVICE_PORT", "8080"},
      {"WSRELAY_SERVICE_PORT_HTTP", "8080"},
      {"WSRELAY_PORT", "tcp://10.96.12.34:8080"},
      {"WSRELAY_PORT_8080_TCP", "tcp://10.96.12.34:8080"},
      {"WSRELAY_PORT_8080_TCP_PROTO", "tcp"},
      {"WSRELAY_PORT_8080_TCP_PORT", "8080"},
      {"WSRELAY_PORT_8080_TCP_ADDR", "10.96.12.34"},
      {"WSRELAY_THREADS", "2"},
  };
  const CommandLine cl = run({}, env);
  CHECK(cl.loaded.config.threads == 2);
  REQUIRE(cl.loaded.warnings.size() == 1);
  CHECK_THAT(
      cl.loaded.warnings[0],
      StartsWith("ignoring unknown environment variables WSRELAY_PORT, WSRELAY_PORT_8080_TCP, "
                 "WSRELAY_PORT_8080_TCP_ADDR, WSRELAY_PORT_8080_TCP_PORT, "
                 "WSRELAY_PORT_8080_TCP_PROTO, WSRELAY_SERVICE_HOST, WSRELAY_SERVICE_PORT, "
                 "WSRELAY_SERVICE_PORT_HTTP ("));
  CHECK(run({}, {{"WSRELAY_THREADS", "2"}}).loaded.warnings.empty());
  // A misspelt key in --set or in the file still stops the start.
  CHECK_THAT(run_error({"--set", "server.thread=2"}, env),
             StartsWith("--set server.thread: unknown key"));
  const TempFile file("[server]\nthread = 2\n");
  CHECK_THAT(run_error({"--config", file.str()}, env), Contains("server.thread: unknown key"));
  // A known variable with a bad value too.
  CHECK_THAT(run_error({}, {{"WSRELAY_THREADS", "many"}}), StartsWith("WSRELAY_THREADS: "));
  // No key may ever be named like what Kubernetes injects for a Service
  // called wsrelay or wsrelay-<anything>: it would be read as a setting.
  for (const std::string& name : config_variable_names()) {
    INFO(name);
    CHECK(name.rfind("WSRELAY_", 0) == 0);
    CHECK(name.find("_SERVICE_HOST") == std::string::npos);
    CHECK(name.find("_SERVICE_PORT") == std::string::npos);
    CHECK(name.find("_PORT_") == std::string::npos);
    CHECK_FALSE((name.size() >= 5 && name.compare(name.size() - 5, 5, "_PORT") == 0));
  }
  CHECK(config_variable_names().size() == 95);
}

TEST_CASE("to_toml round-trips through parse_config_toml", "[config]") {
  SECTION("defaults") {
    CHECK(parse_config_toml(to_toml(Config{}), "defaults") == Config{});
  }
  SECTION("every key changed, awkward strings included") {
    Config c;
    c.listen = "[::1]:0";
    c.websocket_url = "/a/b/";
    c.threads = 16;
    c.max_connections = 7;
    c.handshake_timeout_seconds = 3;
    c.max_header_bytes = 4096;
    c.subprotocols = {"v1.chat", "json"};
    c.session_cookie = "__Host-sid";
    c.ready_file = "/tmp/dir with space/\"ready\"";
    c.client_path = "/assets/relay.js";
    c.demo = true;
    c.redis_url = "redis://u%40x:p%22w@cache:1/15";
    c.prefix = "tenant:1";
    c.expire_seconds = 0;
    c.redis_connect_timeout_ms = 1;
    c.redis_reconnect_min_ms = 2;
    c.redis_reconnect_max_ms = 3;
    c.redis_pending_max_messages = 0;
    c.redis_pending_max_bytes = 5;
    c.heartbeat = "--\"hb\"\\\n\t\x01\x7f caf\xc3\xa9--";
    c.heartbeat_interval_seconds = 6;
    c.ping_interval_seconds = 7;
    c.idle_timeout_seconds = 8;
    c.close_timeout_seconds = 9;
    c.max_message_bytes = 10;
    c.max_queue_bytes = 11;
    c.soft_queue_bytes = 0;
    c.soft_queue_seconds = 13;
    c.slow_consumer_policies = {"a*=drop-oldest", "b?=keep-latest", "*=close"};
    c.send_buffer_bytes = 14;
    c.publish_rate = 0;
    c.publish_burst = 15;
    c.log_level = "off";
    c.shutdown_timeout_seconds = 12;
    validate(c);
    const std::string text = to_toml(c, Secrets::shown);
    INFO(text);
    CHECK(validated(parse_config_toml(text, "to_toml")) == c);
  }
  SECTION("every table appears, in file order") {
    const std::string text = to_toml(Config{});
    const auto server = text.find("[server]");
    const auto redis = text.find("[redis]");
    const auto websocket = text.find("[websocket]");
    const auto log = text.find("[log]");
    const auto shutdown = text.find("[shutdown]");
    CHECK(server < redis);
    CHECK(redis < websocket);
    CHECK(websocket < log);
    CHECK(log < shutdown);
    CHECK(shutdown != std::string::npos);
  }
}

TEST_CASE("config/wsrelay.toml holds every key at its default", "[config]") {
  const auto path = std::filesystem::path(WSRELAY_SOURCE_DIR) / "config/wsrelay.toml";
  REQUIRE(std::filesystem::exists(path));
  const std::string sample = read_file(path);
  CHECK(validated(parse_config_toml(sample, path.string())) == validated(Config{}));

  // Every "key = value" line of to_toml(defaults) is in the sample, so no key
  // is missing and no default is written differently.
  std::istringstream lines(to_toml(Config{}));
  std::string line;
  int keys = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line.front() == '#' || line.front() == '[') continue;
    ++keys;
    INFO(line);
    CHECK(sample.find("\n" + line + "\n") != std::string::npos);
  }
  CHECK(keys == 95);
}

TEST_CASE("server.admin_listen: parsed like listen, and never the same address", "[config]") {
  Config c;
  c.admin_listen = "127.0.0.1:9090";
  validate(c);
  CHECK(c.admin_host == "127.0.0.1");
  CHECK(c.admin_port == 9090);
  c.admin_listen = "";
  validate(c);
  CHECK(c.admin_host.empty());
  c.admin_listen = "metrics:9090";
  CHECK_THAT(validate_error(c), StartsWith("server.admin_listen: host must be an IPv4 address"));
  c.admin_listen = "127.0.0.1:8080";  // listen's default
  CHECK(validate_error(c) ==
        "server.admin_listen: must not be server.listen's address (\"127.0.0.1:8080\"), got "
        "\"127.0.0.1:8080\"");
  c.listen = "0.0.0.0:8080";
  CHECK_THAT(validate_error(c), StartsWith("server.admin_listen: must not be"));
  c.admin_listen = "127.0.0.1:0";  // two free ports
  CHECK(validate_error(c) == "<no ConfigError>");
}
