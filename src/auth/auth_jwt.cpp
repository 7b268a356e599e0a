// The "jwt" backend: where a token is looked for, and what a bad one gets.
#include <chrono>

#include <spdlog/spdlog.h>

#include <wsrelay/auth/auth_backends.hpp>
#include <wsrelay/auth/jwt.hpp>
#include <wsrelay/config/config.hpp>

namespace wsrelay {
namespace {

// Verification is CPU work of tens of microseconds (an RSA or ECDSA verify),
// done on the calling shard: there is nothing to wait for.
class JwtAuthorizer final : public Authorizer {
 public:
  JwtAuthorizer(const AuthSettings& config, std::shared_ptr<const JwtVerifier> verifier)
      : verifier_(std::move(verifier)), cookie_(config.jwt_cookie) {}

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
    auto grant = verifier_->verify(token, request.facility, now, error);
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

  std::shared_ptr<const JwtVerifier> verifier_;  // never null
  std::string cookie_;
};

}  // namespace

std::unique_ptr<Authorizer> make_jwt_authorizer(const AuthSettings& config,
                                                std::shared_ptr<const JwtVerifier> verifier) {
  if (!verifier) throw ConfigError("auth.jwt_keys: the jwt backend's keys were not loaded");
  return std::make_unique<JwtAuthorizer>(config, std::move(verifier));
}

std::shared_ptr<const JwtVerifier> load_jwt_keys(const AuthSettings& config) {
  JwtSettings settings;
  std::string error;
  for (const std::string& key : config.jwt_keys)
    if (auto spec = parse_jwt_key_spec(key, error)) settings.keys.push_back(std::move(*spec));
  settings.audience = config.jwt_audience;
  settings.issuer = config.jwt_issuer;
  settings.leeway_seconds = config.jwt_leeway_seconds;
  settings.user_claim = config.jwt_user_claim;
  settings.groups_claim = config.jwt_groups_claim;
  settings.session_claim = config.jwt_session_claim;
  settings.allow_claim = config.jwt_allow_claim;
  return std::make_shared<const JwtVerifier>(std::move(settings));
}

}  // namespace wsrelay
