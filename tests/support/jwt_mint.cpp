#include "support/jwt_mint.hpp"

#include <array>
#include <chrono>
#include <fstream>
#include <stdexcept>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <wsrelay/auth/jwt.hpp>

namespace wsrelay::test {

struct SigningKey::Pkey {
  EVP_PKEY* key = nullptr;
  ~Pkey() { EVP_PKEY_free(key); }
};

namespace {

std::string hmac_sha256(std::string_view secret, std::string_view input) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(), &length);
  return std::string(reinterpret_cast<char*>(mac.data()), length);
}

std::string der_to_raw(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (!sig) throw std::runtime_error("jwt_mint: bad ECDSA signature");
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(sig);
  return raw;
}

std::string signing_input(const nlohmann::json& header, const nlohmann::json& payload) {
  return base64url_encode(header.dump()) + "." + base64url_encode(payload.dump());
}

}  // namespace

SigningKey::~SigningKey() = default;
SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;

SigningKey SigningKey::hs256(std::string secret) {
  SigningKey key;
  key.alg_ = "HS256";
  key.secret_ = std::move(secret);
  return key;
}

SigningKey SigningKey::rs256() {
  SigningKey key;
  key.alg_ = "RS256";
  key.pkey_ = std::make_unique<Pkey>();
  key.pkey_->key = EVP_RSA_gen(2048);
  if (!key.pkey_->key) throw std::runtime_error("jwt_mint: RSA key generation failed");
  return key;
}

SigningKey SigningKey::es256() {
  SigningKey key;
  key.alg_ = "ES256";
  key.pkey_ = std::make_unique<Pkey>();
  key.pkey_->key = EVP_EC_gen("P-256");
  if (!key.pkey_->key) throw std::runtime_error("jwt_mint: EC key generation failed");
  return key;
}

std::string SigningKey::verification_key() const {
  if (!pkey_) return secret_;
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, pkey_->key);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(length));
  BIO_free(bio);
  return pem;
}

void SigningKey::write_verification_key(const std::string& path) const {
  std::ofstream out(path, std::ios::binary);
  out << verification_key();
  if (!out) throw std::runtime_error("jwt_mint: cannot write " + path);
}

std::string SigningKey::sign(std::string_view input) const {
  if (!pkey_) return hmac_sha256(secret_, input);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t length = 0;
  std::string signature;
  if (EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey_->key) == 1 &&
      EVP_DigestSign(ctx, nullptr, &length, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) == 1) {
    signature.resize(length);
    if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &length,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
      length = 0;
    signature.resize(length);
  }
  EVP_MD_CTX_free(ctx);
  if (signature.empty()) throw std::runtime_error("jwt_mint: signing failed");
  return alg_ == "ES256" ? der_to_raw(signature) : signature;
}

std::string make_jwt(const SigningKey& key, const nlohmann::json& payload,
                     const nlohmann::json& extra_header) {
  nlohmann::json header = {{"alg", key.alg()}, {"typ", "JWT"}};
  header.update(extra_header);
  const std::string input = signing_input(header, payload);
  return input + "." + base64url_encode(key.sign(input));
}

std::string make_hs256_jwt_with_header(const nlohmann::json& header, const nlohmann::json& payload,
                                       std::string_view secret) {
  const std::string input = signing_input(header, payload);
  return input + "." + base64url_encode(hmac_sha256(secret, input));
}

std::string make_unsigned_jwt(const nlohmann::json& payload) {
  return signing_input({{"alg", "none"}, {"typ", "JWT"}}, payload) + ".";
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace wsrelay::test
