// JWT verification with OpenSSL's EVP interface. Debian 12's libjwt (1.10)
// verifies with whatever algorithm the token's header names and has no hook
// to pick a key by "kid", so every guard here would have to wrap it anyway;
// three EVP calls per algorithm are the smaller and clearer dependency.
#include <wsrelay/auth/jwt.hpp>

#include <algorithm>
#include <array>
#include <fstream>
#include <iterator>

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <nlohmann/json.hpp>

#include <wsrelay/config/config.hpp>
#include <wsrelay/wire/auth_rules.hpp>
#include <wsrelay/wire/printable.hpp>

namespace wsrelay {

struct JwtVerifier::Key {
  JwtKeySpec spec;
  std::string secret;        // HS256
  EVP_PKEY* pkey = nullptr;  // RS256, ES256
  ~Key() { EVP_PKEY_free(pkey); }
};

namespace {

using json = nlohmann::json;

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::size_t kMinSecretBytes = 32;  // RFC 7518 §3.2: at least the hash size
constexpr std::size_t kMaxTokenBytes = 16384;

ConfigError key_error(const JwtKeySpec& spec, std::string_view what) {
  return ConfigError(fmt::format("auth.jwt_keys: {} ({}): {}", spec.path, spec.alg, what));
}

std::string read_file(const JwtKeySpec& spec) {
  std::ifstream in(spec.path, std::ios::binary);
  if (!in) throw key_error(spec, "cannot read the file");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

EVP_PKEY* load_public_key(const JwtKeySpec& spec, const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* pkey = bio ? PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (!pkey) throw key_error(spec, "not a PEM public key (-----BEGIN PUBLIC KEY-----)");
  if (spec.alg == "RS256") {
    if (!EVP_PKEY_is_a(pkey, "RSA") || EVP_PKEY_get_bits(pkey) < 2048) {
      EVP_PKEY_free(pkey);
      throw key_error(spec, "RS256 needs an RSA public key of at least 2048 bits");
    }
  } else {
    std::array<char, 64> group{};
    std::size_t length = 0;
    if (!EVP_PKEY_is_a(pkey, "EC") ||
        EVP_PKEY_get_group_name(pkey, group.data(), group.size(), &length) != 1 ||
        std::string_view(group.data(), length) != "prime256v1") {
      EVP_PKEY_free(pkey);
      throw key_error(spec, "ES256 needs an EC public key on the P-256 curve");
    }
  }
  return pkey;
}

bool verify_hs256(const std::string& secret, std::string_view input, std::string_view signature) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned length = 0;
  if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
            reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(),
            &length))
    return false;
  return signature.size() == length && CRYPTO_memcmp(mac.data(), signature.data(), length) == 0;
}

bool verify_digest(EVP_PKEY* pkey, std::string_view input, const std::string& signature) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

// JWS carries an ES256 signature as R || S, 32 bytes each (RFC 7518 §3.4);
// OpenSSL wants DER.
std::optional<std::string> es256_to_der(std::string_view raw) {
  if (raw.size() != 64) return std::nullopt;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  const int length = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (length <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(length));
  OPENSSL_free(der);
  return out;
}

std::optional<std::string> string_claim(const json& payload, const std::string& name) {
  if (name.empty()) return std::nullopt;
  auto it = payload.find(name);
  if (it == payload.end()) return std::nullopt;
  if (it->is_string() && !it->get_ref<const std::string&>().empty()) return it->get<std::string>();
  if (it->is_number_integer()) return it->dump();
  return std::nullopt;
}

bool audience_matches(const json& payload, const std::string& audience) {
  auto it = payload.find("aud");
  if (it == payload.end()) return false;
  if (it->is_string()) return it->get_ref<const std::string&>() == audience;
  if (!it->is_array()) return false;
  return std::any_of(it->begin(), it->end(), [&](const json& a) {
    return a.is_string() && a.get_ref<const std::string&>() == audience;
  });
}

// Checks exp/nbf/aud/iss; returns the reason the token is not valid now.
std::string check_registered_claims(const json& payload, const JwtSettings& settings,
                                    std::int64_t now) {
  const double leeway = settings.leeway_seconds;
  if (auto it = payload.find("exp"); it != payload.end()) {
    if (!it->is_number()) return "exp is not a number";
    if (static_cast<double>(now) >= it->get<double>() + leeway) return "token expired";
  }
  if (auto it = payload.find("nbf"); it != payload.end()) {
    if (!it->is_number()) return "nbf is not a number";
    if (static_cast<double>(now) + leeway < it->get<double>()) return "token not yet valid";
  }
  if (!settings.audience.empty() && !audience_matches(payload, settings.audience))
    return "wrong audience";
  if (!settings.issuer.empty()) {
    auto it = payload.find("iss");
    if (it == payload.end() || !it->is_string() ||
        it->get_ref<const std::string&>() != settings.issuer)
      return "wrong issuer";
  }
  return {};
}

