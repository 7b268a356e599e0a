// The raw-socket bad-input suite (issue 4, docs/protocol.md §6): hostile bytes at
// the frame level and at the handshake each get their specified close code or
// HTTP status, publish nothing, and leave the daemon and every other
// connection as they were. After every case, check() proves that the daemon
// still runs, /healthz answers, and two well-behaved connections still carry
// messages in both directions.
#include <cstdio>

#include "helpers.hpp"

using namespace wsrelay::test;

namespace {

constexpr std::size_t kMaxMessageBytes = 65536;  // websocket.max_message_bytes default
constexpr std::size_t kMaxHeaderBytes = 8192;    // server.max_header_bytes default

// Two connections that behave: `watcher` subscribes to broadcast:watch,
// `talker` publishes there without echo.
class Bystanders {
 public:
  Bystanders(TestGateway& gateway, const RedisServer& redis)
      : gateway_(gateway), sync_(redis.port()) {
    watcher_ = open_ws(gateway, "/ws/watch?subscribe-broadcast");
    talker_ = open_ws(gateway, "/ws/watch?publish-broadcast");
    sync_subscription(sync_, *watcher_, "broadcast:watch");
  }

  // REQUIREs that the daemon and both connections are unaffected by `after`.
  void check(const std::string& after) {
    INFO("after: " << after);
    REQUIRE(gateway_.running());
    REQUIRE(get_status(gateway_, "/healthz") == 200);
    const std::string n = std::to_string(++round_);
    sync_.publish("broadcast:watch", "from-redis-" + n);
    std::optional<Received> m = watcher_->read(5s);
    REQUIRE(m);
    CHECK(m->data == "from-redis-" + n);
    REQUIRE(talker_->send_text("from-talker-" + n));
    m = watcher_->read(5s);
    REQUIRE(m);
    CHECK(m->data == "from-talker-" + n);
    talker_->pump();
    CHECK(talker_->is_open());
    CHECK(watcher_->is_open());
  }

 private:
  TestGateway& gateway_;
  RedisSync sync_;
  std::unique_ptr<WsClient> watcher_;
  std::unique_ptr<WsClient> talker_;
  int round_ = 0;
};

// What the gateway PUBLISHed on one channel, in order.
class PublishLog {
 public:
  PublishLog(const RedisServer& redis, std::string channel)
      : probe_(redis.port(), {channel}), sync_(redis.port()), channel_(std::move(channel)) {}

  // The next message published there, waiting up to `timeout`.
  std::optional<std::string> next(std::chrono::milliseconds timeout = 5s) {
    return probe_.next_message(timeout);
  }

  // REQUIREs that nothing was published since the last message read: a
  // marker published now must be the next thing seen.
  void require_nothing_more(const std::string& after) {
    const std::string marker = "marker-" + std::to_string(++markers_);
    sync_.publish(channel_, marker);
    auto before = probe_.messages_before(channel_, marker, 5s);
    INFO("after: " << after);
    REQUIRE(before);
    for (const auto& m : *before) {
      INFO("published: " << m.payload.substr(0, 80) << " (" << m.payload.size() << " bytes)");
      CHECK(false);
    }
  }

 private:
  RedisSubscriberProbe probe_;
  RedisSync sync_;
  std::string channel_;
  int markers_ = 0;
};

// Hostile connections publish here; the PublishLog watches it.
const std::string kBadTarget = "/ws/bad?publish-broadcast";
const std::string kBadChannel = "broadcast:bad";

std::string frame(std::uint8_t opcode, std::string_view payload, bool fin = true) {
  return RawWsClient::masked_frame(opcode, payload, fin);
}

// A masked frame header (first byte `b0`) announcing `length` payload bytes,
// in the 64-bit length form, without the payload.
std::string header_only(std::uint8_t b0, std::uint64_t length) {
  std::string out;
  out.push_back(static_cast<char>(b0));
  out.push_back(static_cast<char>(0x80 | 127));
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((length >> shift) & 0xff));
  }
  out += std::string("\x12\x34\x56\x78", 4);
  return out;
}

std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
  std::string out;
  out.push_back(static_cast<char>(code >> 8));
  out.push_back(static_cast<char>(code & 0xff));
  out += reason;
  return out;
}

