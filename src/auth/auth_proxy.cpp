// The "proxy" backend: a reverse proxy in front of the gateway (nginx with
// auth_request) authenticates the request itself and passes the identity on
// in headers. A header is only as trustworthy as whoever wrote it, so they
// are read only when the TCP peer is one of auth.trusted_proxies; anyone else
// could simply send them.
#include <spdlog/spdlog.h>

#include <wsrelay/auth/auth_backends.hpp>
#include <wsrelay/config/config.hpp>
#include <wsrelay/wire/text.hpp>

namespace wsrelay {
namespace {

std::optional<std::string> non_empty(std::string_view value) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  return std::string(value);
}

class ProxyHeaderAuthorizer final : public Authorizer {
 public:
  explicit ProxyHeaderAuthorizer(const AuthSettings& config)
      : user_(config.proxy_user_header),
        groups_(config.proxy_groups_header),
        session_(config.proxy_session_header),
        allow_(config.proxy_allow_header) {}

  void authorize(const AuthRequest& request, std::function<void(AuthDecision)> done) override {
    AuthDecision decision;
    const std::string_view user = request.header(user_);
    const std::string_view groups = request.header(groups_);
    const std::string_view session = request.header(session_);
    const std::string_view allow = request.header(allow_);
    const bool present = !user.empty() || !groups.empty() || !session.empty() || !allow.empty();
    if (!present || !request.from_trusted_proxy) {
      if (present)
        spdlog::debug("auth: identity headers from {} ignored: not a trusted proxy",
                      request.peer_address);
      decision.abstain = true;
      return done(std::move(decision));
    }
    decision.identity.user = non_empty(user);
    decision.identity.session = non_empty(session);
    std::string_view rest = groups;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      if (auto group = non_empty(rest.substr(0, comma)))
        decision.identity.groups.push_back(std::move(*group));
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
    decision.allowed = allow.empty() ? all_flags : flags_from_list(allow);
    done(std::move(decision));
  }

 private:
  std::string user_, groups_, session_, allow_;
};

}  // namespace

std::unique_ptr<Authorizer> make_proxy_authorizer(const AuthSettings& config) {
  return std::make_unique<ProxyHeaderAuthorizer>(config);
}

}  // namespace wsrelay
