// The dashboard's HTTP server: Boost.Beast on one io_context and one thread. Everything below
// (sessions, the SSE client list, the tick timer) lives on that thread; the Daemon's event
// callback only posts into it, since it must not block.
#include "dashboard_page.hpp"
#include "json.hpp"

#include <kin/errors.hpp>
#include <kin/services/dashboard.hpp>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <deque>
#include <list>
#include <map>
#include <thread>

namespace kin::services {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using nlohmann::json;
using detail::status_array;
using detail::to_json;

constexpr std::size_t kHeaderLimit = 8 * 1024;
constexpr std::size_t kBodyLimit = 16 * 1024;
constexpr auto kIdleTimeout = std::chrono::seconds(30);
constexpr std::size_t kMaxConnections = 256;
constexpr std::size_t kMaxSseBacklog = 1024;  // a client this far behind is dropped

json tree_json(const std::vector<ServiceStatus>& rows) {
  // groups → services → instances, in start order of their first instance
  json groups = json::array();
  std::map<std::string, std::size_t> gi;
  std::map<std::pair<std::string, std::string>, std::size_t> si;
  for (const auto& s : rows) {
    auto [g, gnew] = gi.try_emplace(s.group, groups.size());
    if (gnew) groups.push_back(json{{"group", s.group}, {"services", json::array()}});
    auto& services = groups[g->second]["services"];
    auto [sv, snew] = si.try_emplace({s.group, s.service}, services.size());
    if (snew) services.push_back(json{{"name", s.service}, {"instances", json::array()}});
    services[sv->second]["instances"].push_back(to_json(s));
  }
  return groups;
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string url_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      out += static_cast<char>(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view q) {
  std::map<std::string, std::string> m;
  while (!q.empty()) {
    auto amp = q.find('&');
    auto part = q.substr(0, amp);
    auto eq = part.find('=');
    if (eq == std::string_view::npos)
      m[url_decode(part)] = "";
    else
      m[url_decode(part.substr(0, eq))] = url_decode(part.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return m;
}

bool same_secret(const std::string& a, const std::string& b) {
  // constant time in the content (the length of the token is no secret worth hiding)
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

std::size_t to_count(const std::map<std::string, std::string>& q, const char* key, std::size_t def) {
  auto it = q.find(key);
  if (it == q.end()) return def;
  try {
    auto v = std::stoul(it->second);
    return std::min<std::size_t>(v, 10000);
  } catch (const std::exception&) {
    return def;
  }
}

}  // namespace

struct Dashboard::Impl {
  struct Session;

  Daemon& daemon;
  DashboardOptions options;
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  net::steady_timer tick{ioc};
  std::string host;  // as given (for url())
  std::uint16_t bound_port = 0;
  bool loopback = true;
  int sub_id = -1;
  std::list<std::weak_ptr<Session>> sessions;  // every open connection (io thread only)
  std::thread thread;

  struct Session : std::enable_shared_from_this<Session> {
    Impl& impl;
    beast::tcp_stream stream;
    beast::flat_buffer buffer{kHeaderLimit + kBodyLimit};
    std::optional<http::request_parser<http::string_body>> parser;
    http::response<http::string_body> res;
    bool sse = false;
    bool writing = false;
    std::deque<std::string> out;
    std::array<char, 256> sink{};

    Session(Impl& i, tcp::socket s) : impl(i), stream(std::move(s)) {}

    void read() {
      parser.emplace();
      parser->header_limit(kHeaderLimit);
      parser->body_limit(kBodyLimit);
      stream.expires_after(kIdleTimeout);
      http::async_read(stream, buffer, *parser, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec) {
          if (ec == http::error::header_limit || ec == http::error::body_limit)
            return self->reply_error(ec == http::error::body_limit ? http::status::payload_too_large
                                                                   : http::status::request_header_fields_too_large,
                                     ec.message(), false);
          if (ec != http::error::end_of_stream && ec != net::error::operation_aborted && ec != beast::error::timeout &&
              ec != net::error::eof && ec != net::error::connection_reset)
            return self->reply_error(http::status::bad_request, ec.message(), false);
          return self->close();
        }
        self->handle(parser_release(*self));
      });
    }

    static http::request<http::string_body> parser_release(Session& s) { return s.parser->release(); }

    void reply_error(http::status st, const std::string& msg, bool keep) {
      res = {};
      res.result(st);
      res.version(11);
      res.set(http::field::content_type, "application/json");
      res.body() = json{{"ok", false}, {"error", msg}}.dump();
      res.keep_alive(keep);
      write_response();
    }

    void write_response() {
      res.set(http::field::server, "kin-dashboard");
      res.set(http::field::cache_control, "no-store");
      res.prepare_payload();
      stream.expires_after(kIdleTimeout);
      http::async_write(stream, res, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec || !self->res.keep_alive()) return self->close();
        self->read();
      });
    }

    void close() {
      beast::error_code ec;
      stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      stream.socket().close(ec);
    }

    bool host_ok(const http::request<http::string_body>& req) const {
      auto h = std::string(req[http::field::host]);
      if (!impl.loopback) return !h.empty();
      auto p = ":" + std::to_string(impl.bound_port);
      return h == "127.0.0.1" + p || h == "localhost" + p || h == "[::1]" + p || h == impl.host + p;
    }

    void handle(http::request<http::string_body> req) {
      res = {};
      res.version(req.version());
      res.keep_alive(req.keep_alive());
      auto target = std::string_view(req.target().data(), req.target().size());
      auto qpos = target.find('?');
      auto path = url_decode(target.substr(0, qpos));
      auto query = parse_query(qpos == std::string_view::npos ? std::string_view{} : target.substr(qpos + 1));

      // DNS rebinding: a page of another site that resolves its name to 127.0.0.1 sends its own Host
      if (!host_ok(req)) return reply_error(http::status::forbidden, "bad Host header", false);

      std::string given;
      auto auth = std::string(req[http::field::authorization]);
      if (auth.rfind("Bearer ", 0) == 0) given = auth.substr(7);
      else if (auto it = query.find("token"); it != query.end()) given = it->second;
      bool authed = !impl.options.token.empty() && same_secret(given, impl.options.token);

      bool post = req.method() == http::verb::post;
      if (!post && req.method() != http::verb::get && req.method() != http::verb::head)
        return reply_error(http::status::method_not_allowed, "method not allowed", req.keep_alive());
      if ((post || !impl.loopback) && !authed)
        return reply_error(http::status::unauthorized,
                           impl.options.token.empty() ? "actions are disabled: the dashboard has no token" : "token required",
                           req.keep_alive());
      if (post) {
        // CSRF: a browser always sends Origin with a cross-site POST
        auto origin = std::string(req[http::field::origin]);
        if (!origin.empty() && origin != "http://" + std::string(req[http::field::host]))
          return reply_error(http::status::forbidden, "cross-origin request refused", false);
      }

      try {
        if (!post && path == "/") {
          res.set(http::field::content_type, "text/html; charset=utf-8");
          res.set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'");
          res.body() = detail::dashboard_page;
          return write_response();
        }
        if (!post && path == "/api/status") return reply_json(status_array(impl.daemon.status()));
        if (!post && path == "/api/tree") return reply_json(tree_json(impl.daemon.status()));
        if (!post && path == "/api/timeline") {
          json a = json::array();
          for (const auto& e : impl.daemon.timeline(to_count(query, "n", 200))) a.push_back(to_json(e));
          return reply_json(a);
        }
        if (!post && path.rfind("/api/logs/", 0) == 0) {
          auto name = path.substr(10);
          bool err = query.count("err") && query["err"] != "0";
          return reply_json(impl.daemon.log_tail(name, to_count(query, "n", 100), err));
        }
        if (!post && path == "/api/events") return start_sse();
        if (post && path.rfind("/api/services/", 0) == 0) {
          auto rest = path.substr(14);
          auto slash = rest.rfind('/');
          if (slash != std::string::npos && slash > 0) {
            auto name = rest.substr(0, slash), action = rest.substr(slash + 1);
            if (action == "start") impl.daemon.start(name);
            else if (action == "stop") impl.daemon.stop(name);
            else if (action == "restart") impl.daemon.restart(name);
            else return reply_error(http::status::not_found, "unknown action " + action, req.keep_alive());
            return reply_json(json{{"ok", true}});
          }
        }
        return reply_error(http::status::not_found, "no such route", req.keep_alive());
      } catch (const UnknownService& e) {
        return reply_error(http::status::not_found, e.what(), req.keep_alive());
      } catch (const std::exception& e) {
        return reply_error(http::status::internal_server_error, e.what(), req.keep_alive());
      }
    }

    void reply_json(const json& j) {
      res.result(http::status::ok);
      res.set(http::field::content_type, "application/json");
      res.body() = j.dump();
      write_response();
    }

    void start_sse() {
      sse = true;
      stream.expires_never();
      send("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
           "Connection: keep-alive\r\nX-Accel-Buffering: no\r\n\r\n");
      send("data: " + json{{"type", "status"}, {"status", status_array(impl.daemon.status())}}.dump() + "\n\n");
      // the client sends nothing more; a read that ends tells us it went away
      stream.socket().async_read_some(net::buffer(sink), [self = shared_from_this()](beast::error_code, std::size_t) {
        self->close();
      });
    }

    void send(std::string s) {
      if (!stream.socket().is_open()) return;
      if (out.size() >= kMaxSseBacklog) return close();
      out.push_back(std::move(s));
      if (!writing) flush();
    }

    void flush() {
      writing = true;
      net::async_write(stream.socket(), net::buffer(out.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->out.pop_front();
        if (ec) {
          self->writing = false;
          return self->close();
        }
        if (self->out.empty()) self->writing = false;
        else self->flush();
      });
    }
  };