struct CloseCase {
  std::string name;
  std::string bytes;
  std::uint16_t code;
};

// Opens a hostile connection, sends the bytes, and checks the close code,
// that the server drops the TCP connection, that nothing was published and
// that the bystanders are unaffected.
void run_close_case(TestGateway& gateway, Bystanders& bystanders, PublishLog& published,
                    const CloseCase& c) {
  INFO(c.name);
  {
    RawWsClient raw;
    REQUIRE(raw.connect(gateway.port(), kBadTarget) == 101);
    // The server may close before it has read everything (that is the
    // point of an early 1009), so a failed write is not an error here.
    raw.send_raw(c.bytes, 5s);
    const std::optional<std::uint16_t> code = raw.wait_close(5s);
    REQUIRE(code);
    CHECK(*code == c.code);
    CHECK(raw.wait_eof(5s));
  }
  published.require_nothing_more(c.name);
  bystanders.check(c.name);
}

// Opens a connection, sends the bytes, and REQUIREs that the server
// published exactly `expected` (in order) and kept the connection open.
void run_accept_case(TestGateway& gateway, Bystanders& bystanders, PublishLog& published,
                     const std::string& name, const std::string& bytes,
                     const std::vector<std::string>& expected) {
  INFO(name);
  RawWsClient raw;
  REQUIRE(raw.connect(gateway.port(), kBadTarget) == 101);
  REQUIRE(raw.send_raw(bytes, 10s));
  for (const std::string& want : expected) {
    std::optional<std::string> got = published.next(10s);
    REQUIRE(got);
    CHECK(got->size() == want.size());
    CHECK(*got == want);
  }
  published.require_nothing_more(name);
  raw.pump();
  CHECK_FALSE(raw.closed());
  bystanders.check(name);
}

struct Daemon {
  explicit Daemon(std::vector<std::string> more = {})
      : gateway(with_redis(redis, std::move(more))), bystanders(gateway, redis) {}
  RedisServer redis;
  TestGateway gateway;
  Bystanders bystanders;
};

}  // namespace

TEST_CASE("bad input: oversized frames and messages close with 1009", "[gateway][bad_input]") {
  Daemon d;
  PublishLog published(d.redis, kBadChannel);

  const std::string half(40000, 'h');
  std::string seventeen_pages;  // 16 x 4096 = the limit; the 17th fragment passes it
  seventeen_pages += frame(0x2, std::string(4096, 'p'), false);
  for (int i = 1; i < 16; ++i) seventeen_pages += frame(0x0, std::string(4096, 'p'), false);
  seventeen_pages += frame(0x0, std::string(4096, 'p'), true);

  const std::vector<CloseCase> cases{
      {"text frame header announcing max_message_bytes + 1",
       header_only(0x81, kMaxMessageBytes + 1), 1009},
      {"binary frame header announcing 2^62 bytes", header_only(0x82, std::uint64_t{1} << 62),
       1009},
      {"frame length with the most significant bit set (RFC 6455 5.2)",
       header_only(0x82, std::uint64_t{1} << 63), 1002},
      {"two fragments that together pass the limit",
       frame(0x1, half, false) + header_only(0x80, half.size()), 1009},
      {"seventeen 4 KiB fragments", seventeen_pages, 1009},
  };
  for (const CloseCase& c : cases) run_close_case(d.gateway, d.bystanders, published, c);

  // The limit itself is allowed, in one frame and in fragments.
  const std::string at_limit(kMaxMessageBytes, 'L');
  run_accept_case(d.gateway, d.bystanders, published, "binary message of exactly the limit",
                  frame(0x2, at_limit), {at_limit});
  run_accept_case(d.gateway, d.bystanders, published, "text message of exactly the limit in two",
                  frame(0x1, at_limit.substr(0, 100), false) + frame(0x0, at_limit.substr(100)),
                  {at_limit});
}

