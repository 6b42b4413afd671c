// Port of seed 000's "count the lines of several CSV files in parallel": one process per file,
// the counts gathered three ways, as the seed's three programs do — a Value per file, one
// Manager().list() every child appends to, and one Manager().dict() keyed by file name.
// The program first writes five CSV files (3150, 3134, 3127, 3123 and 3117 rows, the counts of
// the tutorial's data) into a temporary directory, and removes the directory at the end.
//
// Python prints:
//   3150,3134,3127,3123,3117,
//   [3123, 3127, 3117, 3134, 3150]           (the list: in the order the children finished)
//   {'sz002040.csv': 3150, ...}              (the dict)
#include <kin/kin.hpp>
#include <kin/manager.hpp>

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

int count_lines(const std::string& path) {
  std::ifstream in(path);
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

// with Manager().list(): my_list.append(lines)
void append_lines_count(std::string path, kin::ListProxy<int> my_list) { my_list.append(count_lines(path)); }

// with Manager().dict(): my_dict[filename] = lines
void store_lines_count(std::string dir, std::string filename, kin::DictProxy<std::string, int> my_dict) {
  my_dict[filename] = count_lines(dir + "/" + filename);
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

  {
    kin::Manager m;
    auto counts = m.list<int>();
    std::vector<kin::Process> ps;
    for (const auto& filename : filename_list) ps.emplace_back(append_lines_count, (dir / filename).string(), counts);
    for (auto& p : ps) p.start();
    for (auto& p : ps) p.join();
    std::printf("[");
    bool comma = false;
    for (int c : counts.to_vector()) {
      std::printf("%s%d", comma ? ", " : "", c);
      comma = true;
    }
    std::printf("]\n");

    auto data_dict = m.dict<std::string, int>();
    std::vector<kin::Process> pd;
    for (const auto& filename : filename_list) pd.emplace_back(store_lines_count, dir.string(), filename, data_dict);
    for (auto& p : pd) p.start();
    for (auto& p : pd) p.join();
    std::printf("{");
    comma = false;
    for (const auto& [name, lines] : data_dict.to_map()) {
      std::printf("%s'%s': %d", comma ? ", " : "", name.c_str(), lines);
      comma = true;
    }
    std::printf("}\n");
  }
  fs::remove_all(dir);
  return 0;
}
