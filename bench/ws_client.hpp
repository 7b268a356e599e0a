#pragma once
// The receiving side of the load generator: many raw-socket WebSocket client
// connections per thread, each doing a real RFC 6455 client handshake
// (Sec-WebSocket-Key checked against Sec-WebSocket-Accept), reading server
// frames, answering pings and close frames with masked frames, and recording
// which benchmark messages arrived, in which order, and how late.
//
// A Worker owns one io_context, run by one thread, and the connections that
// live on it. Each connection reads with async_read_some into its own small
// buffer: Asio then reads speculatively and, once a read comes back short,
// waits on the already registered epoll entry, with no epoll_ctl per wake-up
// (async_wait would re-arm with EPOLL_CTL_MOD every time, which profiling
// showed costing the client ~8% at 800k deliveries/s). The main thread only
// reads the atomic counters while a worker runs; everything else is read
// after join.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <wsrelay/runtime/net.hpp>

#include "latency_histogram.hpp"

namespace wsrelay::bench {

// One server the connections open on (several for gateways sharing a Redis:
// connections take them in turn). Every target of a run has the same run_id.
struct ClientTarget {
  tcp::endpoint endpoint;
  std::string host;          // Host header
  std::string path;          // request target, e.g. /ws/bench?subscribe-broadcast
  std::uint32_t run_id = 0;  // payloads of other runs are not counted
  // The URL asks for positions (?history): every message comes as
  // "<position> <payload>" (docs/history.md); the position is skipped.
  bool positions = false;
};

// Written by the worker thread, read (relaxed) by the main thread.
struct WorkerCounters {
  alignas(64) std::atomic<std::uint64_t> connected{0};  // handshakes completed
  std::atomic<std::uint64_t> failed{0};                 // never got to 101
  std::atomic<std::uint64_t> closed{0};     // open, then closed by the server or an error
  std::atomic<std::uint64_t> probed{0};     // open connections that saw a probe
  std::atomic<std::uint64_t> delivered{0};  // distinct measured messages received
  std::atomic<std::int64_t> last_connect_ns{0};
  std::atomic<std::int64_t> last_delivery_ns{0};
};

// Per-run results, summed over a worker's connections after the run.
struct ReceiveTotals {
  std::uint64_t connections_opened = 0;
  std::uint64_t distinct = 0;        // (connection, sequence) pairs received at least once
  std::uint64_t lost = 0;            // published × opened − distinct
  std::uint64_t duplicates = 0;      // a sequence number a connection had already seen
  std::uint64_t out_of_order = 0;    // first seen after a higher sequence number
  std::uint64_t unexpected = 0;      // sequence number never published
  std::uint64_t other_messages = 0;  // payloads that are not ours
  std::uint64_t pings = 0;
  std::uint64_t protocol_errors = 0;
};

class Worker;

class Connection {
 public:
  Connection(Worker& worker, const ClientTarget& target);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start();
  bool opened() const { return opened_; }
  void add_to(ReceiveTotals& totals, std::uint64_t published) const;

 private:
  enum class State { connecting, handshaking, open, closed };

  void on_connect(error_code ec);
  void on_request_written(error_code ec);
  void do_read();
  void on_read(error_code ec, std::size_t n);
  // Consumes what it can of data[0, size); returns the bytes consumed.
  std::size_t handle(const char* data, std::size_t size, std::int64_t now);
  std::size_t handle_handshake(const char* data, std::size_t size, std::int64_t now);
  std::size_t handle_frames(const char* data, std::size_t size, std::int64_t now);
  void on_message(const char* data, std::size_t size, std::int64_t now);
  void send_control(unsigned opcode, const char* data, std::size_t size);
  void do_write();
  void fail(error_code ec, const char* what);
  void fail(const std::string& why);

  Worker& worker_;
  const ClientTarget& target_;
  tcp::socket socket_;
  State state_ = State::connecting;
  bool opened_ = false;
  bool probed_ = false;
  bool writing_ = false;
  std::string key_;
  std::string request_;
  std::unique_ptr<char[]> buf_;  // read buffer: the handshake response, then frames
  std::size_t buf_size_ = 0;
  std::size_t buf_used_ = 0;  // bytes at the front not consumed yet (a split frame)
  std::string fragments_;
  std::string writing_buf_;
  std::string pending_writes_;
  std::vector<std::uint64_t> seen_;  // bitmap of measured sequence numbers
  std::uint64_t highest_plus_one_ = 0;
  std::uint64_t distinct_ = 0;
  std::uint64_t duplicates_ = 0;
  std::uint64_t out_of_order_ = 0;
  std::uint64_t unexpected_ = 0;
  std::uint64_t other_ = 0;
  std::uint64_t pings_ = 0;
  std::uint64_t protocol_errors_ = 0;
};

class Worker {
 public:
  // `messages` is the number of measured messages that may be published
  // (higher sequence numbers count as unexpected). Connections take the
  // `targets` in turn, starting with targets[first_target % size].
  Worker(std::vector<ClientTarget> targets, std::size_t first_target, std::uint64_t messages,
         std::size_t connect_concurrency, std::size_t read_buffer_bytes);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Thread-safe: opens `count` more connections, at most
  // connect_concurrency handshakes in flight at once.
  void open(std::size_t count);
  void run();   // the thread body; returns after stop()
  void stop();  // thread-safe

  // After run() returned.
  ReceiveTotals totals(std::uint64_t published) const;
  const LatencyHistogram& histogram() const { return histogram_; }
  const std::string& first_error() const { return first_error_; }

  WorkerCounters counters;

 private:
  friend class Connection;
  void launch();
  void on_handshake_done();  // success or failure: room for the next connect
  void note_error(const std::string& what);

  net::io_context ioc_{1};
  std::vector<ClientTarget> targets_;
  std::size_t next_target_;
  std::uint64_t messages_;
  std::size_t concurrency_;
  std::size_t remaining_ = 0;
  std::size_t in_flight_ = 0;
  std::size_t read_buffer_bytes_;
  LatencyHistogram histogram_;
  std::string first_error_;
  // Destroyed before ioc_: a socket must not outlive its io_context.
  std::vector<std::unique_ptr<Connection>> connections_;
};

}  // namespace wsrelay::bench
