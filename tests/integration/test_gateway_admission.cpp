// Admission control end to end: a connection counts from accept, handshakes
// in progress are bounded (503 at accept), the counters only rise, the
// Sec-WebSocket-Key is checked, and per-client-address limits refuse with
// 429 the abuse that filled Redis, directly and behind a trusted proxy.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>

#include "probe_helpers.hpp"
#include "support/callback_server.hpp"

using namespace wsrelay::test;

namespace {

// A bare non-blocking TCP socket that sends what it is given and tells
// whether the server answered or closed it, without waiting.
class HalfOpenSocket {
 public:
  explicit HalfOpenSocket(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  }
  ~HalfOpenSocket() { ::close(fd_); }
  HalfOpenSocket(const HalfOpenSocket&) = delete;
  HalfOpenSocket& operator=(const HalfOpenSocket&) = delete;

  bool send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // True once the server closed (FIN or reset); what it sent is in received().
  bool closed() {
    char buffer[4096];
    while (!closed_) {
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n > 0) {
        received_.append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        closed_ = true;
      } else {
        break;
      }
    }
    return closed_;
  }
  const std::string& received() const { return received_; }

 private:
  int fd_ = -1;
  bool closed_ = false;
  std::string received_;
};

// A handshake request written by hand, with `key` as Sec-WebSocket-Key.
std::string upgrade_with_key(std::uint16_t port, const std::string& key) {
  return "GET /ws/k?subscribe-broadcast HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
         (key.empty() ? std::string() : "Sec-WebSocket-Key: " + key + "\r\n") + "\r\n";
}

long long metric(const Gateway& gateway, const std::string& name) {
  return metric_value(gateway, name).value_or(-1);
}

}  // namespace

TEST_CASE("half-open handshakes: at most server.max_handshakes held, the rest 503 at accept",
          "[gateway][admission][memory]") {
  raise_open_files_limit();
  constexpr int kSockets = 5000;
  constexpr int kMaxHandshakes = 1024;  // the default
  TestGateway gateway(
      {"--set", "server.max_connections=100", "--set", "server.handshake_timeout_seconds=60"});
  const auto baseline = proc_status_kib(gateway.pid(), "VmRSS");
  REQUIRE(baseline);

  // Each sends 8000 bytes of a request header and never ends it.
  const std::string partial =
      "GET /ws/a?subscribe-broadcast HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(8000 - 60, 'a');
  std::vector<std::unique_ptr<HalfOpenSocket>> sockets;
  sockets.reserve(kSockets);
  for (int i = 0; i < kSockets; ++i) {
    sockets.push_back(std::make_unique<HalfOpenSocket>(gateway.port()));
    sockets.back()->send(partial);
  }
  // Every connection past the bound is answered and closed at once; the
  // bound is exact, since nothing else opens a connection meanwhile.
  std::size_t closed = 0;
  REQUIRE(wait_until(
      [&] {
        closed = 0;
        for (auto& socket : sockets) closed += socket->closed() ? 1 : 0;
        return closed >= static_cast<std::size_t>(kSockets - kMaxHandshakes);
      },
      30s, 20ms));
  CHECK(closed == static_cast<std::size_t>(kSockets - kMaxHandshakes));
  std::size_t answered_503 = 0;
  for (auto& socket : sockets) {
    const std::string& received = socket->received();
    if (received.empty()) continue;  // held, or reset before the answer was read
    CHECK(received.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0) == 0);
    answered_503 += 1;
  }
  CHECK(answered_503 > 0);

  // What the held ones cost: at most max_header_bytes + 1 KiB of buffer
  // each, and a session; 5000 of them took 64 MB before the bound.
  const auto held_rss = proc_status_kib(gateway.pid(), "VmRSS");
  REQUIRE(held_rss);
  INFO("baseline " << *baseline << " KiB, with the handshakes held " << *held_rss << " KiB");
#if defined(__SANITIZE_ADDRESS__)
  WARN("RSS bound not checked under AddressSanitizer (quarantine and shadow memory)");
#else
  CHECK(*held_rss - *baseline < kMaxHandshakes * 16);
#endif

  // Once they go, the gauge returns to the /metrics request itself and the
  // gateway serves as before.
  sockets.clear();
  CHECK(wait_until([&] { return metric(gateway, "wsrelay_handshakes_in_progress") == 1; }, 10s,
                   20ms));
  CHECK(metric(gateway, "wsrelay_handshakes_over_limit_total") == kSockets - kMaxHandshakes);
  CHECK(metric(gateway, "wsrelay_connections_open") == 0);
  auto client = open_ws(gateway, "/ws/a?subscribe-broadcast");
  CHECK(count_lines(gateway.log(), "connection refused at accept: over server.max_handshakes") <=
        60);
}

