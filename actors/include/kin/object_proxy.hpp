// kin::ObjectProxy<T>: an object of a user type kept by a kin::Manager's server process, whose
// registered methods run there (Python's BaseManager.register(typeid, callable) and its
// AutoProxy).
//
//   struct Counter {
//     long n = 0;
//     long add(long d) { return n += d; }
//     long get() const { return n; }
//   };
//   // At namespace scope, so that the program's every image knows it (see below):
//   [[maybe_unused]] static const bool counter_type = kin::Manager::register_type<Counter>(
//       "Counter", KIN_METHOD(Counter, add), kin::method<&Counter::get>("get"));
//
//   kin::Manager m;
//   auto c = m.make<Counter>();                // a default-constructed Counter on the server
//   c.call<&Counter::add>(5);                  // typed: arguments converted to the parameters
//   long n = c.call<long>("get");              // by name: the argument types must match exactly
//   kin::Process p{worker, c};                 // a proxy travels (any start method)
//
// Each call is one request, run on the server's one thread to completion: a method's
// read-modify-write of its object is atomic, with no lock. Nothing arriving from the wire runs
// but the methods registered for the object's type. Arguments and results travel as a
// kin::Message (its built-in element types, or types registered with
// kin::Message::register_type under the same name in every process); methods take them by value
// or const reference. An unregistered method name, a wrong number or type of arguments
// (call<R>("add", 5) sends an int32 where add takes an int64: use 5L or the typed form) and a
// result asked for as another type are refused before the method runs; those and anything a
// method throws reach the caller as an error — kin::KeyError and kin::IndexError as
// themselves, a malformed request as kin::ProtocolError, the rest as kin::ValueError naming
// the type and method — and the server goes on serving. A method that crashes the server process
// takes every object with it: the callers see kin::ManagerLost.
//
// Where registrations must be made: the server process looks the type up in its own registry.
// A server started with the fork method inherits the registrations its owner made before the
// Manager was constructed. The spawn and forkserver methods start the server from a fresh exec
// of the program, which runs its static initialisers and stops in kin::init: registrations at
// namespace scope (as above, like KIN_ENTRY and KIN_MANAGER_FUNCTION) reach servers of every
// start method, those made in main() after kin::init reach only fork-started ones. A server
// run with Manager::serve knows what its own program registers; its clients register T too, to
// make<T>() and for the typed call (which looks the method's name up locally). A type unknown to
// the server is kin::ValueError from make<T>(). The objects live as long as the server; their
// destructors run when it shuts down.
#pragma once

#include <kin/detail/manager_proxy.hpp>
#include <kin/message.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace kin {

namespace detail::mgr {

template <class F>
struct method_traits;
template <class C, class R, class... A>
struct method_traits<R (C::*)(A...)> {
  using class_type = C;
  using result = R;
  using args = std::tuple<A...>;
};
template <class C, class R, class... A>
struct method_traits<R (C::*)(A...) const> : method_traits<R (C::*)(A...)> {};
template <class C, class R, class... A>
struct method_traits<R (C::*)(A...) noexcept> : method_traits<R (C::*)(A...)> {};
template <class C, class R, class... A>
struct method_traits<R (C::*)(A...) const noexcept> : method_traits<R (C::*)(A...)> {};

/// The names registered in this process (function-local statics: safe in static initialisers).
template <auto M>
std::string& method_name() {
  static std::string name;
  return name;
}
template <class T>
std::string& object_type_name() {
  static std::string name;
  return name;
}

template <auto M>
struct MethodSpec {
  std::string name;
};

inline std::string message_bytes(const Message& m) {
  Bytes b = encode(m);
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}
inline Message bytes_message(std::string_view s) {
  return decode<Message>(std::span<const std::byte>(reinterpret_cast<const std::byte*>(s.data()), s.size()));
}

template <class A>
void push_arg(Message& m, const A& a) {
  // A string literal or string_view travels as the std::string a method takes.
  if constexpr (std::is_convertible_v<const A&, std::string_view> && !std::is_same_v<A, std::string>)
    m.push_back(std::string(std::string_view(a)));
  else
    m.push_back(a);
}

template <class T>
T arg_at(const Message& m, std::size_t i) {
  const std::string& want = message_type_name<T>();
  if (m.type_name(i) != want)
    throw ValueError("argument " + std::to_string(i + 1) + " is a " + m.type_name(i) + ", the method takes a " + want);
  return m.get_as<T>(i);
}

/// Runs method M on the T at `object` with the encoded arguments; the encoded result.
template <class T, auto M>
std::string invoke_method(void* object, std::string_view args, std::string_view result_type) {
  using Tr = method_traits<decltype(M)>;
  using R = typename Tr::result;
  if (!result_type.empty()) {
    if constexpr (std::is_void_v<R>)
      throw ValueError("returns nothing, not a " + std::string(result_type));
    else if (const std::string& is = message_type_name<std::decay_t<R>>(); is != result_type)
      throw ValueError("returns a " + is + ", not a " + std::string(result_type));
  }
  return [&]<class... A>(std::type_identity<std::tuple<A...>>) {
    Message in = bytes_message(args);
    if (in.size() != sizeof...(A))
      throw ValueError("takes " + std::to_string(sizeof...(A)) + " argument(s), " + std::to_string(in.size()) + " given");
    auto run = [&]<std::size_t... I>(std::index_sequence<I...>) -> decltype(auto) {
      std::tuple<std::decay_t<A>...> a{arg_at<std::decay_t<A>>(in, I)...};
      return (static_cast<T*>(object)->*M)(std::get<I>(std::move(a))...);
    };
    Message out;
    if constexpr (std::is_void_v<R>) {
      run(std::index_sequence_for<A...>{});
    } else {
      const auto& r = run(std::index_sequence_for<A...>{});
      out.push_back(r);
    }
    return message_bytes(out);
  }(std::type_identity<typename Tr::args>{});
}

template <class A>
constexpr bool method_arg_ok = !std::is_lvalue_reference_v<A> || std::is_const_v<std::remove_reference_t<A>>;

template <class T, auto M>
constexpr bool check_method() {
  using Tr = method_traits<decltype(M)>;
  static_assert(std::is_base_of_v<typename Tr::class_type, T>, "kin::Manager::register_type<T>: a method of another class");
  return []<class... A>(std::type_identity<std::tuple<A...>>) {
    static_assert((method_arg_ok<A> && ...), "kin::Manager::register_type: methods take arguments by value or const reference");
    static_assert((serializable<std::decay_t<A>> && ...), "kin::Manager::register_type: argument types must be kin::serializable");
    static_assert(std::is_void_v<typename Tr::result> || serializable<std::decay_t<typename Tr::result>>,
                  "kin::Manager::register_type: the result type must be kin::serializable");
    return true;
  }(std::type_identity<typename Tr::args>{});
}

}  // namespace detail::mgr

