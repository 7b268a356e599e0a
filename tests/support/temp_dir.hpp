#pragma once
// A private directory under $TMPDIR (or /tmp) for one test's files: logs,
// ready files, Redis's working directory. Removed when the object goes away,
// unless WSRELAY_TEST_KEEP_FILES is set in the environment (for post-mortems).
#include <string>

namespace wsrelay::test {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "wsrelay-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name; the file is not created.
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A whole file as a string ("" when it cannot be read), and a file written
// whole (replaced; throws std::runtime_error when it cannot be). For the configuration files the
// deployment tests adapt.
std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& text);

}  // namespace wsrelay::test
