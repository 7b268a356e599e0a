// The HTTP callback backend's exchange with the site, without I/O: see
// auth_callback_wire.hpp. The requests and answers themselves travel in
// auth_callback.cpp.
#include <wsrelay/auth/auth_callback_wire.hpp>

#include <algorithm>
#include <cctype>
#include <iterator>

#include <fmt/format.h>
#include <boost/beast/core/string.hpp>
#include <nlohmann/json.hpp>

#include <wsrelay/wire/text.hpp>

namespace wsrelay {
namespace {

AuthDecision unavailable(std::string detail) {
  AuthDecision decision;
  decision.status = 503;
  decision.reason = std::move(detail);
  return decision;
}

// "user"/"session": a string, or null/absent/"" for none. False on any other type.
bool optional_string(const nlohmann::json& answer, const char* key,
                     std::optional<std::string>& out) {
  const auto it = answer.find(key);
  if (it == answer.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  std::string value = it->get<std::string>();
  if (!value.empty()) out = std::move(value);
  return true;
}

// A list of strings, or null/absent for none. False on any other shape.
bool string_list(const nlohmann::json& answer, const char* key, std::vector<std::string>& out,
                 bool& present) {
  const auto it = answer.find(key);
  present = it != answer.end() && !it->is_null();
  if (!present) return true;
  if (!it->is_array()) return false;
  for (const auto& item : *it) {
    if (!item.is_string()) return false;
    std::string value = item.get<std::string>();
    if (!value.empty()) out.push_back(std::move(value));
  }
  return true;
}

}  // namespace

std::string callback_host_header(const CallbackUrl& url) {
  const bool ipv6 = url.host.find(':') != std::string::npos;
  std::string host = ipv6 ? "[" + url.host + "]" : url.host;
  if (url.port != 80) host += fmt::format(":{}", url.port);
  return host;
}

std::vector<std::pair<std::string, std::string>> callback_request_headers(
    const AuthRequest& request, const std::vector<std::string>& forward) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!request.cookie.empty()) headers.emplace_back("Cookie", request.cookie);
  if (!request.authorization.empty()) headers.emplace_back("Authorization", request.authorization);
  if (!request.origin.empty()) headers.emplace_back("Origin", request.origin);
  if (!request.remote_address.empty()) {
    headers.emplace_back("X-Forwarded-For", request.remote_address);
    headers.emplace_back("X-Real-IP", request.remote_address);
  }
  headers.emplace_back("X-Original-URI", request.target);
  headers.emplace_back("X-WsRelay-Facility", request.facility);
  headers.emplace_back("X-WsRelay-Flags", flags_to_string(request.requested));
  for (const std::string& name : forward)
    for (const auto& [received, value] : request.headers)
      if (boost::beast::iequals(received, name)) headers.emplace_back(name, value);
  return headers;
}

std::string callback_cache_key(const AuthRequest& request,
                               const std::vector<std::string>& forward) {
  // Each header sent as "name: value" on a line of its own: a value cannot hold
  // a newline (the request parser refuses one), so two different requests
  // never give the same key.
  // The flags as a number too: the decision is made from them.
  std::string key = fmt::format("{}\n", request.requested);
  for (const auto& [name, value] : callback_request_headers(request, forward))
    fmt::format_to(std::back_inserter(key), "{}: {}\n", name, value);
  return key;
}

AuthDecision callback_decision(int status, std::string_view body, Flags requested) {
  AuthDecision decision;
  if (status == 401 || status == 403) {
    decision.status = status;
    decision.reason = status == 401 ? "authentication required" : "forbidden";
    return decision;
  }
  if (status != 200) return unavailable(fmt::format("the site answered HTTP {}", status));
  const auto answer = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (answer.is_discarded() || !answer.is_object())
    return unavailable("the site's answer is not a JSON object");
  Identity& identity = decision.identity;
  if (!optional_string(answer, "user", identity.user))
    return unavailable("\"user\" in the site's answer is not a string or null");
  if (!optional_string(answer, "session", identity.session))
    return unavailable("\"session\" in the site's answer is not a string or null");
  bool present = false;
  if (!string_list(answer, "groups", identity.groups, present))
    return unavailable("\"groups\" in the site's answer is not a list of strings");
  std::vector<std::string> allow;
  if (!string_list(answer, "allow", allow, present))
    return unavailable("\"allow\" in the site's answer is not a list of flag names");
  decision.allowed = all_flags;
  if (present) {
    // Unknown names are ignored, as they are in the query string.
    decision.allowed = 0;
    for (const std::string& name : allow)
      if (auto flag = flag_from_name(name)) decision.allowed |= *flag;
  }
  // ws4redis's rule: what is not allowed is dropped; nothing left is a 403.
  if (requested != 0 && (requested & decision.allowed) == 0) {
    decision.status = 403;
    decision.reason = "none of the requested flags is allowed";
  }
  return decision;
}

}  // namespace wsrelay
