#include <wsrelay/gateway/server.hpp>

#include <algorithm>
#include <csignal>
#include <fstream>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdexcept>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>

#include <wsrelay/auth/auth.hpp>
#include <wsrelay/backend/engine.hpp>
#include <wsrelay/gateway/http_session.hpp>
#include <wsrelay/gateway/hub.hpp>
#include <wsrelay/gateway/shard.hpp>
#include <wsrelay/gateway/systemd_notify.hpp>
#include <wsrelay/runtime/exit_codes.hpp>
#include <wsrelay/runtime/thread_check.hpp>
#include <wsrelay/wire/cidr.hpp>
#include <wsrelay/wire/routes.hpp>

namespace wsrelay {

Server::Server(Config config, LoadedAuth auth) : config_(std::move(config)) {
  std::size_t count = config_.threads > 0 ? static_cast<std::size_t>(config_.threads)
                                          : std::max(1u, std::thread::hardware_concurrency());
  for (std::size_t i = 0; i < count; ++i) contexts_.push_back(std::make_unique<net::io_context>(1));
  // Why a control thread of its own (engine, hub, listener): work for the
  // whole process (subscriptions, fan-out, replays) must not queue behind one
  // shard's sessions, nor theirs behind it. The Redis subscriber goes one
  // step further and reads on a thread of its own (subscriber_link.hpp).
  control_ = std::make_unique<net::io_context>(1);
  metrics_.set_shards(count);
  engine_ = make_engine(config_, control_->get_executor(), metrics_);
  hub_ = std::make_unique<Hub>(*control_, *engine_, metrics_);
  hub_->set_live_only(live_only_keys(config_.routes));
  hub_->set_history(config_.history_rules, config_.prefix);
  authorizer_ = make_authorizer(config_, auth, metrics_);
  current_ = std::make_shared<const Config>(config_);
  std::vector<Shard*> shards;
  for (std::size_t i = 0; i < count; ++i) {
    shards_.push_back(std::make_unique<Shard>(i, *contexts_[i], current_, metrics_, *hub_,
                                              *authorizer_, admission_));
    shards.push_back(shards_.back().get());
  }
  hub_->set_shards(std::move(shards));
}

Server::~Server() {
  control_->stop();
  for (auto& context : contexts_) context->stop();
  for (auto& thread : threads_)
    if (thread.joinable()) thread.join();
  // Handshakes still waiting for an authorizer hold their sessions: drop
  // them while the shards exist.
  authorizer_.reset();
  // Sessions hold sockets of these contexts: destroy them before the contexts.
  shards_.clear();
  hub_.reset();
  engine_.reset();
}

void Server::write_ready_file(const tcp::endpoint& endpoint) {
  if (config_.ready_file.empty()) return;
  // Written to a temporary name and renamed, so a reader never sees half.
  std::string tmp = config_.ready_file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << endpoint.address().to_string() << ":" << endpoint.port() << "\n";
  }
  std::rename(tmp.c_str(), config_.ready_file.c_str());
}

std::unique_ptr<tcp::acceptor> Server::bind(const std::string& listen_host, std::uint16_t port,
                                            std::string_view key, std::string_view text) {
  const std::string host = listen_host == "localhost" ? "127.0.0.1" : listen_host;
  tcp::endpoint endpoint(net::ip::make_address(host), port);
  auto acceptor = std::make_unique<tcp::acceptor>(*control_);
  error_code ec;
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(net::socket_base::max_listen_connections, ec);
  // Named, so that "address already in use" says which address.
  if (ec)
    throw std::runtime_error(fmt::format("cannot listen on {} ({}): {}", text, key, ec.message()));
  return acceptor;
}

