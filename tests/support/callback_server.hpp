#pragma once
// A real HTTP/1.1 server on 127.0.0.1 (a port the OS picks) standing in for
// the site behind `auth.callback_url`. It runs on its own thread, records
// every request it receives (with the TCP connection it came on) and answers
// what the test's script says, after an optional delay, keeping connections
// alive unless told to close. The destructor stops the thread.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/http_client.hpp"

namespace wsrelay::test {

struct RecordedRequest {
  std::string method;
  std::string target;
  Headers headers;             // as received, in order
  std::size_t connection = 0;  // 1 for the first TCP connection accepted, 2 ...

  // The first header called `name` (case-insensitive), if any.
  std::optional<std::string> header(std::string_view name) const;
};

struct CallbackReply {
  int status = 200;
  std::string body = R"({"user": null})";
  std::chrono::milliseconds delay{0};
  bool close = false;  // answer with Connection: close and close the connection
};

class CallbackServer {
 public:
  // Called on the server's thread for every request.
  using Script = std::function<CallbackReply(const RecordedRequest&)>;

  explicit CallbackServer(Script script = {});
  ~CallbackServer();
  CallbackServer(const CallbackServer&) = delete;
  CallbackServer& operator=(const CallbackServer&) = delete;

  std::uint16_t port() const;
  // "http://127.0.0.1:<port><path>"
  std::string url(const std::string& path = "/auth") const;

  void set_script(Script script);
  // Answers every request with `reply`.
  void always(CallbackReply reply);

  std::vector<RecordedRequest> requests() const;
  std::size_t request_count() const;
  std::size_t connections_accepted() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace wsrelay::test
