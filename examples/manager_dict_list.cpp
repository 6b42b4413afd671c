// Port of seeds 000 and 003's Manager examples: a dict and a list kept by a manager process,
// filled by several processes, printed by the parent.
//
//   with Manager() as manager:
//       dic = manager.dict(); l = manager.list(range(5))
//       for i in range(10): Process(target=fun1, args=(dic, l, i)).start() ... join()
//       print(dic); print(l)
//
// Output (the list's tail in the order the processes ran):
//   {0: a, 1: a, 2: b, 3: a, 4: a, 5: a, 6: a, 7: a, 8: a, 9: a, name: grey}
//   [0, 1, 2, 3, 4, 110, <0..9 in some order>]
#include <kin/kin.hpp>
#include <kin/manager.hpp>

#include <cstdio>
#include <string>
#include <vector>

// dic[index] = 'a'; dic['2'] = 'b'; lis.append(index)
void fun1(kin::DictProxy<std::string, std::string> dic, kin::ListProxy<int> lis, int index) {
  dic[std::to_string(index)] = "a";
  dic["2"] = "b";
  lis.append(index);
}

// seed 000: mydict["name"] = "grey"; mylist.append(110)
void func(kin::DictProxy<std::string, std::string> mydict, kin::ListProxy<int> mylist) {
  mydict["name"] = "grey";
  mylist.append(110);
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  kin::Manager manager;
  auto dic = manager.dict<std::string, std::string>();
  auto l = manager.list<int>();
  l.extend(std::vector<int>{0, 1, 2, 3, 4});

  kin::Process first{func, dic, l};
  first.start();
  first.join();

  std::vector<kin::Process> process_list;
  for (int i = 0; i < 10; ++i) process_list.emplace_back(fun1, dic, l, i);
  for (auto& p : process_list) p.start();
  for (auto& p : process_list) p.join();

  std::printf("{");
  bool comma = false;
  for (const auto& [k, v] : dic.to_map()) {
    std::printf("%s%s: %s", comma ? ", " : "", k.c_str(), v.c_str());
    comma = true;
  }
  std::printf("}\n[");
  comma = false;
  for (int x : l.to_vector()) {
    std::printf("%s%d", comma ? ", " : "", x);
    comma = true;
  }
  std::printf("]\n");
}
