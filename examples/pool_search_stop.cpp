// The parallel search of seed 000's "常见问题" (one worker finds it, tell the others to stop)
// with a process pool: the data is split into pieces, each worker searches its piece and
// checks a shared kin::Event between lines; the first to find the address sets it, so the
// others stop early instead of scanning to the end, and the program stops reading results.
//
// Python would share a multiprocessing.Event through the pool's initializer; here the Event and
// the data are globals made before the pool starts: fork workers inherit them, and a kin::Event
// lives in shared memory, so a set() in one worker is seen by all. (A kin object cannot yet be
// a pool task's argument: that is a clear kin::ValueError at the call.)
#include <kin/kin.hpp>
#include <kin/pool.hpp>

#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

namespace {

std::vector<std::string> g_lines;  // the "bigDataMail.txt" of the seed, made up
kin::Event* g_stop = nullptr;      // made in main() before the pool, so every worker shares it

struct Found {
  int piece = -1;
  long line = -1;
  long scanned = 0;  // lines this worker looked at before it stopped
};  // trivially copyable: it travels as it is

Found search_piece(int piece, int pieces, std::string needle) {
  kin::Event& stop = *g_stop;
  const long n = static_cast<long>(g_lines.size());
  const long begin = n * piece / pieces, end = n * (piece + 1) / pieces;
  Found r{piece, -1, 0};
  for (long i = begin; i < end; ++i, ++r.scanned) {
    if ((i & 1023) == 0 && stop.is_set()) return r;  // someone else found it
    if (g_lines[static_cast<std::size_t>(i)].find(needle) != std::string::npos) {
      r.line = i;
      stop.set();
      return r;
    }
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  const long total = 2'000'000;
  g_lines.reserve(total);
  for (long i = 0; i < total; ++i) g_lines.push_back("user" + std::to_string(i) + "@example.com\tpw" + std::to_string(i * 7));
  const std::string needle = "user1500000@example.com";

  const int pieces = 10;  // as the seed's N = 10 threads
  kin::Event stop;
  g_stop = &stop;
  kin::Pool pool{4};
  std::vector<std::tuple<int, int, std::string>> work;
  for (int p = 0; p < pieces; ++p) work.emplace_back(p, pieces, needle);

  long scanned = 0;
  for (Found f : pool.imap_unordered(
           [](std::tuple<int, int, std::string> t) { return search_piece(std::get<0>(t), std::get<1>(t), std::get<2>(t)); },
           work)) {
    scanned += f.scanned;
    if (f.line >= 0) std::printf("piece %d found it at line %ld: %s\n", f.piece, f.line, g_lines[static_cast<std::size_t>(f.line)].c_str());
  }
  std::printf("lines scanned in all: %ld of %ld (the others stopped once it was found)\n", scanned, total);
  pool.close();
  pool.join();
}
