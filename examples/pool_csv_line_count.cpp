// Seed 000's CSV line counting, done the way a pool user would: one task per file, the counts
// come back as results (no shared Value, no Manager list), in input order with map and with a
// progress bar with imap. The program writes its own CSV files (the tutorial's 3150, 3134,
// 3127, 3123, 3117 rows, then 40 more small ones for the progress bar) into a temporary
// directory and removes it at the end.
//
// Python:
//   with Pool(4) as pool:
//       print(pool.map(get_lines_count, paths))          # [3150, 3134, 3127, 3123, 3117]
//       for n in tqdm(pool.imap(get_lines_count, more), total=len(more)): total += n
#include <kin/kin.hpp>
#include <kin/pool.hpp>
#include <kin/progress.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

int get_lines_count(std::string path) {
  std::ifstream in(path);
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

std::string write_csv(const fs::path& dir, const std::string& name, int rows) {
  std::ofstream out(dir / name);
  for (int r = 0; r < rows; ++r) out << "2019-01-" << (r % 28 + 1) << ',' << 10 + r % 7 << ',' << r * 3 << '\n';
  return (dir / name).string();
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  std::string tmpl = (fs::temp_directory_path() / "kin_pool_csv_XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const fs::path dir = tmpl;
  std::vector<std::string> paths;
  const int rows[] = {3150, 3134, 3127, 3123, 3117};
  for (int f = 0; f < 5; ++f) paths.push_back(write_csv(dir, "sz00204" + std::to_string(f) + ".csv", rows[f]));
  std::vector<std::string> more;
  for (int f = 0; f < 40; ++f) more.push_back(write_csv(dir, "more" + std::to_string(f) + ".csv", 1000 + f));

  {
    kin::Pool pool{4};
    std::printf("map: [");
    const char* sep = "";
    for (int n : pool.map(get_lines_count, paths)) {
      std::printf("%s%d", sep, n);
      sep = ", ";
    }
    std::printf("]\n");

    long total = 0;
    for (int n : kin::progress(pool.imap(get_lines_count, more), kin::ProgressOptions{.total = more.size(), .desc = "files"}))
      total += n;
    std::printf("imap over %zu more files: %ld lines\n", more.size(), total);
  }  // leaving the scope terminates the pool, as Python's `with` block does

  fs::remove_all(dir);
  return 0;
}