TEST_CASE("wsrelay_handshakes_refused_total only rises: the gauges follow each connection",
          "[gateway][admission]") {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  CallbackServer site([released](const RecordedRequest&) {
    released.wait_for(10s);  // the handshake waits on the site until the test lets it go
    return CallbackReply{200, R"({"user": "alice"})"};
  });
  TestGateway gateway(
      {"--set", "auth.backends=callback", "--set", "auth.callback_url=" + site.url()});
  WsClient client;
  auto handshake = std::async(std::launch::async, [&] {
    return client.connect(gateway.port(), "/ws/a?subscribe-broadcast", {}, 15s).status;
  });
  REQUIRE(wait_until([&] { return site.request_count() == 1; }, 10s));
  // Being authorized: one slot, one handshake (plus the /metrics request),
  // and nothing rejected. (The counter used to be raised here and lowered
  // on success.)
  CHECK(metric(gateway, "wsrelay_handshakes_refused_total{status=\"403\"}") == 0);
  CHECK(metric(gateway, "wsrelay_connections_open") == 1);
  CHECK(metric(gateway, "wsrelay_handshakes_in_progress") == 2);
  release.set_value();
  REQUIRE(handshake.get() == 101);
  CHECK(metric(gateway, "wsrelay_handshakes_refused_total{status=\"403\"}") == 0);
  CHECK(metric(gateway, "wsrelay_connections_open") == 1);
  // The upgraded one is no handshake any more: the scrape counts itself.
  CHECK(wait_until([&] { return metric(gateway, "wsrelay_handshakes_in_progress") == 1; }, 5s));

  // A refusal counts once, and a success after it does not take it back.
  WsClient refused;
  CHECK(refused
            .connect(gateway.port(), "/ws/a?subscribe-broadcast",
                     {{"Origin", "https://elsewhere.example"}})
            .status == 403);
  CHECK(metric(gateway, "wsrelay_handshakes_refused_total{status=\"403\"}") == 1);
  WsClient another;
  REQUIRE(another.connect(gateway.port(), "/ws/a?subscribe-broadcast").status == 101);
  CHECK(metric(gateway, "wsrelay_handshakes_refused_total{status=\"403\"}") == 1);
  CHECK(metric(gateway, "wsrelay_connections_open") == 2);
  REQUIRE(another.close());
  CHECK(wait_until([&] { return metric(gateway, "wsrelay_connections_open") == 1; }, 5s));
}

