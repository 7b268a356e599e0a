#pragma once
// Authorizer: turns a WebSocket upgrade request into an Identity and the
// flags it may use (PROTOCOL.md §2). This is the seam for the real backends
// (JWT, HTTP callback, trusted proxy headers, static rules); the gateway core
// only ever sees an AuthRequest and an AuthDecision.
//
// Threading: authorize() is called on the session's shard. `done` may be
// called before authorize() returns, or later from any thread: the session
// posts the decision back to its own shard. An implementation must never
// block the calling thread.
#include <functional>
#include <memory>
#include <string>

#include <wsrelay/protocol.hpp>

namespace wsrelay {

struct Config;

struct AuthRequest {
  std::string facility;
  Flags requested = 0;
  std::string target;          // the request target as received
  std::string cookie;          // Cookie header
  std::string authorization;   // Authorization header
  std::string origin;          // Origin header
  std::string remote_address;  // peer address
};

struct AuthDecision {
  int status = 0;  // 0: allowed; 401 or 403: the handshake is refused with it
  std::string reason;
  Identity identity;
  Flags allowed = 0;  // requested flags outside this set are dropped
};

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  virtual void authorize(const AuthRequest& request, std::function<void(AuthDecision)> done) = 0;
};

// ws4redis's default: no user, the session key read from the session cookie
// (a bearer capability), every requested flag allowed.
class AnonymousAuthorizer final : public Authorizer {
 public:
  explicit AnonymousAuthorizer(std::string session_cookie)
      : session_cookie_(std::move(session_cookie)) {}
  void authorize(const AuthRequest& request, std::function<void(AuthDecision)> done) override;

 private:
  std::string session_cookie_;
};

std::unique_ptr<Authorizer> make_authorizer(const Config& config);

}  // namespace wsrelay
