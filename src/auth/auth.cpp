#include <wsrelay/auth/auth.hpp>

#include <array>

#include <fmt/format.h>

#include <wsrelay/auth/auth_backends.hpp>
#include <wsrelay/auth/auth_callback.hpp>
#include <wsrelay/auth/jwt.hpp>
#include <wsrelay/config/config.hpp>
#include <wsrelay/wire/text.hpp>

namespace wsrelay {
namespace {

using Factory = std::unique_ptr<Authorizer> (*)(const AuthSettings&, const LoadedAuth&, Metrics&);

// The backends `auth.backends` may name. A new backend is one line here.
constexpr std::array<std::pair<std::string_view, Factory>, 4> kBackends{{
    {"anonymous",
     [](const AuthSettings& s, const LoadedAuth&, Metrics&) -> std::unique_ptr<Authorizer> {
       return std::make_unique<AnonymousAuthorizer>(s.session_cookie);
     }},
    {"jwt", [](const AuthSettings& s, const LoadedAuth& l,
               Metrics&) { return make_jwt_authorizer(s, l.jwt); }},
    {"proxy",
     [](const AuthSettings& s, const LoadedAuth&, Metrics&) { return make_proxy_authorizer(s); }},
    {"callback", [](const AuthSettings& s, const LoadedAuth&,
                    Metrics& m) { return make_callback_authorizer(s, &m); }},
}};

}  // namespace

std::string_view AuthRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (iequals(key, name)) return value;
  return {};
}

void AnonymousAuthorizer::authorize(const AuthRequest& request,
                                    std::function<void(AuthDecision)> done) {
  AuthDecision decision;
  decision.identity.session = cookie_value(request.cookie, session_cookie_);
  decision.allowed = all_flags;
  done(std::move(decision));
}

struct ChainAuthorizer::Run {
  AuthRequest request;
  std::function<void(AuthDecision)> done;
};

ChainAuthorizer::ChainAuthorizer(std::vector<std::unique_ptr<Authorizer>> backends,
                                 std::vector<StaticRule> rules)
    : backends_(std::move(backends)), rules_(std::move(rules)) {}

ChainAuthorizer::~ChainAuthorizer() = default;

void ChainAuthorizer::authorize(const AuthRequest& request,
                                std::function<void(AuthDecision)> done) {
  ask(std::make_shared<Run>(Run{request, std::move(done)}), 0);
}

void ChainAuthorizer::ask(std::shared_ptr<Run> run, std::size_t index) {
  if (index == backends_.size()) {
    AuthDecision decision;
    decision.status = 401;
    decision.reason = "no credential";
    return run->done(std::move(decision));
  }
  const AuthRequest& request = run->request;
  backends_[index]->authorize(request, [this, run = std::move(run), index](AuthDecision decision) {
    if (decision.abstain) return ask(run, index + 1);
    run->done(conclude(run->request, std::move(decision)));
  });
}

AuthDecision ChainAuthorizer::conclude(const AuthRequest& request, AuthDecision decision) const {
  if (decision.status != 0) return decision;
  if (const StaticRule* rule = find_rule(rules_, request.facility)) {
    if (rule->require_user && !decision.identity.user) {
      decision.status = 401;
      decision.reason = fmt::format("facility \"{}\" requires a user", request.facility);
      return decision;
    }
    decision.allowed &= rule->allow;
  }
  decision.allowed |= echo;
  const Flags asked = request.requested & ~Flags(echo);
  if (asked != 0 && (asked & decision.allowed) == 0) {
    decision.status = 403;
    decision.reason = fmt::format("no requested flag is allowed on \"{}\"", request.facility);
  }
  return decision;
}

std::vector<std::string_view> authorizer_names() {
  std::vector<std::string_view> names;
  for (const auto& [name, factory] : kBackends) names.push_back(name);
  return names;
}

LoadedAuth load_auth(const AuthSettings& settings) {
  const auto names = authorizer_names();
  for (const std::string& name : settings.auth_backends)
    if (std::find(names.begin(), names.end(), name) == names.end())
      throw ConfigError(
          fmt::format("auth.backends: unknown or unavailable backend \"{}\" (available: {})", name,
                      fmt::join(names, ", ")));
  LoadedAuth loaded;
  if (std::find(settings.auth_backends.begin(), settings.auth_backends.end(), "jwt") !=
      settings.auth_backends.end())
    loaded.jwt = load_jwt_keys(settings);  // throws ConfigError naming the file
  return loaded;
}

std::unique_ptr<Authorizer> make_authorizer(const AuthSettings& settings, const LoadedAuth& loaded,
                                            Metrics& metrics) {
  std::vector<std::unique_ptr<Authorizer>> backends;
  for (const std::string& name : settings.auth_backends) {
    auto it = std::find_if(kBackends.begin(), kBackends.end(),
                           [&](const auto& entry) { return entry.first == name; });
    if (it == kBackends.end())
      throw ConfigError(fmt::format("auth.backends: unknown backend \"{}\"", name));
    backends.push_back(it->second(settings, loaded, metrics));
  }
  return std::make_unique<ChainAuthorizer>(std::move(backends), settings.static_rules);
}

}  // namespace wsrelay
