#include "ws_client.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <random>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket/detail/hybi13.hpp>

#include "payload.hpp"

namespace wsrelay::bench {

namespace {

constexpr std::size_t kMaxHandshakeBytes = 16 * 1024;

bool iequals_prefix(const char* data, std::size_t size, std::string_view prefix) {
  if (size < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const auto a = static_cast<unsigned char>(data[i]);
    const auto b = static_cast<unsigned char>(prefix[i]);
    if (std::tolower(a) != std::tolower(b)) return false;
  }
  return true;
}

// The value of header `name` (lower case, with the colon) in a response
// head, or empty.
std::string_view header_value(std::string_view head, std::string_view name) {
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    const std::size_t start = pos + 2;
    const std::size_t end = head.find("\r\n", start);
    const std::string_view line =
        head.substr(start, end == std::string_view::npos ? head.npos : end - start);
    if (iequals_prefix(line.data(), line.size(), name)) {
      std::string_view v = line.substr(name.size());
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      return v;
    }
    pos = end;
  }
  return {};
}

}  // namespace

// ---------------------------------------------------------------- Connection

Connection::Connection(Worker& worker, const ClientTarget& target)
    : worker_(worker), target_(target), socket_(worker.ioc_) {}

void Connection::start() {
  socket_.async_connect(target_.endpoint, [this](error_code ec) { on_connect(ec); });
}

void Connection::on_connect(error_code ec) {
  if (ec) return fail(ec, "connect");
  socket_.set_option(tcp::no_delay(true), ec);
  // Closing with RST leaves no TIME_WAIT behind, so back-to-back runs of 10k
  // connections do not run out of loopback ephemeral ports.
  socket_.set_option(net::socket_base::linger(true, 0), ec);
  socket_.non_blocking(true, ec);
  if (ec) return fail(ec, "non_blocking");

  beast::websocket::detail::sec_ws_key_type key;
  beast::websocket::detail::make_sec_ws_key(key);
  key_.assign(key.data(), key.size());
  request_ = "GET " + target_.path + " HTTP/1.1\r\nHost: " + target_.host +
             "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key_ +
             "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  state_ = State::handshaking;
  net::async_write(socket_, net::buffer(request_),
                   [this](error_code ec, std::size_t) { on_request_written(ec); });
}

void Connection::on_request_written(error_code ec) {
  if (ec) return fail(ec, "write request");
  request_.clear();
  request_.shrink_to_fit();
  buf_size_ = worker_.read_buffer_bytes_;
  buf_ = std::make_unique<char[]>(buf_size_);
  do_read();
}

void Connection::do_read() {
  socket_.async_read_some(net::buffer(buf_.get() + buf_used_, buf_size_ - buf_used_),
                          [this](error_code ec, std::size_t n) { on_read(ec, n); });
}

void Connection::on_read(error_code ec, std::size_t n) {
  if (state_ == State::closed) return;
  if (ec) return fail(ec, "read");
  const std::size_t have = buf_used_ + n;
  const std::size_t used = handle(buf_.get(), have, monotonic_ns());
  if (state_ == State::closed) return;
  buf_used_ = have - used;
  if (buf_used_ > 0 && used > 0) std::memmove(buf_.get(), buf_.get() + used, buf_used_);
  if (buf_used_ == buf_size_) {
    // One frame larger than the buffer: grow it.
    auto bigger = std::make_unique<char[]>(buf_size_ * 2);
    std::memcpy(bigger.get(), buf_.get(), buf_used_);
    buf_ = std::move(bigger);
    buf_size_ *= 2;
  }
  do_read();
}

std::size_t Connection::handle(const char* data, std::size_t size, std::int64_t now) {
  if (state_ == State::handshaking) return handle_handshake(data, size, now);
  return handle_frames(data, size, now);
}

