#include <wsrelay/auth.hpp>

#include <strings.h>
#include <array>

#include <fmt/format.h>

#include <wsrelay/auth_backends.hpp>
#include <wsrelay/auth_callback.hpp>
#include <wsrelay/config.hpp>

namespace wsrelay {
namespace {

using Factory = std::unique_ptr<Authorizer> (*)(const Config&, Metrics&);

// The backends `auth.backends` may name. A new backend is one line here.
constexpr std::array<std::pair<std::string_view, Factory>, 4> kBackends{{
    {"anonymous",
     [](const Config& c, Metrics&) -> std::unique_ptr<Authorizer> {
       return std::make_unique<AnonymousAuthorizer>(c.session_cookie);
     }},
    {"jwt", [](const Config& c, Metrics&) { return make_jwt_authorizer(c); }},
    {"proxy", [](const Config& c, Metrics&) { return make_proxy_authorizer(c); }},
    {"callback", [](const Config& c, Metrics& m) { return make_callback_authorizer(c, &m); }},
}};

}  // namespace

std::string_view AuthRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (key.size() == name.size() && strncasecmp(key.data(), name.data(), name.size()) == 0)
      return value;
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

std::unique_ptr<Authorizer> make_authorizer(const Config& config, Metrics& metrics) {
  std::vector<std::unique_ptr<Authorizer>> backends;
  for (const std::string& name : config.auth_backends) {
    auto it = std::find_if(kBackends.begin(), kBackends.end(),
                           [&](const auto& entry) { return entry.first == name; });
    if (it == kBackends.end())
      throw ConfigError(fmt::format("auth.backends: unknown backend \"{}\"", name));
    backends.push_back(it->second(config, metrics));
  }
  return std::make_unique<ChainAuthorizer>(std::move(backends), config.static_rules);
}

}  // namespace wsrelay