void Server::listen() {
  const DescriptorLimit limit = raise_descriptor_limit();
  if (limit.soft != limit.soft_before)
    spdlog::info("open-file limit raised from {} to {} (the hard limit)", limit.soft_before,
                 limit.soft);
  if (auto warning =
          descriptor_limit_warning(limit, config_.max_connections + config_.max_handshakes);
      !warning.empty())
    spdlog::warn("{}", warning);
  net::io_context& control = *control_;
  acceptor_ = bind(config_.listen_host, config_.listen_port, "server.listen", config_.listen);
  acceptor_->non_blocking(true);  // the reserve accepts on it directly
  if (!config_.admin_listen.empty()) {
    admin_acceptor_ =
        bind(config_.admin_host, config_.admin_port, "server.admin_listen", config_.admin_listen);
    admin_retry_timer_ = std::make_unique<net::steady_timer>(control);
  }
  accept_retry_timer_ = std::make_unique<net::steady_timer>(control);
  deadline_timer_ = std::make_unique<net::steady_timer>(control);
  memory_timer_ = std::make_unique<net::steady_timer>(control);
}

int Server::run() {
  net::io_context& control = *control_;
  const auto bound = acceptor_->local_endpoint();
  spdlog::info("wsrelay {} listening on {}:{} ({} shard{}, websocket_url {})", WSRELAY_VERSION,
               bound.address().to_string(), bound.port(), shards_.size(),
               shards_.size() == 1 ? "" : "s", config_.websocket_url);
  if (admin_acceptor_) {
    const auto admin = admin_acceptor_->local_endpoint();
    spdlog::info("admin listener on {}:{}: /metrics, /healthz, /readyz (/metrics only there)",
                 admin.address().to_string(), admin.port());
  }

  net::post(control, [this] { hub_->start(); });
  for (auto& shard : shards_) net::post(shard->context(), [s = shard.get()] { s->start(); });
  do_accept();
  if (admin_acceptor_) do_accept_admin();

  net::signal_set signals(control, SIGINT, SIGTERM);
  // The first signal drains; a second one stops at once.
  signals.async_wait([this, &signals](error_code ec, int signal_number) {
    if (ec) return;
    begin_shutdown(signal_number);
    signals.async_wait([this](error_code second_ec, int) {
      if (!second_ec) force_stop("second signal");
    });
  });

  hangup_ = std::make_unique<net::signal_set>(control, SIGHUP);
  wait_hangup();
  return_memory();

  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
  guards.push_back(net::make_work_guard(control));
  for (auto& context : contexts_) guards.push_back(net::make_work_guard(*context));
  for (std::size_t i = 0; i < contexts_.size(); ++i)
    threads_.emplace_back([context = contexts_[i].get(), i] {
      name_this_thread(fmt::format("wsrelay-shard{}", i));
      context->run();
    });
  write_ready_file(bound);
  service_manager::notify_ready(
      fmt::format("listening on {}:{}", bound.address().to_string(), bound.port()));
  control.run();
  for (auto& context : contexts_) context->stop();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  spdlog::info("wsrelay stopped (exit code {})", exit_code_);
  return exit_code_;
}

void Server::do_accept() {
  Shard* shard = shards_[next_shard_].get();
  next_shard_ = (next_shard_ + 1) % shards_.size();
  acceptor_->async_accept(shard->context(), [this, shard](error_code ec, tcp::socket socket) {
    if (shutting_down_) return;
    if (ec) return on_accept_error(ec);
    metrics_.connections_accepted.fetch_add(1, std::memory_order_relaxed);
    Admission::Ticket handshake;
    Admission::Ticket address;
    if (admit(socket, handshake, address))
      net::post(shard->context(),
                [shard, socket = std::move(socket), handshake = std::move(handshake),
                 address = std::move(address)]() mutable {
                  shard->accept(std::move(socket), std::move(handshake), std::move(address));
                });
    do_accept();
  });
}

// Why a reserve of its own: a health probe or a scrape must get through when
// clients hold every one of server.max_handshakes, or the gateway that
// still serves them is reported dead. The reserve is small and the
// listener internal, so it cannot be what exhausts the process.
void Server::do_accept_admin() {
  constexpr std::size_t admin_reserve = 16;
  Shard* shard = shards_[next_shard_].get();
  next_shard_ = (next_shard_ + 1) % shards_.size();
  admin_acceptor_->async_accept(shard->context(), [this, shard](error_code ec, tcp::socket socket) {
    if (shutting_down_) return;
    if (ec) {
      // Out of descriptors or a transient error: pause instead of spinning.
      admin_retry_timer_->expires_after(std::chrono::milliseconds(50));
      admin_retry_timer_->async_wait([this](error_code wait_ec) {
        if (!wait_ec && !shutting_down_) do_accept_admin();
      });
      return;
    }
    Admission::Ticket handshake =
        admission_.begin_handshake(current_->max_handshakes + admin_reserve);
    if (!handshake) {
      refuse_connection(socket.release(), 503, "too many connections\n");
    } else {
      net::post(shard->context(),
                [shard, socket = std::move(socket), handshake = std::move(handshake)]() mutable {
                  shard->accept(std::move(socket), std::move(handshake), {}, Listener::admin);
                });
    }
    do_accept_admin();
  });
}

