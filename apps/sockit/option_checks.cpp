// Storage for self-registered subcommands and demo steps (function-local statics, so the
// registrations in other files may run in any order during static initialisation).
#include <algorithm>
#include <cmath>
#include <exception>
#include <string>

#include "commands.hpp"

namespace sockit::cli {
namespace {

std::vector<std::pair<int, setup_fn>>& commands() {
  static std::vector<std::pair<int, setup_fn>> list;
  return list;
}

std::vector<demo_step>& steps() {
  static std::vector<demo_step> list;
  return list;
}

}  // namespace

command_registration::command_registration(int order, setup_fn setup) {
  commands().emplace_back(order, setup);
}

std::vector<setup_fn> registered_commands() {
  auto list = commands();
  std::stable_sort(list.begin(), list.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<setup_fn> out;
  for (auto& [order, fn] : list) out.push_back(fn);
  return out;
}

demo_registration::demo_registration(demo_step step) { steps().push_back(std::move(step)); }

std::vector<demo_step> registered_demo_steps() {
  auto list = steps();
  std::stable_sort(list.begin(), list.end(),
                   [](const auto& a, const auto& b) { return a.order < b.order; });
  return list;
}

namespace {
// A finite number spelled in full, or NaN when `v` is not one.
double finite_number(const std::string& v) {
  try {
    std::size_t used = 0;
    double x = std::stod(v, &used);
    if (used == v.size() && std::isfinite(x)) return x;
  } catch (const std::exception&) {
  }
  return std::nan("");
}
}  // namespace

CLI::Validator positive(std::string what) {
  return CLI::Validator(
      [what](std::string& v) { return finite_number(v) > 0 ? std::string() : "must be " + what; },
      "NUMBER>0");
}

CLI::Validator not_negative(std::string what) {
  return CLI::Validator(
      [what](std::string& v) { return finite_number(v) >= 0 ? std::string() : "must be " + what; },
      "NUMBER>=0");
}

std::chrono::milliseconds seconds_to_ms(double seconds) {
  constexpr double most = 100.0 * 365 * 24 * 3600 * 1000;
  const double ms = seconds * 1000;
  if (!(ms > 0)) return std::chrono::milliseconds(0);  // NaN too (validators reject it)
  return std::chrono::milliseconds(static_cast<long long>(std::min(ms, most)));
}

}  // namespace sockit::cli
