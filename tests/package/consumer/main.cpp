// Round-trips a value through kin's codec; exits 0 when kin is usable from outside.
#include <kin/codec.hpp>

#include <cstdio>
#include <map>
#include <string>

int main() {
  std::map<std::string, int> m{{"a", 1}, {"b", 2}};
  auto back = kin::decode<std::map<std::string, int>>(kin::encode(m));
  std::puts(back == m ? "kin consumer: ok" : "kin consumer: MISMATCH");
  return back == m ? 0 : 1;
}