// Why here, before the shard: a connection refused at accept costs one
// non-blocking read and write on this thread, no session, no buffer. The
// address of a peer that is a trusted proxy is only known once its
// X-Forwarded-For is read (HttpSession does that check).
bool Server::admit(tcp::socket& socket, Admission::Ticket& handshake, Admission::Ticket& address) {
  const Config& config = *current_;
  const char* refusal = nullptr;
  handshake = admission_.begin_handshake(config.max_handshakes);
  if (!handshake) {
    metrics_.handshakes_over_limit.fetch_add(1, std::memory_order_relaxed);
    metrics_.count_refusal(503);
    refusal = "server.max_handshakes connections are in their handshake";
    refuse_connection(socket.release(), 503, "too many connections\n");
  } else {
    error_code ec;
    const auto peer = socket.remote_endpoint(ec);
    const std::string peer_address = ec ? std::string() : peer.address().to_string();
    // Only how many it holds: the rate applies to WebSocket requests, once
    // read (HttpSession), where the refusal can be a clean 429.
    if (!address_in(peer_address, config.trusted_proxy_blocks)) {
      auto decision = admission_.admit_address(peer_address, config.address_limits);
      if (decision.verdict == AddressLimits::Verdict::too_many_open) {
        metrics_.handshakes_address_limited.fetch_add(1, std::memory_order_relaxed);
        metrics_.count_refusal(429);
        refusal = "server.max_connections_per_address";
        refuse_connection(socket.release(), 429, "too many connections from this address\n");
        handshake.reset();
      }
      address = std::move(decision.ticket);
    }
  }
  if (!refusal) return true;
  if (std::uint64_t suppressed = 0; refused_log_.should_log(suppressed))
    spdlog::warn("connection refused at accept: over {} ({} more refused since the previous line)",
                 refusal, suppressed);
  return false;
}

// Why answer rather than wait: a connection the process cannot accept stays
// in the kernel's queue, and its client hangs until it gives up; a health
// probe among them times out and gets a gateway that still serves its
// clients restarted. Each waiting connection is answered at once through
// the reserve, and the log says so at most once a second.
void Server::on_accept_error(error_code ec) {
  const bool out_of_descriptors =
      ec == net::error::no_descriptors || ec == std::errc::too_many_files_open_in_system;
  auto outcome = DescriptorReserve::Outcome::failed;
  if (out_of_descriptors) {
    // A bounded round, so the control executor's other work is not starved.
    for (int round = 0; round < 64; ++round) {
      outcome = descriptor_reserve_.refuse_one(acceptor_->native_handle());
      if (outcome != DescriptorReserve::Outcome::refused) break;
      metrics_.connections_refused_no_descriptor.fetch_add(1, std::memory_order_relaxed);
      if (std::uint64_t suppressed = 0; no_descriptor_log_.should_log(suppressed))
        spdlog::warn(
            "out of file descriptors: new connections are answered 503 and closed ({} more since "
            "the previous line; wsrelay_connections_refused_no_descriptor_total counts them)",
            suppressed);
    }
    if (outcome != DescriptorReserve::Outcome::failed) return do_accept();
  }
  if (std::uint64_t suppressed = 0; accept_error_log_.should_log(suppressed))
    spdlog::warn("accept failed: {} ({} more since the previous line)", ec.message(), suppressed);
  // Nothing could be done now (another thread took the free descriptor, or
  // a transient error): pause briefly instead of spinning.
  accept_retry_timer_->expires_after(std::chrono::milliseconds(50));
  accept_retry_timer_->async_wait([this](error_code wait_ec) {
    if (!wait_ec && !shutting_down_) do_accept();
  });
}

