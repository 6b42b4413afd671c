#include <kin/message.hpp>  // first: the header is self-contained

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {
struct Point {
  int x = 0, y = 0;
  friend bool operator==(const Point&, const Point&) = default;
};
}  // namespace

TEST(Message, HeterogeneousElements) {
  auto m = kin::make_message(42, std::string("hello"), 3.14, std::vector<std::int64_t>{1, 2});
  ASSERT_EQ(m.size(), 4u);
  EXPECT_TRUE(m.match_element<int>(0));
  EXPECT_FALSE(m.match_element<double>(0));
  EXPECT_EQ(m.get_as<int>(0), 42);
  EXPECT_EQ(m.get_as<std::string>(1), "hello");
  EXPECT_EQ(m.type_name(2), "double");
  EXPECT_EQ(m.type_name(3), "vector<int64>");
  EXPECT_THROW((void)m.get_as<std::string>(0), kin::ValueError);
  EXPECT_THROW((void)m.type_name(9), kin::IndexError);
}

TEST(Message, TravelsThroughTheCodec) {
  auto m = kin::make_message(true, std::uint8_t{7}, std::string("x"));
  auto back = kin::decode<kin::Message>(kin::encode(m));
  EXPECT_EQ(back, m);
  EXPECT_EQ(back.get_as<std::uint8_t>(1), 7);
}

TEST(Message, UserTypesMustBeRegistered) {
  EXPECT_THROW((void)kin::make_message(Point{1, 2}), kin::ValueError);
  kin::Message::register_type<Point>("Point");
  auto m = kin::make_message(Point{1, 2});
  EXPECT_EQ(m.type_name(0), "Point");
  EXPECT_EQ(kin::decode<kin::Message>(kin::encode(m)).get_as<Point>(0), (Point{1, 2}));
}

TEST(Message, UnknownTypeNamesAndMalformedBytesAreProtocolErrors) {
  kin::Message::Element e{"NoSuchType", kin::encode(1)};
  std::vector<kin::Message::Element> elements{e};
  EXPECT_THROW((void)kin::decode<kin::Message>(kin::encode(elements)), kin::ProtocolError);
  auto b = kin::encode(kin::make_message(1, 2));
  // Cut with erase, not resize(size() - 2): GCC 12 at -O1 under ASan cannot see the size is
  // >= 2 and warns (-Wstringop-overflow) about resize's growth path.
  ASSERT_GE(b.size(), 2u);
  b.erase(b.end() - 2, b.end());
  EXPECT_THROW((void)kin::decode<kin::Message>(b), kin::ProtocolError);
}

#include <kin/caf_message.hpp>

TEST(Message, ConvertsToAndFromCafMessage) {
  auto m = kin::make_message(std::int32_t{1}, std::string("two"), 3.0, true);
  caf::message cm = kin::to_caf_message(m);
  ASSERT_EQ(cm.size(), 4u);
  EXPECT_TRUE(cm.match_element<std::string>(1));
  EXPECT_EQ(cm.get_as<double>(2), 3.0);
  EXPECT_EQ(kin::from_caf_message(cm), m);
  EXPECT_THROW((void)kin::to_caf_message(kin::make_message(std::vector<std::int32_t>{1})), kin::ValueError);
}