// Maps the identity and allow claims; returns false with `error` set when a
// claim has the wrong shape (a token the issuer did not mean).
bool map_claims(const json& payload, const JwtSettings& settings, std::string_view facility,
                JwtGrant& grant, std::string& error) {
  grant.identity.user = string_claim(payload, settings.user_claim);
  grant.identity.session = string_claim(payload, settings.session_claim);
  if (auto it = payload.find(settings.groups_claim);
      !settings.groups_claim.empty() && it != payload.end()) {
    if (it->is_string()) {
      grant.identity.groups.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      for (const json& g : *it)
        if (g.is_string() && !g.get_ref<const std::string&>().empty())
          grant.identity.groups.push_back(g.get<std::string>());
    } else {
      error = "groups claim is neither a string nor an array";
      return false;
    }
  }
  auto it = payload.find(settings.allow_claim);
  if (settings.allow_claim.empty() || it == payload.end()) {
    grant.allowed = all_flags;
    return true;
  }
  if (!it->is_object()) {
    error = "allow claim is not an object";
    return false;
  }
  std::vector<AllowEntry> map;
  for (const auto& [pattern, words] : it->items()) {
    AllowEntry entry{pattern, 0};
    if (!words.is_array()) {
      error = "allow claim entries must be arrays of flag names";
      return false;
    }
    for (const json& word : words)
      if (word.is_string())
        if (auto flags = flags_from_word(word.get_ref<const std::string&>())) entry.flags |= *flags;
    map.push_back(std::move(entry));
  }
  grant.allowed = allowed_for(map, facility);
  return true;
}

}  // namespace

JwtVerifier::JwtVerifier(JwtSettings settings) : settings_(std::move(settings)) {
  for (const JwtKeySpec& spec : settings_.keys) {
    auto key = std::make_unique<Key>();
    key->spec = spec;
    std::string content = read_file(spec);
    if (spec.alg == "HS256") {
      if (content.size() >= 1 && content.back() == '\n') content.pop_back();
      if (content.size() >= 1 && content.back() == '\r') content.pop_back();
      if (content.size() < kMinSecretBytes)
        throw key_error(spec, fmt::format("an HS256 secret must be at least {} bytes, got {}",
                                          kMinSecretBytes, content.size()));
      key->secret = std::move(content);
    } else {
      key->pkey = load_public_key(spec, content);
    }
    keys_.push_back(std::move(key));
  }
}

JwtVerifier::~JwtVerifier() = default;

std::optional<JwtGrant> JwtVerifier::verify(std::string_view token, std::string_view facility,
                                            std::int64_t now, std::string& error) const {
  const auto fail = [&error](std::string reason) -> std::optional<JwtGrant> {
    error = std::move(reason);
    return std::nullopt;
  };
  if (token.size() > kMaxTokenBytes) return fail("token too long");
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return fail("malformed token");
  auto header_text = base64url_decode(token.substr(0, dot1));
  auto payload_text = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = base64url_decode(token.substr(dot2 + 1));
  if (!header_text || !payload_text || !signature) return fail("malformed token");
  const json header = json::parse(*header_text, nullptr, false);
  const json payload = json::parse(*payload_text, nullptr, false);
  if (!header.is_object() || !payload.is_object()) return fail("malformed token");

  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string()) return fail("token without alg");
  const std::string& algorithm = alg->get_ref<const std::string&>();
  std::string kid;
  if (auto k = header.find("kid"); k != header.end()) {
    if (!k->is_string()) return fail("kid is not a string");
    kid = k->get<std::string>();
  }
  const bool any_kid = std::any_of(keys_.begin(), keys_.end(),
                                   [](const auto& key) { return !key->spec.kid.empty(); });
  const std::string_view input = token.substr(0, dot2);
  bool kid_found = false;
  bool candidate = false;
  bool verified = false;
  for (const auto& key : keys_) {
    // A kid selects its key; without one (or with no kid configured at all)
    // every key of the token's algorithm is tried, which is what rotation
    // without kids needs.
    if (!kid.empty() && any_kid && key->spec.kid != kid) continue;
    kid_found = true;
    if (key->spec.alg != algorithm) continue;
    candidate = true;
    if (algorithm == "HS256") {
      verified = verify_hs256(key->secret, input, *signature);
    } else if (algorithm == "RS256") {
      verified = verify_digest(key->pkey, input, *signature);
    } else {
      auto der = es256_to_der(*signature);
      verified = der && verify_digest(key->pkey, input, *der);
    }
    if (verified) break;
  }
  if (!candidate) {
    // Both come from the token: they end up in the 401 body and the log.
    if (!kid_found) return fail(fmt::format("unknown key id \"{}\"", printable(kid, 64)));
    return fail(fmt::format("algorithm \"{}\" not accepted", printable(algorithm, 64)));
  }
  if (!verified) return fail("bad signature");
  if (auto reason = check_registered_claims(payload, settings_, now); !reason.empty())
    return fail(reason);
  JwtGrant grant;
  if (!map_claims(payload, settings_, facility, grant, error)) return std::nullopt;
  return grant;
}

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(buffer >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (6 - bits)) & 0x3f];
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    const auto value = kAlphabet.find(c);
    if (value == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  // The unused low bits of the last character must be zero (RFC 4648 §3.5):
  // otherwise several texts decode to the same bytes, and a signed token
  // could be altered without breaking its signature.
  if (bits > 0 && (buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

}  // namespace wsrelay
