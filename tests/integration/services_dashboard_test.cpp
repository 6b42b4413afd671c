// kin::services::Dashboard over real HTTP against a real Daemon (sh scripts): the JSON API, the
// SSE stream, the token and Host/Origin guards, bounded requests, prompt close — and the page
// itself in headless Chromium driven over W3C WebDriver (chromedriver), with a screenshot kept.
#include <kin/errors.hpp>
#include <kin/popen.hpp>
#include <kin/services/daemon.hpp>
#include <kin/services/dashboard.hpp>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/http.hpp>
#include "services_test_util.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace std::chrono_literals;
namespace ks = kin::services;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using nlohmann::json;

using kin::testing::eventually;
using kin::testing::slurp;
using kin::testing::TempDir;

namespace {

// A crashing service that restarts quickly and without end, and a sleeper.
ks::Config config_in(const TempDir& d) {
  auto crasher = kin::testing::sh_service("crasher", "echo crashing; sleep 0.2; exit 1");
  crasher.backoff.initial = 50ms;
  crasher.backoff.max = 100ms;
  crasher.max_restarts = 10000;
  return kin::testing::config_in(d, {crasher, kin::testing::sh_service("sleeper", "exec sleep 100")});
}

using kin::testing::quiet;

struct Reply {
  int status = 0;
  std::string body;
  json j() const { return json::parse(body); }
};

Reply request(std::uint16_t port, http::verb verb, const std::string& target,
              std::vector<std::pair<std::string, std::string>> headers = {}, const std::string& body = {},
              const std::string& host = "") {
  net::io_context ioc;
  beast::tcp_stream s{ioc};
  s.expires_after(10s);
  s.connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port});
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, host.empty() ? "127.0.0.1:" + std::to_string(port) : host);
  for (auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  // A request refused early (e.g. 431) may be closed on before all of it is written: the
  // answer is read anyway.
  beast::error_code write_error;
  http::write(s, req, write_error);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> p;
  p.body_limit(64 * 1024 * 1024);
  http::read(s, buf, p);
  return {static_cast<int>(p.get().result_int()), p.get().body()};
}

Reply get(std::uint16_t port, const std::string& t) { return request(port, http::verb::get, t); }

}  // namespace

