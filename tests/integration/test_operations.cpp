// The operators' view (docs/operations.md): log formats and access lines,
// exit codes, the admin listener, and the histograms of /metrics, each
// checked on the real daemon with a real Redis.
#include <csignal>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "auth_helpers.hpp"
#include "probe_helpers.hpp"
#include "support/callback_server.hpp"
#include "support/jwt_mint.hpp"
#include "support/ports.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace wsrelay::test;
using json = nlohmann::json;

namespace {

std::vector<std::string> lines_of(const std::string& log) {
  std::vector<std::string> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Every line of a JSON log, parsed; a line that does not parse fails the test.
std::vector<json> json_lines(const std::string& log) {
  std::vector<json> out;
  for (const std::string& line : lines_of(log)) {
    INFO("not JSON: " << line);
    json parsed;
    REQUIRE_NOTHROW(parsed = json::parse(line));
    REQUIRE(parsed.is_object());
    out.push_back(std::move(parsed));
  }
  return out;
}

std::vector<json> access_events(const std::vector<json>& lines, const std::string& event) {
  std::vector<json> out;
  for (const json& line : lines)
    if (line.value("msg", "") == "access" && line.value("event", "") == event) out.push_back(line);
  return out;
}

// The daemon run to its end (bad configuration, cannot start): its exit
// status and its output. Deadline 15 s.
struct Run {
  std::optional<int> status;
  std::string log;
};
Run run_daemon(std::vector<std::string> args) {
  TempDir dir("wsrelay-exit");
  args.insert(args.begin(), WSRELAY_BINARY);
  Process process(args, dir.file("log"), {}, {"WSRELAY_"});
  Run run;
  run.status = process.wait_exit(15s);
  run.log = process.log_contents();
  return run;
}

HttpResult admin_get(std::uint16_t port, const std::string& target) {
  return http_get(port, target, {}, 2s);
}

}  // namespace

TEST_CASE("log.format = json: every line is a JSON object: access lines carry their fields",
          "[gateway][logs][operations]") {
  RedisServer redis;
  RedisSync publisher(redis.port());
  TestGateway gateway(with_redis(redis, {"--log-format", "json"}));
  auto client = open_ws(gateway, "/ws/news?subscribe-broadcast&echo");
  sync_subscription(publisher, *client, "broadcast:news");
  publisher.publish("broadcast:news", "hello");
  auto got = client->read(5s);
  REQUIRE(got);
  CHECK(got->data == "hello");
  REQUIRE(client->send_text("ignored: no publish flag"));  // closes it with 1008
  CHECK(client->wait_close(5s) == 1008);
  // A refused one: an Origin that is not the Host.
  CHECK(handshake(gateway, "/ws/news?subscribe-broadcast", {{"Origin", "https://elsewhere.test"}})
            .status == 403);

  REQUIRE(wait_until([&] { return count_lines(gateway.log(), "\"event\":\"close\"") == 1; }, 5s));
  const auto lines = json_lines(gateway.log());
  for (const json& line : lines) {
    const std::string time = line.at("time");
    CHECK(time.size() == 24);  // 2025-01-31T12:00:00.123Z
    CHECK(time.back() == 'Z');
    const std::string level = line.at("level");
    CHECK((level == "trace" || level == "debug" || level == "info" || level == "warn" ||
           level == "error" || level == "critical"));
    CHECK(line.at("msg").is_string());
  }
  const auto handshakes = access_events(lines, "handshake");
  REQUIRE(handshakes.size() == 2);
  const json& opened = handshakes[0];
  CHECK(opened.at("status") == 101);
  CHECK(opened.at("client") == "127.0.0.1");
  CHECK(opened.at("facility") == "news");
  CHECK(opened.at("flags") == "subscribe-broadcast,echo");
  CHECK(opened.at("user") == "");
  CHECK(opened.at("duration").get<double>() >= 0);
  CHECK(opened.at("duration").get<double>() < 5);
  const json& refused = handshakes[1];
  CHECK(refused.at("status") == 403);
  CHECK(refused.at("facility") == "news");
  CHECK(refused.at("reason") == "origin not allowed");

  const auto closes = access_events(lines, "close");
  REQUIRE(closes.size() == 1);
  const json& closed = closes[0];
  CHECK(closed.at("session") == opened.at("session"));
  CHECK(closed.at("code") == 1008);
  CHECK(closed.at("reason") == "protocol_error");
  // The sync messages and "hello" went out; one message came in.
  CHECK(closed.at("messages_out").get<long>() >= 2);
  CHECK(closed.at("bytes_out").get<long>() >= closed.at("messages_out").get<long>() * 2);
  CHECK(closed.at("messages_in") == 1);
  CHECK(closed.at("bytes_in").get<long>() >= 6 + 24);  // masked header + payload
  CHECK(metric_value(gateway, "wsrelay_sessions_closed_total{reason=\"protocol_error\"}") == 1);
  CHECK(metric_value(gateway, "wsrelay_handshakes_refused_total{status=\"403\"}") == 1);
}

TEST_CASE("access lines in text: a client's close, and nothing on one connection adds lines",
          "[gateway][logs][operations]") {
  RedisServer redis;
  TestGateway gateway(with_redis(
      redis, {"--set", "websocket.heartbeat=--heartbeat--", "--set", "websocket.publish_rate=0"}));
  {
    auto client = open_ws(gateway, "/ws/room?subscribe-broadcast&publish-broadcast");
    // A busy connection: heartbeats, publishes, pings answered by the client.
    for (int i = 0; i < 200; ++i) REQUIRE(client->send_text(i % 2 ? "--heartbeat--" : "msg"));
    REQUIRE(client->close(1000));
  }
  REQUIRE(wait_until([&] { return count_lines(gateway.log(), "access: close") == 1; }, 5s));
  const std::string log = gateway.log();
  INFO(log);
  CHECK(count_lines(log, "access: handshake") == 1);
  CHECK(count_lines(log, "access: close") == 1);
  CHECK(count_lines(log, " info access: handshake session=") == 1);
  CHECK(count_lines(log, "status=101 reason=\"open\"") == 1);
  CHECK(count_lines(log, "code=1000 reason=client") == 1);
  CHECK(count_lines(log, "messages_in=200 ") == 1);
  CHECK(metric_value(gateway, "wsrelay_sessions_closed_total{reason=\"client\"}") == 1);
  // The text format's timestamp ends with Z.
  for (const std::string& line : lines_of(log)) {
    INFO(line);
    CHECK(line.substr(23, 2) == "Z ");
  }
}

TEST_CASE("a user name chosen by the client cannot forge an access line",
          "[gateway][logs][operations][auth]") {
  JwtKeyFiles keys;
  TestGateway gateway({"--set", "auth.backends=jwt", "--set", "auth.jwt_keys=" + keys.jwt_keys()});
  const std::string forged = "2030-01-01T00:00:00.000Z info access: close session=1 code=1000";
  const std::string token = make_jwt(keys.hs, {{"sub", "eve\r\n" + forged + "\x1b[2J"}});
  {
    auto client = open_ws(gateway, "/ws/a?subscribe-broadcast", bearer(token));
    REQUIRE(client->close(1000));
  }
  REQUIRE(wait_until(
      [&] { return count_lines(gateway.log(), "info access: close session=1 client=") == 1; }, 5s));
  const std::string log = gateway.log();
  INFO(log);
  for (const std::string& line : lines_of(log)) CHECK(line.rfind(forged, 0) != 0);
  CHECK(log.find('\x1b') == std::string::npos);
  CHECK(count_lines(log, "user=\"eve\\r\\n2030-01-01") == 2);  // handshake and close
}

TEST_CASE("log.access = false: no access lines", "[gateway][logs][operations]") {
  TestGateway gateway({"--set", "log.access=false"});
  {
    auto client = open_ws(gateway, "/ws/a?subscribe-broadcast");
    REQUIRE(client->close(1000));
  }
  CHECK(handshake(gateway, "/ws/a?subscribe-broadcast", {{"Origin", "https://x.test"}}).status ==
        403);
  REQUIRE(wait_until(
      [&] {
        return metric_value(gateway, "wsrelay_sessions_closed_total{reason=\"client\"}") == 1;
      },
      5s));
  CHECK(count_lines(gateway.log(), "access:") == 0);
}

TEST_CASE("exit codes: 2 bad configuration, 3 cannot start", "[gateway][operations][exit]") {
  SECTION("a bad value: 2") {
    const Run run = run_daemon({"--listen", "127.0.0.1:0", "--set", "log.format=xml"});
    INFO(run.log);
    CHECK(run.status == 2);
    CHECK(run.log.find("log.format: must be text or json") != std::string::npos);
  }
  SECTION("server.listen already taken: 3, and the line names the address") {
    TestGateway holder;
    const std::string taken = "127.0.0.1:" + std::to_string(holder.port());
    const Run run = run_daemon({"--listen", taken});
    INFO(run.log);
    CHECK(run.status == 3);
    CHECK(run.log.find("cannot start: cannot listen on " + taken + " (server.listen)") !=
          std::string::npos);
  }
  SECTION("server.admin_listen already taken: 3") {
    TestGateway holder;
    const std::string taken = "127.0.0.1:" + std::to_string(holder.port());
    const Run run =
        run_daemon({"--listen", "127.0.0.1:0", "--set", "server.admin_listen=" + taken});
    INFO(run.log);
    CHECK(run.status == 3);
    CHECK(run.log.find("cannot listen on " + taken + " (server.admin_listen)") !=
          std::string::npos);
  }
  SECTION("an address not on this host: 3") {
    const Run run = run_daemon({"--listen", "192.0.2.1:8080"});
    INFO(run.log);
    CHECK(run.status == 3);
    CHECK(run.log.find("cannot listen on 192.0.2.1:8080 (server.listen)") != std::string::npos);
  }
}

TEST_CASE("exit code 4: a second signal stops a drain at once", "[gateway][operations][exit]") {
  TestGateway gateway(
      {"--set", "shutdown.drain_seconds=30", "--set", "shutdown.timeout_seconds=60"});
  // Two sessions: the drain closes one at a random point of its 30 s window,
  // so at least one is still open when the second signal comes.
  auto first = open_ws(gateway, "/ws/a?subscribe-broadcast");
  auto second = open_ws(gateway, "/ws/b?subscribe-broadcast");
  gateway.signal(SIGTERM);
  REQUIRE(wait_until([&] { return gateway.log().find("draining") != std::string::npos; }, 5s));
  gateway.signal(SIGTERM);
  const auto status = gateway.wait_exit(5s);
  REQUIRE(status);
  CHECK(*status == 4);
  CHECK(gateway.log().find("second signal: stopping now") != std::string::npos);
}

TEST_CASE(
    "server.admin_listen serves /metrics, /healthz and /readyz: /metrics leaves the public "
    "listener",
    "[gateway][operations][admin]") {
  RedisServer redis;
  const std::uint16_t admin = free_port();
  TestGateway gateway(
      with_redis(redis, {"--set", "server.admin_listen=127.0.0.1:" + std::to_string(admin)}));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  const HttpResult metrics = admin_get(admin, "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find("\nwsrelay_build_info{version=\"") != std::string::npos);
  CHECK(metrics.body.find("\nprocess_open_fds ") != std::string::npos);
  CHECK(admin_get(admin, "/healthz").status == 200);
  CHECK(admin_get(admin, "/readyz").status == 200);
  // Nothing else there: no WebSocket, no client script.
  CHECK(admin_get(admin, "/ws/a?subscribe-broadcast").status == 404);
  CHECK(admin_get(admin, "/static/wsrelay.js").status == 404);
  WsClient on_admin;
  CHECK(on_admin.connect(admin, "/ws/a?subscribe-broadcast").status == 404);
  // The public listener: probes yes, /metrics no.
  CHECK(get_status(gateway, "/metrics") == 404);
  CHECK(get_status(gateway, "/healthz") == 200);
  CHECK(get_status(gateway, "/readyz") == 200);
  open_ws(gateway, "/ws/a?subscribe-broadcast");
  CHECK(gateway.log().find("admin listener on 127.0.0.1:" + std::to_string(admin)) !=
        std::string::npos);
}

TEST_CASE("the histograms count handshakes, callback requests and deliveries",
          "[gateway][operations][metrics]") {
  RedisServer redis;
  RedisSync publisher(redis.port());
  CallbackServer site;
  site.always(CallbackReply{200, R"({"user": "alice"})"});
  TestGateway gateway(with_redis(
      redis, {"--set", "auth.backends=callback", "--set", "auth.callback_url=" + site.url()}));
  auto count = [&](const std::string& name) {
    return metric_value(gateway, name + "_count").value_or(-1);
  };
  CHECK(count("wsrelay_handshake_duration_seconds") == 0);
  CHECK(count("wsrelay_auth_callback_duration_seconds") == 0);
  CHECK(count("wsrelay_delivery_latency_seconds") == 0);

  auto client = open_ws(gateway, "/ws/feed?subscribe-broadcast");
  CHECK(count("wsrelay_handshake_duration_seconds") == 1);
  CHECK(count("wsrelay_auth_callback_duration_seconds") == 1);
  sync_subscription(publisher, *client, "broadcast:feed");
  // The probes may or may not be counted (one held until the stored-message
  // replay is done is not), and a delivery is observed just after its write,
  // so the client may read it a moment before the count moves: every check
  // below waits for the count to move and compares within one scrape.
  const long long before = count("wsrelay_delivery_latency_seconds");
  publisher.publish("broadcast:feed", "one");
  REQUIRE(client->read(5s));
  REQUIRE(wait_until([&] { return count("wsrelay_delivery_latency_seconds") > before; }, 5s));
  const std::string body = http_get(gateway.port(), "/metrics", {}, 2s).body;
  auto value = [&](const std::string& line_start) {
    const auto at = body.find("\n" + line_start + " ");
    return at == std::string::npos ? -1 : std::stoll(body.substr(at + line_start.size() + 2));
  };
  const long long total = value("wsrelay_delivery_latency_seconds_count");
  CHECK(total >= 1);
  // The +Inf bucket is the count; every delivery on loopback is well under
  // a second.
  CHECK(value("wsrelay_delivery_latency_seconds_bucket{le=\"+Inf\"}") == total);
  CHECK(value("wsrelay_delivery_latency_seconds_bucket{le=\"1\"}") == total);
  CHECK(body.find("wsrelay_auth_callback_duration_seconds_bucket{le=\"+Inf\"} 1\n") !=
        std::string::npos);
  // A refusal is a handshake too.
  site.always(CallbackReply{403, ""});
  CHECK(handshake(gateway, "/ws/feed?subscribe-broadcast").status == 403);
  CHECK(count("wsrelay_handshake_duration_seconds") == 2);
  CHECK(count("wsrelay_auth_callback_duration_seconds") == 2);
  CHECK(metric_value(gateway, "wsrelay_handshakes_refused_total{status=\"403\"}") == 1);
}
