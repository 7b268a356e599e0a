#pragma once
// Redis replies built by hand, for the units that read them.
#include <string>
#include <utility>
#include <vector>

#include <wsrelay/wire/resp.hpp>

namespace wsrelay::test {

inline RespValue bulk(std::string s) {
  RespValue v;
  v.type = RespValue::Type::string;
  v.str = std::move(s);
  return v;
}
inline RespValue integer(long long n) {
  RespValue v;
  v.type = RespValue::Type::integer;
  v.integer = n;
  return v;
}
inline RespValue array(std::vector<RespValue> elements) {
  RespValue v;
  v.type = RespValue::Type::array;
  v.elements = std::move(elements);
  return v;
}

}  // namespace wsrelay::test