TEST(ServicesDashboard, StatusTreeTimelineLogsAndPage) {
  TempDir d;
  ks::Daemon daemon{config_in(d), quiet()};
  ks::Dashboard web{daemon, {.listen = "127.0.0.1:0", .token = "tok"}};
  ASSERT_GT(web.port(), 0);
  EXPECT_EQ(web.url(), "http://127.0.0.1:" + std::to_string(web.port()) + "/");
  auto page = get(web.port(), "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("EventSource"), std::string::npos);
  ASSERT_TRUE(eventually([&] {
    auto st = get(web.port(), "/api/status").j();
    for (auto& s : st)
      if (s["name"] == "sleeper" && s["state"] == "RUNNING" && s["pid"].get<int>() > 0) return true;
    return false;
  }));
  auto st = get(web.port(), "/api/status").j();
  ASSERT_EQ(st.size(), 2u);
  for (const char* k : {"name", "service", "group", "state", "ready", "pid", "uptime_ms", "restarts", "last_exit",
                        "last_reason", "cpu_percent", "rss_bytes"})
    EXPECT_TRUE(st[0].contains(k)) << k;
  ASSERT_TRUE(eventually([&] {
    for (auto& s : get(web.port(), "/api/status").j())
      if (s["name"] == "crasher" && s["restarts"].get<int>() >= 1) return s["last_exit"] == "exit 1";
    return false;
  }));
  auto tree = get(web.port(), "/api/tree").j();
  ASSERT_EQ(tree.size(), 1u);
  EXPECT_EQ(tree[0]["services"].size(), 2u);
  auto tl = get(web.port(), "/api/timeline?n=5").j();
  EXPECT_GE(tl.size(), 1u);
  EXPECT_LE(tl.size(), 5u);
  EXPECT_TRUE(eventually([&] {
    auto l = get(web.port(), "/api/logs/crasher?n=3").j();
    return !l.empty() && l[0] == "crashing";
  }));
  EXPECT_EQ(get(web.port(), "/api/logs/nosuch").status, 404);
  EXPECT_EQ(get(web.port(), "/nosuch").status, 404);
}

TEST(ServicesDashboard, ActionsNeedTokenAndOwnOrigin) {
  TempDir d;
  ks::Daemon daemon{config_in(d), quiet()};
  ks::Dashboard web{daemon, {.listen = "127.0.0.1:0", .token = "tok"}};
  auto p = web.port();
  EXPECT_EQ(request(p, http::verb::post, "/api/services/sleeper/stop").status, 401);
  EXPECT_EQ(request(p, http::verb::post, "/api/services/sleeper/stop", {{"Authorization", "Bearer bad"}}).status, 401);
  EXPECT_EQ(request(p, http::verb::post, "/api/services/sleeper/stop",
                    {{"Authorization", "Bearer tok"}, {"Origin", "http://evil.example"}})
                .status,
            403);
  EXPECT_EQ(request(p, http::verb::post, "/api/services/sleeper/stop", {{"Authorization", "Bearer tok"}}, "",
                    "evil.example:80")
                .status,
            403);
  EXPECT_EQ(request(p, http::verb::get, "/api/status", {}, "", "rebound.example:" + std::to_string(p)).status, 403);
  EXPECT_EQ(request(p, http::verb::post, "/api/services/nosuch/stop", {{"Authorization", "Bearer tok"}}).status, 404);
  auto ok = request(p, http::verb::post, "/api/services/sleeper/stop?token=tok",
                    {{"Origin", "http://127.0.0.1:" + std::to_string(p)}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.j()["ok"], true);
  EXPECT_TRUE(eventually([&] { return daemon.status("sleeper").at(0).state == "STOPPED"; }));
  EXPECT_EQ(request(p, http::verb::post, "/api/services/sleeper/start", {{"Authorization", "Bearer tok"}}).status, 200);
  EXPECT_TRUE(eventually([&] { return daemon.status("sleeper").at(0).state == "RUNNING"; }));
}

TEST(ServicesDashboard, NoTokenMeansReadOnlyAndLoopbackOnly) {
  TempDir d;
  ks::Daemon daemon{config_in(d), quiet()};
  EXPECT_THROW((ks::Dashboard{daemon, {.listen = "0.0.0.0:0"}}), kin::ValueError);
  EXPECT_THROW((ks::Dashboard{daemon, {.listen = "nonsense"}}), kin::ValueError);
  EXPECT_THROW((ks::Dashboard{daemon, {.listen = "127.0.0.1:99999"}}), kin::ValueError);
  ks::Dashboard web{daemon, {.listen = "127.0.0.1:0"}};
  EXPECT_EQ(get(web.port(), "/api/status").status, 200);
  EXPECT_EQ(request(web.port(), http::verb::post, "/api/services/sleeper/stop").status, 401);
  ks::Dashboard open{daemon, {.listen = "0.0.0.0:0", .token = "tok"}};  // off loopback: reads need it too
  EXPECT_EQ(get(open.port(), "/api/status").status, 401);
  EXPECT_EQ(get(open.port(), "/api/status?token=tok").status, 200);
}

TEST(ServicesDashboard, OversizedAndBadRequestsRefused) {
  TempDir d;
  ks::Daemon daemon{config_in(d), quiet()};
  ks::Dashboard web{daemon, {.listen = "127.0.0.1:0", .token = "tok"}};
  {
    // Refused on its header (Content-Length over the limit) before any of the body is read;
    // sending the body as well would race the server's close (EPIPE / ECONNRESET).
    net::io_context ioc;
    beast::tcp_stream s{ioc};
    s.expires_after(10s);
    s.connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), web.port()});
    const std::string head = "POST /api/services/sleeper/stop HTTP/1.1\r\nHost: 127.0.0.1:" +
                             std::to_string(web.port()) +
                             "\r\nAuthorization: Bearer tok\r\nContent-Length: 1048576\r\n\r\n";
    net::write(s, net::buffer(head));
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(s, buf, res);
    EXPECT_EQ(res.result_int(), 413u);
  }
  EXPECT_EQ(request(web.port(), http::verb::get, "/api/status", {{"X-Big", std::string(16 * 1024, 'y')}}).status, 431);
  EXPECT_EQ(request(web.port(), http::verb::delete_, "/api/status").status, 405);
  // garbage instead of HTTP
  net::io_context ioc;
  beast::tcp_stream s{ioc};
  s.expires_after(10s);
  s.connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), web.port()});
  net::write(s, net::buffer(std::string("\x01\x02 garbage\r\n\r\n")));
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res);
  EXPECT_EQ(res.result_int(), 400u);
}

