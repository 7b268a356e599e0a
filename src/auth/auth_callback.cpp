// CallbackAuthorizer: one io_context and thread of its own, a pool of
// keep-alive HTTP/1.1 connections to the site, a bounded queue of handshakes
// waiting for a connection, and an optional short cache of answers. Every
// member of Impl below the constructor's arguments is touched only on the
// authorizer's thread. What is sent to the site and what its answer means
// are pure functions, in auth_callback_wire.cpp.
#include <wsrelay/auth/auth_callback.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <wsrelay/config/config.hpp>
#include <wsrelay/runtime/metrics.hpp>
#include <wsrelay/runtime/net.hpp>
#include <wsrelay/runtime/rate_limited_log.hpp>
#include <wsrelay/runtime/thread_check.hpp>

namespace wsrelay {
namespace {

using Clock = std::chrono::steady_clock;

// What the client sees when the site cannot be asked; the details go to the
// log only.
constexpr std::string_view unavailable_reason = "authorization service unavailable";
// Bounds what one answer may cost; a real answer is a few hundred bytes.
constexpr std::size_t max_answer_bytes = 64 * 1024;

}  // namespace

class CallbackAuthorizer::Impl {
 public:
  Impl(const AuthSettings& config, Metrics* metrics);

  void start() {
    thread_ = std::thread([this] {
      name_this_thread("wsrelay-authcb");
      ioc_.run();
    });
  }
  // Closes everything and joins the thread. Pending `done`s are dropped.
  void stop();
  void submit(AuthRequest request, std::function<void(AuthDecision)> done);

 private:
  struct Job {
    AuthRequest request;
    std::string key;  // the cache key: everything the site is sent
    std::function<void(AuthDecision)> done;
    Clock::time_point deadline;
    std::unique_ptr<net::steady_timer> queue_timer;  // set while waiting for a connection
    Clock::time_point submitted;
    // Sent to the site or queued for it: its duration is observed (cache
    // hits and refusals of a full queue are not requests to the site).
    bool timed = false;
  };
  using JobPtr = std::shared_ptr<Job>;

  struct Connection {
    explicit Connection(net::io_context& ioc) : stream(ioc) {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request<http::empty_body> request;
    std::optional<http::response_parser<http::string_body>> parser;
    JobPtr job;
    bool connected = false;
    bool reused = false;  // has answered a request before: the site may have closed it since
  };
  using ConnectionPtr = std::shared_ptr<Connection>;

  struct CacheEntry {
    AuthDecision decision;
    Clock::time_point expires;
  };

  void dispatch(const JobPtr& job);
  void run(const ConnectionPtr& connection, const JobPtr& job);
  void on_connected(const ConnectionPtr& connection, error_code ec);
  void on_written(const ConnectionPtr& connection, error_code ec);
  void on_read(const ConnectionPtr& connection, error_code ec);
  void on_error(const ConnectionPtr& connection, error_code ec, std::string_view step);
  void release(const ConnectionPtr& connection);
  void discard(const ConnectionPtr& connection);
  void start_next_queued();
  JobPtr pop_queued();
  void set_pending_gauge() {
    if (metrics_)
      metrics_->auth_callback_pending.store(static_cast<std::int64_t>(queue_.size()),
                                            std::memory_order_relaxed);
  }
  void finish(const JobPtr& job, AuthDecision decision);
  void fail(const JobPtr& job, const std::string& detail);
  void log_failure(const std::string& detail);
  const AuthDecision* cached(const std::string& key);
  void remember(const std::string& key, const AuthDecision& decision);
  void count(Metrics::counter Metrics::*counter) {
    if (metrics_) (metrics_->*counter).fetch_add(1, std::memory_order_relaxed);
  }

  net::io_context ioc_{1};
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::thread thread_;
  Metrics* metrics_;
  CallbackUrl url_;
  std::string host_header_;
  std::chrono::milliseconds timeout_;
  std::size_t max_connections_;
  std::size_t max_pending_;
  std::chrono::seconds cache_ttl_;
  std::size_t cache_max_entries_;
  std::vector<std::string> forward_headers_;  // auth.callback_forward_headers

