#pragma once
// The Origin allowlist (`auth.allowed_origins`), checked before anything else
// in a handshake: a browser sends the page's origin with every WebSocket
// upgrade and lets any page open one, so without this check any site a user
// visits could use that user's cookies to listen on their channels
// (cross-site WebSocket hijacking). Pure: compares text.
#include <string>
#include <string_view>
#include <vector>

namespace wsrelay {

// Whether a handshake with Origin `origin` and Host `host` may proceed.
//   - no Origin header (`origin` empty): allowed; only browsers send one,
//     and other clients could forge it anyway;
//   - an Origin that is not exactly scheme://host[:port] (a user, path,
//     query, fragment, backslash, empty label or bad port) or "null":
//     refused before any matching, whatever the list holds;
//   - `allowed` empty: the Origin's host[:port] must equal the Host header
//     (the page was served by the site the gateway answers for);
//   - otherwise one entry must match: "*" (anything), an exact origin
//     "https://app.example.com[:port]", or "https://*.example.com", which
//     matches any subdomain at any depth but not example.com itself.
// Scheme and host compare case-insensitively; the string "null" (sandboxed
// frames, file: pages) only matches an entry "null" or "*".
bool origin_allowed(std::string_view origin, std::string_view host,
                    const std::vector<std::string>& allowed);

// The reason an `auth.allowed_origins` entry is malformed, "" when it is fine.
std::string check_origin_pattern(std::string_view pattern);

}  // namespace wsrelay
