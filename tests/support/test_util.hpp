// Small helpers every kind of test uses: a temporary directory removed at the end, a bounded
// wait for a condition, reading a whole file, a process's state letter, and a shared-memory
// registry of the test's own.
//
//   kin::testing::TempDir d;                       // /tmp/kin-test-XXXXXX, removed with d
//   std::string f = d / "out.log";
//   EXPECT_TRUE(kin::testing::eventually([&] { return kin::testing::slurp(f) == "x\n"; }));
#pragma once

#include <stdlib.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace kin::testing {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/kin-test-XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    if (p == nullptr) throw std::runtime_error("mkdtemp failed");
    path = std::filesystem::canonical(p);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& f) const { return (path / f).string(); }
};

/// Points $KIN_SHM_REGISTRY_DIR at a fresh private directory while it lives, so no other kin
/// program on the machine (a test running beside this one) reclaims this test's dead creators
/// first: a test that checks what a scan reclaims needs one.
struct PrivateShmRegistry {
  TempDir dir;
  PrivateShmRegistry() { ::setenv("KIN_SHM_REGISTRY_DIR", dir.path.c_str(), 1); }
  PrivateShmRegistry(const PrivateShmRegistry&) = delete;
  PrivateShmRegistry& operator=(const PrivateShmRegistry&) = delete;
  ~PrivateShmRegistry() { ::unsetenv("KIN_SHM_REGISTRY_DIR"); }
  [[nodiscard]] std::string path() const { return dir.path.string(); }
};

/// Polls `pred` until it holds or `bound` has passed; the last answer of `pred`.
inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds bound = std::chrono::seconds(10),
                       std::chrono::milliseconds every = std::chrono::milliseconds(5)) {
  auto end = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(every);
  }
  return pred();
}

/// The whole file; "" when it cannot be read.
inline std::string slurp(const std::string& file) {
  std::ifstream f(file);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

/// The state letter of /proc/<pid>/stat ('T' once stopped, 'Z' a zombie), '?' if unreadable.
inline char proc_state(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(f, line);
  const auto close = line.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos || close + 2 >= line.size()) return '?';
  return line[close + 2];
}

}  // namespace kin::testing
