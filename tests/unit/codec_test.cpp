#include <kin/codec.hpp>  // first: the header is self-contained

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

TEST(Codec, RoundTripsAMapOfVectors) {
  std::map<std::string, std::vector<int>> m{{"a", {1, 2}}, {"b", {}}};
  EXPECT_EQ(kin::decode<decltype(m)>(kin::encode(m)), m);
}
