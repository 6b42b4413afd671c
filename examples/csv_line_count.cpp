// Port of seed 000's "count the lines of several CSV files in parallel, one Value per file".
// The program first writes five CSV files (3150, 3134, 3127, 3123 and 3117 rows, the counts of
// the tutorial's data) into a temporary directory, starts one process per file that adds 1 to
// its kin::Value for every line, prints the counts, and removes the directory.
//
// Python prints:
//   3150,3134,3127,3123,3117,
#include <kin/kin.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

void get_lines_count(std::string path, kin::Value<int> data) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto g = data.locked();
    *g += 1;
  }
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  std::string tmpl = (fs::temp_directory_path() / "kin_csv_XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  fs::path dir = tmpl;
  const int rows[] = {3150, 3134, 3127, 3123, 3117};
  std::vector<std::string> filename_list;
  for (int f = 0; f < 5; ++f) {
    std::string name = "sz00204" + std::to_string(f) + ".csv";
    std::ofstream out(dir / name);
    for (int r = 0; r < rows[f]; ++r) out << "2019-01-" << (r % 28 + 1) << ',' << 10 + r % 7 << ',' << r * 3 << '\n';
    filename_list.push_back(name);
  }

  std::vector<kin::Value<int>> data_list;
  std::vector<kin::Process> p_list;
  data_list.reserve(filename_list.size());
  p_list.reserve(filename_list.size());
  for (const auto& filename : filename_list) {
    data_list.emplace_back(0);
    p_list.emplace_back(get_lines_count, (dir / filename).string(), data_list.back());
    p_list.back().start();
  }
  for (auto& p : p_list) p.join();
  for (auto& data : data_list) std::printf("%d,", data.load());
  std::printf("\n");
  fs::remove_all(dir);
  return 0;
}
