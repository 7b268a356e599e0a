// Connecting to Redis: resolve, connect (with the subscriber's receive
// buffer), the pipelined handshake (AUTH, SELECT, ROLE, PING), and, for
// redis+sentinel:// endpoints, asking a sentinel where the master is.
#include <wsrelay/backend/redis_connection_impl.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

#include <algorithm>
#include <fstream>

namespace wsrelay {
namespace {

// The subscriber's SO_RCVBUF: 8 MiB, or what net.core.rmem_max allows if
// that is at least 4 MiB; 0 (leave it to autotuning) below that.
int subscriber_receive_buffer() {
  static const int bytes = [] {
    constexpr long long kWanted = 8 << 20;
    long long max = 0;
    std::ifstream("/proc/sys/net/core/rmem_max") >> max;
    if (max < kWanted / 2) return 0;
    return static_cast<int>(std::min(max, kWanted));
  }();
  return bytes;
}

}  // namespace

RedisEndpoint RedisConnection::Impl::target() const {
  if (options_.endpoint.is_cluster()) {
    // Any node of the cluster will do (ClusterCommands asks it for the
    // slot map; a classic SUBSCRIBE hears PUBLISHes made on every node).
    RedisEndpoint target = options_.endpoint;
    target.cluster_seeds.clear();
    const auto& seed =
        options_.endpoint.cluster_seeds[seed_ % options_.endpoint.cluster_seeds.size()];
    target.host = seed.host;
    target.port = seed.port;
    return target;
  }
  if (!discovery_) return options_.endpoint;
  RedisEndpoint target;
  if (phase_ == Phase::ask_sentinel || options_.sentinel_watch) {
    target.host = discovery_->current().host;
    target.port = discovery_->current().port;
    target.password = options_.endpoint.sentinel_password;  // their own requirepass
    target.tls = options_.endpoint.tls;                     // rediss+sentinel://: the sentinels too
    return target;
  }
  target = options_.endpoint;
  target.sentinels.clear();
  target.host = master_.host;
  target.port = master_.port;
  return target;
}

void RedisConnection::Impl::do_connect() {
  state_ = State::connecting;
  ++generation_;
  reader_ = RespReader();
  if (options_.subscriber && options_.max_message_bytes > 0)
    gate_.emplace(options_.max_message_bytes);
  callbacks_.clear();
  out_.clear();
  handshake_pending_ = 0;
  target_ = target();

  connect_timer_.expires_after(options_.connect_timeout);
  connect_timer_.async_wait([self = shared_from_this(), gen = generation_](error_code ec) {
    if (ec || gen != self->generation_ || self->state_ != State::connecting) return;
    // A TLS handshake that never ends is the mark of a plain port (Redis
    // waits for the end of what it takes for an inline command).
    self->fail(net::error::timed_out, (self->tls_ ? "TLS handshake with " : "connect to ") +
                                          describe_redis_endpoint(self->target_));
  });

  const RedisEndpoint& endpoint = target_;
  if (endpoint.is_unix) {
    generic_stream::endpoint peer;
    try {
      peer = generic_stream::endpoint(net::local::stream_protocol::endpoint(endpoint.path));
    } catch (const std::exception&) {
      return fail(net::error::invalid_argument, "unix socket path " + endpoint.path);
    }
    socket_.async_connect(peer, [self = shared_from_this(), gen = generation_](error_code ec) {
      self->on_connect(ec, gen);
    });
    return;
  }
  resolver_.async_resolve(endpoint.host, std::to_string(endpoint.port),
                          [self = shared_from_this(), gen = generation_](
                              error_code ec, tcp::resolver::results_type results) {
                            self->on_resolve(ec, gen, std::move(results));
                          });
}

void RedisConnection::Impl::on_resolve(error_code ec, std::uint64_t gen,
                                       tcp::resolver::results_type results) {
  if (gen != generation_) return;
  if (ec) return fail(ec, "resolve " + target_.host);
  std::vector<generic_stream::endpoint> peers;
  for (const auto& entry : results) peers.emplace_back(entry.endpoint());
  net::async_connect(
      socket_, peers,
      [self = shared_from_this(), gen](error_code ec, const generic_stream::endpoint&) {
        self->on_connect(ec, gen);
      });
}

void RedisConnection::Impl::on_connect(error_code ec, std::uint64_t gen) {
  if (gen != generation_) return;
  if (ec) return fail(ec, "connect to " + describe_redis_endpoint(target_));
  if (!target_.is_unix) {
    error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    socket_.set_option(net::socket_base::keep_alive(true), ignored);
  }
  if (options_.subscriber && !options_.sentinel_watch) {
    // Why: Redis disconnects a pub/sub client whose output buffer passes
    // client-output-buffer-limit, and that buffer only grows once our
    // receive window is full. A large window from the start absorbs a
    // burst while the link thread waits for a core; autotuning starts at
    // tcp_rmem's default and grows it only after the burst began
    // (measured: a 30 MiB burst at a 1 MB limit on a loaded 2-core
    // machine passed 8 of 8 runs with it, 7 of 8 without). But a set
    // SO_RCVBUF also turns autotuning off and is capped by
    // net.core.rmem_max (208 KiB by default), so it is set only where
    // that cap lets it be large.
    if (const int bytes = subscriber_receive_buffer(); bytes > 0) {
      error_code ignored;
      socket_.set_option(net::socket_base::receive_buffer_size(bytes), ignored);
    }
  }
  if (target_.tls) return start_tls();
  do_read();
  do_handshake();
}

// Why verify the name, not only the chain: a certificate from the same CA
// for another host would pass a chain check. The name is the URL's host (or
// redis.tls_server_name), also sent as SNI unless it is an IP address; the
// connect timer still covers the TLS handshake.
void RedisConnection::Impl::start_tls() {
  if (!options_.tls_context) return fail({}, "rediss:// without a TLS context");
  tls_ = std::make_shared<TlsStream>(socket_, *options_.tls_context);
  const std::string& name =
      options_.tls_server_name.empty() ? target_.host : options_.tls_server_name;
  error_code ec;
  net::ip::make_address(name, ec);
  if (ec && !SSL_set_tlsext_host_name(tls_->native_handle(), name.c_str()))
    return fail({}, "TLS: cannot set the server name " + name);
  tls_->set_verify_callback(net::ssl::host_name_verification(name));
  tls_->async_handshake(net::ssl::stream_base::client,
                        [self = shared_from_this(), gen = generation_, tls = tls_](error_code ec) {
                          if (gen != self->generation_) return;
                          if (ec)
                            return self->fail(
                                ec, "TLS handshake with " + describe_redis_endpoint(self->target_));
                          self->do_read();
                          self->do_handshake();
                        });
}

void RedisConnection::Impl::do_handshake() {
  if (phase_ == Phase::ask_sentinel) return ask_sentinel();
  const RedisEndpoint& endpoint = target_;
  auto on_reply = [weak = weak_from_this()](std::string what) {
    return [weak, what = std::move(what)](const RespValue* reply) {
      auto self = weak.lock();
      if (!self || reply == nullptr) return;
      if (reply->is_error()) {
        return self->fail(make_error_code(boost::system::errc::permission_denied),
                          what + " refused: " + reply->str);
      }
      if (--self->handshake_pending_ == 0) self->become_up();
    };
  };
  if (!endpoint.password.empty()) {
    if (endpoint.user.empty()) {
      enqueue({"AUTH", endpoint.password}, on_reply("AUTH"));
    } else {
      enqueue({"AUTH", endpoint.user, endpoint.password}, on_reply("AUTH " + endpoint.user));
    }
    ++handshake_pending_;
  }
  if (endpoint.db != 0) {
    const std::string db = std::to_string(endpoint.db);
    enqueue({"SELECT", db}, on_reply("SELECT " + db));
    ++handshake_pending_;
  }
  if (discovery_ && !options_.sentinel_watch) {
    enqueue({"ROLE"}, [weak = weak_from_this()](const RespValue* reply) {
      auto self = weak.lock();
      if (!self || reply == nullptr) return;
      const RoleReply role = read_role_reply(*reply);
      if (!role.is_master)
        return self->fail(
            {}, describe_redis_endpoint(self->target_) + " is not the master: " + role.reason);
      if (--self->handshake_pending_ == 0) self->become_up();
    });
    ++handshake_pending_;
  }
  // A connect that succeeds proves only that the kernel accepted it (a
  // stopped Redis still completes the TCP handshake); up means Redis answered.
  enqueue({"PING"}, on_reply("PING"));
  ++handshake_pending_;
  do_write();
}

void RedisConnection::Impl::ask_sentinel() {
  if (!target_.password.empty())
    enqueue({"AUTH", target_.password}, [weak = weak_from_this()](const RespValue* reply) {
      auto self = weak.lock();
      if (self && reply != nullptr && reply->is_error())
        self->fail({}, "AUTH refused: " + reply->str);  // never the password
    });
  const auto command = discovery_->command();
  enqueue(std::vector<std::string_view>(command.begin(), command.end()),
          [weak = weak_from_this()](const RespValue* reply) {
            auto self = weak.lock();
            if (!self || reply == nullptr) return;
            const MasterAddressReply answer = read_master_address_reply(*reply);
            if (answer.kind == MasterAddressReply::Kind::unknown_name)
              return self->fail({}, "does not know that master");
            if (answer.kind == MasterAddressReply::Kind::failed)
              return self->fail({}, answer.reason);
            self->discovery_->answered();
            self->master_ = answer.address;
            self->phase_ = Phase::node;
            self->restart();
          });
  do_write();
}

}  // namespace wsrelay