TEST_CASE("bad input: a flood of tiny fragments under the limit is published intact",
          "[gateway][bad_input]") {
  Daemon d;
  PublishLog published(d.redis, kBadChannel);

  // 10,000 fragments of 5 bytes ("00000", "00001", ...): 50,000 bytes, under
  // the limit; a ping after every 1000th fragment (control frames may come
  // between fragments) must be answered without breaking the message.
  constexpr int kFragments = 10000;
  std::string bytes;
  std::string expected;
  int pings = 0;
  for (int i = 0; i < kFragments; ++i) {
    char piece[8];
    std::snprintf(piece, sizeof piece, "%05d", i);
    expected += piece;
    bytes += frame(i == 0 ? 0x1 : 0x0, piece, i == kFragments - 1);
    if (i % 1000 == 999 && i != kFragments - 1) {
      bytes += frame(0x9, "ping-" + std::to_string(++pings));
    }
  }
  {
    INFO("10,000 fragments with pings between them");
    RawWsClient raw;
    REQUIRE(raw.connect(d.gateway.port(), kBadTarget) == 101);
    REQUIRE(raw.send_raw(bytes, 10s));
    std::optional<std::string> got = published.next(10s);
    REQUIRE(got);
    CHECK(got->size() == expected.size());
    CHECK(*got == expected);
    published.require_nothing_more("the fragment flood");
    auto pongs = [&] {
      int n = 0;
      for (const RawFrame& f : raw.frames()) n += f.opcode == 0xA ? 1 : 0;
      return n;
    };
    CHECK(wait_until(
        [&] {
          raw.pump();
          return pongs() == pings || raw.closed();
        },
        5s));
    CHECK(pongs() == pings);
    int seen = 0;
    for (const RawFrame& f : raw.frames()) {
      if (f.opcode == 0xA) CHECK(f.payload == "ping-" + std::to_string(++seen));
    }
    // The parser is back at a message boundary: the next message is whole.
    REQUIRE(raw.send_raw(frame(0x1, "after the flood")));
    CHECK(published.next(5s) == "after the flood");
    raw.pump();
    CHECK_FALSE(raw.closed());
  }
  d.bystanders.check("the fragment flood");

  // Empty fragments cost a header each and carry nothing.
  std::string empties = frame(0x1, "start-", false);
  for (int i = 0; i < kFragments; ++i) empties += frame(0x0, "", false);
  empties += frame(0x0, "end", true);
  run_accept_case(d.gateway, d.bystanders, published, "10,000 empty continuation fragments",
                  empties, {"start-end"});
}

TEST_CASE("bad input: invalid UTF-8 closes with 1007, split valid UTF-8 is accepted",
          "[gateway][bad_input]") {
  Daemon d;
  PublishLog published(d.redis, kBadChannel);

  const std::vector<CloseCase> cases{
      {"invalid 2-byte sequence", frame(0x1, "\xC3\x28"), 1007},
      {"overlong encoding of '/'", frame(0x1, "\xC0\xAF"), 1007},
      {"UTF-16 surrogate", frame(0x1, "\xED\xA0\x80"), 1007},
      {"code point past U+10FFFF", frame(0x1, "\xF4\x90\x80\x80"), 1007},
      {"0xFF byte", frame(0x1, "ok\xFF"), 1007},
      {"truncated sequence at the end", frame(0x1, "ok\xE2\x82"), 1007},
      {"invalid sequence split across two fragments",
       frame(0x1, "ab\xE2\x82", false) + frame(0x0, "\x28"), 1007},
      {"4-byte sequence cut short by the last fragment",
       frame(0x1, "ab\xF0\x9F", false) + frame(0x0, "\x98", false) + frame(0x0, "z"), 1007},
      {"valid first fragment, invalid last one", frame(0x1, "fine ", false) + frame(0x0, "\xFE"),
       1007},
      {"close reason that is not UTF-8", frame(0x8, close_payload(1000, "\xC3\x28")), 1007},
  };
  for (const CloseCase& c : cases) run_close_case(d.gateway, d.bystanders, published, c);

  const std::string grin = "\xF0\x9F\x98\x80";  // U+1F600, four bytes
  run_accept_case(d.gateway, d.bystanders, published, "4-byte character split in two",
                  frame(0x1, "a\xF0\x9F", false) + frame(0x0,
                                                         "\x98\x80"
                                                         "b"),
                  {"a" + grin + "b"});
  run_accept_case(d.gateway, d.bystanders, published, "4-byte character split byte by byte",
                  frame(0x1, "\xF0", false) + frame(0x0, "\x9F", false) +
                      frame(0x0, "\x98", false) + frame(0x0, "\x80"),
                  {grin});
  // Binary messages are not text: any bytes go through.
  run_accept_case(d.gateway, d.bystanders, published, "binary message with invalid UTF-8",
                  frame(0x2, std::string("\xC3\x28\xFF\x00", 4)),
                  {std::string("\xC3\x28\xFF\x00", 4)});
}

