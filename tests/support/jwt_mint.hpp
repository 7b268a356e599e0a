#pragma once
// Minting JSON Web Tokens for tests, with OpenSSL: keys made on the spot,
// tokens signed with them, and deliberately broken tokens (alg "none", an
// HS256 token keyed with an RSA public key, a tampered payload).
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace wsrelay::test {

class SigningKey {
 public:
  static SigningKey hs256(std::string secret);
  static SigningKey rs256();  // a new 2048-bit RSA key
  static SigningKey es256();  // a new P-256 key
  ~SigningKey();
  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;

  const std::string& alg() const { return alg_; }
  // What the gateway verifies with: the secret, or the PEM public key.
  std::string verification_key() const;
  // Writes verification_key() to `path`.
  void write_verification_key(const std::string& path) const;
  // The JWS signature of `input` (raw bytes, R || S for ES256).
  std::string sign(std::string_view input) const;

 private:
  SigningKey() = default;
  struct Pkey;
  std::string alg_;
  std::string secret_;
  std::unique_ptr<Pkey> pkey_;
};

// header.payload.signature with `header` = {"alg": key.alg(), "typ": "JWT"}
// plus `extra_header` (e.g. {"kid": "2025"}).
std::string make_jwt(const SigningKey& key, const nlohmann::json& payload,
                     const nlohmann::json& extra_header = nlohmann::json::object());

// A token with any header, signed by HMAC-SHA256 with `secret` (for alg
// confusion: the secret is an RSA public key's PEM text).
std::string make_hs256_jwt_with_header(const nlohmann::json& header, const nlohmann::json& payload,
                                       std::string_view secret);

// {"alg":"none"} and an empty signature.
std::string make_unsigned_jwt(const nlohmann::json& payload);

// Seconds since the epoch, for exp/nbf claims.
std::int64_t unix_now();

}  // namespace wsrelay::test
