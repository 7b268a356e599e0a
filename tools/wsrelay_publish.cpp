// wsrelay-publish (src/publish_cli.cpp): main only.
#include <iostream>
#include <map>
#include <string>

#include <wsrelay/publisher/publish_cli.hpp>

extern char** environ;

int main(int argc, char** argv) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    if (const auto eq = entry.find('='); eq != std::string::npos)
      env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  std::ios::sync_with_stdio(false);
  return wsrelay::publish_main(argc, argv, std::cin, std::cout, std::cerr, env);
}
