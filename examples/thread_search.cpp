// Seed 000's "常见问题" (common problems) with kin::Thread: ten threads search a big list of
// mail lines for an address — (1) each prints what it finds; (2) "全局变量通信": the first to
// find it tells the others to stop through a shared flag; (3) "多线程检索并保存": each thread
// collects its hits and writes them to one file under a Lock, one thread at a time; (4) the
// hits are merged after join() and written once. The seed reads ./res/bigDataMail.txt; this
// program makes up 200,000 lines instead, and writes into a temporary directory it removes.
//
// Python's `global_found = True` becomes a std::atomic<bool> (C++ threads race on a plain
// bool); `with mutex:` is a std::lock_guard on a kin::Lock (threading.Lock works the same).
#include <kin/kin.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

std::vector<std::string> data_list;
constexpr int N = 10;

// The seed's split: N - 1 equal pieces and a last one with the rest.
std::pair<std::size_t, std::size_t> piece(int i) {
  const std::size_t every_piece = data_list.size() / (N - 1);
  const std::size_t begin = every_piece * static_cast<std::size_t>(i);
  return {begin, i == N - 1 ? data_list.size() : begin + every_piece};
}

template <class Body>
void run_threads(Body body) {
  std::vector<kin::Thread> thread_list;
  for (int i = 0; i < N; ++i) thread_list.emplace_back(body, i);
  for (auto& t : thread_list) t.start();
  for (auto& t : thread_list) t.join();
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  for (int i = 0; i < 200'000; ++i) {
    const char* domain = i % 97 == 0 ? "@sina.cn" : i % 89 == 0 ? "@ispeak.com" : "@qq.com";
    data_list.push_back(std::to_string(700000000 + i) + domain + "\tpw" + std::to_string(i % 9973));
  }
  const std::string search_str = "700150001@qq.com";

  std::printf("== (1) ten threads search, each prints what it finds\n");
  run_threads([&](int i) {
    auto [begin, end] = piece(i);
    for (std::size_t k = begin; k < end; ++k)
      if (data_list[k].find(search_str) != std::string::npos)
        std::printf("%s %s\n", data_list[k].c_str(), kin::current_thread().name().c_str());
  });

  std::printf("== (2) the first to find it tells the others to stop\n");
  std::atomic<bool> global_found{false};
  std::atomic<std::size_t> scanned{0};
  run_threads([&](int i) {
    auto [begin, end] = piece(i);
    std::size_t k = begin;
    for (; k < end && !global_found.load(std::memory_order_relaxed); ++k) {
      if (data_list[k].find(search_str) != std::string::npos) {
        std::printf("%s found %s\n", kin::current_thread().name().c_str(), data_list[k].c_str());
        global_found = true;
        break;
      }
    }
    scanned += k - begin;
  });
  std::printf("lines scanned: %zu of %zu\n", scanned.load(), data_list.size());

  std::string tmpl = (fs::temp_directory_path() / "kin_thread_search_XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const fs::path dir = tmpl;

  std::printf("== (3) search at once, write one thread at a time under a Lock\n");
  {
    kin::Lock mutex;
    std::ofstream save_file(dir / "sina_cn.txt");
    run_threads([&](int i) {
      auto [begin, end] = piece(i);
      std::vector<std::string> find_list;
      for (std::size_t k = begin; k < end; ++k)
        if (data_list[k].find("@sina.cn") != std::string::npos) find_list.push_back(data_list[k]);
      std::lock_guard g{mutex};  // Python: with mutex:
      for (const auto& line : find_list) save_file << line << '\n';
    });
  }

  std::printf("== (4) every thread keeps its hits; the main thread merges them after join()\n");
  {
    std::vector<std::vector<std::string>> find_lists(N);
    run_threads([&](int i) {
      auto [begin, end] = piece(i);
      for (std::size_t k = begin; k < end; ++k)
        if (data_list[k].find("@ispeak.com") != std::string::npos) find_lists[static_cast<std::size_t>(i)].push_back(data_list[k]);
    });
    std::ofstream save_file(dir / "ispeak.txt");
    std::size_t final_size = 0;
    for (const auto& l : find_lists)
      for (const auto& line : l) save_file << line << '\n', ++final_size;
    std::printf("@ispeak.com lines: %zu\n", final_size);
  }
  std::ifstream sina(dir / "sina_cn.txt");
  std::size_t sina_lines = 0;
  for (std::string line; std::getline(sina, line);) ++sina_lines;
  std::printf("@sina.cn lines: %zu\n", sina_lines);
  fs::remove_all(dir);
}