TEST(ServicesDashboard, EventsStreamDeliversRestartsAndCloseIsPrompt) {
  TempDir d;
  ks::Daemon daemon{config_in(d), quiet()};
  auto web = std::make_unique<ks::Dashboard>(daemon, ks::DashboardOptions{.listen = "127.0.0.1:0", .token = "tok"});
  net::io_context ioc;
  std::vector<std::unique_ptr<beast::tcp_stream>> clients;
  for (int i = 0; i < 8; ++i) {
    auto s = std::make_unique<beast::tcp_stream>(ioc);
    s->connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), web->port()});
    net::write(*s, net::buffer("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(web->port()) + "\r\n\r\n"));
    clients.push_back(std::move(s));
  }
  std::string got;
  bool status = false, exited = false;
  auto end = std::chrono::steady_clock::now() + 10s;
  while ((!status || !exited) && std::chrono::steady_clock::now() < end) {
    char b[4096];
    clients[0]->expires_after(10s);
    auto n = clients[0]->read_some(net::buffer(b));
    got.append(b, n);
    status = got.find("\"type\":\"status\"") != std::string::npos;
    exited = got.find("\"event\":\"exited\"") != std::string::npos && got.find("\"crasher\"") != std::string::npos;
  }
  EXPECT_NE(got.find("text/event-stream"), std::string::npos);
  EXPECT_TRUE(status);
  EXPECT_TRUE(exited) << got.substr(0, 2000);
  auto t0 = std::chrono::steady_clock::now();
  web.reset();  // with 8 SSE clients open
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  for (auto& c : clients) {  // each sees its stream end
    char b[4096];
    beast::error_code ec;
    c->expires_after(5s);
    while (!ec) c->socket().read_some(net::buffer(b), ec);
    EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
  }
}

// ---- the page in a real browser -------------------------------------------------------------

namespace {

struct WebDriver {
  std::uint16_t port = 0;
  std::string session;
  Reply call(http::verb v, const std::string& path, const json& body = json::object()) {
    return request(port, v, path, {{"Content-Type", "application/json"}}, v == http::verb::post ? body.dump() : "",
                   "127.0.0.1:" + std::to_string(port));
  }
  json value(http::verb v, const std::string& path, const json& body = json::object()) {
    auto r = call(v, path, body);
    if (r.status != 200) throw std::runtime_error("webdriver " + path + ": " + std::to_string(r.status) + " " + r.body);
    return json::parse(r.body)["value"];
  }
  std::string s(const std::string& rest) { return "/session/" + session + rest; }
  std::string text(const std::string& css) {
    auto r = call(http::verb::post, s("/element"), {{"using", "css selector"}, {"value", css}});
    if (r.status != 200) return {};
    auto el = json::parse(r.body)["value"].begin().value().get<std::string>();
    auto t = call(http::verb::get, s("/element/" + el + "/text"));
    return t.status == 200 ? json::parse(t.body)["value"].get<std::string>() : std::string{};
  }
};

std::uint16_t free_port() {
  net::io_context ioc;
  tcp::acceptor a{ioc, tcp::endpoint{net::ip::make_address("127.0.0.1"), 0}};
  return a.local_endpoint().port();
}

}  // namespace