TEST_CASE("bad input: protocol violations close with 1002", "[gateway][bad_input]") {
  Daemon d;
  PublishLog published(d.redis, kBadChannel);

  std::string rsv1 = frame(0x1, "x");
  rsv1[0] = static_cast<char>(rsv1[0] | 0x40);
  std::string rsv2 = frame(0x1, "x");
  rsv2[0] = static_cast<char>(rsv2[0] | 0x20);
  std::string rsv3 = frame(0x1, "x");
  rsv3[0] = static_cast<char>(rsv3[0] | 0x10);

  const std::vector<CloseCase> cases{
      {"fragmented ping", frame(0x9, "p", false) + frame(0x0, "q"), 1002},
      {"ping with a 126-byte payload", frame(0x9, std::string(126, 'p')), 1002},
      {"pong with a 126-byte payload", frame(0xA, std::string(126, 'p')), 1002},
      {"close with a 126-byte payload", frame(0x8, close_payload(1000, std::string(124, 'r'))),
       1002},
      {"unmasked text frame", std::string("\x81\x05hello", 7), 1002},
      {"unmasked ping", std::string("\x89\x00", 2), 1002},
      {"RSV1 set", rsv1, 1002},
      {"RSV2 set", rsv2, 1002},
      {"RSV3 set", rsv3, 1002},
      {"reserved opcode 0x3", frame(0x3, "x"), 1002},
      {"reserved opcode 0x7", frame(0x7, "x"), 1002},
      {"reserved control opcode 0xB", frame(0xB, "x"), 1002},
      {"reserved control opcode 0xF", frame(0xF, ""), 1002},
      {"continuation without a message", frame(0x0, "x"), 1002},
      {"new message inside a fragmented one", frame(0x1, "a", false) + frame(0x1, "b"), 1002},
      {"close code 1005 (reserved: no status)", frame(0x8, close_payload(1005)), 1002},
      {"close code 1006 (reserved: abnormal)", frame(0x8, close_payload(1006)), 1002},
      {"close code 1015 (reserved: TLS)", frame(0x8, close_payload(1015)), 1002},
      {"close code 999", frame(0x8, close_payload(999)), 1002},
      {"close code 0", frame(0x8, close_payload(0)), 1002},
      {"close code 5000", frame(0x8, close_payload(5000)), 1002},
      {"close with a 1-byte payload", frame(0x8, std::string(1, '\x03')), 1002},
  };
  for (const CloseCase& c : cases) run_close_case(d.gateway, d.bystanders, published, c);

  // For comparison, a well-formed close is answered with its own code.
  run_close_case(d.gateway, d.bystanders, published,
                 {"close 1000", frame(0x8, close_payload(1000, "bye")), 1000});
  run_close_case(d.gateway, d.bystanders, published,
                 {"close 4000", frame(0x8, close_payload(4000)), 4000});
}

namespace {

// An upgrade request written by hand: exactly `lines` as header lines after
// Host, so a test can leave out or break any of them.
std::string request(const std::string& target, const std::vector<std::string>& lines) {
  std::string out = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& line : lines) out += line + "\r\n";
  return out + "\r\n";
}

const std::string kUpgrade = "Upgrade: websocket";
const std::string kConnection = "Connection: Upgrade";
const std::string kKey = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
const std::string kVersion = "Sec-WebSocket-Version: 13";

struct HttpCase {
  std::string name;
  std::string bytes;
  std::vector<int> statuses;  // any of these
};

