#pragma once
// The HTTP callback backend: the site decides who may listen, the way nginx
// `auth_request` lets an application decide. For every handshake the gateway
// sends `GET auth.callback_url` carrying the client's Cookie, Authorization
// and Origin, its address (X-Forwarded-For, X-Real-IP), the original URI
// (X-Original-URI), the facility (X-WsRelay-Facility) and the requested flags
// (X-WsRelay-Flags, comma-separated flag names of docs/protocol.md §1). The site answers:
//   200 {"user": "..."|null, "groups": [...], "session": "..."|null,
//        "allow": [flag names]}      allow absent = every requested flag
//   401 / 403                        the handshake is refused with it
// Anything else (another status, a timeout, a refused connection, a body
// that is not such JSON) fails closed: 503, logged and counted.
//
// Threading: the authorizer owns one io_context and the thread that runs it.
// authorize() only posts the request there, so a shard never waits for the
// site; `done` is called on that thread. Connections to the site are kept
// alive and reused (at most auth.callback_max_connections); handshakes wait
// in a bounded queue when all are busy. Destroying the authorizer closes its
// connections and joins its thread; pending callbacks are dropped uncalled.
//
// What goes over the wire, without I/O: auth_callback_wire.hpp.
// No Boost headers here: this header is included by the config and tests.
#include <memory>

#include <wsrelay/auth/auth.hpp>
#include <wsrelay/auth/auth_callback_wire.hpp>

namespace wsrelay {

class Metrics;

class CallbackAuthorizer final : public Authorizer {
 public:
  // `metrics` (may be null) receives the auth_callback_* counters; it must
  // outlive the authorizer. Starts the authorizer's thread.
  CallbackAuthorizer(const AuthSettings& config, Metrics* metrics);
  ~CallbackAuthorizer() override;
  CallbackAuthorizer(const CallbackAuthorizer&) = delete;
  CallbackAuthorizer& operator=(const CallbackAuthorizer&) = delete;

  void authorize(const AuthRequest& request, std::function<void(AuthDecision)> done) override;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

std::unique_ptr<Authorizer> make_callback_authorizer(const AuthSettings& config,
                                                     Metrics* metrics = nullptr);

}  // namespace wsrelay