std::size_t Connection::handle_handshake(const char* data, std::size_t size, std::int64_t now) {
  const std::string_view text(data, size);
  const std::size_t end = text.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (size > kMaxHandshakeBytes) fail("handshake response too long");
    return 0;
  }
  const std::string_view head = text.substr(0, end + 2);
  if (!(head.starts_with("HTTP/1.1 101") || head.starts_with("HTTP/1.0 101"))) {
    fail("handshake refused: " + std::string(head.substr(0, head.find("\r\n"))));
    return size;
  }
  beast::websocket::detail::sec_ws_accept_type expected;
  beast::websocket::detail::make_sec_ws_accept(expected, key_);
  if (header_value(head, "sec-websocket-accept:") !=
      std::string_view(expected.data(), expected.size())) {
    fail("handshake: wrong Sec-WebSocket-Accept");
    return size;
  }
  key_.clear();
  key_.shrink_to_fit();
  state_ = State::open;
  opened_ = true;
  worker_.counters.connected.fetch_add(1, std::memory_order_relaxed);
  worker_.counters.last_connect_ns.store(now, std::memory_order_relaxed);
  worker_.on_handshake_done();
  const std::size_t used = end + 4;
  return used + handle_frames(data + used, size - used, now);
}

std::size_t Connection::handle_frames(const char* data, std::size_t size, std::int64_t now) {
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  std::size_t pos = 0;
  while (state_ == State::open && size - pos >= 2) {
    const unsigned b0 = p[pos];
    const unsigned b1 = p[pos + 1];
    const bool fin = (b0 & 0x80) != 0;
    const unsigned opcode = b0 & 0x0f;
    const bool masked = (b1 & 0x80) != 0;
    std::size_t header = 2;
    std::uint64_t length = b1 & 0x7f;
    if (length == 126) {
      if (size - pos < 4) break;
      length = (std::uint64_t{p[pos + 2]} << 8) | p[pos + 3];
      header = 4;
    } else if (length == 127) {
      if (size - pos < 10) break;
      length = 0;
      for (int i = 0; i < 8; ++i) length = (length << 8) | p[pos + 2 + i];
      header = 10;
    }
    if (masked) {
      // RFC 6455 5.1: a client must close a connection whose server masks.
      ++protocol_errors_;
      fail("server sent a masked frame");
      return size;
    }
    if (length > (std::uint64_t{1} << 30)) {
      ++protocol_errors_;
      fail("frame too large");
      return size;
    }
    if (size - pos < header + length) break;
    const char* payload = data + pos + header;
    const auto n = static_cast<std::size_t>(length);
    pos += header + n;
    switch (opcode) {
      case 0x1:
      case 0x2:
        if (fin) {
          on_message(payload, n, now);
        } else {
          fragments_.assign(payload, n);
        }
        break;
      case 0x0:
        fragments_.append(payload, n);
        if (fin) {
          on_message(fragments_.data(), fragments_.size(), now);
          fragments_.clear();
        }
        break;
      case 0x8:
        // Answer the close (with the status code, masked) and stop reading.
        send_control(0x8, payload, std::min<std::size_t>(n, 2));
        fail("closed by the server");
        return size;
      case 0x9:
        ++pings_;
        send_control(0xA, payload, n);
        break;
      case 0xA:
        break;
      default:
        ++protocol_errors_;
        fail("unknown opcode");
        return size;
    }
  }
  return pos;
}

void Connection::on_message(const char* data, std::size_t size, std::int64_t now) {
  if (target_.positions) {
    const std::string_view text(data, std::min<std::size_t>(size, 48));
    const std::size_t space = text.find(' ');
    if (space == std::string_view::npos) {
      ++other_;
      return;
    }
    data += space + 1;
    size -= space + 1;
  }
  ParsedPayload m;
  if (!parse_payload(data, size, target_.run_id, m)) {
    ++other_;
    return;
  }
  if (m.kind == 'P') {
    if (!probed_) {
      probed_ = true;
      worker_.counters.probed.fetch_add(1, std::memory_order_relaxed);
    }
    return;
  }
  if (m.seq >= worker_.messages_) {
    ++unexpected_;
    return;
  }
  const std::size_t word = m.seq / 64;
  const std::uint64_t bit = std::uint64_t{1} << (m.seq % 64);
  if (seen_.size() <= word) seen_.resize(std::max(word + 1, seen_.size() * 2), 0);
  if (seen_[word] & bit) {
    ++duplicates_;
    return;
  }
  seen_[word] |= bit;
  ++distinct_;
  if (m.seq + 1 < highest_plus_one_) {
    ++out_of_order_;
  } else {
    highest_plus_one_ = m.seq + 1;
  }
  worker_.histogram_.record((now - m.sent_ns) / 1000);
  worker_.counters.delivered.fetch_add(1, std::memory_order_relaxed);
  worker_.counters.last_delivery_ns.store(now, std::memory_order_relaxed);
}

