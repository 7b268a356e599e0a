#pragma once
// Server: the whole daemon once its configuration is loaded. Owns the
// shards (one io_context and thread each), the engine and hub (on the
// control executor, run by the thread that calls run()), the listener and
// the signal handling.
//
// listen() binds the listeners; run() then blocks until SIGTERM/SIGINT, and
// drains: the listeners close at once, sessions get a 1001 close spread over
// shutdown_drain_seconds, client publishes already accepted are answered by
// Redis, and run() returns exit_code::ok. At shutdown_timeout_seconds (or on
// a second signal) it stops anyway, logs what it abandoned and returns
// exit_code::forced_stop.
// SIGHUP reloads the configuration (server_reload.cpp).
#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/signal_set.hpp>

#include <wsrelay/auth/auth.hpp>
#include <wsrelay/config/config.hpp>
#include <wsrelay/gateway/admission.hpp>
#include <wsrelay/gateway/descriptors.hpp>
#include <wsrelay/runtime/metrics.hpp>
#include <wsrelay/runtime/net.hpp>
#include <wsrelay/runtime/rate_limited_log.hpp>

namespace wsrelay {

class Authorizer;
class Engine;
class Hub;
class Shard;

class Server {
 public:
  // `auth`: what load_auth() read from config's [auth] settings (the JWT
  // keys), so the key files are read once per load.
  Server(Config config, LoadedAuth auth);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listener and the admin listener (server.admin_listen); throws
  // std::runtime_error naming the address when one cannot be bound: the
  // process cannot start.
  void listen();
  // Serves until a shutdown signal (listen() first). Returns the process
  // exit code (exit_codes.hpp).
  int run();

  // Loads the configuration again from the sources read at start (file,
  // WSRELAY_* environment, flags); throws ConfigError. The reload checks
  // the [auth] settings with load_auth() too, as at start. Without one, SIGHUP
  // only logs that there is nothing to reload.
  void set_reload_source(std::function<Config()> source) { reload_source_ = std::move(source); }

 private:
  void do_accept();
  // The admin listener: no per-address limits, its own small handshake
  // reserve above server.max_handshakes, so probes pass when clients fill it.
  void do_accept_admin();
  std::unique_ptr<tcp::acceptor> bind(const std::string& host, std::uint16_t port,
                                      std::string_view key, std::string_view text);
  // Control executor: accept failed. Out of descriptors, the waiting
  // connections are answered through the reserve; otherwise a short pause.
  void on_accept_error(error_code ec);
  // Control executor: the handshake bound and, for a peer that is not a
  // trusted proxy, its address's limits. False when `socket` was refused
  // (answered and closed) instead.
  bool admit(tcp::socket& socket, Admission::Ticket& handshake, Admission::Ticket& address);
  void begin_shutdown(int signal_number);
  // Control executor: one shard has no connection left (the drain countdown).
  void on_shard_drained();
  void force_stop(const char* why);
  void stop_all(int exit_code);
  void write_ready_file(const tcp::endpoint& endpoint);
  // Control executor: arms the SIGHUP handler; reload() applies one.
  void wait_hangup();
  // Control executor, every few seconds: hands heap that idle sessions gave
  // back to the system.
  void return_memory();
  void reload();

  Config config_;  // as started; what cannot change at run time is read here
  Metrics metrics_;
  Admission admission_{metrics_};
  std::vector<std::unique_ptr<net::io_context>> contexts_;  // one per shard
  std::unique_ptr<net::io_context> control_;  // engine, hub, listener: the main thread
  std::vector<std::unique_ptr<Shard>> shards_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Hub> hub_;
  std::unique_ptr<Authorizer> authorizer_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::unique_ptr<tcp::acceptor> admin_acceptor_;  // server.admin_listen; none when empty
  std::unique_ptr<net::steady_timer> admin_retry_timer_;
  std::unique_ptr<net::steady_timer> accept_retry_timer_;
  DescriptorReserve descriptor_reserve_;
  RateLimitedLog accept_error_log_;
  RateLimitedLog no_descriptor_log_;
  RateLimitedLog refused_log_;  // handshake bound and address limits at accept
  std::unique_ptr<net::steady_timer> deadline_timer_;
  std::unique_ptr<net::steady_timer> memory_timer_;
  std::size_t next_shard_ = 0;
  bool shutting_down_ = false;
  std::size_t drain_remaining_ = 0;  // shards with connections left
  bool stopped_ = false;
  int exit_code_ = 0;
  std::vector<std::thread> threads_;
  std::shared_ptr<const Config> current_;  // the snapshot the shards hold
  std::function<Config()> reload_source_;
  // Last, so it is destroyed first: it must go before its io_context.
  std::unique_ptr<net::signal_set> hangup_;
};

}  // namespace wsrelay
