#pragma once
// The publishing side: one pipelined connection, blocking writes from the
// main thread, replies read whenever they are there (a write that cannot
// proceed reads replies meanwhile, so neither side can block the other).
//   RedisPublisher: PUBLISH channel payload (RESP), what wsrelay, ws4redis and
//                   the Node relay listen to; or, with a history rule, the
//                   gateway's own history script by EVALSHA (XADD + PUBLISH,
//                   docs/history.md), as a client publish or the publish API
//                   on a facility with history does.
//   HttpPublisher:  POST path with the payload as the body, keep-alive; Nchan's
//                   publisher endpoint (Nchan's own Redis layout is internal).
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/runtime/net.hpp>
#include <wsrelay/wire/history.hpp>

namespace wsrelay::bench {

class Publisher {
 public:
  virtual ~Publisher() = default;

  // Adds one publish to the batch; flush() sends the batch.
  virtual void add(std::string_view payload) = 0;
  // Writes the batch; throws std::runtime_error when the connection fails.
  void flush();
  // Reads replies until `expected` replies came or the deadline passed.
  bool wait_replies(std::uint64_t expected, std::chrono::steady_clock::time_point deadline);

  std::uint64_t sent() const { return sent_; }
  std::uint64_t replies_ok() const { return ok_; }
  std::uint64_t replies_failed() const { return failed_; }
  const std::string& last_error() const { return last_error_; }

 protected:
  Publisher(const std::string& host, std::uint16_t port);
  // Consumes complete replies at the front of `in`, counting them.
  virtual void parse_replies(std::string& in) = 0;

  std::string batch_;
  std::uint64_t sent_ = 0;
  std::uint64_t ok_ = 0;
  std::uint64_t failed_ = 0;
  std::string last_error_;

 private:
  void read_available();
  void wait_io(bool want_write, int timeout_ms);

  net::io_context ioc_;
  tcp::socket socket_;
  std::string replies_;
};

class RedisPublisher final : public Publisher {
 public:
  // With `history`, loads the history script first (SCRIPT LOAD, its reply
  // not counted) and publishes every message through it.
  RedisPublisher(const std::string& host, std::uint16_t port, std::string channel,
                 std::optional<HistoryRule> history = std::nullopt);
  void add(std::string_view payload) override;

 private:
  void add_command(const std::vector<std::string>& argv);
  void parse_replies(std::string& in) override;
  std::string channel_;
  std::optional<HistoryRule> history_;
  bool script_reply_pending_ = false;
};

class HttpPublisher final : public Publisher {
 public:
  HttpPublisher(const std::string& host, std::uint16_t port, std::string path);
  void add(std::string_view payload) override;

 private:
  void parse_replies(std::string& in) override;
  std::string head_;
};

}  // namespace wsrelay::bench