// Sends the bytes on a fresh connection and checks the response status and
// that the server then closes the connection. Returns the response.
std::optional<HttpResult> run_http_case(TestGateway& gateway, Bystanders& bystanders,
                                        const HttpCase& c) {
  INFO(c.name);
  std::optional<HttpResult> response;
  {
    RawWsClient raw;
    raw.connect_tcp(gateway.port());
    // A server that answers before reading everything may reset the rest.
    raw.send_raw(c.bytes, 5s);
    response = raw.wait_http_response(5s);
    REQUIRE(response);
    INFO("status " << response->status << ": " << response->body);
    CHECK(std::find(c.statuses.begin(), c.statuses.end(), response->status) != c.statuses.end());
    if (response->status != 101) CHECK(raw.wait_eof(5s));
  }
  bystanders.check(c.name);
  return response;
}

}  // namespace

TEST_CASE("bad input: slow and silent handshakes are cut at handshake_timeout_seconds",
          "[gateway][bad_input]") {
  Daemon d({"--set", "server.handshake_timeout_seconds=1"});

  // Slowloris: one byte of a valid upgrade request every 100 ms. The whole
  // request would take 10+ s; the daemon must hang up after about 1 s.
  const std::string slow = request("/ws/slow?subscribe-broadcast",
                                   {kUpgrade, kConnection, kKey, kVersion, "X-Pad: 0123456789"});
  RawWsClient drip;
  RawWsClient silent;  // connects and never sends a byte
  const auto start = std::chrono::steady_clock::now();
  drip.connect_tcp(d.gateway.port());
  silent.connect_tcp(d.gateway.port());
  std::size_t sent = 0;
  while (!drip.eof() && sent < slow.size() && std::chrono::steady_clock::now() - start < 5s) {
    if (!drip.send_raw(slow.substr(sent, 1), 1s)) break;  // reset by the server
    ++sent;
    drip.wait_eof(100ms);  // the attacker's pace, and the check for the server's close
  }
  CHECK(drip.wait_eof(1s));
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  INFO("closed after " << elapsed.count() << " ms, " << sent << " of " << slow.size()
                       << " bytes sent");
  CHECK(sent < slow.size());
  // The timeout closed it, not a parse error of the first bytes. The daemon
  // dates the deadline from its 250 ms tick clock, so it may come up to a
  // tick early.
  CHECK(elapsed >= 700ms);
  CHECK(elapsed <= 2000ms);
  CHECK(silent.wait_eof(2s));
  const auto silent_elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  CHECK(silent_elapsed <= 2000ms);
  d.bystanders.check("slowloris");
}

