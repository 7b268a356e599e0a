#include "support/callback_server.hpp"

#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <wsrelay/runtime/net.hpp>

namespace wsrelay::test {

std::optional<std::string> RecordedRequest::header(std::string_view name) const {
  return find_header(headers, name);
}

class CallbackServer::Impl : public std::enable_shared_from_this<CallbackServer::Impl> {
 public:
  explicit Impl(Script script) : script_(std::move(script)) {
    acceptor_.open(tcp::v4());
    acceptor_.bind(tcp::endpoint(net::ip::make_address_v4("127.0.0.1"), 0));
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
  }

  void start() {
    do_accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }

  void stop() {
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }

  std::uint16_t port() const { return port_; }

  void set_script(Script script) {
    std::lock_guard lock(mutex_);
    script_ = std::move(script);
  }
  std::vector<RecordedRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::size_t connections_accepted() const {
    std::lock_guard lock(mutex_);
    return connections_;
  }

 private:
  struct Connection {
    explicit Connection(tcp::socket socket)
        : stream(std::move(socket)), timer(stream.get_executor()) {}
    beast::tcp_stream stream;
    net::steady_timer timer;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::response<http::string_body> response;
    std::size_t id = 0;
  };
  using ConnectionPtr = std::shared_ptr<Connection>;

  void do_accept() {
    acceptor_.async_accept([this](error_code ec, tcp::socket socket) {
      if (ec) return;
      auto connection = std::make_shared<Connection>(std::move(socket));
      {
        std::lock_guard lock(mutex_);
        connection->id = ++connections_;
      }
      do_read(connection);
      do_accept();
    });
  }

  void do_read(const ConnectionPtr& c) {
    c->request = {};
    http::async_read(c->stream, c->buffer, c->request, [this, c](error_code ec, std::size_t) {
      if (ec) return;
      on_request(c);
    });
  }

  void on_request(const ConnectionPtr& c) {
    RecordedRequest recorded;
    recorded.method = std::string(c->request.method_string());
    recorded.target = std::string(c->request.target());
    recorded.connection = c->id;
    for (const auto& field : c->request)
      recorded.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    Script script;
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(recorded);
      script = script_;
    }
    const CallbackReply reply = script ? script(recorded) : CallbackReply{};
    c->response = {};
    c->response.result(static_cast<unsigned>(reply.status));
    c->response.version(11);
    c->response.set(http::field::content_type, "application/json");
    c->response.body() = reply.body;
    c->response.keep_alive(!reply.close && c->request.keep_alive());
    c->response.prepare_payload();
    c->timer.expires_after(reply.delay);
    c->timer.async_wait([this, c](error_code ec) {
      if (ec) return;
      http::async_write(c->stream, c->response, [this, c](error_code write_ec, std::size_t) {
        if (write_ec) return;
        if (!c->response.keep_alive()) {
          error_code ignored;
          c->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
          return;
        }
        do_read(c);
      });
    });
  }

  net::io_context ioc_{1};
  tcp::acceptor acceptor_{ioc_};
  std::thread thread_;
  std::uint16_t port_ = 0;
  mutable std::mutex mutex_;
  Script script_;
  std::vector<RecordedRequest> requests_;
  std::size_t connections_ = 0;
};

CallbackServer::CallbackServer(Script script) : impl_(std::make_shared<Impl>(std::move(script))) {
  impl_->start();
}

CallbackServer::~CallbackServer() {
  impl_->stop();
}

std::uint16_t CallbackServer::port() const {
  return impl_->port();
}

std::string CallbackServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port()) + path;
}

void CallbackServer::set_script(Script script) {
  impl_->set_script(std::move(script));
}

void CallbackServer::always(CallbackReply reply) {
  set_script([reply](const RecordedRequest&) { return reply; });
}

std::vector<RecordedRequest> CallbackServer::requests() const {
  return impl_->requests();
}

std::size_t CallbackServer::request_count() const {
  return requests().size();
}

std::size_t CallbackServer::connections_accepted() const {
  return impl_->connections_accepted();
}

}  // namespace wsrelay::test
