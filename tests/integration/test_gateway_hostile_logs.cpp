// What clients can do to the log and to the answers: a flood of closes is
// one line a second with a count, and bytes a client chose (a JWT kid, an
// Origin) are escaped wherever they are written, so no line can be forged.
#include "auth_helpers.hpp"
#include "probe_helpers.hpp"

using namespace wsrelay::test;

namespace {

bool any_line_starts_with(const std::string& log, const std::string& prefix) {
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind(prefix, 0) == 0) return true;
  return false;
}

}  // namespace

TEST_CASE("a publish-rate flood from many connections is one log line a second",
          "[gateway][logs]") {
  TestGateway gateway({"--set", "websocket.publish_rate=5", "--set", "websocket.publish_burst=5"});
  constexpr int kFlooders = 40;
  const auto start = std::chrono::steady_clock::now();
  std::string burst;
  for (int i = 0; i < 10; ++i) burst += RawWsClient::masked_frame(0x1, "x");
  for (int i = 0; i < kFlooders; ++i) {
    RawWsClient flooder;
    REQUIRE(flooder.connect(gateway.port(), "/ws/room?publish-broadcast") == 101);
    REQUIRE(flooder.send_raw(burst));
    REQUIRE(flooder.wait_close(5s) == 1008);
  }
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start);
  CHECK(metric_value(gateway, "wsrelay_sessions_closed_total{reason=\"rate_limited\"}") ==
        kFlooders);
  const std::string log = gateway.log();
  INFO(log);
  const std::size_t lines = count_lines(log, "over publish_rate");
  CHECK(lines >= 1);
  CHECK(lines <= static_cast<std::size_t>(seconds.count()) + 1);
  // Each line counts the closes it stands for.
  CHECK(count_lines(log, "more such closes since the previous line") == lines);
}

TEST_CASE("a JWT kid holding CR/LF forges no log line and is escaped in the 401",
          "[gateway][logs][auth]") {
  JwtKeyFiles keys;
  TestGateway gateway({"--set", "auth.backends=jwt", "--set", "auth.jwt_keys=" + keys.jwt_keys(),
                       "--set", "log.level=debug"});
  const std::string forged = "2030-01-01T00:00:00.000 info admin logged in";
  const std::string token =
      make_jwt(keys.rs1, {{"sub", "alice"}}, {{"kid", "k9\r\n" + forged + "\r\n\x1b[2J"}});
  const HandshakeResult result = handshake(gateway, "/ws/a?subscribe-user", bearer(token));
  CHECK(result.status == 401);
  CHECK(result.body == "invalid token: unknown key id \"k9\\r\\n" + forged + "\\r\\n\\x1b[2J\"\n");
  // The debug line of the refusal is there, whole, on one line.
  REQUIRE(
      wait_until([&] { return gateway.log().find("auth: jwt refused") != std::string::npos; }, 5s));
  const std::string log = gateway.log();
  INFO(log);
  CHECK_FALSE(any_line_starts_with(log, forged));
  CHECK(log.find('\x1b') == std::string::npos);
  CHECK(count_lines(log, "unknown key id \"k9\\r\\n2030") >= 1);
}

TEST_CASE("header values are escaped in the log", "[gateway][logs][origin]") {
  TestGateway gateway({"--set", "log.level=debug"});
  // A right-to-left override and a quote in the Origin: refused (no plain
  // scheme://host), and logged escaped.
  const HandshakeResult result = handshake(gateway, "/ws/a?subscribe-broadcast",
                                           {{"Origin", "https://a\xe2\x80\xae\"b.example"}});
  CHECK(result.status == 403);
  REQUIRE(wait_until(
      [&] { return gateway.log().find("not in auth.allowed_origins") != std::string::npos; }, 5s));
  const std::string log = gateway.log();
  INFO(log);
  CHECK(log.find("origin \"https://a\\u{202e}\\\"b.example\" refused") != std::string::npos);
  CHECK(log.find("\xe2\x80\xae") == std::string::npos);
}