/// A method for Manager::register_type, under the name clients call it by.
template <auto M>
[[nodiscard]] detail::mgr::MethodSpec<M> method(std::string name) {
  return {std::move(name)};
}

template <class T>
class ObjectProxy : public detail::mgr::ProxyBase {
  using Op = detail::mgr::Op;

 public:
  ObjectProxy() = default;
  using ProxyBase::ProxyBase;

  /// Calls the method registered as `method` with `args` (their exact types: a literal 5 is an
  /// int32) and returns its result as an R (ValueError, and the method is not run, when the
  /// arguments or the result are of other types; R = void takes any result and drops it).
  template <class R = void, class... A>
  R call(std::string_view method, const A&... args) {
    Message in;
    (detail::mgr::push_arg(in, args), ...);
    auto f = request(Op::o_call);
    {
      detail::Writer w{f};
      detail::mgr::put_blob(w, method);
      detail::mgr::put_blob(w, detail::mgr::message_bytes(in));
      // The server checks the result type too before it runs the method.
      if constexpr (std::is_void_v<R>) detail::mgr::put_blob(w, std::string_view{});
      else detail::mgr::put_blob(w, detail::message_type_name<R>());
    }
    auto reply = ProxyBase::call(f);
    auto rd = detail::mgr::reader(reply);
    if constexpr (std::is_void_v<R>) {
      return;
    } else {
      Message out = detail::mgr::bytes_message(detail::mgr::get_blob(rd));
      const std::string& want = detail::message_type_name<R>();
      if (out.size() != 1)
        throw ValueError("kin::ObjectProxy: method \"" + std::string(method) + "\" returned nothing, not a " + want);
      if (out.type_name(0) != want)
        throw ValueError("kin::ObjectProxy: method \"" + std::string(method) + "\" returned a " + out.type_name(0) + ", not a " + want);
      return out.get_as<R>(0);
    }
  }

  /// Calls method M (registered with Manager::register_type in this process too), converting
  /// `args` to its parameter types; returns its result.
  template <auto M, class... A>
  std::decay_t<typename detail::mgr::method_traits<decltype(M)>::result> call(A&&... args) {
    using Tr = detail::mgr::method_traits<decltype(M)>;
    using Args = typename Tr::args;
    using R = std::decay_t<typename Tr::result>;
    static_assert(std::is_base_of_v<typename Tr::class_type, T>, "kin::ObjectProxy<T>::call<M>: a method of another class");
    static_assert(sizeof...(A) == std::tuple_size_v<Args>, "kin::ObjectProxy<T>::call<M>: wrong number of arguments");
    const std::string& name = detail::mgr::method_name<M>();
    if (name.empty())
      throw ValueError("kin::ObjectProxy::call<M>: this method is not registered in this process (Manager::register_type); "
                       "call it by name");
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return call<R>(name, static_cast<std::decay_t<std::tuple_element_t<I, Args>>>(std::forward<A>(args))...);
    }(std::index_sequence_for<A...>{});
  }
};

}  // namespace kin

/// `KIN_METHOD(Counter, add)` is `kin::method<&Counter::add>("add")`.
#define KIN_METHOD(T, m) ::kin::method<&T::m>(#m)
