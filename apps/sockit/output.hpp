// Output helpers for every subcommand: human text or one JSON object per line, the
// "listening on" readiness line, escaping of peer-supplied text, colour and TTY checks.
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "sockit/net/endpoint.hpp"

namespace sockit::cli {

/// Prints the readiness line servers print as soon as they listen, and flushes it:
/// `listening on tcp://127.0.0.1:41234` or {"event":"listening","endpoint":"..."}; with a
/// TLS identity, `listening on ... (TLS, identity SHA256:...)` or "tls" and "identity" fields;
/// with a web page (chat serve --web), `(..., web page http://...)` or a "web" field.
void print_listening(const net::endpoint& bound, bool json, std::FILE* to = stdout,
                     const std::string& identity = {}, const std::string& web = {});

/// One JSON object on one line of stdout, flushed, ASCII only (other characters as \uNNNN).
/// Safe to call from any thread.
void print_json(const nlohmann::json& object);

/// One human line on stdout (flushed); thread-safe with print_json.
void print_line(std::string_view text, std::FILE* to = stdout);

/// Makes text from a peer safe for a terminal (net::escape_terminal_text): control bytes
/// and invalid UTF-8 become \xNN, C1, bidi and zero-width characters \u{NNNN}, so a hostile
/// name cannot move the cursor, rewrite the screen or show as something it is not.
std::string escape_for_terminal(std::string_view text);

/// True when `f` is a terminal and NO_COLOR is unset.
bool use_color(std::FILE* f);

/// 1234567 -> "1.23 M"; for rates and counts in human output.
std::string human_count(double value);
/// Nanoseconds -> "123 µs" / "1.23 ms".
std::string human_duration_ns(double ns);

}  // namespace sockit::cli
