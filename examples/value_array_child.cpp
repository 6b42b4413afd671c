// Port of seed 004's shared-memory example: a child process writes a kin::Value<double> and
// negates a kin::Array<int>; the parent sees both changes. Then the seed's shared string,
// `str_val = mp.Value(c_char_p, b"Hello World")`: a c_char_p Value holds a *pointer*, which
// means nothing in another process (Python's docs warn of it); kin shares the characters
// themselves, in a fixed-size kin::Array<char> (a kin::Value<std::array<char, N>> works too).
//
// Python prints:
//   3.1415927
//   [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]
// and this port then: Hello World
#include <kin/kin.hpp>

#include <charconv>
#include <cstdio>
#include <numeric>
#include <vector>

void f(kin::Value<double> n, kin::Array<int> a) {
  n.store(3.1415927);
  for (int i : a.to_vector()) a[static_cast<std::size_t>(i)] = -a[static_cast<std::size_t>(i)];
}

void greet(kin::Array<char> s) {
  const char text[] = "Hello World";
  for (std::size_t i = 0; i < sizeof text && i < s.size(); ++i) s[i] = text[i];
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  kin::Value<double> num{0.0};
  std::vector<int> range(10);
  std::iota(range.begin(), range.end(), 0);
  kin::Array<int> arr{range};

  kin::Process p{f, num, arr};
  p.start();
  p.join();

  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, num.load());  // shortest, like Python
  std::printf("%.*s\n", static_cast<int>(end - buf), buf);
  std::printf("[");
  auto values = arr.to_vector();
  for (std::size_t i = 0; i < values.size(); ++i) std::printf("%s%d", i ? ", " : "", values[i]);
  std::printf("]\n");

  kin::Array<char> str_val{std::vector<char>(32, '\0')};
  kin::Process g{greet, str_val};
  g.start();
  g.join();
  std::printf("%s\n", str_val.to_vector().data());
  return 0;
}
