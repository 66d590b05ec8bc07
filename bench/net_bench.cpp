// Address parsing/formatting against the C library's inet_pton/inet_ntop, and subnet math.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "sockit/net/address.hpp"
#include "sockit/net/subnet.hpp"

namespace {

using namespace sockit::net;

const std::vector<std::string> v4_texts = {"192.168.1.2", "10.0.0.1",    "255.255.255.255",
                                           "8.8.8.8",     "172.16.10.1", "0.0.0.0"};
const std::vector<std::string> v6_texts = {
    "2001:db8::1",      "::1",           "fe80::1ff:fe23:4567:890a", "2001:db8:85a3::8a2e:370:7334",
    "::ffff:192.0.2.1", "ff02::1:ff00:0"};

void BM_ParseV4_sockit(benchmark::State& st) {
  std::size_t i = 0;
  for (auto _ : st) {
    std::error_code ec;
    benchmark::DoNotOptimize(ipv4_address::parse(v4_texts[i++ % v4_texts.size()], ec));
  }
}
void BM_ParseV4_inet_pton(benchmark::State& st) {
  std::size_t i = 0;
  in_addr out{};
  for (auto _ : st) {
    benchmark::DoNotOptimize(inet_pton(AF_INET, v4_texts[i++ % v4_texts.size()].c_str(), &out));
  }
}
void BM_ParseV4_aton_sockit(benchmark::State& st) {
  std::size_t i = 0;
  for (auto _ : st) {
    std::error_code ec;
    benchmark::DoNotOptimize(ipv4_address::parse_aton(v4_texts[i++ % v4_texts.size()], ec));
  }
}
void BM_ParseV4_inet_aton(benchmark::State& st) {
  std::size_t i = 0;
  in_addr out{};
  for (auto _ : st) {
    benchmark::DoNotOptimize(inet_aton(v4_texts[i++ % v4_texts.size()].c_str(), &out));
  }
}
void BM_ParseV6_sockit(benchmark::State& st) {
  std::size_t i = 0;
  for (auto _ : st) {
    std::error_code ec;
    benchmark::DoNotOptimize(ipv6_address::parse(v6_texts[i++ % v6_texts.size()], ec));
  }
}
void BM_ParseV6_inet_pton(benchmark::State& st) {
  std::size_t i = 0;
  in6_addr out{};
  for (auto _ : st) {
    benchmark::DoNotOptimize(inet_pton(AF_INET6, v6_texts[i++ % v6_texts.size()].c_str(), &out));
  }
}

template <typename Addr>
std::vector<Addr> parsed(const std::vector<std::string>& texts) {
  std::vector<Addr> out;
  for (const auto& t : texts) out.push_back(Addr::parse(t));
  return out;
}

void BM_FormatV4_sockit(benchmark::State& st) {
  auto addrs = parsed<ipv4_address>(v4_texts);
  char buf[ipv4_address::max_text_length];
  std::size_t i = 0;
  for (auto _ : st) benchmark::DoNotOptimize(addrs[i++ % addrs.size()].format(buf));
}
void BM_FormatV4_inet_ntop(benchmark::State& st) {
  std::vector<in_addr> addrs;
  for (const auto& t : v4_texts) {
    in_addr a{};
    inet_pton(AF_INET, t.c_str(), &a);
    addrs.push_back(a);
  }
  char buf[INET_ADDRSTRLEN];
  std::size_t i = 0;
  for (auto _ : st) {
    benchmark::DoNotOptimize(inet_ntop(AF_INET, &addrs[i++ % addrs.size()], buf, sizeof buf));
  }
}
void BM_FormatV6_sockit(benchmark::State& st) {
  auto addrs = parsed<ipv6_address>(v6_texts);
  char buf[ipv6_address::max_text_length];
  std::size_t i = 0;
  for (auto _ : st) benchmark::DoNotOptimize(addrs[i++ % addrs.size()].format(buf));
}
void BM_FormatV6_inet_ntop(benchmark::State& st) {
  std::vector<in6_addr> addrs;
  for (const auto& t : v6_texts) {
    in6_addr a{};
    inet_pton(AF_INET6, t.c_str(), &a);
    addrs.push_back(a);
  }
  char buf[INET6_ADDRSTRLEN];
  std::size_t i = 0;
  for (auto _ : st) {
    benchmark::DoNotOptimize(inet_ntop(AF_INET6, &addrs[i++ % addrs.size()], buf, sizeof buf));
  }
}

void BM_SubnetParse(benchmark::State& st) {
  for (auto _ : st) {
    std::error_code ec;
    benchmark::DoNotOptimize(subnet::parse("192.168.1.5/24", ec));
  }
}
void BM_SubnetMathV4(benchmark::State& st) {
  const auto s = subnet::parse("192.168.1.5/24");
  for (auto _ : st) {
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(s.network());
    benchmark::DoNotOptimize(s.broadcast());
    benchmark::DoNotOptimize(s.host_count());
    benchmark::DoNotOptimize(s.contains(ip_address(ipv4_address{0xc0a80177u})));
  }
}
void BM_SubnetMathV6(benchmark::State& st) {
  const auto s = subnet::parse("2001:db8::1/64");
  for (auto _ : st) {
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(s.network());
    benchmark::DoNotOptimize(s.last());
    benchmark::DoNotOptimize(s.host_count());
  }
}
void BM_FlagsV6(benchmark::State& st) {
  const auto a = ipv6_address::parse("2001:db8::1");
  for (auto _ : st) {
    benchmark::DoNotOptimize(a);
    benchmark::DoNotOptimize(a.flags());
  }
}

BENCHMARK(BM_ParseV4_sockit);
BENCHMARK(BM_ParseV4_inet_pton);
BENCHMARK(BM_ParseV4_aton_sockit);
BENCHMARK(BM_ParseV4_inet_aton);
BENCHMARK(BM_ParseV6_sockit);
BENCHMARK(BM_ParseV6_inet_pton);
BENCHMARK(BM_FormatV4_sockit);
BENCHMARK(BM_FormatV4_inet_ntop);
BENCHMARK(BM_FormatV6_sockit);
BENCHMARK(BM_FormatV6_inet_ntop);
BENCHMARK(BM_SubnetParse);
BENCHMARK(BM_SubnetMathV4);
BENCHMARK(BM_SubnetMathV6);
BENCHMARK(BM_FlagsV6);

}  // namespace