TEST_CASE("bad input: malformed upgrade requests get their HTTP status", "[gateway][bad_input]") {
  Daemon d;

  std::vector<std::string> many_headers{kUpgrade, kConnection, kKey, kVersion};
  for (int i = 0; i < 1000; ++i) many_headers.push_back("X-H" + std::to_string(i) + ": v");

  const std::vector<HttpCase> cases{
      {"control: a well-formed hand-made upgrade",
       request("/ws/h?subscribe-broadcast", {kUpgrade, kConnection, kKey, kVersion}),
       {101}},
      {"one header larger than max_header_bytes",
       request("/ws/h?subscribe-broadcast", {kUpgrade, kConnection, kKey, kVersion,
                                             "X-Big: " + std::string(2 * kMaxHeaderBytes, 'b')}),
       {431}},
      {"1000 small headers, larger than max_header_bytes together",
       request("/ws/h?subscribe-broadcast", many_headers),
       {431}},
      {"huge header on a health check",
       request("/healthz", {"X-Big: " + std::string(20000, 'b')}),
       {431}},
      {"missing Sec-WebSocket-Key",
       request("/ws/h?subscribe-broadcast", {kUpgrade, kConnection, kVersion}),
       {400}},
      {"Sec-WebSocket-Key of the wrong length",
       request("/ws/h?subscribe-broadcast",
               {kUpgrade, kConnection, "Sec-WebSocket-Key: abc", kVersion}),
       {400}},
      {"Sec-WebSocket-Key far too long",
       request("/ws/h?subscribe-broadcast",
               {kUpgrade, kConnection, "Sec-WebSocket-Key: " + std::string(4000, 'k'), kVersion}),
       {400}},
      {"empty Sec-WebSocket-Key",
       request("/ws/h?subscribe-broadcast",
               {kUpgrade, kConnection, "Sec-WebSocket-Key:", kVersion}),
       {400}},
      {"upgrade request with a body",
       request("/ws/h?subscribe-broadcast",
               {kUpgrade, kConnection, kKey, kVersion, "Content-Length: 5"}) +
           "hello",
       {400, 413}},
      {"chunked upgrade request",
       request("/ws/h?subscribe-broadcast",
               {kUpgrade, kConnection, kKey, kVersion, "Transfer-Encoding: chunked"}) +
           "5\r\nhello\r\n0\r\n\r\n",
       {400, 413}},
      {"not HTTP at all", "HELLO\r\n\r\n", {400}},
      {"binary garbage",
       std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 15),
       {400}},
      {"bare LF line endings and no version",
       "GET /ws/h?subscribe-broadcast\nHost: x\nUpgrade: websocket\n\n",
       {400, 426}},
  };
  for (const HttpCase& c : cases) run_http_case(d.gateway, d.bystanders, c);

  // Frames sent in the same write as the upgrade request are WebSocket
  // bytes once the 101 is out: a bad one closes with 1002, a good one is
  // published.
  PublishLog published(d.redis, "broadcast:h");
  for (const bool bad : {true, false}) {
    INFO((bad ? "bad" : "good") << " frame right behind the request");
    RawWsClient raw;
    raw.connect_tcp(d.gateway.port());
    REQUIRE(
        raw.send_raw(request("/ws/h?publish-broadcast", {kUpgrade, kConnection, kKey, kVersion}) +
                     (bad ? frame(0x3, "x") : frame(0x1, "early bird"))));
    const std::optional<HttpResult> response = raw.wait_http_response(5s);
    REQUIRE(response);
    CHECK(response->status == 101);
    if (bad) {
      CHECK(raw.wait_eof(5s));
      const std::string& bytes = raw.received();
      const std::size_t at = bytes.find("\r\n\r\n") + 4;
      REQUIRE(bytes.size() >= at + 4);
      CHECK(static_cast<std::uint8_t>(bytes[at]) == 0x88);  // a close frame
      CHECK(((static_cast<std::uint8_t>(bytes[at + 2]) << 8) |
             static_cast<std::uint8_t>(bytes[at + 3])) == 1002);
      published.require_nothing_more("bad frame right behind the request");
    } else {
      CHECK(published.next(5s) == "early bird");
      published.require_nothing_more("good frame right behind the request");
      raw.pump();
      CHECK_FALSE(raw.eof());
    }
    d.bystanders.check(bad ? "bad early frame" : "good early frame");
  }

  // RFC 6455 4.2.2: an unsupported version gets 426 and the version we speak.
  for (const std::string& version :
       {std::string("Sec-WebSocket-Version: 12"), std::string("Sec-WebSocket-Version: 8"),
        std::string("Sec-WebSocket-Version: 13, 8"), std::string("Sec-WebSocket-Version: x")}) {
    const auto response =
        run_http_case(d.gateway, d.bystanders,
                      {version,
                       request("/ws/h?subscribe-broadcast", {kUpgrade, kConnection, kKey, version}),
                       {426}});
    INFO(version);
    REQUIRE(response);
    CHECK(response->header("Sec-WebSocket-Version") == "13");
  }
}