void Connection::send_control(unsigned opcode, const char* data, std::size_t size) {
  // Control frames carry at most 125 bytes; a client masks every frame.
  size = std::min<std::size_t>(size, 125);
  static thread_local std::minstd_rand rng{std::random_device{}()};
  const std::uint32_t mask = static_cast<std::uint32_t>(rng());
  std::string frame;
  frame.reserve(6 + size);
  frame.push_back(static_cast<char>(0x80 | opcode));
  frame.push_back(static_cast<char>(0x80 | size));
  char key[4];
  std::memcpy(key, &mask, 4);
  frame.append(key, 4);
  for (std::size_t i = 0; i < size; ++i) frame.push_back(static_cast<char>(data[i] ^ key[i % 4]));
  pending_writes_ += frame;
  if (!writing_) do_write();
}

void Connection::do_write() {
  writing_buf_.swap(pending_writes_);
  pending_writes_.clear();
  writing_ = true;
  net::async_write(socket_, net::buffer(writing_buf_), [this](error_code ec, std::size_t) {
    writing_ = false;
    writing_buf_.clear();
    if (ec) return fail(ec, "write");
    if (!pending_writes_.empty()) do_write();
  });
}

void Connection::fail(error_code ec, const char* what) {
  if (state_ == State::closed) return;
  fail(std::string(what) + ": " + ec.message());
}

void Connection::fail(const std::string& why) {
  if (state_ == State::closed) return;
  const State was = state_;
  state_ = State::closed;
  worker_.note_error(why);
  if (was == State::open) {
    worker_.counters.closed.fetch_add(1, std::memory_order_relaxed);
    if (probed_) worker_.counters.probed.fetch_sub(1, std::memory_order_relaxed);
  } else {
    worker_.counters.failed.fetch_add(1, std::memory_order_relaxed);
    worker_.on_handshake_done();
  }
  // The socket stays open (and any close reply queued) until the run ends.
}

void Connection::add_to(ReceiveTotals& t, std::uint64_t published) const {
  if (!opened_) return;
  ++t.connections_opened;
  t.distinct += distinct_;
  t.lost += published > distinct_ ? published - distinct_ : 0;
  t.duplicates += duplicates_;
  t.out_of_order += out_of_order_;
  t.unexpected += unexpected_;
  t.other_messages += other_;
  t.pings += pings_;
  t.protocol_errors += protocol_errors_;
}

// -------------------------------------------------------------------- Worker

Worker::Worker(std::vector<ClientTarget> targets, std::size_t first_target, std::uint64_t messages,
               std::size_t connect_concurrency, std::size_t read_buffer_bytes)
    : targets_(std::move(targets)),
      next_target_(first_target),
      messages_(messages),
      concurrency_(std::max<std::size_t>(1, connect_concurrency)),
      read_buffer_bytes_(std::max<std::size_t>(256, read_buffer_bytes)) {}

void Worker::open(std::size_t count) {
  net::post(ioc_, [this, count] {
    remaining_ += count;
    connections_.reserve(connections_.size() + count);
    launch();
  });
}

void Worker::launch() {
  while (remaining_ > 0 && in_flight_ < concurrency_) {
    --remaining_;
    ++in_flight_;
    const ClientTarget& target = targets_[next_target_++ % targets_.size()];
    connections_.push_back(std::make_unique<Connection>(*this, target));
    connections_.back()->start();
  }
}

void Worker::on_handshake_done() {
  --in_flight_;
  // Posted, not called: the connection that finished is still on the stack.
  net::post(ioc_, [this] { launch(); });
}

void Worker::note_error(const std::string& what) {
  if (first_error_.empty()) first_error_ = what;
}

void Worker::run() {
  auto guard = net::make_work_guard(ioc_);
  ioc_.run();
}

void Worker::stop() {
  ioc_.stop();
}

ReceiveTotals Worker::totals(std::uint64_t published) const {
  ReceiveTotals t;
  for (const auto& c : connections_) c->add_to(t, published);
  return t;
}

}  // namespace wsrelay::bench
