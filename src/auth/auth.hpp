#pragma once
// Authorizer: turns a WebSocket upgrade request into an Identity and the
// flags it may use (docs/protocol.md §2). This is the seam for the real backends
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
#include <string_view>
#include <utility>
#include <vector>

#include <wsrelay/wire/auth_rules.hpp>
#include <wsrelay/wire/protocol.hpp>

namespace wsrelay {

struct AuthSettings;
class JwtVerifier;
class Metrics;

struct AuthRequest {
  std::string facility;
  Flags requested = 0;
  std::string target;          // the request target, without the auth.jwt_query_param parameter
  std::string cookie;          // Cookie header
  std::string authorization;   // Authorization header
  std::string origin;          // Origin header
  std::string remote_address;  // the client: X-Forwarded-For's hop behind trusted proxies
  std::string peer_address;    // the TCP peer
  bool from_trusted_proxy = false;  // the TCP peer is in auth.trusted_proxies
  std::string query_token;          // the auth.jwt_query_param value, taken out of target
  std::vector<std::pair<std::string, std::string>> headers;  // every header, as received

  // The first header called `name` (any case); "" when there is none.
  std::string_view header(std::string_view name) const;
};

// Backends are chained in the order `auth.backends` names them. Each one
// answers with one of three outcomes:
//   - allow: status 0, an identity and the flags it may use;
//   - deny: status 401, 403 or 503 (a backend that cannot reach its source
//     of truth fails closed with 503); the chain stops there;
//   - abstain: the request carries no credential of this backend's kind (no
//     token, no trusted proxy header): the next backend decides. A credential
//     that is present but invalid (expired, forged) is a deny, never an
//     abstain, so a bad token cannot fall through to a weaker backend.
// When every backend abstains the handshake is refused with 401.
struct AuthDecision {
  int status = 0;        // 0: allowed; 401, 403 or 503: the handshake is refused with it
  bool abstain = false;  // no credential of this backend's kind: ask the next one
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

// The chain of `auth.backends`, then the static rules (`auth.rules`), then
// the ws4redis allowed-channels rule:
//   - when every backend abstains: 401;
//   - the first rule matching the facility narrows the allowed flags, and
//     with require-user refuses a connection without a user (401);
//   - `echo` is not a permission and is always allowed;
//   - requested flags outside the allowed set are dropped; when the client
//     asked for some and none is left: 403.
// Backends may answer from any thread; the chain holds its own copy of the
// request while a backend works.
class ChainAuthorizer final : public Authorizer {
 public:
  ChainAuthorizer(std::vector<std::unique_ptr<Authorizer>> backends, std::vector<StaticRule> rules);
  ~ChainAuthorizer() override;
  void authorize(const AuthRequest& request, std::function<void(AuthDecision)> done) override;

 private:
  struct Run;
  void ask(std::shared_ptr<Run> run, std::size_t index);
  AuthDecision conclude(const AuthRequest& request, AuthDecision decision) const;

  std::vector<std::unique_ptr<Authorizer>> backends_;
  std::vector<StaticRule> rules_;
};

// Backend names `auth.backends` accepts, in the order of the registry.
std::vector<std::string_view> authorizer_names();

// What the authorization layer reads and checks when a configuration is
// loaded (at start, and on every SIGHUP): each name of auth.backends is in
// the registry, and, with the jwt backend, the auth.jwt_keys files hold keys
// of their kind. The files are read here, once per load; the verifier is
// handed on to make_authorizer(). Throws ConfigError naming the key, so a bad
// value still stops the start with exit code 2 (and a reload is refused).
struct LoadedAuth {
  std::shared_ptr<const JwtVerifier> jwt;  // set when "jwt" is in auth.backends
};
LoadedAuth load_auth(const AuthSettings& settings);

// The chain for `settings` (validated by config.hpp's validate()) with what
// load_auth() read from them. `metrics` must outlive the authorizer.
std::unique_ptr<Authorizer> make_authorizer(const AuthSettings& settings, const LoadedAuth& loaded,
                                            Metrics& metrics);

}  // namespace wsrelay