  Impl(Daemon& d, DashboardOptions o) : daemon(d), options(std::move(o)) {}

  void broadcast(const std::string& msg) {
    for (auto it = sessions.begin(); it != sessions.end();) {
      auto s = it->lock();
      if (!s || !s->stream.socket().is_open()) {
        it = sessions.erase(it);
        continue;
      }
      if (s->sse) s->send(msg);
      ++it;
    }
  }

  bool any_sse() {
    for (auto& w : sessions)
      if (auto s = w.lock(); s && s->sse) return true;
    return false;
  }

  void on_tick() {
    tick.expires_after(std::chrono::seconds(1));
    tick.async_wait([this](beast::error_code ec) {
      if (ec) return;
      if (any_sse()) {
        try {
          broadcast("data: " + json{{"type", "status"}, {"status", status_array(daemon.status())}}.dump() + "\n\n");
        } catch (const std::exception&) {
          // the daemon stopping: the next tick tries again
        }
      }
      on_tick();
    });
  }

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket sock) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) {
        std::erase_if(sessions, [](auto& w) { return w.expired(); });
        if (sessions.size() >= kMaxConnections) {
          beast::error_code ignored;
          sock.close(ignored);
        } else {
          auto s = std::make_shared<Session>(*this, std::move(sock));
          sessions.push_back(s);
          s->read();
        }
      }
      accept();
    });
  }
};