TEST_CASE("a Sec-WebSocket-Key that is not 16 bytes of base64 is refused with 400",
          "[gateway][admission]") {
  TestGateway gateway;
  for (const std::string key : {"", "short", "dGhlIHNhbXBsZSBub25jZQ", "AAAAAAAAAAAAAAAAAAAAAAAA",
                                "dGhlIHNhbXBsZSBub25jZQ=!", "<script>alert(1)</script>==",
                                "dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ=="}) {
    INFO("key: " << key);
    RawWsClient raw;
    raw.connect_tcp(gateway.port());
    REQUIRE(raw.send_raw(upgrade_with_key(gateway.port(), key)));
    const auto answer = raw.wait_http_response(5s);
    REQUIRE(answer);
    CHECK(answer->status == 400);
    CHECK(answer->body ==
          "missing or malformed Sec-WebSocket-Key (16 bytes in base64 are expected)\n");
  }
  RawWsClient good;
  good.connect_tcp(gateway.port());
  REQUIRE(good.send_raw(upgrade_with_key(gateway.port(), "dGhlIHNhbXBsZSBub25jZQ==")));
  const auto answer = good.wait_http_response(5s);
  REQUIRE(answer);
  CHECK(answer->status == 101);
  CHECK(answer->header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("per-address limits: open connections from one address", "[gateway][admission]") {
  // Loopback is exempt by default; here it is not.
  TestGateway gateway(
      {"--set", "server.address_limits_exempt=", "--set", "server.max_connections_per_address=3"});
  std::vector<std::unique_ptr<WsClient>> open;
  for (int i = 0; i < 3; ++i) open.push_back(open_ws(gateway, "/ws/a?subscribe-broadcast"));
  // The fourth is refused at accept, before its request is read: 429, or a
  // reset when its request arrives after the close.
  for (int i = 0; i < 5; ++i) {
    RawWsClient fourth;
    fourth.connect_tcp(gateway.port());
    fourth.send_raw(upgrade_with_key(gateway.port(), "dGhlIHNhbXBsZSBub25jZQ=="));
    const auto answer = fourth.wait_http_response(5s);
    if (answer) {
      CHECK(answer->status == 429);
      CHECK(answer->body == "too many connections from this address\n");
    } else {
      CHECK(fourth.wait_eof(5s));
    }
  }
  // One closes: one more may open, and /metrics is reachable again.
  REQUIRE(open.back()->close());
  open.pop_back();
  CHECK(wait_until([&] { return get_status(gateway, "/healthz") == 200; }, 5s, 20ms));
  std::unique_ptr<WsClient> again;
  CHECK(wait_until(
      [&] {
        again = std::make_unique<WsClient>();
        return again->connect(gateway.port(), "/ws/a?subscribe-broadcast").status == 101;
      },
      5s, 20ms));
  REQUIRE(again->close());
  CHECK(wait_until([&] { return metric(gateway, "wsrelay_handshakes_address_limited_total") >= 5; },
                   5s, 20ms));
  CHECK(count_lines(gateway.log(), "over server.max_connections_per_address") >= 1);
}

TEST_CASE("per-address limits: fresh connection after fresh connection cannot fill Redis",
          "[gateway][admission]") {
  RedisServer redis;
  RedisSync sync(redis.port());
  // The defaults (5 a second after a burst of 50), with loopback limited.
  TestGateway gateway(with_redis(redis, {"--set", "server.address_limits_exempt="}));
  // The abuse: a new facility and a new session cookie for every
  // connection, each publishing once, so each stores two last messages.
  const auto start = std::chrono::steady_clock::now();
  int admitted = 0;
  int refused = 0;
  for (int i = 0; std::chrono::steady_clock::now() - start < 3s; ++i) {
    WsClient client;
    const auto result = client.connect(
        gateway.port(), "/ws/f" + std::to_string(i) + "?publish-broadcast&publish-session",
        {{"Cookie", "sessionid=s" + std::to_string(i)}});
    if (result.status == 429) {
      CHECK(result.body == "too many new connections from this address\n");
      ++refused;
      continue;
    }
    REQUIRE(result.status == 101);
    ++admitted;
    REQUIRE(client.send_text("payload " + std::to_string(i)));
  }
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
  INFO(admitted << " admitted, " << refused << " refused in " << seconds.count() << " s");
  CHECK(refused > 0);
  CHECK(admitted <= 50 + 5 * seconds.count() + 1);
  // Two keys per admitted connection at most, once the publishes are in.
  CHECK(wait_until([&] { return sync.keys("*").size() == 2 * static_cast<std::size_t>(admitted); },
                   5s));
  // The refusals are logged at most once a second.
  CHECK(count_lines(gateway.log(), "over server.connect_rate_per_address") <=
        static_cast<std::size_t>(seconds.count()) + 1);
}

TEST_CASE("per-address limits behind a trusted proxy count the X-Forwarded-For client",
          "[gateway][admission]") {
  auto from = [](const std::string& client) { return Headers{{"X-Forwarded-For", client}}; };
  SECTION("the defaults: a public client gets its burst, then 429") {
    TestGateway gateway({"--set", "auth.trusted_proxies=127.0.0.0/8"});
    std::vector<std::unique_ptr<WsClient>> open;
    const auto start = std::chrono::steady_clock::now();
    int status = 101;
    while (status == 101 && open.size() < 200) {
      open.push_back(std::make_unique<WsClient>());
      status = open.back()
                   ->connect(gateway.port(), "/ws/a?subscribe-broadcast", from("203.0.113.7"))
                   .status;
    }
    const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
    CHECK(status == 429);
    const auto admitted = static_cast<double>(open.size() - 1);
    CHECK(admitted >= 50);
    CHECK(admitted <= 50 + 5 * seconds.count() + 1);
    // A client in a private network is exempt by default.
    for (int i = 0; i < 60; ++i)
      open.push_back(open_ws(gateway, "/ws/a?subscribe-broadcast", from("10.1.2.3")));
  }
  SECTION("open connections, counted per client behind the proxy") {
    TestGateway gateway({"--set", "auth.trusted_proxies=127.0.0.0/8", "--set",
                         "server.max_connections_per_address=2"});
    std::vector<std::unique_ptr<WsClient>> open;
    for (int i = 0; i < 2; ++i)
      open.push_back(open_ws(gateway, "/ws/a?subscribe-broadcast", from("203.0.113.7")));
    WsClient over;
    const auto refused =
        over.connect(gateway.port(), "/ws/a?subscribe-broadcast", from("203.0.113.7"));
    CHECK(refused.status == 429);
    CHECK(refused.body == "too many connections from this address\n");
    // Another client behind the same proxy is counted apart.
    open.push_back(open_ws(gateway, "/ws/a?subscribe-broadcast", from("203.0.113.8")));
    // One that writes its own X-Forwarded-For in front is still itself: the
    // rightmost address the proxy did not write is the client.
    WsClient forged;
    CHECK(
        forged
            .connect(gateway.port(), "/ws/a?subscribe-broadcast", from("198.51.100.1, 203.0.113.7"))
            .status == 429);
    CHECK(metric(gateway, "wsrelay_handshakes_address_limited_total") == 2);
  }
}