  tcp::resolver resolver_{ioc_};
  std::vector<ConnectionPtr> idle_;
  std::unordered_set<ConnectionPtr> busy_;
  std::size_t open_ = 0;  // idle + busy + being replaced
  std::deque<JobPtr> queue_;
  std::unordered_map<std::string, CacheEntry> cache_;
  std::deque<std::pair<Clock::time_point, std::string>> cache_order_;  // oldest first
  RateLimitedLog failure_log_;                                         // this thread only
  bool stopping_ = false;
};

CallbackAuthorizer::Impl::Impl(const AuthSettings& config, Metrics* metrics)
    : work_(net::make_work_guard(ioc_)),
      metrics_(metrics),
      timeout_(config.auth_callback_timeout_ms),
      max_connections_(config.auth_callback_max_connections),
      max_pending_(config.auth_callback_max_pending),
      cache_ttl_(config.auth_callback_cache_seconds),
      cache_max_entries_(config.auth_callback_cache_max_entries),
      forward_headers_(config.auth_callback_forward_headers) {
  std::string reason;
  auto url = parse_callback_url(config.auth_callback_url, &reason);
  if (!url) throw ConfigError("auth.callback_url: " + reason);
  url_ = std::move(*url);
  host_header_ = callback_host_header(url_);
}

void CallbackAuthorizer::Impl::stop() {
  net::post(ioc_, [this] {
    stopping_ = true;
    error_code ignored;
    resolver_.cancel();
    for (const JobPtr& job : queue_) job->queue_timer->cancel();
    queue_.clear();
    set_pending_gauge();
    for (const ConnectionPtr& c : idle_) c->stream.socket().close(ignored);
    idle_.clear();
    for (const ConnectionPtr& c : busy_) {
      if (c->job) c->job->done = nullptr;
      c->stream.socket().close(ignored);
    }
  });
  work_.reset();
  if (thread_.joinable()) thread_.join();
}

void CallbackAuthorizer::Impl::submit(AuthRequest request, std::function<void(AuthDecision)> done) {
  auto job = std::make_shared<Job>();
  job->submitted = Clock::now();
  job->deadline = job->submitted + timeout_;
  job->key = callback_cache_key(request, forward_headers_);
  job->request = std::move(request);
  job->done = std::move(done);
  net::post(ioc_, [this, job] { dispatch(job); });
}

void CallbackAuthorizer::Impl::dispatch(const JobPtr& job) {
  if (stopping_) return;
  if (const AuthDecision* hit = cached(job->key)) {
    count(&Metrics::auth_callback_cache_hits);
    return finish(job, *hit);
  }
  if (!idle_.empty()) {
    ConnectionPtr connection = std::move(idle_.back());
    idle_.pop_back();
    return run(connection, job);
  }
  if (open_ < max_connections_) {
    ++open_;
    return run(std::make_shared<Connection>(ioc_), job);
  }
  if (queue_.size() >= max_pending_)
    return fail(job, fmt::format("{} handshakes already wait for a connection to the site "
                                 "(auth.callback_max_pending)",
                                 queue_.size()));
  // Waiting for a connection counts against the same deadline as the request.
  job->queue_timer = std::make_unique<net::steady_timer>(ioc_, job->deadline);
  job->queue_timer->async_wait([this, job](error_code ec) {
    if (ec) return;
    if (auto it = std::find(queue_.begin(), queue_.end(), job); it != queue_.end()) {
      queue_.erase(it);
      set_pending_gauge();
      fail(job,
           fmt::format("no connection to the site became free within {} ms", timeout_.count()));
    }
  });
  job->timed = true;
  queue_.push_back(job);
  set_pending_gauge();
}

void CallbackAuthorizer::Impl::run(const ConnectionPtr& connection, const JobPtr& job) {
  busy_.insert(connection);
  connection->job = job;
  job->timed = true;
  auto& req = connection->request;
  req = {};
  req.method(http::verb::get);
  req.target(url_.target);
  req.version(11);
  req.set(http::field::host, host_header_);
  req.set(http::field::user_agent, "wsrelay/" WSRELAY_VERSION);
  for (const auto& [name, value] : callback_request_headers(job->request, forward_headers_))
    req.insert(name, value);
  req.keep_alive(true);
  connection->stream.expires_at(job->deadline);
  count(&Metrics::auth_callback_requests);
  if (connection->connected) return on_connected(connection, {});
  resolver_.async_resolve(
      url_.host, std::to_string(url_.port),
      [this, connection](error_code ec, const tcp::resolver::results_type& results) {
        if (ec) return on_error(connection, ec, "resolving the host");
        count(&Metrics::auth_callback_connections_opened);
        connection->stream.async_connect(
            results, [this, connection](error_code connect_ec, const tcp::endpoint&) {
              on_connected(connection, connect_ec);
            });
      });
}

void CallbackAuthorizer::Impl::on_connected(const ConnectionPtr& connection, error_code ec) {
  if (ec) return on_error(connection, ec, "connecting");
  connection->connected = true;
  http::async_write(
      connection->stream, connection->request,
      [this, connection](error_code write_ec, std::size_t) { on_written(connection, write_ec); });
}

void CallbackAuthorizer::Impl::on_written(const ConnectionPtr& connection, error_code ec) {
  if (ec) return on_error(connection, ec, "sending the request");
  connection->parser.emplace();
  connection->parser->body_limit(max_answer_bytes);
  http::async_read(
      connection->stream, connection->buffer, *connection->parser,
      [this, connection](error_code read_ec, std::size_t) { on_read(connection, read_ec); });
}

void CallbackAuthorizer::Impl::on_read(const ConnectionPtr& connection, error_code ec) {
  if (ec) return on_error(connection, ec, "reading the answer");
  const auto& response = connection->parser->get();
  JobPtr job = std::move(connection->job);
  AuthDecision decision =
      callback_decision(response.result_int(), response.body(), job->request.requested);
  const bool keep = response.keep_alive();
  connection->parser.reset();
  if (decision.status == 503) {
    fail(job, decision.reason);
  } else {
    remember(job->key, decision);
    finish(job, std::move(decision));
  }
  if (keep)
    release(connection);
  else
    discard(connection);
}

void CallbackAuthorizer::Impl::on_error(const ConnectionPtr& connection, error_code ec,
                                        std::string_view step) {
  JobPtr job = std::move(connection->job);
  // A kept-alive connection the site closed while it was idle fails on its
  // next use before any answer: that is no verdict on the request, so it is
  // sent again once on a fresh connection (as nginx does).
  const bool stale =
      connection->reused && (ec == http::error::end_of_stream || ec == net::error::eof ||
                             ec == net::error::connection_reset || ec == net::error::broken_pipe);
  busy_.erase(connection);
  error_code ignored;
  connection->stream.socket().close(ignored);
  if (stopping_) return;
  if (stale && Clock::now() < job->deadline) return run(std::make_shared<Connection>(ioc_), job);
  --open_;
  if (ec == beast::error::timeout)
    fail(job, fmt::format("no answer from the site within {} ms", timeout_.count()));
  else
    fail(job, fmt::format("{} {}:{} failed: {}", step, url_.host, url_.port, ec.message()));
  start_next_queued();
}

void CallbackAuthorizer::Impl::release(const ConnectionPtr& connection) {
  busy_.erase(connection);
  connection->reused = true;
  if (stopping_) return;
  if (queue_.empty()) return idle_.push_back(connection);
  run(connection, pop_queued());
}

void CallbackAuthorizer::Impl::discard(const ConnectionPtr& connection) {
  busy_.erase(connection);
  error_code ignored;
  connection->stream.socket().close(ignored);
  --open_;
  start_next_queued();
}

void CallbackAuthorizer::Impl::start_next_queued() {
  if (stopping_ || queue_.empty() || open_ >= max_connections_) return;
  ++open_;
  run(std::make_shared<Connection>(ioc_), pop_queued());
}

CallbackAuthorizer::Impl::JobPtr CallbackAuthorizer::Impl::pop_queued() {
  JobPtr next = std::move(queue_.front());
  queue_.pop_front();
  set_pending_gauge();
  next->queue_timer->cancel();
  return next;
}

void CallbackAuthorizer::Impl::finish(const JobPtr& job, AuthDecision decision) {
  if (!job->done) return;
  auto done = std::move(job->done);
  job->done = nullptr;
  if (stopping_) return;
  // This thread is the histogram's only writer: cell 0.
  if (metrics_ && job->timed)
    metrics_->auth_callback_duration.observe(0, Clock::now() - job->submitted);
  done(std::move(decision));
}

void CallbackAuthorizer::Impl::fail(const JobPtr& job, const std::string& detail) {
  count(&Metrics::auth_callback_failures);
  log_failure(detail);
  AuthDecision decision;
  decision.status = 503;
  decision.reason = unavailable_reason;
  finish(job, std::move(decision));
}

// A site that is down fails every handshake: one line per second says so
// without flooding the log.
void CallbackAuthorizer::Impl::log_failure(const std::string& detail) {
  if (std::uint64_t suppressed = 0; failure_log_.should_log(suppressed)) {
    if (suppressed > 0)
      spdlog::warn(
          "auth callback failed, handshake refused with 503: {} ({} more failures not logged)",
          detail, suppressed);
    else
      spdlog::warn("auth callback failed, handshake refused with 503: {}", detail);
  }
}

const AuthDecision* CallbackAuthorizer::Impl::cached(const std::string& key) {
  if (cache_ttl_.count() == 0) return nullptr;
  const auto now = Clock::now();
  while (!cache_order_.empty() && cache_order_.front().first <= now) {
    auto it = cache_.find(cache_order_.front().second);
    if (it != cache_.end() && it->second.expires <= now) cache_.erase(it);
    cache_order_.pop_front();
  }
  const auto it = cache_.find(key);
  return it == cache_.end() || it->second.expires <= now ? nullptr : &it->second.decision;
}

// Answers (200, 401, 403) are kept for auth.callback_cache_seconds; a
// failure never is, so the site's recovery is seen by the next handshake.
// Entries all live equally long, so the oldest is the first to expire: when
// the cache is full, that one goes.
void CallbackAuthorizer::Impl::remember(const std::string& key, const AuthDecision& decision) {
  if (cache_ttl_.count() == 0) return;
  const auto expires = Clock::now() + cache_ttl_;
  while (cache_.size() >= cache_max_entries_ && !cache_order_.empty()) {
    auto it = cache_.find(cache_order_.front().second);
    if (it != cache_.end() && it->second.expires == cache_order_.front().first) cache_.erase(it);
    cache_order_.pop_front();
  }
  cache_[key] = CacheEntry{decision, expires};
  cache_order_.emplace_back(expires, key);
}

CallbackAuthorizer::CallbackAuthorizer(const AuthSettings& config, Metrics* metrics)
    : impl_(std::make_shared<Impl>(config, metrics)) {
  impl_->start();
}

CallbackAuthorizer::~CallbackAuthorizer() {
  impl_->stop();
}

void CallbackAuthorizer::authorize(const AuthRequest& request,
                                   std::function<void(AuthDecision)> done) {
  impl_->submit(request, std::move(done));
}

std::unique_ptr<Authorizer> make_callback_authorizer(const AuthSettings& config, Metrics* metrics) {
  return std::make_unique<CallbackAuthorizer>(config, metrics);
}

}  // namespace wsrelay