void Server::begin_shutdown(int signal_number) {
  WSRELAY_ASSERT_ON(control_->get_executor());
  if (shutting_down_) return;
  shutting_down_ = true;
  spdlog::info(
      "signal {}: draining: listener closed, {} session(s) closed with 1001 over {} s, "
      "hard deadline {} s",
      signal_number, metrics_.connections_open.load(), config_.shutdown_drain_seconds,
      config_.shutdown_timeout_seconds);
  service_manager::notify_stopping("draining: closing sessions with 1001");
  error_code ignored;
  acceptor_->close(ignored);
  accept_retry_timer_->cancel();
  if (admin_acceptor_) {
    admin_acceptor_->close(ignored);
    admin_retry_timer_->cancel();
  }
  const std::chrono::milliseconds drain = std::chrono::seconds(config_.shutdown_drain_seconds);
  // A countdown, not a poll: each shard posts one step here when its last
  // connection is gone. Ordering relied on (docs/architecture.md, "Threads"):
  // the step is posted from the shard's thread after everything its
  // sessions posted to this executor (their publishes included), and this
  // executor runs posts in order, so at zero every accepted publish is in
  // the engine's queue.
  drain_remaining_ = shards_.size();
  for (auto& shard : shards_)
    net::post(shard->context(), [this, s = shard.get(), drain] {
      s->shutdown(drain, [this] { net::post(*control_, [this] { on_shard_drained(); }); });
    });
  deadline_timer_->expires_after(std::chrono::seconds(config_.shutdown_timeout_seconds));
  deadline_timer_->async_wait([this](error_code ec) {
    if (!ec) force_stop("shutdown.timeout_seconds passed");
  });
}

void Server::on_shard_drained() {
  WSRELAY_ASSERT_ON(control_->get_executor());
  if (--drain_remaining_ > 0 || stopped_) return;
  spdlog::info("drain: every session closed; waiting for Redis to answer {} publish(es)",
               metrics_.redis_pending_messages.load());
  hub_->when_published([this] { stop_all(exit_code::ok); });
}

// Why: a burst leaves every session's queue grown; the sessions give that
// capacity back once idle (OutboundQueue::trim), but glibc keeps freed
// chunks inside its heaps, so the process would still hold the burst's
// memory: RSS per idle connection stayed at 2.3 KiB after a saturating run
// instead of the fresh 1.6. malloc_trim(0) returns whole free pages. It
// locks each arena while it walks it, so it runs only every few seconds and
// only when enough was released.
void Server::return_memory() {
  constexpr auto period = std::chrono::seconds(5);
  constexpr std::size_t worth_it = 256 * 1024;
  std::size_t released = 0;
  for (auto& shard : shards_) released += shard->take_released();
  if (released >= worth_it) {
#if defined(__GLIBC__)
    const auto start = std::chrono::steady_clock::now();
    malloc_trim(0);
    spdlog::debug("memory: {} KiB released by idle sessions; malloc_trim took {} us",
                  released / 1024,
                  std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count());
#endif
  } else {
    // Not yet worth a trim: counted towards the next one.
    if (!shards_.empty()) shards_.front()->note_released(released);
  }
  memory_timer_->expires_after(period);
  memory_timer_->async_wait([this](error_code ec) {
    if (!ec && !stopped_) return_memory();
  });
}

void Server::force_stop(const char* why) {
  if (stopped_) return;
  std::size_t alive = 0;
  for (auto& shard : shards_) alive += shard->session_count();
  spdlog::warn(
      "{}: stopping now; abandoned: {} session(s) still open, {} client publish(es) not "
      "confirmed by Redis",
      why, alive, metrics_.redis_pending_messages.load());
  stop_all(exit_code::forced_stop);
}

void Server::stop_all(int exit_code) {
  if (stopped_) return;
  stopped_ = true;
  exit_code_ = exit_code;
  deadline_timer_->cancel();
  memory_timer_->cancel();
  hub_->stop();
  control_->stop();
  for (auto& context : contexts_) context->stop();
}

}  // namespace wsrelay
