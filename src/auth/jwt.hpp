#pragma once
// JSON Web Token verification for the jwt backend (OpenSSL, no I/O after
// construction). Keys are loaded once, from files, when the verifier is built.
//
// The algorithm is a property of the key, never of the token: a token's
// header "alg" must equal the algorithm configured for the key that verifies
// it, so "none" and HS256-signed-with-the-RSA-public-key (algorithm
// confusion) are refused before any signature is computed.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/config/auth_settings.hpp>
#include <wsrelay/wire/protocol.hpp>

namespace wsrelay {

// The verifier's settings, from the [auth] keys (auth_jwt.cpp: jwt_settings).
struct JwtSettings {
  std::vector<JwtKeySpec> keys;
  std::string audience;  // empty: "aud" not checked
  std::string issuer;    // empty: "iss" not checked
  int leeway_seconds = 30;
  std::string user_claim = "sub";
  std::string groups_claim = "groups";
  std::string session_claim = "session";
  std::string allow_claim = "allow";
};

// What a valid token grants on one facility.
struct JwtGrant {
  Identity identity;
  Flags allowed = 0;
};

class JwtVerifier {
 public:
  // Loads every key; throws ConfigError("auth.jwt_keys: ...") when a file
  // cannot be read or does not hold a key of the configured kind.
  explicit JwtVerifier(JwtSettings settings);
  ~JwtVerifier();
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // Checks `token` at time `now` (Unix seconds) and maps its claims for
  // `facility`. On failure returns nullopt and a short reason in `error`.
  // Thread-safe: shards call it concurrently.
  std::optional<JwtGrant> verify(std::string_view token, std::string_view facility,
                                 std::int64_t now, std::string& error) const;

 private:
  struct Key;
  JwtSettings settings_;
  std::vector<std::unique_ptr<Key>> keys_;
};

// base64url without padding (RFC 7515 §2); decode returns nullopt on a
// character outside the alphabet or an impossible length.
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace wsrelay
