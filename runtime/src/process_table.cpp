#include <kin/runtime/process_table.hpp>

#include <cstdio>
#include <cstring>

namespace kin::detail {

namespace {
// Reads /proc/<pid>/stat; returns false when the process does not exist.
bool read_stat(std::int32_t pid, char& state, std::uint64_t& start_time) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE* f = std::fopen(path, "re");
  if (f == nullptr) return false;
  char buf[1024];
  std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return false;
  ++p;
  char st = 0;
  unsigned long long start = 0;
  // fields 3 (state) .. 22 (starttime): skip 18 fields in between.
  if (std::sscanf(p, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                  &st, &start) != 2)
    return false;
  state = st;
  start_time = start;
  return true;
}
}  // namespace

bool process_is_dead(std::int32_t pid, std::uint64_t start_time) {
  if (pid <= 0) return false;
  char state = 0;
  std::uint64_t start = 0;
  if (!read_stat(pid, state, start)) return true;
  if (state == 'Z' || state == 'X') return true;
  return start_time != 0 && start != start_time;
}

std::uint64_t process_start_time(std::int32_t pid) {
  char state = 0;
  std::uint64_t start = 0;
  return read_stat(pid, state, start) ? start : 0;
}

}  // namespace kin::detail
