#pragma once
// The message of the ConfigError `f` throws, or "<no ConfigError>".
#include <string>

#include <wsrelay/config/config.hpp>

namespace wsrelay::test {

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no ConfigError>";
}

}  // namespace wsrelay::test
