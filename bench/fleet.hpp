#pragma once
// The running client: one Worker (io_context + connections) per thread, the
// threads that run them, and sums over their counters for the main thread.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "latency_histogram.hpp"
#include "ws_client.hpp"

namespace wsrelay::bench {

class Fleet {
 public:
  // Connections take the `targets` in turn; each worker starts at another,
  // so the targets get the same share whatever the threads.
  Fleet(const std::vector<ClientTarget>& targets, int threads, std::uint64_t messages,
        std::size_t connect_concurrency, std::size_t read_buffer) {
    const std::size_t per = (connect_concurrency + threads - 1) / threads;
    for (int i = 0; i < threads; ++i)
      workers_.push_back(std::make_unique<Worker>(targets, static_cast<std::size_t>(i), messages,
                                                  per, read_buffer));
    for (auto& w : workers_) threads_.emplace_back([&w] { w->run(); });
  }
  ~Fleet() { stop(); }

  void open(std::size_t n) {
    const std::size_t t = workers_.size();
    for (std::size_t i = 0; i < t; ++i) workers_[i]->open(n / t + (i < n % t ? 1 : 0));
  }
  void stop() {
    for (auto& w : workers_) w->stop();
    for (auto& th : threads_)
      if (th.joinable()) th.join();
  }

  template <typename F>
  std::uint64_t sum(F field) const {
    std::uint64_t s = 0;
    for (const auto& w : workers_) s += (w->counters.*field).load(std::memory_order_relaxed);
    return s;
  }
  std::int64_t latest(std::atomic<std::int64_t> WorkerCounters::*field) const {
    std::int64_t m = 0;
    for (const auto& w : workers_) m = std::max(m, (w->counters.*field).load());
    return m;
  }
  std::uint64_t connected() const { return sum(&WorkerCounters::connected); }
  std::uint64_t failed() const { return sum(&WorkerCounters::failed); }
  std::uint64_t closed() const { return sum(&WorkerCounters::closed); }
  std::uint64_t probed() const { return sum(&WorkerCounters::probed); }
  std::uint64_t delivered() const { return sum(&WorkerCounters::delivered); }

  // After stop().
  ReceiveTotals totals(std::uint64_t published) const {
    ReceiveTotals t;
    for (const auto& w : workers_) {
      const ReceiveTotals x = w->totals(published);
      t.connections_opened += x.connections_opened;
      t.distinct += x.distinct;
      t.lost += x.lost;
      t.duplicates += x.duplicates;
      t.out_of_order += x.out_of_order;
      t.unexpected += x.unexpected;
      t.other_messages += x.other_messages;
      t.pings += x.pings;
      t.protocol_errors += x.protocol_errors;
    }
    return t;
  }
  LatencyHistogram histogram() const {
    LatencyHistogram h;
    for (const auto& w : workers_) h.merge(w->histogram());
    return h;
  }
  std::string first_error() const {
    for (const auto& w : workers_)
      if (!w->first_error().empty()) return w->first_error();
    return {};
  }

 private:
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
};

}  // namespace wsrelay::bench