TEST(ServicesDashboard, BrowserSeesRestartsAndStops) {
  if (::access("/usr/bin/chromium", X_OK) != 0 || ::access("/usr/bin/chromedriver", X_OK) != 0)
    GTEST_SKIP() << "no /usr/bin/chromium or /usr/bin/chromedriver (Debian's chromium, chromium-driver)";
  TempDir d;
  ks::Daemon daemon{config_in(d), quiet()};
  ks::Dashboard web{daemon, {.listen = "127.0.0.1:0", .token = "tok"}};

  WebDriver wd;
  wd.port = free_port();
  // A session of its own: chromium's many processes are in it and go with it.
  kin::Popen driver{{"/usr/bin/chromedriver", "--port=" + std::to_string(wd.port), "--log-level=OFF"},
                    {.start_new_session = true}};
  struct Reap {
    kin::Popen& p;
    ~Reap() {
      p.send_signal_to_group(SIGKILL);
      p.wait();
    }
  } reap{driver};

  ASSERT_TRUE(eventually([&] {
    try {
      return wd.call(http::verb::get, "/status").status == 200;
    } catch (const std::exception&) {
      return false;
    }
  })) << "chromedriver did not come up";
  json caps = {{"capabilities",
                {{"alwaysMatch",
                  {{"goog:chromeOptions",
                    {{"binary", "/usr/bin/chromium"},
                     {"args",
                      {"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                       "--disable-background-networking", "--disable-component-update", "--disable-sync",
                       "--window-size=1200,800", "--user-data-dir=" + (d / "profile")}}}}}}}}};
  auto sess = wd.value(http::verb::post, "/session", caps);
  wd.session = sess["sessionId"].get<std::string>();
  ASSERT_FALSE(wd.session.empty());

  wd.value(http::verb::post, wd.s("/url"), {{"url", web.url() + "?token=tok"}});
  int first = -1;
  ASSERT_TRUE(eventually(
      [&] {
        auto t = wd.text("tr[data-name=\"crasher\"] .restarts");
        if (t.empty()) return false;
        int n = std::stoi(t);
        if (first < 0) first = n;
        return n > first;
      },
      20s))
      << "the page never showed the crasher's restart count rise";
  EXPECT_EQ(wd.text("tr[data-name=\"sleeper\"] .state"), "RUNNING");

  auto btn = wd.value(http::verb::post, wd.s("/element"),
                      {{"using", "css selector"}, {"value", "button[data-action=\"stop\"][data-name=\"crasher\"]"}});
  wd.value(http::verb::post, wd.s("/element/" + btn.begin().value().get<std::string>() + "/click"));
  EXPECT_TRUE(eventually([&] { return wd.text("tr[data-name=\"crasher\"] .state") == "STOPPED"; }, 15s));
  EXPECT_EQ(daemon.status("crasher").at(0).state, "STOPPED");
  EXPECT_TRUE(eventually([&] { return !wd.text("#timeline li").empty(); }));

  // select the crasher's row: its log tail shows (and is in the screenshot)
  auto row = wd.value(http::verb::post, wd.s("/element"),
                      {{"using", "css selector"}, {"value", "tr[data-name=\"crasher\"] .name"}});
  wd.value(http::verb::post, wd.s("/element/" + row.begin().value().get<std::string>() + "/click"));
  EXPECT_TRUE(eventually([&] { return wd.text("#log").find("crashing") != std::string::npos; }));

  auto png64 = wd.value(http::verb::get, wd.s("/screenshot")).get<std::string>();
  std::string png(beast::detail::base64::decoded_size(png64.size()), '\0');
  png.resize(beast::detail::base64::decode(png.data(), png64.data(), png64.size()).first);
  EXPECT_EQ(png.substr(1, 3), "PNG");
  // The artifact stays in the build tree (docs/images/dashboard.png is a copy made by hand:
  // a test never writes into the sources).
  std::filesystem::create_directories(KIN_TEST_ARTIFACTS_DIR);
  std::ofstream(std::string(KIN_TEST_ARTIFACTS_DIR) + "/dashboard.png", std::ios::binary) << png;
  wd.call(http::verb::delete_, wd.s(""));
}