TEST_CASE("bad input: facility and flag abuse gets a sensible status", "[gateway][bad_input]") {
  // Headers up to 128 KiB, so 10,000 short flags fit and 10,000 long ones
  // do not.
  Daemon d({"--set", "server.max_header_bytes=131072"});
  RedisSync sync(d.redis.port());

  // The status of an upgrade to `target`; the request may be large enough
  // that the daemon answers before reading all of it.
  auto status_of = [&](const std::string& target) {
    RawWsClient raw;
    raw.connect_tcp(d.gateway.port());
    raw.send_raw(request(target, {kUpgrade, kConnection, kKey, kVersion}), 5s);
    const std::optional<HttpResult> response = raw.wait_http_response(5s);
    REQUIRE(response);
    if (response->status != 101) CHECK(raw.wait_eof(5s));
    return response->status;
  };
  auto is_one_of = [](int status, std::initializer_list<int> allowed) {
    return std::find(allowed.begin(), allowed.end(), status) != allowed.end();
  };

  {
    // 10,000 flags past the header limit: refused as too large.
    std::string target = "/ws/abuse?";
    for (int i = 0; i < 10000; ++i) target += "subscribe-broadcast&";
    REQUIRE(target.size() > 131072);
    const int status = status_of(target);
    INFO("status " << status);
    CHECK(is_one_of(status, {414, 431}));
    d.bystanders.check("10,000 long flags");
  }
  {
    // 10,000 repeated flags within the limit: one subscription, so one copy.
    std::string target = "/ws/many?subscribe-broadcast";
    for (int i = 0; i < 10000; ++i) target += i % 2 ? "&ECHO" : "&Subscribe-Broadcast";
    auto client = open_ws(d.gateway, target);
    sync_subscription(sync, *client, "broadcast:many");
    sync.publish("broadcast:many", "once");
    sync.publish("broadcast:many", "twice");
    for (const char* want : {"once", "twice"}) {
      std::optional<Received> m = client->read(5s);
      REQUIRE(m);
      CHECK(m->data == want);
    }
    CHECK(client->expect_no_message(100ms));
    d.bystanders.check("10,000 repeated flags");
  }
  {
    // Values are ignored: these flags count.
    auto client =
        open_ws(d.gateway, "/ws/vals?subscribe-broadcast=no&publish-broadcast=&echo==x=y&x=1");
    sync_subscription(sync, *client, "broadcast:vals");
    REQUIRE(client->send_text("mine"));
    std::optional<Received> m = client->read(5s);
    REQUIRE(m);
    CHECK(m->data == "mine");  // echo=... enabled echo
    d.bystanders.check("flags with values");
  }
  {
    // Nothing but separators and empty names: no flags, so no publishing.
    auto client = open_ws(d.gateway, "/ws/empty?&&&=&==&" + std::string(5000, '&'));
    REQUIRE(client->send_text("not allowed"));
    CHECK(client->wait_close(5s) == 1008);
    d.bystanders.check("empty flags");
  }

  // Facilities that must be refused, however they are spelled.
  const std::vector<std::string> refused{
      "/ws/caf\xC3\xA9?subscribe-broadcast",    // raw UTF-8
      "/ws/caf%C3%A9?subscribe-broadcast",      // escaped UTF-8
      "/ws/\xFF\xFE?subscribe-broadcast",       // not UTF-8 at all
      "/ws/a%00b?subscribe-broadcast",          // escaped NUL
      "/ws/a%zzb?subscribe-broadcast",          // malformed escape
      "/ws/a%?subscribe-broadcast",             // truncated escape
      "/ws/a%2?subscribe-broadcast",            //
      "/ws/%2E%2E?subscribe-broadcast",         // escaped ".."
      "/ws/a%252Ab?subscribe-broadcast",        // double-escaped '*'
      "/ws/" + std::string(10000, 'f') + "?x",  // 10,000-character facility
  };
  for (const std::string& target : refused) {
    INFO("target " << target.substr(0, 60));
    const int status = status_of(target);
    INFO("status " << status);
    CHECK(status == 400);
    d.bystanders.check(target.substr(0, 60));
  }

  // Odd flags: the facility is fine, the flags are unknown (ignored) or the
  // request line itself is refused; never a crash.
  const std::vector<std::string> odd_flags{
      "/ws/odd?subscribe-broadcast&fl\xC3\xA4g",  // raw UTF-8 flag
      "/ws/odd?subscribe-broadcast&\xFF\xFE",     // raw non-UTF-8 bytes
      "/ws/odd?subscribe%2Dbroadcast",            // escaped flag name
      "/ws/odd?subscribe-broadcast%00",           // escaped NUL after a flag
      "/ws/odd?subscribe-broadcast&%",            // truncated escape in the query
      "/ws/odd?" + std::string(60000, '='),       // one enormous empty name
  };
  for (const std::string& target : odd_flags) {
    INFO("target " << target.substr(0, 60));
    const int status = status_of(target);
    INFO("status " << status);
    CHECK(is_one_of(status, {101, 400}));
    d.bystanders.check(target.substr(0, 60));
  }
}