Dashboard::Dashboard(Daemon& daemon, DashboardOptions options) : impl_(std::make_unique<Impl>(daemon, std::move(options))) {
  auto& im = *impl_;
  const auto& listen = im.options.listen;
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) throw ValueError("dashboard listen address '" + listen + "': expected HOST:PORT");
  im.host = listen.substr(0, colon);
  std::string h = im.host;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty() || h == "localhost") h = "127.0.0.1";
  unsigned long port = 0;
  try {
    std::size_t used = 0;
    port = std::stoul(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    throw ValueError("dashboard listen address '" + listen + "': bad port");
  }
  beast::error_code ec;
  auto addr = net::ip::make_address(h, ec);
  if (ec) throw ValueError("dashboard listen address '" + listen + "': bad host (an IP address or localhost)");
  im.loopback = addr.is_loopback();
  if (!im.loopback && im.options.token.empty())
    throw ValueError("dashboard on non-loopback address " + listen + " needs a token");
  if (im.host.empty() || im.host == "localhost") im.host = "127.0.0.1";

  tcp::endpoint ep{addr, static_cast<std::uint16_t>(port)};
  im.acceptor.open(ep.protocol());
  im.acceptor.set_option(net::socket_base::reuse_address(true));
  im.acceptor.bind(ep, ec);
  if (ec) throw std::system_error(ec, "dashboard: bind " + listen);
  im.acceptor.listen(net::socket_base::max_listen_connections);
  im.bound_port = im.acceptor.local_endpoint().port();

  im.accept();
  im.on_tick();
  im.sub_id = daemon.subscribe([this](const TimelineEvent& e) {
    auto msg = "data: " + to_json(e).dump() + "\n\n";
    net::post(impl_->ioc, [this, msg = std::move(msg)] { impl_->broadcast(msg); });
  });
  im.thread = std::thread([this] { impl_->ioc.run(); });
}

Dashboard::~Dashboard() {
  auto& im = *impl_;
  if (im.sub_id >= 0) im.daemon.unsubscribe(im.sub_id);
  net::post(im.ioc, [&im] {
    beast::error_code ec;
    im.acceptor.close(ec);
    im.tick.cancel();
    for (auto& w : im.sessions)
      if (auto s = w.lock()) s->close();
    im.sessions.clear();
  });
  // closing the acceptor, the timer and every socket ends every operation, so run() returns
  if (im.thread.joinable()) im.thread.join();
}

std::uint16_t Dashboard::port() const { return impl_->bound_port; }

std::string Dashboard::url() const {
  auto h = impl_->host;
  if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";
  return "http://" + h + ":" + std::to_string(impl_->bound_port) + "/";
}

}  // namespace kin::services
