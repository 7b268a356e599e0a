#pragma once
// What the HTTP callback backend sends to the site and makes of its answer,
// without any I/O: the callback URL, the headers that carry a handshake to
// the site, the key under which an answer is cached, and the decision read
// from the site's answer. auth_callback.cpp does the I/O around these; the
// unit tests feed them values.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <wsrelay/auth/auth.hpp>
#include <wsrelay/config/auth_settings.hpp>

namespace wsrelay {

// CallbackUrl and parse_callback_url(): auth_settings.hpp (auth.callback_url
// is checked when it is loaded).

// The Host header for `url`: the host ([bracketed] when it is IPv6), with
// ":port" unless the port is 80.
std::string callback_host_header(const CallbackUrl& url);

// The headers that tell the site about `request`, in the order they are
// sent (after Host and User-Agent): Cookie, Authorization, Origin,
// X-Forwarded-For and X-Real-IP (the client's address) when the client has
// them; X-Original-URI, X-WsRelay-Facility and X-WsRelay-Flags always; then
// each header named in `forward` (auth.callback_forward_headers) that the
// client sent, under the configured name, every occurrence in order.
std::vector<std::pair<std::string, std::string>> callback_request_headers(
    const AuthRequest& request, const std::vector<std::string>& forward = {});

// The answer cache's key: everything callback_request_headers() sends, so
// two handshakes share an answer only when the site could not tell them apart.
std::string callback_cache_key(const AuthRequest& request,
                               const std::vector<std::string>& forward = {});

// Turns the site's answer into a decision for a handshake that requested
// `requested` flags. Pure: the unit tests feed it statuses and bodies.
AuthDecision callback_decision(int status, std::string_view body, Flags requested);

}  // namespace wsrelay
