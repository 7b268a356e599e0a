// The JavaScript client and the demo page, served by the daemon from what was
// compiled into it (no file is read at run time).
#include <fstream>
#include <sstream>

#include "helpers.hpp"

using namespace wsrelay::test;
using Catch::Matchers::Contains;

namespace {

std::string client_source() {
  // The binary lives in the build tree; the source it embedded is beside
  // tests/ in the checkout (found from the test's working directory upwards).
  for (std::string dir = "."; dir.size() < 40; dir += "/..") {
    std::ifstream in(dir + "/clients/js/wsrelay.js", std::ios::binary);
    if (!in) continue;
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }
  return {};
}

}  // namespace

TEST_CASE("static: the client is served with a validator, 304 when unchanged", "[static]") {
  TestGateway gateway;
  auto first = http_get(gateway.port(), "/static/wsrelay.js");
  REQUIRE(first.status == 200);
  CHECK(first.header("Content-Type") == "application/javascript; charset=utf-8");
  CHECK(first.header("Cache-Control") == "no-cache");
  REQUIRE(first.header("ETag"));
  CHECK_THAT(first.body, Contains("function WS4Redis(options)"));
  const std::string source = client_source();
  if (!source.empty()) CHECK(first.body == source);

  auto again = http_get(gateway.port(), "/static/wsrelay.js?v=2",
                        {{"If-None-Match", *first.header("ETag")}});
  CHECK(again.status == 304);
  CHECK(again.body.empty());
  CHECK(again.header("ETag") == first.header("ETag"));

  // The demo is off by default; the server keeps serving after both.
  CHECK(http_get(gateway.port(), "/demo/").status == 404);
  CHECK(http_get(gateway.port(), "/healthz").status == 200);
}

namespace {

// The whole answer to one raw request; the gateway closes after it.
std::string raw_answer(const Gateway& gateway, const std::string& request) {
  RawWsClient raw;
  raw.connect_tcp(gateway.port());
  REQUIRE(raw.send_raw(request));
  REQUIRE(raw.wait_eof(5s));
  return raw.received();
}

std::string content_length(const std::string& answer) {
  const auto at = answer.find("Content-Length: ");
  if (at == std::string::npos) return {};
  return answer.substr(at + 16, answer.find("\r\n", at) - at - 16);
}

}  // namespace

// Load balancers and monitors probe with HEAD: the same status and headers
// as GET, and not one byte of body after them.
TEST_CASE("static: HEAD is answered like GET, without the body", "[static]") {
  TestGateway gateway;
  const std::string body = http_get(gateway.port(), "/static/wsrelay.js").body;
  REQUIRE(!body.empty());
  for (const std::string target : {"/static/wsrelay.js", "/healthz", "/readyz", "/metrics"}) {
    INFO(target);
    const std::string answer =
        raw_answer(gateway, "HEAD " + target + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const auto end = answer.find("\r\n\r\n");
    REQUIRE(end != std::string::npos);
    CHECK(answer.rfind("HTTP/1.1 200 ", 0) == 0);
    CHECK(end + 4 == answer.size());  // nothing after the headers
    CHECK(content_length(answer) != "0");
    if (target == "/static/wsrelay.js") {
      CHECK(content_length(answer) == std::to_string(body.size()));
      CHECK(answer.find("ETag: ") != std::string::npos);
    }
  }
  // Other methods are still not served; the WebSocket path still wants GET.
  CHECK(raw_answer(gateway, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            .rfind("HTTP/1.1 404 ", 0) == 0);
  CHECK(raw_answer(gateway, "HEAD /ws/foo?subscribe-broadcast HTTP/1.1\r\nHost: x\r\n\r\n")
            .rfind("HTTP/1.1 400 ", 0) == 0);
}

TEST_CASE("static: client_path moves or turns off the client", "[static]") {
  TestGateway moved({"--set", "server.client_path=/assets/relay.js"});
  CHECK(http_get(moved.port(), "/assets/relay.js").status == 200);
  CHECK(http_get(moved.port(), "/static/wsrelay.js").status == 404);

  TestGateway off({"--set", "server.client_path="});
  CHECK(http_get(off.port(), "/static/wsrelay.js").status == 404);
}

TEST_CASE("static: the demo page with demo = true", "[static]") {
  RedisServer redis;
  TestGateway gateway(with_redis(redis, {"--set", "server.demo=true", "--prefix", "site"}));
  auto page = http_get(gateway.port(), "/demo/");
  REQUIRE(page.status == 200);
  CHECK(page.header("Content-Type") == "text/html; charset=utf-8");
  CHECK(page.header("Cache-Control") == "no-store");
  CHECK_THAT(page.body, Contains("<script src=\"/static/wsrelay.js\"></script>"));
  CHECK_THAT(page.body, Contains("\"room_channel\":\"site:broadcast:demo\""));
  CHECK_THAT(page.body,
             Contains("\"redis_cli\":\"redis-cli -p " + std::to_string(redis.port()) + "\""));

  auto redirect = http_get(gateway.port(), "/demo");
  CHECK(redirect.status == 301);
  CHECK(redirect.header("Location") == "/demo/");

  // The room the page joins works as any facility does.
  auto room = open_ws(gateway, "/ws/demo?subscribe-broadcast&publish-broadcast&echo");
  REQUIRE(room->send_text("hi"));
  auto m = room->read();
  REQUIRE(m);
  CHECK(m->data == "hi");
}

TEST_CASE("static: a demo without a client path is refused at start-up", "[static]") {
  TempDir dir("wsrelay-static");
  Process process({WSRELAY_BINARY, "--set", "server.demo=true", "--set",
                   "server.client_path=", "--check-config"},
                  dir.file("log"), {}, {"WSRELAY_"});
  auto code = process.wait_exit(10s);
  REQUIRE(code);
  CHECK(*code == 2);
  CHECK_THAT(process.log_contents(), Contains("server.demo: needs server.client_path"));
}
