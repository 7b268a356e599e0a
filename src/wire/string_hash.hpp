#pragma once
// A transparent hash so maps keyed by std::string can be searched with a
// string_view, without building a std::string per lookup on the hot path.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace wsrelay {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
  std::size_t operator()(const std::string& s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

}  // namespace wsrelay
