#include <wsrelay/auth.hpp>

#include <wsrelay/auth_callback.hpp>
#include <wsrelay/config.hpp>

namespace wsrelay {

void AnonymousAuthorizer::authorize(const AuthRequest& request,
                                    std::function<void(AuthDecision)> done) {
  AuthDecision decision;
  decision.identity.session = cookie_value(request.cookie, session_cookie_);
  decision.allowed = all_flags;
  done(std::move(decision));
}

std::unique_ptr<Authorizer> make_authorizer(const Config& config, Metrics& metrics) {
  // Until the backend chain (auth.backends) lands: the callback alone when configured.
  if (!config.auth_callback_url.empty()) return make_callback_authorizer(config, &metrics);
  return std::make_unique<AnonymousAuthorizer>(config.session_cookie);
}

}  // namespace wsrelay
