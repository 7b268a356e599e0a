// TLS to Redis (rediss:// URLs) against a real redis-server with a TLS port,
// with certificates made by the openssl tool for each test (test_pki.hpp): a
// CA, a server certificate for localhost and 127.0.0.1 signed by it, a
// client certificate signed by it, and an unrelated CA. Redis also listens in plain on its
// usual test port, where the test itself publishes and looks at who is
// connected (CLIENT LIST names each client's local address, so the
// gateway's connections are seen to use the TLS port).
#include <chrono>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "support/test_pki.hpp"

using namespace wsrelay::test;

namespace {

// A redis-server with a TLS port beside its plain one.
struct TlsRedis {
  std::uint16_t tls_port = free_port();
  RedisServer server;

  TlsRedis(const Pki& pki, const std::string& auth_clients)
      : server(redis_tls_args(pki.server(), tls_port, auth_clients)) {}

  std::string url(const std::string& host = "127.0.0.1") const {
    return "rediss://" + host + ":" + std::to_string(tls_port);
  }

  // How many clients are connected to the TLS port.
  int tls_clients() { return RedisSync(server.port()).clients_on(tls_port); }
};

std::vector<std::string> tls_args(const std::string& url, std::vector<std::string> more) {
  std::vector<std::string> args{
      "--redis", url, "--set", "redis.reconnect_min_ms=20", "--set", "redis.reconnect_max_ms=100"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

bool wait_log(const Gateway& gateway, const std::string& text) {
  return wait_until([&] { return gateway.log().find(text) != std::string::npos; }, 10s, 20ms);
}

// The gateway logged `because` and is not ready.
void expect_not_ready(const Gateway& gateway, const std::string& because) {
  REQUIRE(wait_log(gateway, because));
  CHECK(get_status(gateway, "/readyz") == 503);
}

// Both ways through the gateway: a PUBLISH on the plain port reaches a
// browser; a browser's publish reaches another browser through Redis.
void expect_relay(TlsRedis& redis, const Gateway& gateway) {
  auto subscriber = open_ws(gateway, "/ws/tls?subscribe-broadcast");
  auto publisher = open_ws(gateway, "/ws/tls?publish-broadcast");
  RedisSync plain(redis.server.port());
  sync_subscription(plain, *subscriber, "broadcast:tls");
  REQUIRE(publisher->send_text("from a browser"));
  auto got = subscriber->read(5s);
  REQUIRE(got);
  CHECK(got->data == "from a browser");
  // Stored too (the SET follows the PUBLISH, so it may land just after).
  CHECK(wait_stored(plain, "broadcast:tls", "from a browser"));
}

}  // namespace

TEST_CASE("redis tls: rediss:// relays both ways over TLS, the server's certificate checked",
          "[gateway][redis][tls]") {
  Pki pki;
  TlsRedis redis(pki, "no");
  TestGateway gateway(tls_args(redis.url(), {"--set", "redis.tls_ca_file=" + pki.file("ca.crt")}));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  CHECK(wait_log(gateway, "connected to 127.0.0.1:" + std::to_string(redis.tls_port) + " (TLS)"));
  // The subscriber and the command connection, both on the TLS port.
  CHECK(wait_until([&] { return redis.tls_clients() == 2; }, 5s, 20ms));
  expect_relay(redis, gateway);
}

TEST_CASE("redis tls: a server the CA does not vouch for, or under another name, is refused",
          "[gateway][redis][tls]") {
  Pki pki;
  TlsRedis redis(pki, "no");
  SECTION("another CA") {
    TestGateway gateway(
        tls_args(redis.url(), {"--set", "redis.tls_ca_file=" + pki.file("other-ca.crt")}));
    expect_not_ready(gateway, "certificate verify failed");
  }
  SECTION("a name the certificate does not carry") {
    TestGateway gateway(tls_args(redis.url(), {"--set", "redis.tls_ca_file=" + pki.file("ca.crt"),
                                               "--set", "redis.tls_server_name=cache.internal"}));
    expect_not_ready(gateway, "certificate verify failed");
  }
  SECTION("the name it carries, for an address that is not in it") {
    // The certificate names localhost and 127.0.0.1: connecting by address
    // to 127.0.0.1 under the name localhost passes.
    TestGateway gateway(tls_args(redis.url(), {"--set", "redis.tls_ca_file=" + pki.file("ca.crt"),
                                               "--set", "redis.tls_server_name=localhost"}));
    REQUIRE(wait_readyz(gateway, 200, 10s));
    expect_relay(redis, gateway);
  }
  SECTION("tls_verify = false takes any certificate, and says so") {
    TestGateway gateway(tls_args(redis.url(), {"--set", "redis.tls_verify=false"}));
    REQUIRE(wait_readyz(gateway, 200, 10s));
    CHECK(wait_log(gateway, "redis.tls_verify = false"));
    expect_relay(redis, gateway);
  }
  SECTION("a plain Redis port") {
    TestGateway gateway(tls_args("rediss://127.0.0.1:" + std::to_string(redis.server.port()),
                                 {"--set", "redis.tls_ca_file=" + pki.file("ca.crt")}));
    expect_not_ready(gateway, "TLS handshake with 127.0.0.1:");
  }
}

TEST_CASE("redis tls: a client certificate for a server that asks for one",
          "[gateway][redis][tls]") {
  Pki pki;
  TlsRedis redis(pki, "yes");
  SECTION("without one: not ready") {
    TestGateway gateway(
        tls_args(redis.url(), {"--set", "redis.tls_ca_file=" + pki.file("ca.crt")}));
    // TLS 1.3: the handshake ends on our side; Redis refuses at the first read.
    expect_not_ready(gateway, "alert certificate required");
  }
  SECTION("with one") {
    TestGateway gateway(
        tls_args(redis.url(), {"--set", "redis.tls_ca_file=" + pki.file("ca.crt"), "--set",
                               "redis.tls_cert_file=" + pki.file("client.crt"), "--set",
                               "redis.tls_key_file=" + pki.file("client.key")}));
    REQUIRE(wait_readyz(gateway, 200, 10s));
    expect_relay(redis, gateway);
  }
}

TEST_CASE("redis tls: a TLS Redis restarted is reconnected to", "[gateway][redis][tls]") {
  Pki pki;
  TlsRedis redis(pki, "no");
  TestGateway gateway(tls_args(redis.url(), {"--set", "redis.tls_ca_file=" + pki.file("ca.crt")}));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  auto subscriber = open_ws(gateway, "/ws/tls?subscribe-broadcast");
  redis.server.stop();
  REQUIRE(wait_readyz(gateway, 503, 5s));
  redis.server.start();
  REQUIRE(wait_readyz(gateway, 200, 10s));
  RedisSync plain(redis.server.port());
  sync_subscription(plain, *subscriber, "broadcast:tls");
}

TEST_CASE("redis tls: files that cannot be used stop the start with their setting named",
          "[gateway][redis][tls]") {
  Pki pki;
  expect_config_refused({
      {{"--redis", "redis://127.0.0.1:6379", "--set", "redis.tls_ca_file=" + pki.file("ca.crt")},
       "redis.tls_ca_file: only with a TLS redis.url (rediss://, rediss+sentinel://, "
       "rediss+cluster://)"},
      {{"--redis", "rediss://127.0.0.1:6379", "--set", "redis.tls_ca_file=/nonexistent/ca.pem"},
       "redis.tls_ca_file: cannot read /nonexistent/ca.pem"},
      {{"--redis", "rediss://127.0.0.1:6379", "--set",
        "redis.tls_cert_file=" + pki.file("client.crt")},
       "a client certificate needs both"},
  });
  // Readable but not PEM: found when the engine loads it, before listening.
  TempDir dir("wsrelay-tls-bad");
  write_file(dir.file("ca.pem"), "not a certificate\n");
  Process process({WSRELAY_BINARY, "--listen", "127.0.0.1:0", "--redis", "rediss://127.0.0.1:6379",
                   "--set", "redis.tls_ca_file=" + dir.file("ca.pem")},
                  dir.file("output"), {}, {"WSRELAY_"});
  const auto code = process.wait_exit(10s);
  INFO(process.log_contents());
  REQUIRE(code);
  CHECK(*code == 3);
  CHECK(process.log_contents().find("redis.tls_ca_file: " + dir.file("ca.pem")) !=
        std::string::npos);
}

TEST_CASE("redis tls: wsrelay-publish refuses rediss:// and says what to use instead",
          "[publish][redis][tls]") {
  TempDir dir("wsrelay-publish-tls");
  Process process(
      {WSRELAY_PUBLISH_BINARY, "--redis", "rediss://127.0.0.1:6380", "-f", "cli", "-b", "hello"},
      dir.file("log"), {}, {"WSRELAY_"});
  const auto code = process.wait_exit(10s);
  INFO(process.log_contents());
  REQUIRE(code);
  CHECK(*code == 2);
  CHECK(process.log_contents().find("rediss:// (TLS) is not supported by wsrelay-publish") !=
        std::string::npos);
}
