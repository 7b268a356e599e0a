// The "jwt" backend: where a token is looked for, and what a bad one gets.
#include <chrono>

#include <spdlog/spdlog.h>

#include <wsrelay/auth_backends.hpp>
#include <wsrelay/config.hpp>
#include <wsrelay/config_auth.hpp>
#include <wsrelay/jwt.hpp>

namespace wsrelay {
namespace {

// Verification is CPU work of tens of microseconds (an RSA or ECDSA verify),
// done on the calling shard: there is nothing to wait for.
class JwtAuthorizer final : public Authorizer {
 public:
  explicit JwtAuthorizer(const Config& config)
      : verifier_(jwt_settings(config)), cookie_(config.jwt_cookie) {}

  void authorize(const AuthRequest& request, std::function<void(AuthDecision)> done) override {
    AuthDecision decision;
    const std::string token = find_token(request);
    if (token.empty()) {
      decision.abstain = true;
      return done(std::move(decision));
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    std::string error;
    auto grant = verifier_.verify(token, request.facility, now, error);
    if (!grant) {
      spdlog::debug("auth: jwt refused for {}: {}", request.remote_address, error);
      decision.status = 401;
      decision.reason = "invalid token: " + error;
      return done(std::move(decision));
    }
    decision.identity = std::move(grant->identity);
    decision.allowed = grant->allowed;
    done(std::move(decision));
  }

 private:
  // Authorization: Bearer first, then the cookie, then the query parameter.
  std::string find_token(const AuthRequest& request) const {
    std::string_view authorization = request.authorization;
    constexpr std::string_view bearer = "bearer ";
    if (authorization.size() > bearer.size()) {
      std::string scheme(authorization.substr(0, bearer.size()));
      for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (scheme == bearer) {
        std::string_view token = authorization.substr(bearer.size());
        while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
        while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
        if (!token.empty()) return std::string(token);
      }
    }
    if (!cookie_.empty())
      if (auto value = cookie_value(request.cookie, cookie_); value && !value->empty())
        return *value;
    return request.query_token;
  }

  JwtVerifier verifier_;
  std::string cookie_;
};

}  // namespace

std::unique_ptr<Authorizer> make_jwt_authorizer(const Config& config) {
  return std::make_unique<JwtAuthorizer>(config);
}

}  // namespace wsrelay
