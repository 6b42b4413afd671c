// How a Process target becomes something a fresh image of this program can run (private;
// included by <kin/process.hpp>): the function decayed to a plain pointer, a type-specific
// invoker that decodes the arguments and calls it, and the arguments' encoder. A closure, a
// mutable lambda or an argument kin cannot serialize yields no SpawnTarget, and start() under
// spawn or forkserver then throws StartMethodError naming the fix; fork runs anything.
#pragma once

#include <kin/codec.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>

namespace kin::detail {

/// What the spawn start method needs to run a target in a fresh image of this program: the
/// function, a type-specific invoker that decodes the arguments and calls it, and the encoder
/// of the arguments. Both functions travel as (object, offset): see runtime/code_address.hpp.
struct SpawnTarget {
  using Invoker = int (*)(std::uintptr_t fn, std::span<const std::byte> args);
  std::uintptr_t fn = 0;
  Invoker invoker = nullptr;
  std::function<Bytes()> encode_args;
};

/// Calls f with the elements of `args`, once: moved when f accepts rvalues (a parameter taken
/// by value, a move-only one included), as lvalues otherwise (a parameter taken by `T&`).
/// The int result is the exit code; any other result counts as 0.
template <class F, class Tuple>
int invoke_target(F& f, Tuple& args) {
  auto call = [&]<class... A>(A&... a) -> int {
    if constexpr (std::is_invocable_v<F&, A&&...>) {
      if constexpr (std::is_convertible_v<std::invoke_result_t<F&, A&&...>, int>)
        return static_cast<int>(std::invoke(f, std::move(a)...));
      else {
        std::invoke(f, std::move(a)...);
        return 0;
      }
    } else if constexpr (std::is_convertible_v<std::invoke_result_t<F&, A&...>, int>) {
      return static_cast<int>(std::invoke(f, a...));
    } else {
      std::invoke(f, a...);
      return 0;
    }
  };
  return std::apply(call, args);
}

template <class F, class... A>
concept process_target = std::invocable<F&, A&...> || std::invocable<F&, A&&...>;

template <class Fp, class... A>
int spawn_invoke(std::uintptr_t fn, std::span<const std::byte> args) {
  std::tuple<A...> tup;
  decode_into(args, tup);
  auto f = reinterpret_cast<Fp>(fn);
  return invoke_target(f, tup);
}

/// The target and its arguments, held once: the fork child calls them, the spawn start
/// encodes the arguments from them, and the parent drops them after start() (bpo-30775).
template <class F, class Tuple>
struct HeldTarget {
  F fn;
  Tuple args;
};

// The plain function pointer type a target decays to: a function, a function pointer, or a
// captureless lambda with one non-template call operator; void when there is none.
template <class F, class = void>
struct function_pointer_of {
  using type = void;
};
template <class F>
  requires(std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>)
struct function_pointer_of<F, void> {
  using type = F;
};
template <class R, class C, class... A>
R (*fp_from_member(R (C::*)(A...) const))(A...);
template <class R, class C, class... A>
void fp_from_member(R (C::*)(A...));  // a mutable lambda: it has state, so no function pointer
template <class F>
  requires(std::is_class_v<F> && requires { &F::operator(); })
struct function_pointer_of<F, void> {
  using candidate = decltype(fp_from_member(&F::operator()));
  using type = std::conditional_t<std::is_convertible_v<F, candidate>, candidate, void>;
};

template <class F, class... Args>
std::shared_ptr<const SpawnTarget> make_spawn_target(std::shared_ptr<HeldTarget<F, std::tuple<Args...>>> held) {
  using Fp = typename function_pointer_of<F>::type;
  if constexpr (std::is_void_v<Fp>) {
    return nullptr;  // a closure: only the fork start method can run it
  } else if constexpr (!(serializable<Args> && ...) || !(std::is_default_constructible_v<Args> && ...)) {
    return nullptr;  // arguments that cannot travel
  } else {
    auto t = std::make_shared<SpawnTarget>();
    t->fn = reinterpret_cast<std::uintptr_t>(static_cast<Fp>(held->fn));
    t->invoker = &spawn_invoke<Fp, Args...>;
    t->encode_args = [held] { return encode(held->args); };
    return t;
  }
}
}  // namespace kin::detail
