// The embedded client and the demo page: what the router answers, what the
// page is told about the visitor, and the keys that turn them on.
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include <wsrelay/config/config.hpp>
#include <wsrelay/gateway/assets.hpp>
#include <wsrelay/gateway/static_pages.hpp>

using namespace wsrelay;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

std::string read_source(const std::string& relative) {
  std::ifstream in(std::string(WSRELAY_SOURCE_DIR) + "/" + relative, std::ios::binary);
  REQUIRE(in);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string config_error(Config c) {
  try {
    validate(c);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no ConfigError>";
}

// The JSON object the page is given, as text.
std::string page_settings(const std::string& page) {
  const std::string start = "var demo = ";
  auto at = page.find(start);
  REQUIRE(at != std::string::npos);
  at += start.size();
  return page.substr(at, page.find(";\n", at) - at);
}

}  // namespace

TEST_CASE("the embedded client is clients/js/wsrelay.js, byte for byte", "[static]") {
  CHECK(assets::client_js().body == read_source("clients/js/wsrelay.js"));
  CHECK(assets::demo_html().body == read_source("clients/demo/index.html"));
  CHECK_THAT(std::string(assets::client_js().etag), StartsWith("\""));
  CHECK(assets::client_js().etag.size() == 22);
  CHECK(assets::client_js().etag != assets::demo_html().etag);
}

TEST_CASE("client_script_answer: the script, its validator, and 304", "[static]") {
  const auto etag = std::string(assets::client_js().etag);
  auto fresh = client_script_answer("");
  CHECK(fresh.status == 200);
  CHECK(fresh.body == assets::client_js().body);
  CHECK_THAT(fresh.headers, Contains("Content-Type: application/javascript; charset=utf-8\r\n"));
  CHECK_THAT(fresh.headers, Contains("ETag: " + etag + "\r\n"));
  CHECK_THAT(fresh.headers, Contains("Cache-Control: no-cache\r\n"));

  CHECK(client_script_answer(etag).status == 304);
  CHECK(client_script_answer(etag).body.empty());
  CHECK(client_script_answer("\"other\", " + etag).status == 304);
  CHECK(client_script_answer(" *").status == 304);
  CHECK(client_script_answer("\"other\"").status == 200);
  CHECK(client_script_answer("W/\"x\"").status == 200);
}

TEST_CASE("demo_route: only when the demo is on", "[static]") {
  Config c;
  CHECK_FALSE(demo_route(c, "/demo/"));
  c.demo = true;
  CHECK(demo_route(c, "/demo/") == DemoRoute::page);
  CHECK(demo_route(c, "/demo") == DemoRoute::redirect);
  CHECK_FALSE(demo_route(c, "/demo/x"));
  CHECK_FALSE(demo_route(c, "/"));
}

TEST_CASE("demo_page_answer fills in the client, the channels and the shell line", "[static]") {
  Config c;
  c.demo = true;
  c.client_path = "/assets/w.js";
  c.prefix = "site";
  c.heartbeat = "--hb--";
  c.redis_url = "redis://:secret@10.1.2.3:6380/2";
  validate(c);

  SECTION("anonymous: the room only") {
    auto answer = demo_page_answer(c, Identity{});
    CHECK(answer.status == 200);
    CHECK_THAT(answer.headers, Contains("Content-Type: text/html; charset=utf-8\r\n"));
    CHECK_THAT(answer.headers, Contains("Cache-Control: no-store\r\n"));
    CHECK_THAT(answer.body, Contains("<script src=\"/assets/w.js\"></script>"));
    CHECK_THAT(answer.body, !Contains("__WSRELAY_"));
    const std::string settings = page_settings(answer.body);
    CHECK_THAT(settings, Contains("\"room_channel\":\"site:broadcast:demo\""));
    CHECK_THAT(settings, Contains("\"room_flags\":\"subscribe-broadcast&publish-broadcast&echo\""));
    CHECK_THAT(settings, Contains("\"websocket_url\":\"/ws/\""));
    CHECK_THAT(settings, Contains("\"heartbeat\":\"--hb--\""));
    CHECK_THAT(settings, Contains("\"user_channel\":null"));
    CHECK_THAT(settings, Contains("\"redis_cli\":\"redis-cli -h 10.1.2.3 -p 6380 -n 2\""));
    CHECK_THAT(settings, !Contains("secret"));
  }
  SECTION("a user: the personal channel too") {
    Identity alice;
    alice.user = "alice";
    const std::string settings = page_settings(demo_page_answer(c, alice).body);
    CHECK_THAT(settings, Contains("\"user\":\"alice\""));
    CHECK_THAT(settings, Contains("\"user_channel\":\"site:user:alice:demo\""));
    CHECK_THAT(settings, Contains("\"personal_flags\":\"subscribe-user&publish-user&echo\""));
  }
  SECTION("a hostile user name cannot end the script element") {
    Identity evil;
    evil.user = "</script><script>alert(1)</script>";
    const auto page = demo_page_answer(c, evil).body;
    CHECK_THAT(page_settings(page), Contains("\\u003c/script>\\u003cscript>alert(1)"));
    CHECK_THAT(page, !Contains("<script>alert"));
  }
  SECTION("no Redis: the page says so instead of a redis-cli line") {
    Config memory = c;
    memory.redis_url.clear();
    validate(memory);
    CHECK_THAT(page_settings(demo_page_answer(memory, Identity{}).body),
               Contains("\"redis\":false"));
  }
}

TEST_CASE("server.client_path and server.demo", "[static][config]") {
  SECTION("defaults: client served, demo off") {
    Config c;
    validate(c);
    CHECK(c.client_path == "/static/wsrelay.js");
    CHECK_FALSE(c.demo);
  }
  SECTION("every way of setting them") {
    Config c = parse_config_toml("[server]\ndemo = true\nclient_path = \"/js/r.js\"\n", "f.toml");
    CHECK(c.demo);
    CHECK(c.client_path == "/js/r.js");
    apply_environment(c, {{"WSRELAY_DEMO", "false"}, {"WSRELAY_CLIENT_PATH", ""}});
    CHECK_FALSE(c.demo);
    CHECK(c.client_path.empty());
    set_config_value(c, "server.demo", "1");
    CHECK(c.demo);
    set_config_value(c, "server.demo", "0");
    CHECK_FALSE(c.demo);
  }
  SECTION("bad values name the key") {
    Config c;
    auto error_of_set = [&](std::string_view key, std::string_view value) {
      try {
        set_config_value(c, key, value);
      } catch (const ConfigError& e) {
        return std::string(e.what());
      }
      return std::string("<no ConfigError>");
    };
    CHECK(error_of_set("server.demo", "yes") == "server.demo: expected true or false, got \"yes\"");
    CHECK_THAT(error_of_set("server.client_path", "static/x.js"),
               StartsWith("server.client_path: must start with '/'"));
    CHECK_THAT(error_of_set("server.client_path", "/static/"),
               StartsWith("server.client_path: must start with '/' and name a file"));
    CHECK_THAT(error_of_set("server.client_path", "/a b.js"),
               StartsWith("server.client_path: must not contain whitespace"));
    try {
      parse_config_toml("[server]\ndemo = \"true\"\n", "f.toml");
      FAIL("no error");
    } catch (const ConfigError& e) {
      CHECK(std::string(e.what()) == "f.toml:2: server.demo: expected true or false, got a string");
    }
  }
  SECTION("rules between keys") {
    Config c;
    c.demo = true;
    c.client_path.clear();
    CHECK_THAT(config_error(c), StartsWith("server.demo: needs server.client_path"));
    Config clash;
    clash.client_path = "/ws/wsrelay.js";
    CHECK_THAT(config_error(clash),
               StartsWith("server.client_path: must not be under server.websocket_url"));
  }
}
